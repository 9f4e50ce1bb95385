//! The chart registry's bookkeeping: publication checks of a ChartVersion (templates compile,
//! default values render), its content digest, which workloads use each version in which
//! environment, the Chart's table of versions, and deprecation warnings for consumers.

use std::collections::BTreeMap;

use gitopshq_crds::chart::{ChartStatus, ChartVersionSummary};
use gitopshq_crds::chart_version::{ChartConsumer, ChartVersion};
use gitopshq_crds::project::Project;
use gitopshq_crds::workload::Workload;
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use crate::plan::{chart_source, chart_version_for};

mod status;
use crate::render::{CompiledChart, ReleaseInfo, RenderInput, TenantInfo, WorkloadInfo};
pub use status::{WorkloadChartCheck, chart_status_at, version_status, workload_chart_status};

/// `sha256:<hex>` over the templates, values and values schema: equal content, equal digest.
pub fn content_digest(cv: &ChartVersion) -> String {
    let canonical = crate::manifest::sorted(serde_json::json!({
        "chart": cv.spec.chart,
        "version": cv.spec.version,
        "templates": cv.spec.templates,
        "values": cv.spec.values,
        "valuesSchema": cv.spec.values_schema,
    }));
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    )
}

/// Publication checks: every template compiles and the default values render to valid
/// Kubernetes objects for an example tenant. The error says which template and line.
pub fn publication_check(cv: &ChartVersion) -> Result<usize, String> {
    let compiled = CompiledChart::compile(&chart_source(cv)).map_err(|e| e.to_string())?;
    let input = RenderInput {
        release: ReleaseInfo {
            name: "example".into(),
            title: "Publication check".into(),
            release_type: "Deploy".into(),
        },
        project: "example".into(),
        environment: "example".into(),
        tenant: TenantInfo {
            name: "example".into(),
            namespace: "example".into(),
            cluster: "example".into(),
            labels: BTreeMap::new(),
        },
        workload: WorkloadInfo {
            name: cv.spec.chart.clone(),
            namespace: "example".into(),
        },
        ..RenderInput::default()
    };
    let output = compiled
        .render(&input)
        .map_err(|e| format!("the default values do not render: {e}"))?;
    Ok(output.manifests.len())
}

/// Every (project, workload, environment) that uses `cv`, sorted. A workload uses the version
/// it runs in an environment (its status, once a release delivered there), else the one its
/// spec names (the environment's pin or its version).
pub fn consumers(
    cv: &ChartVersion,
    workloads: &[&Workload],
    projects: &[&Project],
) -> Vec<ChartConsumer> {
    let mut out = Vec::new();
    for workload in workloads.iter().filter(|w| w.spec.chart == cv.spec.chart) {
        let project = workload.namespace().unwrap_or_default();
        let environments: Vec<String> = projects
            .iter()
            .find(|p| p.name_any() == project)
            .map(|p| p.spec.environments.clone())
            .unwrap_or_default();
        for environment in environments {
            if version_in(workload, &environment) == cv.spec.version {
                out.push(ChartConsumer {
                    project: project.clone(),
                    workload: workload.name_any(),
                    environment,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.project, &a.workload, &a.environment).cmp(&(&b.project, &b.workload, &b.environment))
    });
    out
}

/// The chart version a workload runs in `environment`: the delivered one when known.
pub fn version_in(workload: &Workload, environment: &str) -> String {
    workload
        .status
        .as_ref()
        .and_then(|s| s.environments.get(environment))
        .and_then(|e| e.version.clone())
        .unwrap_or_else(|| chart_version_for(workload, environment, None))
}

/// The Chart's status: its versions, highest semver first, with deprecation and consumer
/// counts; `latest` is the highest version that is not deprecated.
pub fn chart_status(versions: &[(&ChartVersion, i32)]) -> ChartStatus {
    let mut rows: Vec<(semver::Version, ChartVersionSummary)> = versions
        .iter()
        .filter_map(|(cv, consumers)| {
            let parsed = semver::Version::parse(&cv.spec.version).ok()?;
            Some((
                parsed,
                ChartVersionSummary {
                    version: cv.spec.version.clone(),
                    deprecated: cv.spec.deprecated,
                    consumers: *consumers,
                },
            ))
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    ChartStatus {
        latest: rows
            .iter()
            .find(|(_, s)| !s.deprecated)
            .map(|(_, s)| s.version.clone()),
        versions: rows.into_iter().map(|(_, s)| s).collect(),
        conditions: Vec::new(),
    }
}

/// The ChartVersion publishing `chart` at `version`, among `versions`.
fn published<'v>(
    versions: &[&'v ChartVersion],
    chart: &str,
    version: &str,
) -> Option<&'v ChartVersion> {
    versions
        .iter()
        .copied()
        .find(|cv| cv.spec.chart == chart && cv.spec.version == version)
}

/// The deprecated chart versions a workload uses, one message per environment:
/// "production uses microservice-base@1.0.0, deprecated: upgrade to 1.1.0 …".
pub fn deprecations(
    workload: &Workload,
    environments: &[String],
    versions: &[&ChartVersion],
) -> Vec<String> {
    environments
        .iter()
        .filter_map(|environment| {
            let version = version_in(workload, environment);
            let cv = published(versions, &workload.spec.chart, &version)?;
            cv.spec.deprecated.then(|| {
                let why = cv
                    .spec
                    .deprecation_message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                format!(
                    "{environment} uses {}@{version}, which is deprecated{why}",
                    workload.spec.chart
                )
            })
        })
        .collect()
}

/// The environments of a workload's project where its chart version is not published.
pub fn missing_versions(
    workload: &Workload,
    environments: &[String],
    versions: &[&ChartVersion],
) -> Vec<String> {
    environments
        .iter()
        .filter_map(|environment| {
            let version = chart_version_for(workload, environment, None);
            if published(versions, &workload.spec.chart, &version).is_some() {
                return None;
            }
            Some(format!(
                "{environment} uses {}@{version}, which is not published: publish ChartVersion {}-{version} or pin a published version",
                workload.spec.chart, workload.spec.chart
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use gitopshq_crds::chart_version::ChartVersionSpec;
    use gitopshq_crds::project::ProjectSpec;
    use gitopshq_crds::workload::WorkloadSpec;

    use super::*;

    fn cv(version: &str, deprecated: bool, template: &str) -> ChartVersion {
        ChartVersion::new(
            &format!("web-{version}"),
            ChartVersionSpec {
                chart: "web".into(),
                version: version.into(),
                templates: [("cm.yaml".to_string(), template.to_string())].into(),
                values: serde_json::from_str(r#"{"replicas": 2}"#).unwrap(),
                deprecated,
                deprecation_message: deprecated
                    .then(|| "upgrade to 1.1.0 for the PodDisruptionBudget".into()),
                ..ChartVersionSpec::default()
            },
        )
    }

    const OK: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{workload.name}}\ndata:\n  replicas: {{quote values.replicas}}\n";

    fn workload(name: &str, project: &str, version: &str, production: Option<&str>) -> Workload {
        let mut spec: WorkloadSpec =
            yaml_serde::from_str(&format!("chart: web\nversion: {version}")).unwrap();
        if let Some(pin) = production {
            spec.environments.insert(
                "production".into(),
                yaml_serde::from_str(&format!("version: {pin}")).unwrap(),
            );
        }
        let mut w = Workload::new(name, spec);
        w.metadata.namespace = Some(project.into());
        w
    }

    fn project(name: &str) -> Project {
        let spec: ProjectSpec = yaml_serde::from_str(
            "environments: [staging, production]\nrepository: {url: file:///x}",
        )
        .unwrap();
        Project::new(name, spec)
    }

    #[test]
    fn publication_checks_compile_and_render_the_defaults() {
        assert_eq!(publication_check(&cv("1.0.0", false, OK)), Ok(1));
        let broken = publication_check(&cv("1.0.0", false, "kind: {{#if}}")).unwrap_err();
        assert!(broken.contains("cm.yaml"), "{broken}");
        let missing = publication_check(&cv(
            "1.0.0",
            false,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{values.nope}}\n",
        ))
        .unwrap_err();
        assert!(
            missing.contains("default values do not render") && missing.contains("nope"),
            "{missing}"
        );
    }

    #[test]
    fn digests_follow_content() {
        assert_eq!(
            content_digest(&cv("1.0.0", false, OK)),
            content_digest(&cv("1.0.0", true, OK))
        );
        assert_ne!(
            content_digest(&cv("1.0.0", false, OK)),
            content_digest(&cv("1.0.0", false, "x"))
        );
    }

    #[test]
    fn consumers_per_environment_and_the_version_table() {
        let (v1, v11) = (cv("1.0.0", true, OK), cv("1.1.0", false, OK));
        let workloads = [
            workload("payment-api", "payments", "1.0.0", Some("1.1.0")),
            workload("orders", "orders", "1.0.0", None),
        ];
        let projects = [project("payments"), project("orders")];
        let w: Vec<&Workload> = workloads.iter().collect();
        let p: Vec<&Project> = projects.iter().collect();
        let old = consumers(&v1, &w, &p);
        let described: Vec<String> = old
            .iter()
            .map(|c| format!("{}/{}/{}", c.project, c.workload, c.environment))
            .collect();
        assert_eq!(
            described,
            [
                "orders/orders/production",
                "orders/orders/staging",
                "payments/payment-api/staging"
            ]
        );
        assert_eq!(consumers(&v11, &w, &p).len(), 1);

        // Once a release delivered 1.1.0 to staging, staging counts for 1.1.0.
        let mut upgraded = workloads[0].clone();
        upgraded.status = Some(gitopshq_crds::workload::WorkloadStatus {
            environments: [(
                "staging".to_string(),
                gitopshq_crds::workload::WorkloadEnvironmentStatus {
                    version: Some("1.1.0".into()),
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        });
        let both = [&upgraded, &workloads[1]];
        assert_eq!(consumers(&v11, &both, &p).len(), 2);
        assert_eq!(consumers(&v1, &both, &p).len(), 2);

        let status = chart_status(&[(&v1, 3), (&v11, 1)]);
        assert_eq!(status.latest.as_deref(), Some("1.1.0"));
        assert_eq!(status.versions[0].version, "1.1.0");
        assert!(status.versions[1].deprecated);

        let envs = vec!["staging".to_string(), "production".to_string()];
        let warnings = deprecations(&workloads[0], &envs, &[&v1, &v11]);
        assert_eq!(
            warnings,
            [
                "staging uses web@1.0.0, which is deprecated: upgrade to 1.1.0 for the PodDisruptionBudget"
            ]
        );
        assert!(
            missing_versions(&workloads[0], &envs, &[&v11])[0]
                .starts_with("staging uses web@1.0.0, which is not published")
        );
    }

    #[test]
    fn statuses_carry_the_checks_as_conditions_and_warn_once_on_deprecation() {
        let now = jiff::Timestamp::from_second(1_780_000_000).unwrap();
        let condition = |conditions: &[gitopshq_crds::common::Condition], type_: &str| {
            let c = conditions
                .iter()
                .find(|c| c.type_ == type_)
                .expect("condition");
            (c.status.clone(), c.reason.clone())
        };
        let (v1, v11) = (cv("1.0.0", true, OK), cv("1.1.0", false, OK));
        let published = version_status(&v1, &Ok(1), Vec::new(), now);
        assert_eq!(
            condition(&published.conditions, "Ready"),
            ("True".into(), "Published".into())
        );
        assert_eq!(
            condition(&published.conditions, "Deprecated"),
            ("True".into(), "ChartVersionDeprecated".into())
        );
        assert_eq!(published.digest, Some(content_digest(&v1)));
        let broken = version_status(&v11, &Err("cm.yaml: bad".into()), Vec::new(), now);
        let valid = broken
            .conditions
            .iter()
            .find(|c| c.type_ == "Valid")
            .unwrap();
        assert!(
            valid.message.ends_with("published versions are immutable)"),
            "{}",
            valid.message
        );

        let chart = gitopshq_crds::chart::Chart::new("web", Default::default());
        let status = chart_status_at(&chart, &[], now);
        assert_eq!(condition(&status.conditions, "Ready").0, "False");

        let envs = vec!["staging".to_string(), "production".to_string()];
        let mut user = workload("payment-api", "payments", "1.0.0", None);
        let check = workload_chart_status(&user, &envs, &[&v1, &v11], now);
        assert!(check.newly_deprecated.is_some());
        assert_eq!(
            condition(&check.status.conditions, "Valid"),
            ("True".into(), "Reconciled".into())
        );
        user.status = Some(check.status);
        let again = workload_chart_status(&user, &envs, &[&v1, &v11], now);
        assert_eq!(again.newly_deprecated, None, "warned once");
        let missing = workload_chart_status(&user, &envs, &[&v11], now);
        assert_eq!(condition(&missing.status.conditions, "Valid").1, "NotFound");
    }
}

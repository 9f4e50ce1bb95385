//! What the values editor shows while someone types: the edited text checked as YAML, merged
//! into the workload's layers for one tenant, its HQ variables resolved, checked against the
//! chart's values schema and rendered. Each problem comes back at the line of the edited text
//! it concerns, when it concerns one; the rendered objects come back when there is none.
//!
//! The edit replaces one layer: the workload's values, its values in one environment, or one
//! tenant's values for it. Nothing is written: saving is the caller's, as the person.

use std::collections::HashMap;

use gitopshq_crds::common::Values;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use kube::ResourceExt;
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::catalog::Catalog;
use crate::diff::unified_manifest_diff;
use crate::error::{Chain, RenderError};
use crate::plan::{self, ChartCache, PlanError, TenantView, tenant_runs};
use crate::render::ReleaseInfo;
use crate::values::ValuePath;

/// Which layer of a workload's values the edited text replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValuesScope {
    /// `Workload.spec.values`: every environment and tenant.
    Workload,
    /// `Workload.spec.environments[ENV].values`.
    Environment(String),
    /// `Tenant.spec.workloads[WORKLOAD].values` of this tenant.
    Tenant(String),
}

/// One problem with the edited values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// 1-based line of the edited text it concerns; `None` when it concerns no line of it (a
    /// template, or a value another layer sets).
    pub line: Option<usize>,
    /// 1-based column on that line.
    pub column: Option<usize>,
    /// The value path it concerns (`image.tag`, `env[0].value`).
    pub path: Option<String>,
    pub message: String,
}

/// The outcome of checking one edit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ValuesCheck {
    /// The tenant the values are rendered for, and its environment; `None` when no tenant
    /// runs the workload there.
    pub tenant: Option<String>,
    pub environment: Option<String>,
    /// Empty when the edit renders.
    pub findings: Vec<Finding>,
    /// The rendered objects, one YAML stream, when the edit renders.
    pub rendered: Option<String>,
    /// When the edit renders: a unified diff, object by object, from the render of the stored
    /// layers to the edit's (empty when the edit changes nothing for this tenant).
    pub diff: Option<String>,
}

/// Checks `text` as the values of `workload` in `scope`, rendered for `tenant` (or, without
/// one, for the first tenant by name that runs the workload in the scope's environment, or in
/// any environment for the workload's own values).
///
/// An error is a request that names something that does not exist (the workload, the tenant,
/// an environment the tenant is not in); problems with the text are findings.
pub fn check_values(
    catalog: &Catalog,
    charts: &mut ChartCache,
    project: &str,
    workload: &str,
    scope: &ValuesScope,
    tenant: Option<&str>,
    text: &str,
) -> Result<ValuesCheck, PlanError> {
    let original = plan::find_workload(catalog, project, workload)?;
    let tenant = preview_tenant(catalog, project, original, scope, tenant)?;
    let mut check = ValuesCheck {
        tenant: tenant.map(|t| t.name_any()),
        environment: tenant.map(|t| t.spec.environment.clone()),
        findings: Vec::new(),
        rendered: None,
        diff: None,
    };
    let values = match parse(text) {
        Ok(values) => values,
        Err(finding) => {
            check.findings.push(finding);
            return Ok(check);
        }
    };
    let Some(tenant) = tenant else {
        check.findings.push(Finding {
            line: None,
            column: None,
            path: None,
            message: format!(
                "no tenant runs workload {workload} here, so the values cannot be rendered; the text is valid YAML"
            ),
        });
        return Ok(check);
    };

    let mut edited = original.clone();
    let mut edited_tenant = tenant.clone();
    set_layer(scope, &mut edited, Some(&mut edited_tenant), values);
    let release = ReleaseInfo {
        release_type: "Deploy".into(),
        ..ReleaseInfo::default()
    };
    let mut render = |workload: &Workload, tenant: &Tenant| {
        plan::build_target(
            catalog,
            project,
            &tenant.spec.environment,
            TenantView::Tenant(tenant),
            workload,
            None,
            &release,
        )
        .and_then(|target| {
            let chart = charts.get(catalog, &target)?;
            chart
                .render(&target.input)
                .map_err(plan::render_failed(&target))
        })
    };
    match render(&edited, &edited_tenant) {
        Ok(output) => match output.yaml_stream() {
            Ok(stream) => {
                // What saving changes for this tenant: the stored layers' render against the
                // edit's (nothing to compare when the stored layers do not render).
                check.diff = render(original, tenant).ok().and_then(|stored| {
                    unified_manifest_diff(&stored.manifests, &output.manifests).ok()
                });
                check.rendered = Some(stream);
            }
            Err(e) => check.findings.push(unlocated(Chain(&e).to_string())),
        },
        Err(error) => {
            let lines = LineIndex::of(text);
            for problem in error.problems() {
                check.findings.extend(findings_of(problem, &lines));
            }
        }
    }
    Ok(check)
}

/// Replaces `scope`'s layer of `workload` by `values`: on the Workload for its own or an
/// environment's layer, on `tenant` for that tenant's override of it.
pub(crate) fn set_layer(
    scope: &ValuesScope,
    workload: &mut Workload,
    tenant: Option<&mut Tenant>,
    values: Values,
) {
    match scope {
        ValuesScope::Workload => workload.spec.values = values,
        ValuesScope::Environment(environment) => {
            workload
                .spec
                .environments
                .entry(environment.clone())
                .or_default()
                .values = values;
        }
        ValuesScope::Tenant(_) => {
            if let Some(tenant) = tenant {
                tenant
                    .spec
                    .workloads
                    .entry(workload.name_any())
                    .or_default()
                    .values = values;
            }
        }
    }
}

/// The tenant to render for: the one named (it must run the workload and sit in the scope's
/// environment), else the first by name that fits.
fn preview_tenant<'a>(
    catalog: &'a Catalog,
    project: &str,
    workload: &Workload,
    scope: &ValuesScope,
    named: Option<&str>,
) -> Result<Option<&'a Tenant>, PlanError> {
    let name = match scope {
        ValuesScope::Tenant(tenant) => Some(tenant.as_str()),
        _ => named,
    };
    let environment = match scope {
        ValuesScope::Environment(environment) => Some(environment.as_str()),
        _ => None,
    };
    if let Some(environment) = environment {
        plan::check_environment(catalog, project, environment)?;
    }
    let fits = |t: &&Tenant| {
        tenant_runs(t, &workload.name_any()) && environment.is_none_or(|e| t.spec.environment == e)
    };
    if let Some(name) = name {
        let tenant = plan::find_tenant(catalog, project, name)?;
        if let Some(environment) = environment.filter(|e| tenant.spec.environment != *e) {
            return Err(PlanError::TenantInOtherEnvironment {
                project: project.to_string(),
                tenant: name.to_string(),
                tenant_environment: tenant.spec.environment.clone(),
                environment: environment.to_string(),
            });
        }
        return Ok(fits(&tenant).then_some(tenant));
    }
    Ok(catalog
        .tenants_of(project)
        .filter(|t| !t.spec.suspended)
        .filter(fits)
        .min_by_key(|t| t.name_any()))
}

/// The edited text as a values map; a YAML error at its line and column.
pub fn parse(text: &str) -> Result<Values, Finding> {
    let value: Value = yaml_serde::from_str(text).map_err(|e| {
        let location = e.location();
        Finding {
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            path: None,
            message: format!("not valid YAML: {e}"),
        }
    })?;
    match value {
        Value::Null => Ok(Values::new()),
        Value::Object(map) => Ok(map),
        other => Err(Finding {
            line: Some(1),
            column: Some(1),
            path: None,
            message: format!(
                "values must be a map of keys to values, found {}",
                crate::values::type_name(&other)
            ),
        }),
    }
}

fn unlocated(message: String) -> Finding {
    Finding {
        line: None,
        column: None,
        path: None,
        message,
    }
}

/// One finding per fault of `problem`; a value's fault at its line when the edited text sets
/// that value.
fn findings_of(problem: &PlanError, lines: &LineIndex) -> Vec<Finding> {
    let PlanError::Render { source, .. } = problem else {
        return vec![unlocated(Chain(problem).to_string())];
    };
    let at = |path: &str, message: String| {
        let (line, column) = lines.get(path).unzip();
        Finding {
            line,
            column,
            path: (!path.is_empty()).then(|| path.to_string()),
            message,
        }
    };
    let mut out = Vec::new();
    let mut faults = vec![source.as_ref()];
    while let Some(fault) = faults.pop() {
        match fault {
            RenderError::Several { problems } => faults.extend(problems.iter().rev()),
            RenderError::UnresolvedVariable { path, .. } => out.push(at(path, fault.to_string())),
            RenderError::ValuesSchema { violations, .. } => {
                out.extend(violations.iter().map(|v| {
                    at(
                        &v.path,
                        format!("does not match the chart's valuesSchema: {v}"),
                    )
                }))
            }
            other => out.push(unlocated(other.to_string())),
        }
    }
    out
}

/// Where each value of a YAML text starts, by value path as [`ValuePath`] writes it.
struct LineIndex(HashMap<String, (usize, usize)>);

impl LineIndex {
    /// Empty when the text does not parse: findings then carry no line.
    fn of(text: &str) -> Self {
        let mut index = HashMap::new();
        if let Ok(root) = serde_saphyr::from_str::<serde_saphyr::Spanned<Node>>(text) {
            collect(&root, &ValuePath::root(), &mut index);
        }
        LineIndex(index)
    }

    fn get(&self, path: &str) -> Option<(usize, usize)> {
        self.0.get(path).copied()
    }
}

fn collect(
    node: &serde_saphyr::Spanned<Node>,
    path: &ValuePath,
    index: &mut HashMap<String, (usize, usize)>,
) {
    let at = &node.referenced;
    if at.line() > 0 {
        index.insert(path.to_string(), (at.line() as usize, at.column() as usize));
    }
    match &node.value {
        Node::Map(entries) => {
            for (key, value) in entries {
                collect(value, &path.key(key), index);
            }
        }
        Node::List(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, &path.index(i), index);
                // Lists of named objects are also written by name (`env[LOG_LEVEL]`).
                if let Node::Map(entries) = &item.value
                    && let Some((_, name)) = entries.iter().find(|(k, _)| k == "name")
                    && let Node::Text(name) = &name.value
                {
                    collect(item, &path.named(name), index);
                }
            }
        }
        Node::Text(_) | Node::Other => {}
    }
}

/// A YAML node with the positions of its children, for [`LineIndex`].
enum Node {
    Map(Vec<(String, serde_saphyr::Spanned<Node>)>),
    List(Vec<serde_saphyr::Spanned<Node>>),
    Text(String),
    Other,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<KeyText, serde_saphyr::Spanned<Node>>()? {
            entries.push((key.0, value));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_saphyr::Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Text(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }
}

/// A mapping key as text, whatever scalar it is (`80:` is the key "80").
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use gitopshq_crds::testing::from_yaml as object;

    use super::*;

    /// Project shop: workload api on chart web 1.0.0 (image tag required by its schema, the
    /// database host an HQ variable defined for prod only), tenants eu-1 (prod) and dev-1 (dev).
    pub(crate) fn catalog() -> Catalog {
        let mut catalog = Catalog::default();
        catalog.projects.push(object(
            "metadata: {name: shop}\nspec: {environments: [dev, prod], repository: {url: file:///tmp/x}}",
        ));
        for e in ["dev", "prod"] {
            catalog
                .environments
                .push(object(&format!("metadata: {{name: {e}}}\nspec: {{}}")));
        }
        catalog.chart_versions.push(object(
            "metadata: {name: web-1.0.0}
spec:
  chart: web
  version: 1.0.0
  values: {replicas: 1, image: {tag: stable}}
  valuesSchema:
    type: object
    properties:
      replicas: {type: integer, minimum: 0}
      image:
        type: object
        required: [tag]
        properties: {tag: {type: string, minLength: 1}}
  templates:
    cm.yaml: |
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: '{{workload.name}}'}
      data: {tag: '{{values.image.tag}}', db: '{{values.db}}'}",
        ));
        catalog.workloads.push(object(
            "metadata: {name: api, namespace: shop}\nspec: {chart: web, version: 1.0.0, values: {db: plain}}",
        ));
        for (t, e) in [("eu-1", "prod"), ("dev-1", "dev")] {
            catalog.tenants.push(object(&format!(
                "metadata: {{name: {t}, namespace: shop}}\nspec: {{environment: {e}, cluster: c1, namespace: {t}}}"
            )));
        }
        catalog.variables.push(object(
            "metadata: {name: prod, namespace: shop}\nspec: {environment: prod, values: {DB_HOST: db.prod}}",
        ));
        catalog
    }

    fn check(scope: ValuesScope, tenant: Option<&str>, text: &str) -> ValuesCheck {
        check_values(
            &catalog(),
            &mut ChartCache::default(),
            "shop",
            "api",
            &scope,
            tenant,
            text,
        )
        .unwrap()
    }

    #[test]
    fn values_that_render_come_back_rendered_for_the_first_tenant() {
        let text = "db: '{{hq.var.DB_HOST}}'\nimage:\n  tag: v2\n";
        let out = check(ValuesScope::Environment("prod".into()), None, text);
        assert_eq!(out.findings, vec![]);
        assert_eq!(
            (out.tenant.as_deref(), out.environment.as_deref()),
            (Some("eu-1"), Some("prod"))
        );
        let rendered = out.rendered.unwrap();
        assert!(rendered.contains("tag: v2"), "{rendered}");
        assert!(rendered.contains("db: db.prod"), "{rendered}");
        let diff = out.diff.unwrap();
        assert!(
            diff.contains("-  db: plain\n-  tag: stable\n+  db: db.prod\n+  tag: v2\n"),
            "the stored values render db: plain and tag: stable: {diff}"
        );

        let unchanged = check(ValuesScope::Environment("prod".into()), None, "");
        assert_eq!(unchanged.diff.as_deref(), Some(""));
    }

    #[test]
    fn a_yaml_error_is_at_its_line_and_column() {
        let out = check(
            ValuesScope::Workload,
            None,
            "image:\n  tag: v2\n  bad: [1, 2\n",
        );
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        let finding = &out.findings[0];
        assert!(
            finding.message.starts_with("not valid YAML: "),
            "{}",
            finding.message
        );
        assert_eq!(finding.line, Some(4), "{finding:?}");
        assert!(out.rendered.is_none());

        let out = check(ValuesScope::Workload, None, "- a\n- b\n");
        assert_eq!(
            out.findings[0].message,
            "values must be a map of keys to values, found a list"
        );
    }

    #[test]
    fn an_unresolved_variable_is_at_the_line_that_uses_it_naming_environment_and_tenant() {
        let text = "image:\n  tag: v2\ndb: '{{hq.var.DB_HOST}}'\n";
        let out = check(ValuesScope::Workload, Some("dev-1"), text);
        assert!(out.rendered.is_none());
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        let finding = &out.findings[0];
        assert_eq!(
            (finding.line, finding.column),
            (Some(3), Some(5)),
            "{finding:?}"
        );
        assert_eq!(finding.path.as_deref(), Some("db"));
        assert!(
            finding.message.contains("DB_HOST")
                && finding.message.contains("environment dev, tenant dev-1"),
            "{}",
            finding.message
        );
    }

    #[test]
    fn every_schema_violation_is_at_its_value() {
        let text = "replicas: -1\nimage:\n  tag: ''\n";
        let out = check(ValuesScope::Tenant("eu-1".into()), None, text);
        let located: Vec<(Option<usize>, Option<&str>)> = out
            .findings
            .iter()
            .map(|f| (f.line, f.path.as_deref()))
            .collect();
        assert_eq!(
            located,
            vec![(Some(1), Some("replicas")), (Some(3), Some("image.tag"))],
            "{:?}",
            out.findings
        );
        assert!(
            out.findings
                .iter()
                .all(|f| f.message.contains("valuesSchema"))
        );
    }

    #[test]
    fn a_list_of_named_objects_is_found_by_index_and_by_name() {
        let lines =
            LineIndex::of("env:\n  - name: LOG\n    value: debug\n  - name: DB\n    value: x\n");
        assert_eq!(lines.get("env[1].value"), Some((5, 12)));
        assert_eq!(lines.get("env[DB].value"), Some((5, 12)));
        assert_eq!(lines.get("env[0]"), Some((2, 5)));
        assert_eq!(lines.get("missing"), None);
    }

    #[test]
    fn a_tenant_in_another_environment_or_unknown_is_refused() {
        let refused = |scope: ValuesScope, tenant: &str| {
            check_values(
                &catalog(),
                &mut ChartCache::default(),
                "shop",
                "api",
                &scope,
                Some(tenant),
                "{}",
            )
            .unwrap_err()
            .to_string()
        };
        assert!(refused(ValuesScope::Environment("prod".into()), "dev-1").contains("dev-1"));
        assert!(refused(ValuesScope::Workload, "nobody").contains("nobody"));
    }
}

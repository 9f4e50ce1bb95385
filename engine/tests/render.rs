//! End-to-end render of the bootstrap example chart, and the error cases chart authors hit.

mod common;

use std::collections::BTreeMap;

use gitopshq_engine::{ChartSource, CompiledChart, RenderError, RenderInput};
use serde_json::{Value, json};

use common::{microservice_base, payment_api_production};

fn chart(templates: &[(&str, &str)], values: Value) -> ChartSource {
    ChartSource {
        name: "demo".into(),
        version: "0.1.0".into(),
        templates: templates
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        values,
        values_schema: None,
    }
}

fn input() -> RenderInput {
    let mut input = payment_api_production();
    input.layers.clear();
    input
}

fn render(
    source: &ChartSource,
    input: &RenderInput,
) -> Result<gitopshq_engine::RenderOutput, RenderError> {
    CompiledChart::compile(source)?.render(input)
}

#[test]
fn bootstrap_chart_renders_four_objects_in_install_order() {
    let out = render(&microservice_base(), &payment_api_production()).unwrap();
    let ids: Vec<_> = out
        .manifests
        .iter()
        .map(|m| (m.kind.as_str(), m.display_name(), m.file_name()))
        .collect();
    assert_eq!(
        ids,
        vec![
            (
                "Service",
                "payments/payment-api".into(),
                "service-payment-api.yaml".into()
            ),
            (
                "Deployment",
                "payments/payment-api".into(),
                "deployment-payment-api.yaml".into()
            ),
            (
                "HorizontalPodAutoscaler",
                "payments/payment-api".into(),
                "horizontalpodautoscaler-payment-api.yaml".into()
            ),
            (
                "Ingress",
                "payments/payment-api".into(),
                "ingress-payment-api.yaml".into()
            ),
        ]
    );
    let deployment = &out.manifests[1].object;
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/payment-api:v1.0.0"
    );
    assert_eq!(
        container["resources"],
        json!({"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}})
    );
    let env: BTreeMap<&str, &Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), &e["value"]))
        .collect();
    assert_eq!(env["DATABASE_HOST"], "payments-db.prod.internal");
    // quote makes every env value a string, whatever type the variable had.
    assert_eq!(env["DATABASE_PORT"], "5432");
    assert_eq!(
        env["DATABASE_URL"],
        "postgres://payments-db.prod.internal:5432/payments"
    );
    assert_eq!(env["REGION"], "eu-west-1");
    assert_eq!(env["GITOPSHQ_TENANT"], "eu-production");
    // autoscaling is on in production, so the Deployment leaves replicas to the HPA.
    assert!(deployment["spec"].get("replicas").is_none());
    assert_eq!(out.manifests[2].object["spec"]["minReplicas"], 3);
    // Whole-string variable references keep their type in values.
    assert_eq!(out.values["database"]["maxConnections"], 100);
    assert_eq!(
        out.manifests[3].object["spec"]["rules"][0]["host"],
        "payments.example.com"
    );
    assert_eq!(out.digest().unwrap().len(), 64);
    let yaml = out.manifests[0].yaml().unwrap();
    assert!(
        yaml.starts_with("apiVersion: v1\nkind: Service\nmetadata:\n"),
        "{yaml}"
    );
}

#[test]
fn rendering_twice_gives_the_same_bytes_and_digest() {
    let chart = CompiledChart::compile(&microservice_base()).unwrap();
    let a = chart.render(&payment_api_production()).unwrap();
    let b = chart.render(&payment_api_production()).unwrap();
    assert_eq!(a.yaml_stream().unwrap(), b.yaml_stream().unwrap());
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
    let recompiled = CompiledChart::compile(&microservice_base()).unwrap();
    assert_eq!(
        recompiled
            .render(&payment_api_production())
            .unwrap()
            .digest()
            .unwrap(),
        a.digest().unwrap()
    );

    let mut other = payment_api_production();
    std::sync::Arc::make_mut(&mut other.layers[0].values)["image"]["tag"] = json!("v1.0.1");
    assert_ne!(
        chart.render(&other).unwrap().digest().unwrap(),
        a.digest().unwrap()
    );
}

#[test]
fn template_key_order_does_not_change_output() {
    let a = chart(
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: \"1\"\n  b: \"2\"\n",
        )],
        json!({}),
    );
    let b = chart(
        &[(
            "cm.yaml",
            "data:\n  b: \"2\"\n  x: \"1\"\nmetadata:\n  name: a\nkind: ConfigMap\napiVersion: v1\n",
        )],
        json!({}),
    );
    assert_eq!(
        render(&a, &input()).unwrap().digest().unwrap(),
        render(&b, &input()).unwrap().digest().unwrap()
    );
}

#[test]
fn context_exposes_release_project_environment_tenant_workload_chart() {
    let source = chart(
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ctx\ndata:\n  release: {{release.name}}/{{release.type}}/{{quote release.title}}\n  project: {{project.name}}\n  environment: {{environment.name}}\n  tenant: {{tenant.name}}/{{tenant.namespace}}/{{tenant.cluster}}/{{tenant.labels.tier}}\n  workload: {{workload.name}}/{{workload.namespace}}\n  chart: {{chart.name}}@{{chart.version}}\n",
        )],
        json!({}),
    );
    let out = render(&source, &input()).unwrap();
    assert_eq!(
        out.manifests[0].object["data"],
        json!({
            "chart": "demo@0.1.0",
            "environment": "production",
            "project": "payment-service",
            "release": "payment-api-v2/Deploy/\"Bump payment-api\"",
            "tenant": "eu-production/payments/eu-west-1/standard",
            "workload": "payment-api/payments",
        })
    );
}

#[test]
fn several_documents_and_empty_ones() {
    let source = chart(
        &[(
            "all.yaml",
            "---\n# leading comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n---\n\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n{{#if values.secret}}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n{{/if}}\n",
        )],
        json!({"secret": false}),
    );
    let out = render(&source, &input()).unwrap();
    let kinds: Vec<_> = out
        .manifests
        .iter()
        .map(|m| (m.kind.as_str(), m.namespace.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![("Namespace", None), ("ConfigMap", Some("payments".into()))]
    );
}

#[test]
fn template_rendering_nothing_is_fine() {
    let source = chart(
        &[("hpa.yaml", "{{#if values.on}}\nkind: X\n{{/if}}\n")],
        json!({"on": false}),
    );
    assert!(render(&source, &input()).unwrap().manifests.is_empty());
}

#[test]
fn strict_mode_missing_path_names_template_line_and_path() {
    let source = chart(
        &[(
            "deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{values.nmae}}\n",
        )],
        json!({"name": "x"}),
    );
    let err = render(&source, &input()).unwrap_err();
    let RenderError::TemplateRender {
        chart,
        template,
        line,
        message,
        ..
    } = &err
    else {
        panic!("unexpected {err}");
    };
    assert_eq!(chart, "demo@0.1.0");
    assert_eq!(template, "deployment.yaml");
    assert_eq!(*line, Some(4));
    assert!(message.contains("values.nmae"), "{message}");
    let text = err.to_string();
    assert!(
        text.contains("demo@0.1.0") && text.contains("deployment.yaml") && text.contains("line 4"),
        "{text}"
    );
}

#[test]
fn many_templates_render_in_order_and_report_every_failure_in_order() {
    // Enough templates that the render spreads them over threads: the output and the errors
    // reported must not depend on which thread finished first.
    let names: Vec<String> = (0..12).map(|i| format!("cm-{i:02}.yaml")).collect();
    let text = |i: usize| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:02}\ndata:\n  at: {{{{quote values.at}}}}\n"
        )
    };
    let templates: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), text(i)))
        .collect();
    let borrowed: Vec<(&str, &str)> = templates
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let out = render(&chart(&borrowed, json!({"at": "x"})), &input()).unwrap();
    let rendered: Vec<String> = out.manifests.iter().map(|m| m.name.clone()).collect();
    let expected: Vec<String> = (0..12).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(rendered, expected);

    let mut broken = templates.clone();
    for i in [4, 9] {
        broken[i].1 = broken[i].1.replace("values.at", "values.missing");
    }
    let borrowed: Vec<(&str, &str)> = broken
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    for _ in 0..20 {
        let err = render(&chart(&borrowed, json!({"at": "x"})), &input()).unwrap_err();
        let failed: Vec<&str> = err
            .problems()
            .iter()
            .map(|p| match p {
                RenderError::TemplateRender { template, .. } => template.as_str(),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(failed, ["cm-04.yaml", "cm-09.yaml"], "{err}");
    }
}

#[test]
fn if_and_default_tolerate_missing_paths() {
    let source = chart(
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  level: {{default values.logLevel \"info\"}}\n{{#if values.extra}}\n  extra: yes\n{{/if}}\n",
        )],
        json!({}),
    );
    let out = render(&source, &input()).unwrap();
    assert_eq!(out.manifests[0].object["data"], json!({"level": "info"}));
}

#[test]
fn compile_error_names_template_line_and_column() {
    let source = chart(&[("bad.yaml", "a: 1\nb: {{#if values.x}}\n")], json!({}));
    let err = CompiledChart::compile(&source).unwrap_err();
    let RenderError::TemplateCompile { template, line, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert_eq!(template, "bad.yaml");
    assert!(line.is_some(), "{err}");
}

#[test]
fn documents_must_be_kubernetes_objects() {
    let missing_kind = chart(
        &[("x.yaml", "apiVersion: v1\nmetadata:\n  name: a\n")],
        json!({}),
    );
    let err = render(&missing_kind, &input()).unwrap_err();
    assert!(
        matches!(&err, RenderError::NotAnObject { template, .. } if template == "x.yaml"),
        "{err}"
    );
    assert!(err.to_string().contains("kind is missing"), "{err}");

    let bad_name = chart(
        &[(
            "x.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: Payment_API\n",
        )],
        json!({}),
    );
    let err = render(&bad_name, &input()).unwrap_err();
    assert!(
        matches!(&err, RenderError::InvalidName { name, .. } if name == "Payment_API"),
        "{err}"
    );

    let not_yaml = chart(&[("x.yaml", "a: [\n")], json!({}));
    assert!(matches!(
        render(&not_yaml, &input()).unwrap_err(),
        RenderError::InvalidYaml { .. }
    ));
}

#[test]
fn every_invalid_document_of_every_template_is_reported_at_once() {
    let source = chart(
        &[
            (
                "a.yaml",
                "apiVersion: v1\nmetadata:\n  name: no-kind\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: Bad_Name\n",
            ),
            ("b.yaml", "a: [\n"),
        ],
        json!({}),
    );
    let err = render(&source, &input()).unwrap_err();
    let found: Vec<(&str, &str)> = err
        .problems()
        .iter()
        .map(|p| match p {
            RenderError::NotAnObject { template, .. } => (template.as_str(), "NotAnObject"),
            RenderError::InvalidName { template, .. } => (template.as_str(), "InvalidName"),
            RenderError::InvalidYaml { template, .. } => (template.as_str(), "InvalidYaml"),
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(
        found,
        [
            ("a.yaml", "NotAnObject"),
            ("a.yaml", "InvalidName"),
            ("b.yaml", "InvalidYaml")
        ]
    );
    let text = err.to_string();
    assert!(text.starts_with("3 problems:"), "{text}");
    assert!(
        text.contains("Bad_Name") && text.contains("kind is missing"),
        "{text}"
    );
}

#[test]
fn duplicate_objects_name_both_templates() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\n";
    let source = chart(&[("a.yaml", cm), ("b.yaml", cm)], json!({}));
    let err = render(&source, &input()).unwrap_err();
    assert_eq!(
        err,
        RenderError::DuplicateObject {
            chart: "demo@0.1.0".into(),
            kind: "ConfigMap".into(),
            object: "payments/same".into(),
            first_template: "a.yaml".into(),
            second_template: "b.yaml".into(),
        }
    );
    // Same name in another namespace is another object.
    let other_ns = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\n  namespace: other\n";
    let source = chart(&[("a.yaml", cm), ("b.yaml", other_ns)], json!({}));
    let out = render(&source, &input()).unwrap();
    let files: Vec<_> = out.files().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        files,
        vec!["configmap-other-same.yaml", "configmap-payments-same.yaml"]
    );
}

#[test]
fn values_schema_violation_names_the_value_path() {
    let mut input = payment_api_production();
    input.layers.push(gitopshq_engine::ValueLayer::new(
        "Tenant eu-production spec.workloads.payment-api.values",
        json!({"replicaCount": -1, "image": {"tag": ""}}),
    ));
    let err = render(&microservice_base(), &input).unwrap_err();
    let RenderError::ValuesSchema { chart, violations } = &err else {
        panic!("unexpected {err}");
    };
    assert_eq!(chart, "microservice-base@1.0.0");
    let mut paths: Vec<_> = violations.iter().map(|v| v.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, vec!["image.tag", "replicaCount"]);
    assert!(err.to_string().contains("replicaCount"), "{err}");
}

#[test]
fn values_schema_is_checked_after_variables_resolve() {
    let mut source = chart(&[], json!({"port": "{{hq.var.DATABASE_PORT}}"}));
    source.values_schema =
        Some(json!({"type": "object", "properties": {"port": {"type": "integer"}}}));
    let values = CompiledChart::compile(&source)
        .unwrap()
        .values_for(&input())
        .unwrap();
    assert_eq!(values, json!({"port": 5432}));
}

#[test]
fn invalid_schema_is_a_compile_error() {
    let mut source = chart(&[], json!({}));
    source.values_schema = Some(json!({"type": "no-such-type"}));
    assert!(matches!(
        CompiledChart::compile(&source).unwrap_err(),
        RenderError::InvalidValuesSchema { .. }
    ));
}

#[test]
fn unresolved_variable_fails_the_render() {
    let mut input = payment_api_production();
    std::sync::Arc::make_mut(&mut input.variables)
        .environment
        .remove("PUBLIC_HOST");
    let err = render(&microservice_base(), &input).unwrap_err();
    assert_eq!(
        err.to_string(),
        "HQ variable hq.var.PUBLIC_HOST used at value path ingress.host is not defined for environment production, tenant eu-production (looked in tenant, environment and project scopes); define it in a Variables object"
    );
}

#[test]
fn hq_var_never_reaches_handlebars() {
    // A template that itself writes {{hq.var.X}} reads a path that does not exist: strict error.
    let source = chart(&[("x.yaml", "a: {{hq.var.X}}\n")], json!({}));
    assert!(matches!(
        render(&source, &input()).unwrap_err(),
        RenderError::TemplateRender { .. }
    ));
}

#[test]
fn partials_are_shared_and_render_nothing_alone() {
    let source = chart(
        &[
            ("_labels.hbs", "app: {{workload.name}}\nteam: payments"),
            (
                "cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    {{> _labels.hbs}}\n",
            ),
        ],
        json!({}),
    );
    let out = render(&source, &input()).unwrap();
    assert_eq!(out.manifests.len(), 1);
    assert_eq!(
        out.manifests[0].object["metadata"]["labels"],
        json!({"app": "payment-api", "team": "payments"})
    );
}

#[test]
fn manifest_diff_between_chart_versions() {
    let old = render(&microservice_base(), &payment_api_production()).unwrap();
    let mut input = payment_api_production();
    input.layers.push(gitopshq_engine::ValueLayer::new(
        "t",
        json!({"env": {"REGION": null}, "service": {"port": 8080}}),
    ));
    let new = render(&microservice_base(), &input).unwrap();
    let diff = gitopshq_engine::diff_manifests(&old.manifests, &new.manifests);
    assert_eq!(diff.summary(), "0 added, 0 removed, 2 changed");
    let text = diff.to_string();
    assert!(
        text.contains("~ Service payments/payment-api\n    spec.ports[http].port: 80 → 8080"),
        "{text}"
    );
    assert!(
        // Named list items pair up by name: the removed variable is one change, not a shift.
        text.contains(
            "spec.template.spec.containers[payment-api].env[REGION]: {\"name\":\"REGION\",\"value\":\"eu-west-1\"} → (absent)"
        ),
        "{text}"
    );
    let unified = gitopshq_engine::unified_manifest_diff(&old.manifests, &new.manifests).unwrap();
    assert!(
        unified.contains("--- a/service-payment-api.yaml"),
        "{unified}"
    );
    assert!(
        unified.contains("-  - name: http\n-    port: 80") || unified.contains("-    port: 80"),
        "{unified}"
    );
}

#[test]
fn environment_compare_diffs_resolved_values() {
    let chart = CompiledChart::compile(&microservice_base()).unwrap();
    let production = payment_api_production();
    let mut staging = payment_api_production();
    staging.environment = "staging".into();
    staging.layers.remove(1);
    let variables = std::sync::Arc::make_mut(&mut staging.variables);
    variables.environment.insert(
        "DATABASE_HOST".into(),
        json!("payments-db.staging.internal"),
    );
    variables.environment.remove("DATABASE_MAX_CONNECTIONS");
    let diff = gitopshq_engine::diff_values(
        &chart.values_for(&staging).unwrap(),
        &chart.values_for(&production).unwrap(),
    );
    let paths: Vec<String> = diff.changes.iter().map(|c| c.path.to_string()).collect();
    assert!(
        paths.contains(&"database.maxConnections".to_owned()),
        "{diff}"
    );
    assert!(paths.contains(&"env.DATABASE_HOST".to_owned()), "{diff}");
    assert!(paths.contains(&"resources.limits".to_owned()), "{diff}");
}

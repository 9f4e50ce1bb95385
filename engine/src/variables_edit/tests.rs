use super::*;
use crate::values_check::tests::catalog;

fn alice() -> Requester {
    Requester::new("alice", &["backend-team"])
}

fn object<K: serde::de::DeserializeOwned>(yaml: &str) -> K {
    yaml_serde::from_str(yaml).expect("fixture")
}

/// The shared catalog with a project scope holding a Secret-backed variable, and a workload
/// reading `hq.var.env.DB_HOST`.
fn shop() -> Catalog {
    let mut catalog = catalog();
    catalog.variables.push(object(
        "metadata: {name: project, namespace: shop, resourceVersion: '12'}
spec:
  values: {LOG_LEVEL: info, PORT: 5432}
  secretRefs: {DB_PASSWORD: {name: db-credentials, key: password}}",
    ));
    catalog.workloads[0]
        .spec
        .values
        .insert("host".into(), json!("{{hq.var.env.DB_HOST}}"));
    catalog
}

fn everything(_: Option<&str>) -> bool {
    true
}

fn scopes_with(catalog: &Catalog, holds_release: &dyn Fn(&str) -> bool) -> Vec<ScopeVariables> {
    scopes(
        catalog,
        &alice(),
        "shop",
        &ScopeAccess {
            may_write: &everything,
            holds_release,
        },
        Timestamp::UNIX_EPOCH,
    )
}

#[test]
fn every_scope_is_listed_with_its_variables_and_secret_references_only() {
    let catalog = shop();
    let all = scopes_with(&catalog, &|_| true);
    let labels: Vec<&str> = all.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "project",
            "environment/dev",
            "environment/prod",
            "tenant/dev-1",
            "tenant/eu-1"
        ]
    );
    let project = &all[0];
    assert_eq!(project.target, "project");
    assert_eq!(
        project.objects.get("project"),
        Some(&Some("12".to_string()))
    );
    let password = project
        .variables
        .iter()
        .find(|v| v.name == "DB_PASSWORD")
        .expect("the Secret-backed variable is listed");
    assert_eq!(
        password.value, None,
        "never a value for a Secret-backed one"
    );
    assert_eq!(
        password.secret_ref,
        Some(SecretKeyRef {
            name: "db-credentials".into(),
            key: "password".into()
        })
    );
    let port = project.variables.iter().find(|v| v.name == "PORT").unwrap();
    assert_eq!(port.value, Some(json!(5432)));
    assert!(port.pinned_uses.is_empty());
    let prod = &all[2];
    assert_eq!(prod.variables[0].name, "DB_HOST");
    assert_eq!(prod.variables[0].object, "prod");
    assert_eq!(
        prod.variables[0].pinned_uses,
        ["api"],
        "api reads it as hq.var.env.DB_HOST"
    );
    let dev = &all[1];
    assert!(dev.variables.is_empty() && dev.objects.is_empty());
    assert_eq!(
        dev.target, "dev",
        "the first object of a scope is named after it"
    );
    let eu = &all[4];
    assert_eq!(eu.environment.as_deref(), Some("prod"));
    assert_eq!(eu.target, "tenant-eu-1");
}

#[test]
fn a_scope_that_renders_in_an_environment_needs_the_release_grant_there() {
    let catalog = shop();
    let only_dev = |e: &str| e == "dev";
    let all = scopes_with(&catalog, &only_dev);
    let by_label = |label: &str| all.iter().find(|s| s.label == label).unwrap();
    assert!(
        by_label("project").edit.allowed,
        "no environment: RBAC only"
    );
    assert!(by_label("environment/dev").edit.allowed);
    assert!(by_label("tenant/dev-1").edit.allowed);
    for label in ["environment/prod", "tenant/eu-1"] {
        let check = &by_label(label).edit;
        assert!(!check.allowed, "{label}");
        let reason = check.reason.as_deref().unwrap();
        assert!(
            reason.contains("alice") && reason.contains("prod"),
            "{label}: {reason}"
        );
    }
}

#[test]
fn without_rbac_the_reason_names_the_verb_and_the_object() {
    let catalog = shop();
    let nothing = |_: Option<&str>| false;
    let all = scopes(
        &catalog,
        &alice(),
        "shop",
        &ScopeAccess {
            may_write: &nothing,
            holds_release: &|_| true,
        },
        Timestamp::UNIX_EPOCH,
    );
    let project = all[0].edit.reason.clone().unwrap();
    assert!(
        project.contains("may not change variables project") && project.contains("patch"),
        "{project}"
    );
    let dev = all[1].edit.reason.clone().unwrap();
    assert!(
        dev.contains("Variables objects") && dev.contains("create"),
        "{dev}"
    );
}

fn edit(scope: VariablesScope, name: &str, change: VariableChange) -> VariableEdit {
    VariableEdit {
        scope,
        object: Some("project".into()),
        resource_version: Some("12".into()),
        name: name.into(),
        change,
    }
}

#[test]
fn a_value_is_typed_as_yaml_reads_it_and_replaces_a_secret_reference_of_that_name() {
    let catalog = shop();
    let write = plan_edit(
        &catalog,
        "shop",
        &edit(
            VariablesScope::default(),
            "DB_PASSWORD",
            VariableChange::Value {
                text: "'5432'".into(),
            },
        ),
    )
    .unwrap();
    assert_eq!(
        write,
        VariableWrite::Patch {
            object: "project".into(),
            patch: json!({
                "metadata": {"resourceVersion": "12"},
                "spec": {"values": {"DB_PASSWORD": "5432"}, "secretRefs": {"DB_PASSWORD": null}}
            })
        }
    );
    let VariableWrite::Patch { patch, .. } = plan_edit(
        &catalog,
        "shop",
        &edit(
            VariablesScope::default(),
            "PORT",
            VariableChange::Value {
                text: "6543".into(),
            },
        ),
    )
    .unwrap() else {
        panic!("a patch");
    };
    assert_eq!(patch["spec"], json!({"values": {"PORT": 6543}}));
}

#[test]
fn a_secret_reference_and_a_removal_patch_only_that_name() {
    let catalog = shop();
    let VariableWrite::Patch { patch, .. } = plan_edit(
        &catalog,
        "shop",
        &edit(
            VariablesScope::default(),
            "PORT",
            VariableChange::Secret {
                secret: "db".into(),
                key: "port".into(),
            },
        ),
    )
    .unwrap() else {
        panic!("a patch");
    };
    assert_eq!(
        patch["spec"],
        json!({"values": {"PORT": null}, "secretRefs": {"PORT": {"name": "db", "key": "port"}}})
    );
    let VariableWrite::Patch { patch, .. } = plan_edit(
        &catalog,
        "shop",
        &edit(
            VariablesScope::default(),
            "LOG_LEVEL",
            VariableChange::Remove,
        ),
    )
    .unwrap() else {
        panic!("a patch");
    };
    assert_eq!(patch["spec"], json!({"values": {"LOG_LEVEL": null}}));
    assert_eq!(
        plan_edit(
            &catalog,
            "shop",
            &edit(VariablesScope::default(), "NOPE", VariableChange::Remove)
        ),
        Err(VariableEditError::NothingToRemove {
            name: "NOPE".into(),
            scope: "project".into()
        })
    );
}

#[test]
fn the_first_variable_of_a_scope_creates_its_object() {
    let dev = VariablesScope {
        environment: Some("dev".into()),
        tenant: None,
    };
    let mut first = edit(
        dev.clone(),
        "FEATURE_X",
        VariableChange::Value {
            text: "true".into(),
        },
    );
    first.object = None;
    let VariableWrite::Create(created) = plan_edit(&catalog(), "shop", &first).unwrap() else {
        panic!("a new object");
    };
    assert_eq!(created.name_any(), "dev");
    assert_eq!(created.namespace().as_deref(), Some("shop"));
    assert_eq!(VariablesScope::of(&created), dev);
    assert_eq!(created.spec.values.get("FEATURE_X"), Some(&json!(true)));
}

#[test]
fn bad_names_values_and_references_are_refused_naming_the_variable() {
    let catalog = shop();
    let refused = |name: &str, change: VariableChange| {
        plan_edit(
            &catalog,
            "shop",
            &edit(VariablesScope::default(), name, change),
        )
        .unwrap_err()
        .to_string()
    };
    let text = |t: &str| VariableChange::Value { text: t.into() };
    assert!(refused("DB HOST", text("x")).contains("\"DB HOST\""));
    assert!(refused("env.DB_HOST", text("x")).contains("env.DB_HOST"));
    let map = refused("LIMITS", text("{cpu: 1}"));
    assert!(map.contains("LIMITS") && map.contains("map"), "{map}");
    assert!(refused("EMPTY", text("  ")).contains("empty"));
    assert!(refused("NULL", text("~")).contains("null"));
    let secret = refused(
        "TOKEN",
        VariableChange::Secret {
            secret: "api".into(),
            key: " ".into(),
        },
    );
    assert!(
        secret.contains("TOKEN") && secret.contains("key"),
        "{secret}"
    );
}

#[test]
fn a_first_object_takes_the_name_the_page_offers_and_a_gone_object_is_said() {
    let mut catalog = shop();
    // A tenant's object already holds the name an environment's first object would get.
    catalog.variables.push(object(
        "metadata: {name: dev, namespace: shop}\nspec: {tenant: dev-1, values: {X: 1}}",
    ));
    let dev = VariablesScope {
        environment: Some("dev".into()),
        tenant: None,
    };
    let offered = scopes_with(&catalog, &|_| true)
        .into_iter()
        .find(|s| s.scope == dev)
        .unwrap()
        .target;
    assert_eq!(offered, "dev-2");
    let mut first = edit(
        dev,
        "FEATURE_X",
        VariableChange::Value { text: "on".into() },
    );
    first.object = None;
    let VariableWrite::Create(created) = plan_edit(&catalog, "shop", &first).unwrap() else {
        panic!("a new object");
    };
    assert_eq!(
        created.name_any(),
        offered,
        "created under the name offered"
    );
    let mut gone = first.clone();
    gone.object = Some("deleted-meanwhile".into());
    assert_eq!(
        plan_edit(&catalog, "shop", &gone),
        Err(VariableEditError::NoObject {
            object: "deleted-meanwhile".into(),
            project: "shop".into()
        })
    );
}

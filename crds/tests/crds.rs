//! The committed CRD YAML matches the types, and every CRD has what `kubectl` users and the API
//! server need.

use std::path::PathBuf;

use gitopshq_crds::{all_crds, crd_file_name, crd_yaml, crds_yaml};
use serde_json::Value;

const REGENERATE: &str = "GITOPSHQ_UPDATE_CRDS=1 cargo test -p gitopshq-crds";

fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/crd")
}

fn kustomization() -> String {
    let mut out = String::from("# Generated from the gitopshq-crds types; regenerate with\n");
    out.push_str(&format!("#   {REGENERATE}\n"));
    out.push_str("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for crd in all_crds() {
        out.push_str(&format!("  - {}\n", crd_file_name(&crd)));
    }
    out
}

#[test]
fn committed_crds_are_up_to_date() {
    let dir = crd_dir();
    let mut expected: Vec<(String, String)> = all_crds()
        .iter()
        .map(|crd| (crd_file_name(crd), crd_yaml(crd)))
        .collect();
    expected.push(("kustomization.yaml".into(), kustomization()));

    if std::env::var_os("GITOPSHQ_UPDATE_CRDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in &expected {
            std::fs::write(dir.join(name), content).unwrap();
        }
    }

    let mut stale = Vec::new();
    for (name, content) in &expected {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        if &on_disk != content {
            stale.push(name.clone());
        }
    }
    let mut unexpected = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !expected.iter().any(|(n, _)| *n == name) {
            unexpected.push(name);
        }
    }
    assert!(
        stale.is_empty() && unexpected.is_empty(),
        "config/crd is stale (changed: {stale:?}, not generated: {unexpected:?}); regenerate with `{REGENERATE}` and commit the result"
    );
}

#[test]
fn crds_yaml_is_every_crd_in_order() {
    let docs: Vec<&str> = crds_yaml().leak().split("---\n").collect();
    assert_eq!(docs.len(), all_crds().len());
    assert_eq!(crds_yaml(), crds_yaml(), "output is deterministic");
}

#[test]
fn every_crd_is_usable_from_kubectl() {
    let mut short_names = std::collections::BTreeSet::new();
    for crd in all_crds() {
        let name = crd.metadata.name.clone().unwrap();
        assert!(name.ends_with(".gitopshq.io"), "{name}");
        let names = &crd.spec.names;
        let shorts = names.short_names.clone().unwrap_or_default();
        assert!(!shorts.is_empty(), "{name} has no short name");
        for s in &shorts {
            assert!(
                ![
                    "cs", "ev", "ep", "rs", "po", "pv", "pvc", "cm", "ds", "deploy", "svc", "sa",
                    "ns", "no", "rc", "sts", "ing", "hpa", "pdb", "sc", "netpol", "crd", "csr",
                    "pc", "quota", "limits"
                ]
                .contains(&s.as_str()),
                "{name}: short name {s} clashes with a built-in kind"
            );
            assert!(short_names.insert(s.clone()), "short name {s} used twice");
        }
        assert_eq!(
            names.categories.as_deref(),
            Some(&["gitopshq".to_string()][..]),
            "{name}"
        );
        assert_eq!(crd.spec.versions.len(), 1);
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name} has no status subresource"
        );
        let columns = version
            .additional_printer_columns
            .clone()
            .unwrap_or_default();
        assert!(columns.len() >= 2, "{name} needs printer columns");
        assert!(
            columns.iter().any(|c| c.name == "Age"),
            "{name} has no Age column"
        );
        let schema = serde_json::to_value(
            version
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap();
        let conditions = &schema["properties"]["status"]["properties"]["conditions"];
        assert_eq!(
            conditions["x-kubernetes-list-type"], "map",
            "{name}: status.conditions"
        );
        assert!(
            conditions["items"]["properties"]["observedGeneration"].is_object(),
            "{name}"
        );
        assert_structural(&name, "", &schema);
        for column in &columns {
            assert_path_exists(&name, &schema, &column.json_path);
        }
    }
}

/// Every node has a type (or preserves unknown fields), every object declares its properties
/// (or preserves unknown fields), and no `$ref`/`anyOf`/`oneOf` with types survive.
fn assert_structural(crd: &str, path: &str, node: &Value) {
    let obj = node
        .as_object()
        .unwrap_or_else(|| panic!("{crd}{path}: not an object"));
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    for forbidden in ["$ref", "oneOf", "anyOf", "allOf", "definitions", "$defs"] {
        assert!(
            !obj.contains_key(forbidden),
            "{crd}{path}: `{forbidden}` is not structural"
        );
    }
    let ty = obj.get("type").and_then(Value::as_str);
    assert!(
        ty.is_some()
            || preserve
            || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)),
        "{crd}{path}: no type"
    );
    if ty == Some("object") {
        assert!(
            obj.contains_key("properties") || obj.contains_key("additionalProperties") || preserve,
            "{crd}{path}: object without properties would be pruned empty; use schema::free_form_object"
        );
    }
    if ty == Some("array") {
        assert_structural(crd, &format!("{path}[]"), &obj["items"]);
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            assert_structural(crd, &format!("{path}.{k}"), v);
        }
    }
    if let Some(v) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        assert_structural(crd, &format!("{path}.*"), v);
    }
}

fn assert_path_exists(crd: &str, schema: &Value, json_path: &str) {
    if json_path.starts_with(".metadata.") {
        return;
    }
    let mut node = schema;
    for part in json_path.trim_start_matches('.').split('.') {
        let field = part.split('[').next().unwrap();
        node = &node["properties"][field];
        assert!(
            node.is_object(),
            "{crd}: printer column path {json_path} is not in the schema"
        );
        if part.contains('[') {
            return;
        }
    }
}

#[test]
fn free_form_fields_preserve_unknown_fields() {
    let crds = serde_json::to_value(all_crds()).unwrap();
    let find = |kind: &str| -> Value {
        crds.as_array()
            .unwrap()
            .iter()
            .find(|c| c["spec"]["names"]["kind"] == kind)
            .unwrap()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            .clone()
    };
    let preserve = |v: &Value| v["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
    let cv = find("ChartVersion");
    assert!(preserve(&cv["properties"]["spec"]["properties"]["values"]));
    assert!(preserve(
        &cv["properties"]["spec"]["properties"]["valuesSchema"]
    ));
    let wl = find("Workload");
    assert!(preserve(&wl["properties"]["spec"]["properties"]["values"]));
    assert!(preserve(
        &wl["properties"]["spec"]["properties"]["environments"]["additionalProperties"]["properties"]
            ["values"]
    ));
    let rel = find("Release");
    assert!(preserve(
        &rel["properties"]["spec"]["properties"]["changes"]["items"]["properties"]["values"]
    ));
    let pol = find("Policy");
    assert!(preserve(
        &pol["properties"]["spec"]["properties"]["tests"]["items"]["properties"]["input"]
    ));
    let vars = find("Variables");
    assert!(preserve(
        &vars["properties"]["spec"]["properties"]["values"]["additionalProperties"]
    ));
}

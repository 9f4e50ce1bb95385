//! Properties that must hold for any input: the same input gives the same bytes, and no input,
//! however malformed, makes the engine panic.

mod common;

use std::collections::BTreeMap;

use gitopshq_engine::{
    ChartSource, CompiledChart, ValueLayer, VariableScopes, diff_values, merge_layers,
    resolve_variables, variable_uses,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9 ._-]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("{{hq.var.A}}"),
            Just("x-{{hq.var.B}}-y"),
            Just("{{ hq.var.env.A }}"),
            Just("{{hq.var.MISSING}}"),
            Just("{{hq.var."),
            Just("}}{{"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn values() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9]{0,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn map_values() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z]{1,6}", values(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

fn scopes() -> VariableScopes {
    VariableScopes {
        project: BTreeMap::from([("A".into(), json!(1)), ("B".into(), json!("b"))]),
        environment: BTreeMap::from([("A".into(), json!(true))]),
        tenant: BTreeMap::new(),
        secret_backed: Default::default(),
    }
}

/// Fragments that look like chart templates, glued at random.
fn template() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("apiVersion: v1\n"),
        Just("kind: ConfigMap\n"),
        Just("kind: Namespace\n"),
        Just("metadata:\n"),
        Just("  name: {{workload.name}}\n"),
        Just("  name: x\n"),
        Just("  name: Bad_Name\n"),
        Just("  namespace: other\n"),
        Just("data:\n"),
        Just("  k: {{quote values.a}}\n"),
        Just("  k2: {{default values.zz \"d\"}}\n"),
        Just("{{toYaml values indent=2}}\n"),
        Just("{{toYaml values.a indent=4}}\n"),
        Just("{{#if values.a}}\n"),
        Just("{{/if}}\n"),
        Just("{{#each values}}\n  {{@key}}: {{json this}}\n{{/each}}\n"),
        Just("---\n"),
        Just("{{"),
        Just("}}"),
        Just("{{missing.path}}"),
        Just("{{trunc values.a -3}}"),
        Just("{{sha256 values}}"),
        Just(": : -\n"),
        Just("- [\n"),
        Just("  "),
        Just("\t"),
        Just("&a [*a]\n"),
    ];
    prop::collection::vec(fragment, 0..14).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn rendering_is_deterministic(
        chart_values in map_values(),
        layer in map_values(),
        templates in prop::collection::btree_map("[a-z]{1,5}\\.yaml", template(), 1..4),
    ) {
        let source = ChartSource {
            name: "prop".into(),
            version: "1.0.0".into(),
            templates,
            values: chart_values,
            values_schema: None,
        };
        let mut input = common::payment_api_production();
        input.layers = vec![ValueLayer::new("layer", layer)];
        input.variables = scopes().into();
        let first = CompiledChart::compile(&source).and_then(|c| c.render(&input));
        let second = CompiledChart::compile(&source).and_then(|c| c.render(&input));
        match (first, second) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.yaml_stream().unwrap(), b.yaml_stream().unwrap());
                prop_assert_eq!(a.digest().unwrap(), b.digest().unwrap());
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
    }

    #[test]
    fn arbitrary_templates_never_panic(
        templates in prop::collection::btree_map("_?[a-z]{1,5}\\.yaml", template(), 0..4),
        values in values(),
    ) {
        let source = ChartSource {
            name: "prop".into(),
            version: "1.0.0".into(),
            templates,
            values,
            values_schema: None,
        };
        let input = common::payment_api_production();
        if let Ok(chart) = CompiledChart::compile(&source) {
            let _ = chart.render(&input);
        }
    }

    #[test]
    fn arbitrary_text_templates_never_panic(text in "\\PC{0,200}", values in values()) {
        let source = ChartSource {
            name: "prop".into(),
            version: "1.0.0".into(),
            templates: BTreeMap::from([("t.yaml".to_owned(), text)]),
            values,
            values_schema: Some(json!({"type": "object"})),
        };
        if let Ok(chart) = CompiledChart::compile(&source) {
            let _ = chart.render(&common::payment_api_production());
        }
    }

    #[test]
    fn layering_and_variables_never_panic_and_drop_nulls(
        base in values(),
        layers in prop::collection::vec(values(), 0..4),
    ) {
        let layers: Vec<_> = layers.into_iter().map(|v| ValueLayer::new("l", v)).collect();
        if let Ok(merged) = merge_layers(&base, &layers) {
            prop_assert!(!contains_null_in_map(&merged));
            let _ = resolve_variables(&merged, &scopes(), "env", "tenant");
            let uses = variable_uses(&merged, &scopes());
            let unresolved = uses.iter().filter(|u| u.resolved.is_none()).count();
            let resolved = resolve_variables(&merged, &scopes(), "env", "tenant");
            prop_assert_eq!(unresolved == 0, resolved.is_ok());
            prop_assert!(diff_values(&merged, &merged).is_empty());
        }
    }

    #[test]
    fn merging_a_layer_onto_empty_gives_the_layer_without_nulls(layer in map_values()) {
        let merged = merge_layers(&json!({}), &[ValueLayer::new("l", layer.clone())]).unwrap();
        let again = merge_layers(&merged, &[ValueLayer::new("l", layer)]).unwrap();
        prop_assert_eq!(merged, again);
    }
}

fn contains_null_in_map(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().any(|v| v.is_null() || contains_null_in_map(v)),
        Value::Array(items) => items.iter().any(contains_null_in_map),
        _ => false,
    }
}

//! Generated values for the property tests that hold the direct YAML reader and writer to
//! `yaml_serde`: strings drawn to hit the edge cases of plain and quoted scalars.

use proptest::prelude::*;
use serde_json::Value;

pub(crate) fn scalar_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,12}",
        "[-+.0-9xobe_]{0,8}",
        "[a-z :#'\"-]{0,8}",
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("~".to_owned()),
        "é?[a-z]{0,3}\n?[a-z]{0,3}",
        "[a-z]{0,3}\n[a-z ]{0,3}\n?",
    ]
}

pub(crate) fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        scalar_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((scalar_string(), inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

use proptest::prelude::*;
use serde_json::{Value, json};

use super::from_str;
use crate::yaml_strategies::value;

/// The same value in the same key order (map equality alone ignores the order).
fn same(a: &Value, b: &Value) -> bool {
    serde_json::to_string(a).unwrap() == serde_json::to_string(b).unwrap()
}

/// Whatever this reader reads, `yaml_serde` reads the same way; returns whether it read it.
fn agrees_with_yaml_serde(text: &str) -> bool {
    let Some(ours) = from_str(text) else {
        return false;
    };
    match yaml_serde::from_str::<Value>(text) {
        Ok(theirs) => assert!(
            same(&ours, &theirs),
            "for {text:?}:\n ours   {ours}\n theirs {theirs}"
        ),
        Err(e) => panic!("for {text:?}: read {ours} where yaml_serde refuses: {e}"),
    }
    true
}

#[test]
fn reads_a_rendered_deployment() {
    let text = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: payment-api
  labels:
    app.kubernetes.io/name: payment-api
    app.kubernetes.io/version: "1.4.2"
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: payment-api
  template:
    metadata:
      labels:
        app.kubernetes.io/name: payment-api
    spec:
      # the containers
      containers:
        - name: payment-api
          image: "registry.example.com/payment-api:1.4.2"
          args:
          - --port=8080
          - '--log-level=info'
          ports:
            - name: http
              containerPort: 8080
          env:
            - name: GITOPSHQ_TENANT
              value: "acme \"prod\"\t\u00e9"
            - name: EMPTY
              value:
          resources: {}
      tolerations: []
      enabled: true   # a comment
      nothing: ~
"#;
    assert!(agrees_with_yaml_serde(text));
    let value = from_str(text).unwrap();
    assert_eq!(value["spec"]["replicas"], json!(3));
    assert_eq!(
        value["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["--port=8080", "--log-level=info"])
    );
}

#[test]
fn reads_literal_block_scalars() {
    for text in [
        "data:\n  config.yaml: |\n    a: 1\n\n    # kept\n      indented\n  other: x\n",
        "data:\n  script: |-\n    echo hi\n    echo there\n\n\nnext: 1\n",
        "a: |\n  one\n",
        "a: |\n  one",
        "- a: |\n    x\n  b: 2\n",
    ] {
        assert!(agrees_with_yaml_serde(text), "not read: {text:?}");
    }
}

#[test]
fn leaves_the_rest_to_yaml_serde() {
    for text in [
        "a: &anchor 1\nb: *anchor\n",
        "a: !!str 1\n",
        "a: {b: 1}\n",
        "a: [1, 2]\n",
        "a: 1.5\n",
        "a: 0x10\n",
        "a: 010\n",
        "a: +1\n",
        "a: >\n  folded\n",
        "a: |2\n   x\n",
        "a: multi\n  line\n",
        "a: 1\n - b\n",
        "a: 'multi\n  line'\n",
        "a: 1\na: 2\n",
        "<<: {}\n",
        "1: one\n",
        "a:\tb\n",
        "a: é\n",
        "just a scalar\n",
        "- - nested\n",
        "-\n  a: 1\n",
        "a: b: c\n",
        "a: \"\\x41\"\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1\n...\n",
    ] {
        assert!(from_str(text).is_none(), "read: {text:?}");
    }
}

#[test]
fn empty_documents_read_as_null() {
    for text in ["", "\n", "  \n# only a comment\n"] {
        assert_eq!(from_str(text), Some(Value::Null));
        assert!(agrees_with_yaml_serde(text));
    }
}

#[test]
fn misplaced_lines_are_not_guessed() {
    // All of these are errors for yaml_serde; this reader must not read them either.
    for text in [
        "a:\n  b: 1\n c: 2\n",
        "a: 1\n- b\n",
        "- a\nb: 1\n",
        "a:\n    b: 1\n  c: 2\n",
        "a: 'open\n",
        "a: \"x\" y\n",
        "a: [] x\n",
    ] {
        assert!(from_str(text).is_none(), "read: {text:?}");
        assert!(yaml_serde::from_str::<Value>(text).is_err(), "{text:?}");
    }
}

/// The same document in the other styles templates write: lists inside maps indented, strings
/// double-quoted by the `quote` helper, comments and blank lines between entries.
fn restyle(text: &str, indent_lists: bool, quote_strings: bool, comments: bool) -> String {
    let mut out = String::new();
    let mut list_shift: Vec<(usize, usize)> = Vec::new();
    for line in text.lines() {
        let content = line.trim_start_matches(' ');
        let original = line.len() - content.len();
        let mut indent = original;
        if indent_lists {
            while list_shift.last().is_some_and(|&(at, _)| {
                original < at || (original == at && !content.starts_with("- "))
            }) {
                list_shift.pop();
            }
            let shift: usize = list_shift.iter().map(|&(_, s)| s).sum();
            if content.starts_with("- ")
                && list_shift.last().is_none_or(|&(at, _)| at != original)
                && out.ends_with(":\n")
            {
                list_shift.push((original, 2));
                indent = original + shift + 2;
            } else {
                indent = original + shift;
            }
        }
        let mut content = content.to_owned();
        if quote_strings
            && let Some((key, rest)) = content.split_once(": ")
            && key
                .trim_start_matches("- ")
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"./-".contains(&b))
            && rest.starts_with('\'')
            && rest.ends_with('\'')
            && rest.len() >= 2
        {
            let unquoted = rest[1..rest.len() - 1].replace("''", "'");
            content = format!("{key}: {}", Value::String(unquoted));
        }
        if comments {
            out.push_str(&" ".repeat(indent));
            out.push_str("# a comment\n\n");
        }
        out.push_str(&" ".repeat(indent));
        out.push_str(&content);
        out.push('\n');
    }
    out
}

/// Text of YAML-ish tokens, mostly invalid.
fn noise() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b1"),
            Just(":"),
            Just(": "),
            Just(" "),
            Just("  "),
            Just("\n"),
            Just("- "),
            Just("-"),
            Just("'"),
            Just("\""),
            Just("#"),
            Just(" #"),
            Just("|"),
            Just("|-"),
            Just("1"),
            Just("true"),
            Just("{}"),
            Just("[]"),
            Just("\\"),
            Just("~"),
        ],
        0..24,
    )
    .prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// What `yaml_serde` writes, in the styles templates write it, reads back the same.
    #[test]
    fn reads_what_yaml_serde_reads(
        value in value(),
        indent_lists in any::<bool>(),
        quote_strings in any::<bool>(),
        comments in any::<bool>(),
    ) {
        let written = yaml_serde::to_string(&value).unwrap();
        agrees_with_yaml_serde(&written);
        agrees_with_yaml_serde(&restyle(&written, indent_lists, quote_strings, comments));
    }

    /// Objects of one-line ASCII text and integers are read here, not left over.
    #[test]
    fn reads_plain_objects_itself(
        entries in prop::collection::vec(("[a-zA-Z0-9./-]{1,20}", "[ -~]{0,30}", any::<i32>()), 1..8),
        indent_lists in any::<bool>(),
    ) {
        let value = Value::Object(entries.into_iter().map(|(k, s, n)| {
            (k, json!({"text": s, "number": n, "list": [s.clone(), n], "map": {"a": [{"b": s}]}}))
        }).collect());
        let written = yaml_serde::to_string(&value).unwrap();
        let text = restyle(&written, indent_lists, true, false);
        prop_assert!(agrees_with_yaml_serde(&text), "not read: {text}");
    }

    /// Never reads text `yaml_serde` refuses, nor reads it differently.
    #[test]
    fn reads_no_noise_differently(text in noise()) {
        agrees_with_yaml_serde(&text);
    }
}

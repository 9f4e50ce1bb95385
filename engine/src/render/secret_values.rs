//! The rule that keeps a Secret-backed HQ variable out of Git: its value may only land in a
//! Kubernetes Secret's `data` or `stringData`, which delivery encrypts (Flux) or keeps out of
//! the repository (Argo CD, Direct). Anywhere else (a ConfigMap, an env `value`, an
//! annotation, a Secret's labels) it would be committed in plaintext, so the render fails.
//!
//! How a use is found: the values are resolved before any template runs, so the templates
//! only ever see the plain value. After rendering, every string outside Secret data (map keys
//! included) is searched for each Secret-backed value the values actually use (the definition
//! a `{{hq.var.…}}` resolved to), as written and base64-encoded (`b64enc` in a ConfigMap's
//! `binaryData`, or a value inside a longer base64 text at any byte offset).
//!
//! Short values are the hard part: a 3-character Secret value (`app`, `5432`) also appears in
//! text that has nothing to do with it, and refusing such releases would be wrong far more
//! often than right. So a value shorter than [`MIN_SEARCHED_LEN`] bytes counts only where a
//! whole string equals it (or its base64 form): that is how a short value is used on its
//! own (`user: app`), while it can no longer match inside an image name or a URL. A value that
//! is embedded in a longer text this way is missed; such a value carries little secrecy, and
//! the chart can still be fixed to reference it with `valueFrom.secretKeyRef`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::error::{RenderError, Result};
use crate::manifest::RenderedManifest;
use crate::values::ValuePath;
use crate::variables::{VariableScopes, variable_uses};

/// From this length on (bytes), a Secret-backed value is searched inside longer strings.
pub const MIN_SEARCHED_LEN: usize = 8;

/// A Secret-backed variable the values use, and what betrays its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SecretValue {
    /// How the values reference it: `hq.var.DB_PASSWORD` or `hq.var.env.DB_PASSWORD`.
    variable: String,
    /// Found anywhere inside a string.
    fragments: Vec<String>,
    /// Found only as a whole string.
    whole: Vec<String>,
}

/// The Secret-backed values that `values` (merged, not yet resolved) reference.
pub(super) fn used_secret_values(values: &Value, scopes: &VariableScopes) -> Vec<SecretValue> {
    if scopes.secret_backed.is_empty() {
        return Vec::new();
    }
    let mut found: Vec<SecretValue> = Vec::new();
    for used in variable_uses(values, scopes) {
        let Some((scope, Value::String(value))) = &used.resolved else {
            continue;
        };
        if value.is_empty() || !scopes.is_secret_backed(*scope, &used.reference.name) {
            continue;
        }
        let variable = used.reference.to_string();
        if found.iter().any(|f| f.variable == variable) {
            continue;
        }
        found.push(betrayals(variable, value.as_bytes()));
    }
    found
}

fn betrayals(variable: String, value: &[u8]) -> SecretValue {
    let encoded = STANDARD.encode(value);
    if value.len() < MIN_SEARCHED_LEN {
        let whole = vec![String::from_utf8_lossy(value).into_owned(), encoded];
        return SecretValue {
            variable,
            fragments: Vec::new(),
            whole,
        };
    }
    let mut fragments = vec![String::from_utf8_lossy(value).into_owned()];
    // Inside a longer base64 text the value starts at byte offset 0, 1 or 2 of a 3-byte group;
    // the characters of the groups holding only value bytes are the same whatever surrounds it.
    for offset in 0..3usize {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(value);
        let first_group = offset.div_ceil(3);
        let end_group = shifted.len() / 3;
        if end_group <= first_group {
            continue;
        }
        let text = STANDARD.encode(&shifted);
        let fragment = &text[first_group * 4..end_group * 4];
        if fragment.len() >= MIN_SEARCHED_LEN {
            fragments.push(fragment.to_string());
        }
    }
    SecretValue {
        variable,
        fragments,
        whole: Vec::new(),
    }
}

/// Where a use was found.
struct Found<'a> {
    variable: &'a str,
    path: ValuePath,
}

/// Fails on the first object (in install order) holding a Secret-backed value outside a
/// Secret's data.
pub(super) fn check(
    manifests: &[RenderedManifest],
    secrets: &[SecretValue],
    environment: &str,
    tenant: &str,
) -> Result<()> {
    if secrets.is_empty() {
        return Ok(());
    }
    for manifest in manifests {
        let is_secret = manifest.api_version == "v1" && manifest.kind == "Secret";
        if let Some(found) = search(&manifest.object, &ValuePath::root(), is_secret, secrets) {
            return Err(RenderError::SecretValueOutsideSecret {
                variable: found.variable.into(),
                kind: manifest.kind.as_str().into(),
                object: manifest.display_name().into(),
                field: found.path.to_string().into(),
                environment: environment.into(),
                tenant: tenant.into(),
            });
        }
    }
    Ok(())
}

fn search<'a>(
    value: &Value,
    path: &ValuePath,
    in_secret_root: bool,
    secrets: &'a [SecretValue],
) -> Option<Found<'a>> {
    match value {
        Value::String(text) => betrayed_by(text, secrets).map(|variable| Found {
            variable,
            path: path.clone(),
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| search(item, &path.index(i), false, secrets)),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if in_secret_root && (key == "data" || key == "stringData") {
                // The one place a value may be; the keys stay readable in every delivery.
                let keys = item.as_object()?;
                return keys.keys().find_map(|name| {
                    betrayed_by(name, secrets).map(|variable| Found {
                        variable,
                        path: path.key(key).key(name),
                    })
                });
            }
            let here = path.key(key);
            if let Some(variable) = betrayed_by(key, secrets) {
                return Some(Found {
                    variable,
                    path: here,
                });
            }
            search(item, &here, false, secrets)
        }),
        _ => None,
    }
}

fn betrayed_by<'a>(text: &str, secrets: &'a [SecretValue]) -> Option<&'a str> {
    secrets
        .iter()
        .find(|s| s.whole.iter().any(|w| w == text) || s.fragments.iter().any(|f| text.contains(f)))
        .map(|s| s.variable.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragments(value: &str) -> Vec<String> {
        betrayals("hq.var.X".into(), value.as_bytes()).fragments
    }

    #[test]
    fn base64_of_the_value_is_found_at_every_offset() {
        let value = "s3cr3t-passw0rd";
        let found = fragments(value);
        for prefix in ["", "a", "ab", "abc", "user:"] {
            let encoded = STANDARD.encode(format!("{prefix}{value}:tail"));
            assert!(
                found.iter().any(|f| encoded.contains(f.as_str())),
                "{prefix:?}: none of {found:?} in {encoded}"
            );
        }
    }

    #[test]
    fn short_values_only_match_whole_strings() {
        let short = betrayals("hq.var.DB_USER".into(), b"app");
        assert!(short.fragments.is_empty());
        assert_eq!(short.whole, ["app", "YXBw"]);
        let secrets = [short];
        assert_eq!(betrayed_by("app", &secrets), Some("hq.var.DB_USER"));
        assert_eq!(betrayed_by("YXBw", &secrets), Some("hq.var.DB_USER"));
        assert_eq!(betrayed_by("registry.example.com/app:1.0", &secrets), None);
    }
}

#[cfg(test)]
mod render_tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::json;

    use crate::error::RenderError;
    use crate::render::{ChartSource, CompiledChart, RenderInput, TenantInfo};
    use crate::values::ValueLayer;
    use crate::variables::{Scope, VariableScopes};

    const PASSWORD: &str = "correct-horse-battery";

    fn render(template: &str, values: serde_json::Value) -> Result<usize, RenderError> {
        let chart = CompiledChart::compile(&ChartSource {
            name: "db".into(),
            version: "1.0.0".into(),
            templates: BTreeMap::from([("objects.yaml".into(), template.into())]),
            values: json!({}),
            values_schema: None,
        })
        .unwrap();
        let input = RenderInput {
            environment: "production".into(),
            tenant: TenantInfo {
                name: "acme".into(),
                namespace: "acme".into(),
                ..TenantInfo::default()
            },
            layers: vec![ValueLayer::new("Workload api spec.values", values)],
            variables: VariableScopes {
                project: BTreeMap::from([
                    ("DB_PASSWORD".into(), json!(PASSWORD)),
                    ("DB_USER".into(), json!("app")),
                    ("DB_HOST".into(), json!("db.internal")),
                ]),
                secret_backed: BTreeSet::from([
                    (Scope::Project, "DB_PASSWORD".into()),
                    (Scope::Project, "DB_USER".into()),
                ]),
                ..VariableScopes::default()
            }
            .into(),
            ..RenderInput::default()
        };
        chart.render(&input).map(|out| out.manifests.len())
    }

    fn values() -> serde_json::Value {
        json!({"password": "{{hq.var.DB_PASSWORD}}", "user": "{{hq.var.DB_USER}}",
               "host": "{{hq.var.DB_HOST}}"})
    }

    const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n\
        data:\n  password: {{b64enc values.password}}\nstringData:\n  user: {{values.user}}\n";

    #[test]
    fn secret_data_and_string_data_may_hold_the_value() {
        let template = format!(
            "{SECRET}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  host: {{{{values.host}}}}\n"
        );
        assert_eq!(render(&template, values()), Ok(2));
    }

    #[test]
    fn a_config_map_holding_the_value_is_a_render_error() {
        let template = format!(
            "{SECRET}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  url: postgres://app:{{{{values.password}}}}@db\n"
        );
        let error = render(&template, values()).unwrap_err();
        assert_eq!(
            error,
            RenderError::SecretValueOutsideSecret {
                variable: "hq.var.DB_PASSWORD".into(),
                kind: "ConfigMap".into(),
                object: "acme/cfg".into(),
                field: "data.url".into(),
                environment: "production".into(),
                tenant: "acme".into(),
            }
        );
        let message = error.to_string();
        assert!(message.contains("valueFrom.secretKeyRef"), "{message}");
    }

    #[test]
    fn an_env_value_a_label_or_base64_elsewhere_is_found() {
        let env = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          env:\n            - name: DB_USER\n              value: {{values.user}}\n";
        let error = render(env, values()).unwrap_err();
        assert!(
            matches!(&error, RenderError::SecretValueOutsideSecret { variable, field, .. }
                if &**variable == "hq.var.DB_USER" && &**field == "spec.template.spec.containers[0].env[0].value"),
            "{error}"
        );

        let labelled = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels:\n    pw: {{values.user}}\nstringData:\n  user: {{values.user}}\n";
        let error = render(labelled, values()).unwrap_err();
        assert!(
            matches!(&error, RenderError::SecretValueOutsideSecret { kind, field, .. }
                if &**kind == "Secret" && &**field == "metadata.labels.pw"),
            "{error}"
        );

        let binary = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\nbinaryData:\n  creds: {{b64enc (default values.password \"x\")}}\n";
        let error = render(binary, values()).unwrap_err();
        assert!(
            matches!(&error, RenderError::SecretValueOutsideSecret { field, .. } if &**field == "binaryData.creds"),
            "{error}"
        );
    }

    #[test]
    fn a_short_value_inside_other_text_is_not_a_use() {
        // "app" (DB_USER) is in the image name; only a whole string "app" would be its use.
        let template = format!(
            "{SECRET}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  image: registry.example.com/app:1.0\n"
        );
        assert_eq!(render(&template, values()), Ok(2));
    }

    #[test]
    fn a_value_the_values_do_not_reference_is_not_searched() {
        let template = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  note: {PASSWORD}\n"
        );
        assert_eq!(render(&template, json!({})), Ok(1));
    }
}

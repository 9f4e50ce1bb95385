//! HQ variables: `{{hq.var.NAME}}` and `{{hq.var.env.NAME}}` inside string values.
//!
//! Variables are resolved in the merged values before any template runs, so templates only ever
//! see final values and `hq.var` never reaches Handlebars.
//!
//! - `{{hq.var.NAME}}` takes the most specific scope that defines NAME: tenant, then
//!   environment, then project.
//! - `{{hq.var.env.NAME}}` reads the environment scope only (pinned).
//! - A string that is exactly one reference (whitespace allowed inside the braces) becomes the
//!   variable's value with its type: `"{{hq.var.PORT}}"` with `PORT: 5432` is the number 5432.
//! - A reference embedded in a longer string is interpolated as text.
//! - Substituted text is not scanned again, so a variable cannot expand into another one.
//! - Other `{{ … }}` text in values is left alone: values are data, not templates.
//! - Map keys are never resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::error::{RenderError, Result};
use crate::values::ValuePath;

/// The variables visible to one (environment, tenant) render. Values are scalars in practice;
/// a list or map is kept as is by a whole-string reference and written as JSON when embedded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariableScopes {
    pub project: BTreeMap<String, Value>,
    pub environment: BTreeMap<String, Value>,
    pub tenant: BTreeMap<String, Value>,
    /// The definitions read from a Secret (`Variables.spec.secretRefs`): their values may only
    /// land in a Secret's `data` or `stringData` (see `render::secret_values`).
    pub secret_backed: BTreeSet<(Scope, String)>,
}

/// The scope a variable resolved from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Project,
    Environment,
    Tenant,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Project => "project",
            Scope::Environment => "environment",
            Scope::Tenant => "tenant",
        })
    }
}

impl VariableScopes {
    /// Whether the definition `name` resolved from in `scope` was read from a Secret.
    pub fn is_secret_backed(&self, scope: Scope, name: &str) -> bool {
        self.secret_backed.contains(&(scope, name.to_string()))
    }

    /// Resolves `name` as `{{hq.var.NAME}}` (or `{{hq.var.env.NAME}}` when `pinned`) would.
    pub fn lookup(&self, name: &str, pinned: bool) -> Option<(Scope, &Value)> {
        if pinned {
            return self.environment.get(name).map(|v| (Scope::Environment, v));
        }
        self.tenant
            .get(name)
            .map(|v| (Scope::Tenant, v))
            .or_else(|| self.environment.get(name).map(|v| (Scope::Environment, v)))
            .or_else(|| self.project.get(name).map(|v| (Scope::Project, v)))
    }

    /// Every scope that defines `name`, most specific first: what the variables view shows.
    pub fn definitions(&self, name: &str) -> Vec<(Scope, &Value)> {
        [
            (Scope::Tenant, &self.tenant),
            (Scope::Environment, &self.environment),
            (Scope::Project, &self.project),
        ]
        .into_iter()
        .filter_map(|(scope, map)| map.get(name).map(|v| (scope, v)))
        .collect()
    }
}

/// A reference found in a string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    pub name: String,
    /// `{{hq.var.env.NAME}}`: only the environment scope counts.
    pub pinned: bool,
}

impl fmt::Display for VariableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pinned {
            write!(f, "hq.var.env.{}", self.name)
        } else {
            write!(f, "hq.var.{}", self.name)
        }
    }
}

/// One use of a variable in a values tree, as listed by [`variable_uses`].
#[derive(Debug, Clone, PartialEq)]
pub struct VariableUse {
    /// Value path of the string that holds the reference.
    pub path: ValuePath,
    pub reference: VariableRef,
    /// Where it resolved and to what; `None` when unresolved.
    pub resolved: Option<(Scope, Value)>,
}

/// Lists every variable reference in `values` in document order (map keys in their order, list
/// items by index), resolved against `scopes`. Unresolved references are reported with
/// `resolved: None` instead of failing, so a whole overview can be shown at once.
pub fn variable_uses(values: &Value, scopes: &VariableScopes) -> Vec<VariableUse> {
    let mut uses = Vec::new();
    walk_strings(values, &ValuePath::root(), &mut |path, text| {
        for (_, _, reference) in references(text) {
            let resolved = scopes
                .lookup(&reference.name, reference.pinned)
                .map(|(scope, v)| (scope, v.clone()));
            uses.push(VariableUse {
                path: path.clone(),
                reference,
                resolved,
            });
        }
    });
    uses
}

/// Returns `values` with every variable reference replaced. Every unresolved reference (in
/// document order) is reported, each naming the variable, `environment`, `tenant` and the
/// value path, so one run shows every variable to define.
pub fn resolve_variables(
    values: &Value,
    scopes: &VariableScopes,
    environment: &str,
    tenant: &str,
) -> Result<Value> {
    let mut ctx = Resolver {
        scopes,
        environment,
        tenant,
        unresolved: Vec::new(),
    };
    let resolved = ctx.resolve(values, &ValuePath::root());
    RenderError::all(ctx.unresolved)?;
    Ok(resolved)
}

struct Resolver<'a> {
    scopes: &'a VariableScopes,
    environment: &'a str,
    tenant: &'a str,
    /// Every reference that found no definition; the resolved tree is then discarded.
    unresolved: Vec<RenderError>,
}

impl Resolver<'_> {
    fn resolve(&mut self, value: &Value, path: &ValuePath) -> Value {
        match value {
            Value::String(text) => self.resolve_string(text, path),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.resolve(item, &path.index(i)))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v, &path.key(k))))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn resolve_string(&mut self, text: &str, path: &ValuePath) -> Value {
        let refs = references(text);
        if refs.is_empty() {
            return Value::String(text.to_owned());
        }
        if let [(0, end, reference)] = refs.as_slice()
            && *end == text.len()
        {
            return self.lookup(reference, path);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (start, end, reference) in &refs {
            out.push_str(&text[last..*start]);
            match self.lookup(reference, path) {
                Value::String(s) => out.push_str(&s),
                Value::Null => {}
                other => out.push_str(&other.to_string()),
            }
            last = *end;
        }
        out.push_str(&text[last..]);
        Value::String(out)
    }

    /// The variable's value; `null` when it is unresolved, which is recorded.
    fn lookup(&mut self, reference: &VariableRef, path: &ValuePath) -> Value {
        if let Some((_, value)) = self.scopes.lookup(&reference.name, reference.pinned) {
            return value.clone();
        }
        self.unresolved.push(RenderError::UnresolvedVariable {
            variable: reference.to_string(),
            environment: self.environment.to_owned(),
            tenant: self.tenant.to_owned(),
            path: if path.is_root() {
                "(root)".to_owned()
            } else {
                path.to_string()
            },
            looked_in: if reference.pinned {
                "the environment scope only"
            } else {
                "tenant, environment and project scopes"
            },
        });
        Value::Null
    }
}

fn walk_strings(value: &Value, path: &ValuePath, visit: &mut dyn FnMut(&ValuePath, &str)) {
    match value {
        Value::String(text) => visit(path, text),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, &path.index(i), visit);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                walk_strings(v, &path.key(k), visit);
            }
        }
        _ => {}
    }
}

/// Finds `{{ hq.var.NAME }}` references: (byte start, byte end, reference).
fn references(text: &str) -> Vec<(usize, usize, VariableRef)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| i + from) {
        let Some(close) = text[open + 2..].find("}}").map(|i| i + open + 2) else {
            break;
        };
        match parse_reference(&text[open + 2..close]) {
            Some(reference) => {
                found.push((open, close + 2, reference));
                from = close + 2;
            }
            None => from = open + 2,
        }
    }
    found
}

/// Whether `name` is a variable's name as references spell it: letters, digits, `_`, `-`, `.`.
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn parse_reference(inner: &str) -> Option<VariableRef> {
    let name = inner.trim().strip_prefix("hq.var.")?;
    let (name, pinned) = match name.strip_prefix("env.") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    is_variable_name(name).then(|| VariableRef {
        name: name.to_owned(),
        pinned,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scopes() -> VariableScopes {
        VariableScopes {
            project: BTreeMap::from([
                ("DATABASE_PORT".into(), json!(5432)),
                ("LOG_LEVEL".into(), json!("info")),
                ("REGION".into(), json!("global")),
                ("TLS".into(), json!(true)),
            ]),
            environment: BTreeMap::from([
                ("DATABASE_HOST".into(), json!("db.prod.internal")),
                ("LOG_LEVEL".into(), json!("warn")),
                ("REGION".into(), json!("eu")),
            ]),
            tenant: BTreeMap::from([("REGION".into(), json!("eu-west-1"))]),
            secret_backed: BTreeSet::new(),
        }
    }

    fn resolve(values: Value) -> Result<Value> {
        resolve_variables(&values, &scopes(), "production", "eu-production")
    }

    #[test]
    fn whole_string_reference_keeps_the_type() {
        let out = resolve(json!({"port": "{{hq.var.DATABASE_PORT}}", "tls": "{{ hq.var.TLS }}"}))
            .unwrap();
        assert_eq!(out, json!({"port": 5432, "tls": true}));
    }

    #[test]
    fn embedded_reference_is_interpolated_as_text() {
        let out = resolve(json!({
            "url": "postgres://{{hq.var.DATABASE_HOST}}:{{hq.var.DATABASE_PORT}}/payments"
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({"url": "postgres://db.prod.internal:5432/payments"})
        );
    }

    #[test]
    fn outer_whitespace_makes_it_embedded() {
        let out = resolve(json!({"port": " {{hq.var.DATABASE_PORT}}"})).unwrap();
        assert_eq!(out, json!({"port": " 5432"}));
    }

    #[test]
    fn most_specific_scope_wins() {
        let out = resolve(json!({
            "region": "{{hq.var.REGION}}",
            "level": "{{hq.var.LOG_LEVEL}}",
            "port": "{{hq.var.DATABASE_PORT}}",
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({"region": "eu-west-1", "level": "warn", "port": 5432})
        );
    }

    #[test]
    fn env_reference_is_pinned_to_the_environment_scope() {
        let out = resolve(json!({"region": "{{hq.var.env.REGION}}"})).unwrap();
        assert_eq!(out, json!({"region": "eu"}));
        // Defined at project scope only: a pinned reference must not fall back to it.
        let err = resolve(json!({"port": "{{hq.var.env.DATABASE_PORT}}"})).unwrap_err();
        let RenderError::UnresolvedVariable {
            variable,
            looked_in,
            ..
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!(variable, "hq.var.env.DATABASE_PORT");
        assert_eq!(*looked_in, "the environment scope only");
    }

    #[test]
    fn unresolved_variable_names_variable_environment_tenant_and_path() {
        let err = resolve(json!({"env": [
            {"name": "A", "value": "x"},
            {"name": "B", "value": "x"},
            {"name": "C", "value": "{{hq.var.MISSING}}"},
        ]}))
        .unwrap_err();
        assert_eq!(
            err,
            RenderError::UnresolvedVariable {
                variable: "hq.var.MISSING".into(),
                environment: "production".into(),
                tenant: "eu-production".into(),
                path: "env[2].value".into(),
                looked_in: "tenant, environment and project scopes",
            }
        );
        let text = err.to_string();
        for needle in [
            "hq.var.MISSING",
            "production",
            "eu-production",
            "env[2].value",
        ] {
            assert!(text.contains(needle), "{text} lacks {needle}");
        }
        let err = resolve(json!({"database": {"host": "{{hq.var.NOPE}}"}})).unwrap_err();
        assert!(err.to_string().contains("database.host"), "{err}");
    }

    #[test]
    fn every_unresolved_variable_is_reported_at_once() {
        let err = resolve(json!({
            "database": {"host": "{{hq.var.DB_HOST}}", "port": "{{hq.var.DATABASE_PORT}}"},
            "env": [{"name": "X", "value": "a-{{hq.var.FIRST}}-{{hq.var.SECOND}}"}],
            "region": "{{hq.var.env.NOWHERE}}",
        }))
        .unwrap_err();
        let RenderError::Several { problems } = &err else {
            panic!("expected every unresolved variable, got {err}");
        };
        let found: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| match p {
                RenderError::UnresolvedVariable {
                    variable,
                    path,
                    environment,
                    tenant,
                    ..
                } => {
                    assert_eq!(
                        (environment.as_str(), tenant.as_str()),
                        ("production", "eu-production")
                    );
                    (variable.as_str(), path.as_str())
                }
                other => panic!("not an unresolved variable: {other}"),
            })
            .collect();
        assert_eq!(
            found,
            [
                ("hq.var.DB_HOST", "database.host"),
                ("hq.var.FIRST", "env[0].value"),
                ("hq.var.SECOND", "env[0].value"),
                ("hq.var.env.NOWHERE", "region"),
            ]
        );
        let text = err.to_string();
        assert!(text.starts_with("4 problems:"), "{text}");
        for needle in [
            "hq.var.DB_HOST",
            "hq.var.FIRST",
            "hq.var.SECOND",
            "hq.var.env.NOWHERE",
        ] {
            assert_eq!(text.matches(needle).count(), 1, "{needle} once in {text}");
        }
    }

    #[test]
    fn other_braces_and_keys_are_left_alone() {
        let values = json!({
            "alert": "{{ $labels.instance }} is down",
            "{{hq.var.REGION}}": "key stays",
            "unterminated": "{{hq.var.REGION",
        });
        assert_eq!(resolve(values.clone()).unwrap(), values);
    }

    #[test]
    fn substituted_text_is_not_expanded_again() {
        let mut s = scopes();
        s.project.insert("SELF".into(), json!("{{hq.var.SELF}}"));
        let out = resolve_variables(&json!({"a": "x{{hq.var.SELF}}"}), &s, "e", "t").unwrap();
        assert_eq!(out, json!({"a": "x{{hq.var.SELF}}"}));
    }

    #[test]
    fn uses_list_every_reference_with_scope_and_reports_unresolved() {
        let values = json!({
            "env": {"URL": "{{hq.var.DATABASE_HOST}}:{{hq.var.DATABASE_PORT}}"},
            "region": "{{hq.var.env.REGION}}",
            "missing": "{{hq.var.MISSING}}",
        });
        let uses = variable_uses(&values, &scopes());
        let summary: Vec<_> = uses
            .iter()
            .map(|u| {
                (
                    u.path.to_string(),
                    u.reference.to_string(),
                    u.resolved.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "env.URL".into(),
                    "hq.var.DATABASE_HOST".into(),
                    Some((Scope::Environment, json!("db.prod.internal")))
                ),
                (
                    "env.URL".into(),
                    "hq.var.DATABASE_PORT".into(),
                    Some((Scope::Project, json!(5432)))
                ),
                (
                    "region".into(),
                    "hq.var.env.REGION".into(),
                    Some((Scope::Environment, json!("eu")))
                ),
                ("missing".into(), "hq.var.MISSING".into(), None),
            ]
        );
        assert_eq!(
            scopes()
                .definitions("REGION")
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>(),
            vec![Scope::Tenant, Scope::Environment, Scope::Project]
        );
    }
}

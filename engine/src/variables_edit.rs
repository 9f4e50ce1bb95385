//! The HQ variables editor: each scope of a project (the project's own, each environment's,
//! each tenant's) with its variables as stored, whether the person may change it, and the
//! patches a change becomes. Secret-backed variables carry their Secret reference only.

use std::collections::{BTreeMap, BTreeSet};

use gitopshq_crds::common::SecretKeyRef;
use gitopshq_crds::variables::{Variables, VariablesSpec};
use jiff::Timestamp;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::admission::{Operation, Request, Requester, validate_variables};
use crate::catalog::Catalog;
use crate::rbac::verbs;
use crate::values_edit::{Disabling, EditAccess, EditCheck, asked_beforehand};
use crate::variables::{VariableScopes, is_variable_name, variable_uses};

/// A scope of HQ variables: the project's when both are empty, else the environment's, else
/// the tenant's (whose environment is its tenant's).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct VariablesScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl VariablesScope {
    /// The scope `variables` defines.
    pub fn of(variables: &Variables) -> Self {
        let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        match set(&variables.spec.tenant) {
            Some(tenant) => Self {
                environment: None,
                tenant: Some(tenant),
            },
            None => Self {
                environment: set(&variables.spec.environment),
                tenant: None,
            },
        }
    }

    /// `project`, `environment/<env>` or `tenant/<tenant>`, as the variables overview names it.
    pub fn label(&self) -> String {
        match (&self.tenant, &self.environment) {
            (Some(tenant), _) => format!("tenant/{tenant}"),
            (None, Some(environment)) => format!("environment/{environment}"),
            (None, None) => "project".to_string(),
        }
    }

    /// The name a first Variables object of this scope gets.
    pub fn object_name(&self) -> String {
        match (&self.tenant, &self.environment) {
            (Some(tenant), _) => format!("tenant-{tenant}"),
            (None, Some(environment)) => environment.clone(),
            (None, None) => "project".to_string(),
        }
    }
}

/// One variable as one scope defines it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ScopeVariable {
    pub name: String,
    /// The plain value; `None` for a Secret-backed variable.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub value: Option<Value>,
    /// The Secret key whose content is the value (its content is never read here).
    pub secret_ref: Option<SecretKeyRef>,
    /// The Variables object that holds it: an edit of this variable patches that object.
    pub object: String,
    /// Workloads that read it as `{{hq.var.env.NAME}}` (environment scope only), which no
    /// tenant's or the project's definition can replace.
    pub pinned_uses: Vec<String>,
}

/// One scope with its variables, and whether the person may change them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ScopeVariables {
    pub scope: VariablesScope,
    pub label: String,
    /// The environment the scope's values render in (a tenant's environment).
    pub environment: Option<String>,
    /// The Variables objects of this scope and their `resourceVersion`s, by name.
    pub objects: BTreeMap<String, Option<String>>,
    /// The object a new variable goes to: the scope's first, or one created with this name.
    pub target: String,
    pub variables: Vec<ScopeVariable>,
    pub edit: EditCheck,
}

/// What the person may do in each scope, asked as them (see [`EditAccess`]): RBAC on the
/// Variables objects, and the `release` grant per environment.
pub struct ScopeAccess<'a> {
    /// `patch` on the named object (or `create` when the scope has none yet: `None`).
    pub may_write: &'a dyn Fn(Option<&str>) -> bool,
    /// A project grant gives them `release` in this environment.
    pub holds_release: &'a dyn Fn(&str) -> bool,
}

/// Every scope of `project`: the project's, then each of its environments, then each tenant,
/// with what they define and whether `user` may change it.
pub fn scopes(
    catalog: &Catalog,
    user: &Requester,
    project: &str,
    access: &ScopeAccess<'_>,
    now: Timestamp,
) -> Vec<ScopeVariables> {
    let pinned = pinned_uses(catalog, project);
    let mut all: Vec<VariablesScope> = vec![VariablesScope::default()];
    if let Some(p) = catalog.project(project) {
        all.extend(p.spec.environments.iter().map(|e| VariablesScope {
            environment: Some(e.clone()),
            tenant: None,
        }));
    }
    let mut tenants: Vec<String> = catalog.tenants_of(project).map(|t| t.name_any()).collect();
    tenants.sort();
    all.extend(tenants.into_iter().map(|t| VariablesScope {
        environment: None,
        tenant: Some(t),
    }));
    for v in catalog.variables_of(project) {
        let scope = VariablesScope::of(v);
        if !all.contains(&scope) {
            all.push(scope);
        }
    }
    all.into_iter()
        .map(|scope| {
            let mut objects: Vec<&Variables> = catalog
                .variables_of(project)
                .filter(|v| VariablesScope::of(v) == scope)
                .collect();
            objects.sort_by_key(|v| v.name_any());
            let environment = scope_environment(catalog, project, &scope);
            let mut variables = Vec::new();
            for object in &objects {
                let pinned_here = |name: &str| {
                    if scope.tenant.is_none() && scope.environment.is_some() {
                        pinned.get(name).cloned().unwrap_or_default()
                    } else {
                        Vec::new()
                    }
                };
                for (name, value) in &object.spec.values {
                    variables.push(ScopeVariable {
                        name: name.clone(),
                        value: Some(value.clone()),
                        secret_ref: None,
                        object: object.name_any(),
                        pinned_uses: pinned_here(name),
                    });
                }
                for (name, reference) in &object.spec.secret_refs {
                    variables.push(ScopeVariable {
                        name: name.clone(),
                        value: None,
                        secret_ref: Some(reference.clone()),
                        object: object.name_any(),
                        pinned_uses: pinned_here(name),
                    });
                }
            }
            variables.sort_by(|a, b| a.name.cmp(&b.name).then(a.object.cmp(&b.object)));
            let target = objects
                .first()
                .map(|o| o.name_any())
                .unwrap_or_else(|| free_name(catalog, project, &scope));
            let stored = objects.first().copied();
            let edit = edit_check(
                catalog,
                user,
                project,
                &scope,
                stored,
                EditAccess {
                    may_patch: (access.may_write)(stored.map(|o| o.name_any()).as_deref()),
                    holds_release: environment
                        .as_deref()
                        .is_some_and(|e| (access.holds_release)(e)),
                },
                now,
            );
            ScopeVariables {
                label: scope.label(),
                objects: objects
                    .iter()
                    .map(|o| (o.name_any(), o.metadata.resource_version.clone()))
                    .collect(),
                scope,
                environment,
                target,
                variables,
                edit,
            }
        })
        .collect()
}

/// The namespace of `project`'s objects.
pub fn namespace_of(catalog: &Catalog, project: &str) -> String {
    catalog
        .project(project)
        .map(|p| p.namespace_name())
        .unwrap_or_else(|| project.to_string())
}

/// The environment a scope's values render in.
fn scope_environment(catalog: &Catalog, project: &str, scope: &VariablesScope) -> Option<String> {
    match (&scope.tenant, &scope.environment) {
        (Some(tenant), _) => catalog
            .tenant(project, tenant)
            .map(|t| t.spec.environment.clone()),
        (None, environment) => environment.clone(),
    }
}

/// A name for the scope's first object that no other Variables object of the project has.
fn free_name(catalog: &Catalog, project: &str, scope: &VariablesScope) -> String {
    let taken: BTreeSet<String> = catalog
        .variables_of(project)
        .map(|v| v.name_any())
        .collect();
    let base = scope.object_name();
    std::iter::once(base.clone())
        .chain((2..).map(|n| format!("{base}-{n}")))
        .find(|name| !taken.contains(name))
        .unwrap_or(base)
}

/// Per variable name, the workloads whose values read it as `{{hq.var.env.NAME}}`.
fn pinned_uses(catalog: &Catalog, project: &str) -> BTreeMap<String, Vec<String>> {
    let none = VariableScopes::default();
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut scan = |workload: &str, values: &Value| {
        for used in variable_uses(values, &none) {
            if used.reference.pinned {
                found
                    .entry(used.reference.name)
                    .or_default()
                    .insert(workload.to_string());
            }
        }
    };
    for workload in catalog.workloads_of(project) {
        let name = workload.name_any();
        scan(
            &name,
            &Value::Object(workload.spec.values.clone().into_iter().collect()),
        );
        for o in workload.spec.environments.values() {
            scan(
                &name,
                &Value::Object(o.values.clone().into_iter().collect()),
            );
        }
    }
    for tenant in catalog.tenants_of(project) {
        for (workload, o) in &tenant.spec.workloads {
            scan(
                workload,
                &Value::Object(o.values.clone().into_iter().collect()),
            );
        }
    }
    found
        .into_iter()
        .map(|(name, workloads)| (name, workloads.into_iter().collect()))
        .collect()
}

/// Whether `user` may change `scope`'s variables: RBAC on its object, then the webhook's rule
/// for Variables (`release` in the environment the scope renders in).
pub fn edit_check(
    catalog: &Catalog,
    user: &Requester,
    project: &str,
    scope: &VariablesScope,
    stored: Option<&Variables>,
    access: EditAccess,
    now: Timestamp,
) -> EditCheck {
    if !access.may_patch {
        let (verb, object) = match stored {
            Some(o) => ("patch", format!("variables {}", o.name_any())),
            None => ("create", "Variables objects".to_string()),
        };
        return EditCheck {
            allowed: false,
            reason: Some(format!(
                "not permitted: {} may not change {object} in project {project} (RBAC grants no {verb} on variables); ask a project Admin for the Developer role",
                user.username,
            )),
        };
    }
    let namespace = catalog
        .project(project)
        .map(|p| p.namespace_name())
        .unwrap_or_else(|| project.to_string());
    let mut proposed = stored.cloned().unwrap_or_else(|| {
        let mut new = Variables::new(
            &free_name(catalog, project, scope),
            VariablesSpec {
                environment: scope.environment.clone(),
                tenant: scope.tenant.clone(),
                ..VariablesSpec::default()
            },
        );
        new.metadata.namespace = Some(namespace.clone());
        new
    });
    // Any change asks the webhook the same question; this one stands for all.
    proposed
        .spec
        .values
        .insert("gitopshq.io/edit-check".into(), Value::Bool(true));
    let environment = scope_environment(catalog, project, scope);
    asked_beforehand(
        catalog,
        user,
        project,
        environment
            .as_deref()
            .filter(|_| access.holds_release)
            .map(|e| (verbs::RELEASE, e)),
        Disabling::Grants,
        |directory| {
            validate_variables(
                &Request {
                    operation: if stored.is_some() {
                        Operation::Update
                    } else {
                        Operation::Create
                    },
                    user,
                    object: Some(&proposed),
                    old: stored,
                    now,
                },
                directory,
            )
        },
    )
}

/// One change of one variable in one scope, as the editor sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct VariableEdit {
    pub scope: VariablesScope,
    /// The Variables object to change; `None` creates the scope's first one.
    #[serde(default)]
    pub object: Option<String>,
    /// The object's `resourceVersion` when the editor opened it.
    #[serde(default)]
    pub resource_version: Option<String>,
    pub name: String,
    pub change: VariableChange,
}

/// What becomes of the variable.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum VariableChange {
    /// A plain value, typed as YAML reads it (`5432` a number, `"5432"` a string).
    Value {
        text: String,
    },
    /// The content of a key of a Secret in the project's namespace.
    Secret {
        secret: String,
        key: String,
    },
    Remove,
}

/// Why an edit is refused before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariableEditError {
    #[error(
        "variable name {0:?} is not usable as {{{{hq.var.NAME}}}}: use letters, digits, '_', '-' or '.'"
    )]
    Name(String),
    #[error(
        "value of variable {name}: {problem}; a variable holds one scalar (text, number or true/false)"
    )]
    Value { name: String, problem: String },
    #[error("secret reference of variable {name}: {field} is empty; name the Secret and its key")]
    Secret { name: String, field: &'static str },
    #[error(
        "variable {name} is not defined in {scope}: there is nothing to remove; reload the page"
    )]
    NothingToRemove { name: String, scope: String },
    #[error(
        "variables {object} does not exist in project {project}, or you may not read it: reload the page (it may have been deleted meanwhile)"
    )]
    NoObject { object: String, project: String },
}

/// The scalar `text` stands for, read as YAML reads it.
pub fn parse_scalar(name: &str, text: &str) -> Result<Value, VariableEditError> {
    let problem = |problem: String| VariableEditError::Value {
        name: name.to_string(),
        problem,
    };
    if text.trim().is_empty() {
        return Err(problem("it is empty".into()));
    }
    let value: Value = yaml_serde::from_str(text).map_err(|e| problem(e.to_string()))?;
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(value),
        Value::Null => Err(problem("it reads as null".into())),
        _ => Err(problem("it reads as a list or a map".into())),
    }
}

/// The write `edit` becomes: a JSON merge patch of its object (carrying the opened
/// `resourceVersion`, so a change made meanwhile is refused), or the scope's first object.
#[derive(Debug, Clone, PartialEq)]
pub enum VariableWrite {
    Patch { object: String, patch: Value },
    Create(Box<Variables>),
}

/// Checks `edit` against `catalog` (the object it names must be one of `project`'s) and
/// returns the write it becomes: a patch of that object, or, when it names none, the scope's
/// first object under the name [`scopes`] offers as the scope's target.
pub fn plan_edit(
    catalog: &Catalog,
    project: &str,
    edit: &VariableEdit,
) -> Result<VariableWrite, VariableEditError> {
    let stored = match &edit.object {
        Some(object) => Some(
            catalog
                .variables_of(project)
                .find(|v| v.name_any() == *object)
                .ok_or_else(|| VariableEditError::NoObject {
                    object: object.clone(),
                    project: project.to_string(),
                })?,
        ),
        None => None,
    };
    let name = edit.name.trim();
    if !valid_name(name) {
        return Err(VariableEditError::Name(edit.name.clone()));
    }
    // A name lives in `values` or in `secretRefs`, never both: setting one removes the other.
    let (value, secret) = match &edit.change {
        VariableChange::Value { text } => (Some(parse_scalar(name, text)?), None),
        VariableChange::Secret { secret, key } => {
            for (field, given) in [("the Secret name", secret), ("the key", key)] {
                if given.trim().is_empty() {
                    return Err(VariableEditError::Secret {
                        name: name.to_string(),
                        field,
                    });
                }
            }
            (
                None,
                Some(SecretKeyRef {
                    name: secret.trim().to_string(),
                    key: key.trim().to_string(),
                }),
            )
        }
        VariableChange::Remove => {
            let defined = stored.is_some_and(|s| {
                s.spec.values.contains_key(name) || s.spec.secret_refs.contains_key(name)
            });
            if !defined {
                return Err(VariableEditError::NothingToRemove {
                    name: name.to_string(),
                    scope: edit.scope.label(),
                });
            }
            (None, None)
        }
    };
    match stored {
        Some(stored) => {
            let mut metadata = json!({});
            if let Some(version) = &edit.resource_version {
                metadata["resourceVersion"] = json!(version);
            }
            let mut values = serde_json::Map::new();
            let mut secret_refs = serde_json::Map::new();
            if value.is_some() || stored.spec.values.contains_key(name) {
                values.insert(name.to_string(), value.unwrap_or(Value::Null));
            }
            if secret.is_some() || stored.spec.secret_refs.contains_key(name) {
                secret_refs.insert(
                    name.to_string(),
                    secret.map_or(Value::Null, |s| json!({"name": s.name, "key": s.key})),
                );
            }
            let mut spec = serde_json::Map::new();
            if !values.is_empty() {
                spec.insert("values".into(), Value::Object(values));
            }
            if !secret_refs.is_empty() {
                spec.insert("secretRefs".into(), Value::Object(secret_refs));
            }
            Ok(VariableWrite::Patch {
                object: stored.name_any(),
                patch: json!({"metadata": metadata, "spec": spec}),
            })
        }
        None => {
            let mut spec = VariablesSpec {
                environment: edit.scope.environment.clone(),
                tenant: edit.scope.tenant.clone(),
                ..VariablesSpec::default()
            };
            if let Some(value) = value {
                spec.values.insert(name.to_string(), value);
            }
            if let Some(secret) = secret {
                spec.secret_refs.insert(name.to_string(), secret);
            }
            let mut created = Variables::new(&free_name(catalog, project, &edit.scope), spec);
            created.metadata.namespace = Some(namespace_of(catalog, project));
            Ok(VariableWrite::Create(Box::new(created)))
        }
    }
}

/// Whether `name` can be referenced as `{{hq.var.NAME}}`; `env.` would read as the pinned
/// form of another name.
fn valid_name(name: &str) -> bool {
    is_variable_name(name) && !name.starts_with("env.")
}

#[cfg(test)]
mod tests;

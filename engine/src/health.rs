//! Health and drift of delivered objects, from what the workload cluster reports.
//!
//! Health follows the rules Argo CD users know: a Deployment is healthy when the controller has
//! observed its generation and every replica is updated and available; a StatefulSet or
//! DaemonSet likewise; pods waiting in CrashLoopBackOff (or failing to pull their image or start)
//! make the workload Degraded whatever the replica counts say. Drift compares each delivered
//! object with the live one, field by field, looking only at the fields the delivery set: the
//! server adds defaults and status of its own.

use std::collections::BTreeMap;

use gitopshq_crds::common::{Health, LabelSelector};
use serde_json::Value;

/// Container waiting reasons that mean the workload is broken, not starting.
const FAILING_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
];

/// Identity of an object on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// The key of an object given as JSON; `None` without kind or name.
    pub fn of(object: &Value) -> Option<Self> {
        Some(Self {
            api_version: object.get("apiVersion")?.as_str()?.to_string(),
            kind: object.get("kind")?.as_str()?.to_string(),
            namespace: object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string),
            name: object.pointer("/metadata/name")?.as_str()?.to_string(),
        })
    }

    /// `Deployment payments/payment-api`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// One field where the live object differs from the delivered one.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDrift {
    /// Dotted path (`spec.template.spec.containers[api].image`).
    pub path: String,
    pub expected: Value,
    /// `None`: the field is missing on the cluster.
    pub actual: Option<Value>,
}

impl FieldDrift {
    pub fn describe(&self) -> String {
        match &self.actual {
            Some(actual) => format!("{}: want {}, found {}", self.path, self.expected, actual),
            None => format!("{}: want {}, missing", self.path, self.expected),
        }
    }
}

/// The fields of `live` that differ from `delivered`, comparing only what `delivered` sets.
/// Lists of objects with a `name` (containers, env, ports, volumes) are matched by name; other
/// lists must match element by element. Kubernetes quantities compare by value (`1000m` = `1`).
pub fn drift(delivered: &Value, live: &Value) -> Vec<FieldDrift> {
    let mut out = Vec::new();
    compare(delivered, Some(live), String::new(), &mut out);
    out
}

fn compare(expected: &Value, actual: Option<&Value>, path: String, out: &mut Vec<FieldDrift>) {
    match (expected, actual) {
        (Value::Object(want), Some(Value::Object(have))) => {
            for (key, value) in want {
                if path.is_empty() && key == "status" {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                compare(value, have.get(key), child, out);
            }
        }
        (Value::Array(want), Some(Value::Array(have))) if keyed_by_name(want) => {
            for item in want {
                let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
                let found = have
                    .iter()
                    .find(|h| h.get("name").and_then(Value::as_str) == Some(name));
                compare(item, found, format!("{path}[{name}]"), out);
            }
        }
        (Value::Array(want), Some(Value::Array(have))) if want.len() == have.len() => {
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                compare(w, Some(h), format!("{path}[{i}]"), out);
            }
        }
        // An empty map or list the server leaves out is not a difference.
        (Value::Object(want), None) if want.is_empty() => {}
        (Value::Array(want), None) if want.is_empty() => {}
        (Value::Null, None) => {}
        (want, Some(have)) if scalar_equal(want, have) => {}
        (want, have) => out.push(FieldDrift {
            path,
            expected: want.clone(),
            actual: have.cloned(),
        }),
    }
}

fn keyed_by_name(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").and_then(Value::as_str).is_some())
}

fn scalar_equal(want: &Value, have: &Value) -> bool {
    if want == have {
        return true;
    }
    match (want, have) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => {
            matches!((quantity(a), quantity(b)), (Some(x), Some(y)) if (x - y).abs() <= f64::EPSILON * x.abs().max(1.0))
        }
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            matches!((n.as_f64(), quantity(s)), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

/// A Kubernetes quantity (`500m`, `1Gi`, `2`, `1e3`) as a number.
fn quantity(text: &str) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let text = text.trim();
    if text.is_empty()
        || !text.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '+')
    {
        return None;
    }
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse::<f64>().ok()
}

/// Health of one live object, for the kinds that have one; `None` for kinds whose presence is
/// all there is to check (Services, ConfigMaps …).
pub fn object_health(live: &Value) -> Option<(Health, String)> {
    let kind = live.get("kind").and_then(Value::as_str)?;
    let describe = || {
        ObjectKey::of(live)
            .map(|k| k.describe())
            .unwrap_or_default()
    };
    let int = |path: &str| live.pointer(path).and_then(Value::as_i64);
    let generation = int("/metadata/generation").unwrap_or(0);
    let observed = int("/status/observedGeneration").unwrap_or(0);
    match kind {
        "Deployment" | "StatefulSet" => {
            let desired = int("/spec/replicas").unwrap_or(1);
            if kind == "Deployment"
                && condition_reason(live, "Progressing") == Some("ProgressDeadlineExceeded")
            {
                return Some((
                    Health::Degraded,
                    format!("{} exceeded its progress deadline", describe()),
                ));
            }
            if observed < generation {
                return Some((
                    Health::Progressing,
                    format!(
                        "{} is waiting for its controller to observe generation {generation}",
                        describe()
                    ),
                ));
            }
            let updated = int("/status/updatedReplicas").unwrap_or(0);
            let ready_path = if kind == "Deployment" {
                "/status/availableReplicas"
            } else {
                "/status/readyReplicas"
            };
            let available = int(ready_path).unwrap_or(0);
            if updated < desired || available < desired {
                return Some((
                    Health::Progressing,
                    format!(
                        "{}: {available} of {desired} replicas available, {updated} updated",
                        describe()
                    ),
                ));
            }
            Some((
                Health::Healthy,
                format!(
                    "{}: {available} of {desired} replicas available",
                    describe()
                ),
            ))
        }
        "DaemonSet" => {
            let desired = int("/status/desiredNumberScheduled").unwrap_or(0);
            let available = int("/status/numberAvailable").unwrap_or(0);
            let updated = int("/status/updatedNumberScheduled").unwrap_or(0);
            if observed < generation || updated < desired || available < desired {
                return Some((
                    Health::Progressing,
                    format!("{}: {available} of {desired} pods available", describe()),
                ));
            }
            Some((
                Health::Healthy,
                format!("{}: {available} of {desired} pods available", describe()),
            ))
        }
        "Pod" => {
            let (failing, _) = pod_failure(live);
            if let Some(reason) = failing {
                return Some((Health::Degraded, format!("{} is {reason}", describe())));
            }
            match live.pointer("/status/phase").and_then(Value::as_str) {
                Some("Running") | Some("Succeeded") => {
                    Some((Health::Healthy, format!("{} is running", describe())))
                }
                Some("Failed") => Some((Health::Degraded, format!("{} failed", describe()))),
                _ => Some((Health::Progressing, format!("{} is pending", describe()))),
            }
        }
        "Job" => {
            if condition_status(live, "Failed") == Some("True") {
                return Some((Health::Degraded, format!("{} failed", describe())));
            }
            if condition_status(live, "Complete") == Some("True") {
                return Some((Health::Healthy, format!("{} completed", describe())));
            }
            Some((Health::Progressing, format!("{} is running", describe())))
        }
        _ => None,
    }
}

fn condition_reason<'v>(object: &'v Value, type_: &str) -> Option<&'v str> {
    condition_field(object, type_, "reason")
}

fn condition_status<'v>(object: &'v Value, type_: &str) -> Option<&'v str> {
    condition_field(object, type_, "status")
}

fn condition_field<'v>(object: &'v Value, type_: &str, field: &str) -> Option<&'v str> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?
        .get(field)?
        .as_str()
}

/// The first failing waiting reason of a pod's containers, and whether it has any container
/// status at all.
fn pod_failure(pod: &Value) -> (Option<&str>, bool) {
    let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .collect::<Vec<_>>();
    let failing = statuses.iter().find_map(|s| {
        let reason = s.pointer("/state/waiting/reason").and_then(Value::as_str)?;
        FAILING_REASONS.contains(&reason).then_some(reason)
    });
    (failing, !statuses.is_empty())
}

/// Keeps of a pod's `spec` and `status` only what [`tenant_health`] reads of the pods it is
/// given (the containers' names and images, the phase and conditions, the containers' states),
/// so a watch cache of every pod of a cluster stays small: a pod's volumes, environment,
/// probes and addresses are most of its size and are never read here. The metadata is the
/// caller's: health reads its name, namespace, labels and deletion timestamp.
pub fn slim_pod(pod: &mut Value) {
    let Some(pod) = pod.as_object_mut() else {
        return;
    };
    let containers = |list: Option<&Value>, fields: &[&str]| -> Value {
        let kept = list
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                fields
                    .iter()
                    .filter_map(|f| Some((f.to_string(), c.get(*f)?.clone())))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .collect::<Vec<Value>>();
        Value::Array(kept)
    };
    if let Some(spec) = pod.get("spec") {
        let kept = containers(spec.get("containers"), &["name", "image"]);
        pod.insert("spec".into(), serde_json::json!({ "containers": kept }));
    }
    if let Some(status) = pod.get("status") {
        let mut kept = serde_json::Map::new();
        for field in ["phase", "conditions"] {
            if let Some(value) = status.get(field) {
                kept.insert(field.into(), value.clone());
            }
        }
        for field in ["initContainerStatuses", "containerStatuses"] {
            if status.get(field).is_some() {
                let statuses = containers(status.get(field), &["name", "state", "ready"]);
                kept.insert(field.into(), statuses);
            }
        }
        pod.insert("status".into(), Value::Object(kept));
    }
}

/// Whether `pod` runs the workload's current template: not on its way out (a terminating pod's
/// failures are its revision's past), and every container the template names runs the
/// template's image (while a rollout replaces an older revision, its pods still run the old
/// images). Two revisions that differ in anything but images are told apart only once the older
/// pods terminate.
fn of_current_revision(workload: &Value, pod: &Value) -> bool {
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return false;
    }
    let images = |containers: Option<&Value>| -> BTreeMap<String, String> {
        containers
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    c.get("name")?.as_str()?.to_string(),
                    c.get("image")?.as_str()?.to_string(),
                ))
            })
            .collect()
    };
    let template = images(workload.pointer("/spec/template/spec/containers"));
    let running = images(pod.pointer("/spec/containers"));
    template
        .iter()
        .all(|(name, image)| running.get(name).is_none_or(|running| running == image))
}

/// Whether a pod is selected by `selector` (`spec.selector` of a workload), with the label
/// selector rules of [`crate::selector`]. A selector that does not parse selects nothing.
pub fn selects(selector: &Value, pod: &Value) -> bool {
    let Ok(selector) = serde_json::from_value::<LabelSelector>(selector.clone()) else {
        return false;
    };
    let labels: BTreeMap<String, String> = pod
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    crate::selector::matches(&selector, &labels).unwrap_or(false)
}

/// What one tenant's delivered objects look like on its cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantHealth {
    pub health: Health,
    /// The first thing a person should look at ("2 of 5 pods CrashLoopBackOff").
    pub message: String,
    /// Objects that differ from what was delivered, with their fields.
    pub drift: Vec<(ObjectKey, Vec<FieldDrift>)>,
}

/// Health of a tenant's delivered objects (`delivered`, namespaces filled in) given the live
/// objects found under their keys and the pods of the tenant's namespace.
pub fn tenant_health(
    delivered: &[Value],
    live: &BTreeMap<ObjectKey, Value>,
    pods: &[Value],
) -> TenantHealth {
    let mut worst = Health::Healthy;
    let mut messages: Vec<(Health, String)> = Vec::new();
    let mut drifted = Vec::new();
    let mut note = |health: Health, message: String, worst: &mut Health| {
        if rank(health) > rank(*worst) {
            *worst = health;
        }
        messages.push((health, message));
    };
    for object in delivered {
        let Some(key) = ObjectKey::of(object) else {
            continue;
        };
        let Some(found) = live.get(&key) else {
            note(
                Health::Missing,
                format!("{} is not on the cluster yet", key.describe()),
                &mut worst,
            );
            continue;
        };
        let fields = drift(object, found);
        if !fields.is_empty() {
            drifted.push((key.clone(), fields));
        }
        if let Some((health, message)) = object_health(found) {
            note(health, message, &mut worst);
        }
        if let Some(selector) = found.pointer("/spec/selector").filter(|s| s.is_object())
            && matches!(
                key.kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet"
            )
        {
            let selected: Vec<&Value> = pods
                .iter()
                .filter(|p| selects(selector, p) && of_current_revision(found, p))
                .collect();
            let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
            for pod in &selected {
                if let (Some(reason), _) = pod_failure(pod) {
                    *by_reason.entry(reason).or_default() += 1;
                }
            }
            for (reason, count) in by_reason {
                note(
                    Health::Degraded,
                    format!(
                        "{}: {count} of {} pods {reason}",
                        key.describe(),
                        selected.len()
                    ),
                    &mut worst,
                );
            }
        }
    }
    let message = messages
        .iter()
        .filter(|(h, _)| *h == worst)
        .map(|(_, m)| m.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let message = if message.is_empty() {
        format!("{} objects delivered, all present", delivered.len())
    } else {
        message
    };
    TenantHealth {
        health: worst,
        message,
        drift: drifted,
    }
}

/// Worse is higher: Degraded beats Missing beats Progressing beats Healthy.
fn rank(health: Health) -> u8 {
    match health {
        Health::Healthy => 0,
        Health::Suspended | Health::Unknown => 1,
        Health::Progressing => 2,
        Health::Missing => 3,
        Health::Degraded => 4,
    }
}

/// The release's health from its tenants': the worst one, with how many are healthy.
pub fn overall(tenants: &[(String, Health, String)]) -> (Health, String) {
    let worst = tenants
        .iter()
        .map(|(_, h, _)| *h)
        .max_by_key(|h| rank(*h))
        .unwrap_or(Health::Unknown);
    let healthy = tenants
        .iter()
        .filter(|(_, h, _)| *h == Health::Healthy)
        .count();
    let mut message = format!("{healthy} of {} tenants healthy", tenants.len());
    if worst != Health::Healthy {
        let worst_tenants: Vec<_> = tenants.iter().filter(|(_, h, _)| *h == worst).collect();
        for (tenant, _, detail) in worst_tenants.iter().take(NAMED_IN_MESSAGE) {
            message.push_str(&format!("; {tenant}: {detail}"));
        }
        if let Some(more) = worst_tenants
            .len()
            .checked_sub(NAMED_IN_MESSAGE)
            .filter(|n| *n > 0)
        {
            message.push_str(&format!(
                "; and {more} more tenants {worst:?} (each one's message is in status.tenants)"
            ));
        }
    }
    (worst, message)
}

/// How many of the worst tenants the release's message names: at fleet size the message would
/// otherwise grow with every tenant (each one's stays in `status.tenants`).
const NAMED_IN_MESSAGE: usize = 5;

#[cfg(test)]
mod tests;

//! Evaluations: a policy's `deny` and `warn` rules on one input after another, on a pooled
//! regorus engine.

use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Duration;

use regorus::Value;
use serde::{Deserialize, Serialize};

use super::compile::{CompiledModule, RuleKind};
use super::error::{PolicyError, parse_regorus_error};
use super::limits::{EvalLimits, RANGE_LIMIT_MARKER, timer_config};

/// What a policy's rules said about one input. Messages are sorted and deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyOutcome {
    /// Messages of the `deny` rule.
    pub deny: Vec<String>,
    /// Messages of the `warn` rule.
    pub warn: Vec<String>,
    /// Output of `print()` calls (`policy.rego:5: …`), for the workbench; at most
    /// [`MAX_PRINTS`] lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prints: Vec<String>,
}

impl PolicyOutcome {
    /// No `deny` and no `warn` message.
    pub fn is_clean(&self) -> bool {
        self.deny.is_empty() && self.warn.is_empty()
    }
}

/// `print()` lines kept per evaluation; a print in a loop must not grow memory without bound.
pub const MAX_PRINTS: usize = 100;

/// The JSON input in regorus's value model, converted once and shared by every policy that
/// evaluates it.
pub(crate) fn to_rego(input: &serde_json::Value) -> Result<Value, String> {
    Value::deserialize(input).map_err(|e| format!("the input cannot be read as Rego data: {e}"))
}

/// Evaluations of one module on one input after another, on one engine: the engine is taken
/// from the module's pool once and given back once, however many inputs it judges (a policy
/// over every object of a release). Each input is still a query of its own (`set_input`, then
/// the rules), so the outcome or error of every input is exactly that of judging it alone.
pub(crate) struct Runner<'m> {
    module: &'m CompiledModule,
    engine: Option<regorus::Engine>,
}

impl<'m> Runner<'m> {
    pub(crate) fn new(module: &'m CompiledModule) -> Self {
        Runner {
            module,
            engine: None,
        }
    }

    /// Runs the module's rules on `input` with a wall-clock `limit`. `context` describes the
    /// input for error messages; it is only formatted when an error occurs. After an error the
    /// engine is dropped and the next input gets a fresh one.
    pub(crate) fn run(
        &mut self,
        input: &Value,
        limit: Duration,
        policy: &str,
        context: &dyn Fn() -> String,
        limits: &EvalLimits,
    ) -> Result<PolicyOutcome, PolicyError> {
        let module = self.module;
        let mut engine = self.engine.take().unwrap_or_else(|| take_engine(module));
        engine.set_execution_timer_config(timer_config(limit));
        engine.set_input(input.clone());
        match panic::catch_unwind(AssertUnwindSafe(|| eval_rules(&mut engine, module))) {
            Ok(Ok(outcome)) => {
                self.engine = Some(engine);
                Ok(outcome)
            }
            // An engine that failed mid-evaluation is dropped rather than reused: its next
            // evaluation would reset its state, but a fresh clone is certain to be clean.
            Ok(Err(error)) => Err(map_error(&error, policy, &context(), limits, limit)),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic without a message".to_string());
                Err(PolicyError::Panicked {
                    policy: policy.to_string(),
                    context: context(),
                    message,
                })
            }
        }
    }
}

impl Drop for Runner<'_> {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            give_back(self.module, engine);
        }
    }
}

fn eval_rules(
    engine: &mut regorus::Engine,
    module: &CompiledModule,
) -> anyhow::Result<PolicyOutcome> {
    let mut outcome = PolicyOutcome::default();
    for rule in [RuleKind::Deny, RuleKind::Warn] {
        if let Some(path) = module.rule_path(rule) {
            let value = engine.eval_rule(path.to_string())?;
            let messages = messages(&value, path);
            match rule {
                RuleKind::Deny => outcome.deny = messages,
                RuleKind::Warn => outcome.warn = messages,
            }
        }
    }
    let mut prints = engine.take_prints()?;
    prints.truncate(MAX_PRINTS);
    outcome.prints = prints;
    Ok(outcome)
}

/// Idle engines kept per module: enough for every core to evaluate the same policy at once.
fn max_idle_engines() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .clamp(2, 64)
    })
}

fn take_engine(module: &CompiledModule) -> regorus::Engine {
    let idle = module
        .pool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop();
    // Cloning the prepared template copies the analysed rules, not the text: no re-parse.
    idle.unwrap_or_else(|| module.template.clone())
}

fn give_back(module: &CompiledModule, engine: regorus::Engine) {
    let mut pool = module
        .pool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if pool.len() < max_idle_engines() {
        pool.push(engine);
    }
}

/// Messages of a rule's value, sorted and deduplicated.
///
/// - a set or array (partial set rules, v0 `deny[msg]`, v1 `deny contains msg`): its elements;
/// - an object (v1 `deny[msg] if …` without `contains` defines `{msg: true}`): its keys when the
///   values are `true`, its values otherwise;
/// - elements that are objects with `msg` or `message` (Gatekeeper style): that field;
/// - `true` (a boolean `deny if …`): one message naming the rule;
/// - undefined, `false`, `null`, empty: no message.
pub(crate) fn messages(value: &Value, rule_path: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    match value {
        Value::Undefined | Value::Null | Value::Bool(false) => {}
        Value::Bool(true) => {
            out.insert(format!("{rule_path} is true"));
        }
        Value::Set(items) => out.extend(items.iter().filter_map(message_text)),
        Value::Array(items) => out.extend(items.iter().filter_map(message_text)),
        Value::Object(fields) => {
            if let Some(text) = message_text(value)
                && (fields.contains_key(&Value::from("msg"))
                    || fields.contains_key(&Value::from("message")))
            {
                out.insert(text);
            } else {
                for (key, item) in fields.iter() {
                    let text = if *item == Value::Bool(true) {
                        message_text(key)
                    } else {
                        message_text(item)
                    };
                    out.extend(text);
                }
            }
        }
        other => out.extend(message_text(other)),
    }
    out.into_iter().collect()
}

fn message_text(value: &Value) -> Option<String> {
    match value {
        Value::Undefined | Value::Null | Value::Bool(false) => None,
        Value::String(s) => Some(s.to_string()),
        Value::Object(fields) => {
            for key in ["msg", "message"] {
                if let Some(Value::String(s)) = fields.get(&Value::from(key)) {
                    return Some(s.to_string());
                }
            }
            value.to_json_str().ok()
        }
        other => other.to_json_str().ok(),
    }
}

pub(crate) fn is_limit_error(error: &anyhow::Error, text: &str) -> bool {
    error.downcast_ref::<regorus::LimitError>().is_some()
        || text.contains("exceeded time limit")
        || text.contains(RANGE_LIMIT_MARKER)
}

/// A limit error of regorus (or of our bounded built-ins) as a [`PolicyError`].
pub(crate) fn limit_error(
    error: &anyhow::Error,
    text: &str,
    policy: &str,
    context: &str,
    limits: &EvalLimits,
    limit: Duration,
) -> PolicyError {
    if let Some(index) = text.find(RANGE_LIMIT_MARKER) {
        let builtin = text[index + RANGE_LIMIT_MARKER.len()..]
            .split_whitespace()
            .next()
            .unwrap_or("numbers.range")
            .to_string();
        return PolicyError::SizeLimitExceeded {
            policy: policy.to_string(),
            context: context.to_string(),
            builtin,
            limit: limits.max_range_elements,
        };
    }
    let limit = match error.downcast_ref::<regorus::LimitError>() {
        Some(regorus::LimitError::TimeLimitExceeded { limit, .. }) => *limit,
        _ => limit,
    };
    PolicyError::TimeLimitExceeded {
        policy: policy.to_string(),
        limit,
        context: context.to_string(),
    }
}

fn map_error(
    error: &anyhow::Error,
    policy: &str,
    context: &str,
    limits: &EvalLimits,
    limit: Duration,
) -> PolicyError {
    let text = format!("{error:#}");
    if is_limit_error(error, &text) {
        return limit_error(error, &text, policy, context, limits, limit);
    }
    let (position, message) = parse_regorus_error(&text);
    PolicyError::Evaluation {
        policy: policy.to_string(),
        context: context.to_string(),
        position,
        message,
    }
}

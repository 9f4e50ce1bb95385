//! Evaluation limits, so that no policy can hang or exhaust an admission webhook.
//!
//! Time: regorus 0.14 has a cooperative execution timer (`Engine::set_execution_timer_config`):
//! the interpreter counts work units in every loop, rule and expression and reads the clock
//! every [`TIMER_CHECK_INTERVAL`] units, failing with `LimitError::TimeLimitExceeded`. That is
//! used instead of a watchdog thread: the evaluation stops on the calling thread, nothing is left
//! running, and no thread pool has to be bounded.
//!
//! What the timer cannot stop is one built-in call that builds a huge value before the next
//! check. `numbers.range(1, 1e9)` would allocate gigabytes, so `numbers.range` and
//! `numbers.range_step` are replaced by versions that refuse to build more than
//! [`EvalLimits::max_range_elements`] elements (regorus looks extensions up before built-ins).
//! Remaining gap, documented: a `sprintf` with an absurd width (`%999999999d`) still allocates
//! that width in one call.

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::Value;

/// Limits of one [`super::PolicyEngine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalLimits {
    /// Wall-clock limit of one evaluation (one policy on one input).
    pub time_per_evaluation: Duration,
    /// Wall-clock budget of all evaluations of one release together.
    pub time_per_release: Duration,
    /// Largest array `numbers.range` / `numbers.range_step` may build.
    pub max_range_elements: usize,
    /// Compiled modules kept (by digest of the Rego text).
    pub compiled_cache_entries: usize,
    /// Evaluation outcomes kept (by policy digest and input digest).
    pub eval_cache_entries: usize,
    /// Threads one release evaluation may use for its cache misses: 0 = every thread of the
    /// shared pool (one per core), 1 = only the calling thread. Small batches always stay on
    /// the calling thread.
    pub parallelism: usize,
}

impl Default for EvalLimits {
    fn default() -> Self {
        EvalLimits {
            // Admission webhooks time out after 10 s by default; one policy on one object taking
            // more than 100 ms is a bug in the policy, and 5 s for a whole release leaves the
            // webhook time to answer with the reason.
            time_per_evaluation: Duration::from_millis(100),
            time_per_release: Duration::from_secs(5),
            max_range_elements: 100_000,
            compiled_cache_entries: 512,
            // About 100 bytes per entry without messages: a few MiB at most.
            eval_cache_entries: 32_768,
            // A first evaluation of a release is latency the user waits for (the webhook, a
            // `kubectl apply`); warm ones never spawn threads.
            parallelism: 0,
        }
    }
}

/// Clock reads are amortised over this many interpreter work units (one unit is one loop step,
/// expression or rule): a check every few microseconds at most, negligible overhead.
pub(crate) const TIMER_CHECK_INTERVAL: u32 = 64;

pub(crate) fn timer_config(limit: Duration) -> regorus::utils::limits::ExecutionTimerConfig {
    regorus::utils::limits::ExecutionTimerConfig {
        limit,
        check_interval: NonZeroU32::new(TIMER_CHECK_INTERVAL).unwrap_or(NonZeroU32::MIN),
    }
}

/// Marker at the start of the error our range built-ins raise, to recognise it in regorus's
/// error text.
pub(crate) const RANGE_LIMIT_MARKER: &str = "gitopshq size limit:";

/// Installs the bounded `numbers.range` and `numbers.range_step` on an engine.
pub(crate) fn install_bounded_builtins(
    engine: &mut regorus::Engine,
    max_elements: usize,
) -> anyhow::Result<()> {
    engine.add_extension(
        "numbers.range".to_string(),
        2,
        Box::new(move |args: Vec<Value>| range("numbers.range", &args, 1, max_elements)),
    )?;
    engine.add_extension(
        "numbers.range_step".to_string(),
        3,
        Box::new(move |args: Vec<Value>| {
            let step = integer("numbers.range_step", args.get(2))?;
            if step <= 0 {
                anyhow::bail!("numbers.range_step: step must be a positive integer");
            }
            range("numbers.range_step", &args, step, max_elements)
        }),
    )?;
    Ok(())
}

/// OPA semantics: both ends included; counts down when `to < from`.
fn range(name: &str, args: &[Value], step: i64, max_elements: usize) -> anyhow::Result<Value> {
    let from = integer(name, args.first())?;
    let to = integer(name, args.get(1))?;
    let span = u128::from(to.abs_diff(from));
    let count = span / u128::from(step.unsigned_abs()) + 1;
    if count > max_elements as u128 {
        anyhow::bail!("{RANGE_LIMIT_MARKER} {name} {max_elements}");
    }
    let step = if to < from { -step } else { step };
    let mut values = Vec::with_capacity(count as usize);
    let mut v = from;
    for _ in 0..count {
        values.push(Value::from(v));
        v = v.saturating_add(step);
    }
    Ok(Value::from(values))
}

fn integer(name: &str, value: Option<&Value>) -> anyhow::Result<i64> {
    match value {
        Some(v) => v
            .as_i64()
            .map_err(|_| anyhow::anyhow!("{name}: operands must be integers")),
        None => anyhow::bail!("{name}: missing operand"),
    }
}

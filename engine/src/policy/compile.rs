//! From Rego text to a prepared regorus engine: syntax detection (v0 / v1), package and rule
//! discovery, and the compile-time checks regorus only performs when a rule first runs.

use std::sync::{Arc, Mutex};

use super::cache::{Digest, digest_text};
use super::error::{PolicyError, RegoVersion, SourcePosition, parse_regorus_error};
use super::limits::{EvalLimits, install_bounded_builtins, timer_config};

/// File name regorus shows in its messages. The same for every policy: compiled modules are
/// shared by content, whatever the policy is called.
pub(crate) const SOURCE_FILE: &str = "policy.rego";

/// What a policy's package says about its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyScope {
    /// Package ending in `.workload`: one evaluation per rendered object with a pod spec.
    Workload,
    /// Any other package: one evaluation per release.
    Release,
}

/// The rules GitOpsHQ reads from a policy's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleKind {
    Deny,
    Warn,
}

impl RuleKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RuleKind::Deny => "deny",
            RuleKind::Warn => "warn",
        }
    }
}

/// A compiled policy module, under the name of the policy it was compiled for. Cheap to clone
/// through `Arc`; the module itself is shared with every policy of the same text.
#[derive(Clone)]
pub struct CompiledPolicy {
    pub(crate) name: String,
    pub(crate) module: Arc<CompiledModule>,
}

impl std::fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("name", &self.name)
            .field("package", &self.module.package)
            .field("syntax", &self.module.syntax)
            .field("digest", &self.digest())
            .finish()
    }
}

impl CompiledPolicy {
    /// Name of the policy.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Package of the module, without `data.` (`gitopshq.workload`).
    pub fn package(&self) -> &str {
        &self.module.package
    }

    /// Which input the policy is evaluated on.
    pub fn scope(&self) -> PolicyScope {
        self.module.scope
    }

    /// Syntax the module was parsed with.
    pub fn syntax(&self) -> RegoVersion {
        self.module.syntax
    }

    /// `sha256:<hex>` of the Rego text: the key of both caches.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.module.digest))
    }

    /// Whether the package defines a `deny` rule.
    pub fn has_deny(&self) -> bool {
        self.module.deny_path.is_some()
    }

    /// Whether the package defines a `warn` rule.
    pub fn has_warn(&self) -> bool {
        self.module.warn_path.is_some()
    }
}

/// The part of a compiled policy that depends only on its text.
pub(crate) struct CompiledModule {
    pub(crate) digest: Digest,
    pub(crate) package: String,
    pub(crate) scope: PolicyScope,
    pub(crate) syntax: RegoVersion,
    /// `data.<package>.deny`, when the package defines it.
    pub(crate) deny_path: Option<String>,
    pub(crate) warn_path: Option<String>,
    /// Prepared engine (rules analysed and scheduled); evaluations run on clones of it.
    pub(crate) template: regorus::Engine,
    /// Idle clones, reused so that a steady stream of evaluations clones nothing.
    pub(crate) pool: Mutex<Vec<regorus::Engine>>,
}

impl CompiledModule {
    pub(crate) fn rule_path(&self, rule: RuleKind) -> Option<&str> {
        match rule {
            RuleKind::Deny => self.deny_path.as_deref(),
            RuleKind::Warn => self.warn_path.as_deref(),
        }
    }
}

/// A compile failure that depends only on the text (cached like a success).
#[derive(Debug, Clone)]
pub(crate) struct CompileFailure {
    pub(crate) position: SourcePosition,
    pub(crate) message: String,
    pub(crate) syntax: RegoVersion,
}

impl CompileFailure {
    pub(crate) fn into_error(self, policy: &str) -> PolicyError {
        PolicyError::Compile {
            policy: policy.to_string(),
            position: self.position,
            message: self.message,
            syntax: self.syntax,
        }
    }
}

/// Outcome of compiling a text: a module, a failure due to the text, or an error that might not
/// recur (the trial run hit a limit) and must not be cached.
pub(crate) enum Compiled {
    Module(Box<CompiledModule>),
    Failure(CompileFailure),
    Transient(PolicyError),
}

/// Order in which to try the two syntaxes, and whose error to report when both fail: the first.
///
/// `import rego.v1`, or `if` / `contains` outside comments and strings, mean v1 unless the module
/// imports `future.keywords` (v0 with the new keywords, where `deny[msg] if` is still a partial
/// set). Without markers, v1 is tried first as regorus and OPA 1.x do, but a failure is reported
/// in v0 terms: a module without `if` that fails to parse as v1 is almost certainly v0 (the
/// seed's `deny[msg] { … }`), and its real mistake is what the v0 parser finds.
pub(crate) fn syntax_order(rego: &str) -> ([RegoVersion; 2], RegoVersion) {
    let words = code_words(rego);
    let imports = |path: &str| {
        words
            .windows(2)
            .any(|w| w[0] == "import" && w[1].starts_with(path))
    };
    if imports("rego.v1") {
        ([RegoVersion::V1, RegoVersion::V0], RegoVersion::V1)
    } else if imports("future.keywords") {
        ([RegoVersion::V0, RegoVersion::V1], RegoVersion::V0)
    } else if words.iter().any(|w| *w == "if" || *w == "contains") {
        ([RegoVersion::V1, RegoVersion::V0], RegoVersion::V1)
    } else {
        ([RegoVersion::V1, RegoVersion::V0], RegoVersion::V0)
    }
}

/// Words of the code (identifiers and dotted paths), without comments and string literals.
fn code_words(rego: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for line in rego.lines() {
        let mut in_string: Option<char> = None;
        let mut start = None;
        let mut escaped = false;
        for (i, c) in line.char_indices() {
            if let Some(quote) = in_string {
                match (escaped, c) {
                    (false, '\\') if quote == '"' => escaped = true,
                    (false, q) if q == quote => in_string = None,
                    _ => escaped = false,
                }
                continue;
            }
            let word_char = c.is_ascii_alphanumeric() || c == '_' || c == '.';
            match (start, word_char) {
                (None, true) => start = Some(i),
                (Some(s), false) => {
                    words.push(&line[s..i]);
                    start = None;
                }
                _ => {}
            }
            match c {
                '#' => break,
                // Raw strings (`…`) may span lines, which this approximation ignores: a stray
                // word only changes which syntax is tried first.
                '"' | '`' => in_string = Some(c),
                _ => {}
            }
        }
        if let Some(s) = start {
            words.push(&line[s..]);
        }
    }
    words
}

/// Parses, analyses and trial-runs a module.
pub(crate) fn compile_text(rego: &str, limits: &EvalLimits) -> Compiled {
    let digest = digest_text(rego);
    let (order, reported) = syntax_order(rego);
    let mut failures = Vec::new();
    for syntax in order {
        match parse(rego, syntax, limits) {
            Ok(engine) => return finish(engine, digest, syntax, limits),
            Err(failure) => failures.push(failure),
        }
    }
    let failure = failures
        .into_iter()
        .find(|f| f.syntax == reported)
        .unwrap_or(CompileFailure {
            position: SourcePosition::default(),
            message: "the module could not be parsed".to_string(),
            syntax: reported,
        });
    Compiled::Failure(failure)
}

fn parse(
    rego: &str,
    syntax: RegoVersion,
    limits: &EvalLimits,
) -> Result<regorus::Engine, CompileFailure> {
    let failure = |error: anyhow::Error| {
        let (position, message) = parse_regorus_error(&format!("{error:#}"));
        CompileFailure {
            position,
            message,
            syntax,
        }
    };
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(syntax == RegoVersion::V0);
    // print() output is collected, never written to stderr: the engine does no I/O.
    engine.set_gather_prints(true);
    engine.set_execution_timer_config(timer_config(limits.time_per_evaluation));
    install_bounded_builtins(&mut engine, limits.max_range_elements).map_err(failure)?;
    engine
        .add_policy(SOURCE_FILE.to_string(), rego.to_string())
        .map_err(failure)?;
    Ok(engine)
}

fn finish(
    mut engine: regorus::Engine,
    digest: Digest,
    syntax: RegoVersion,
    limits: &EvalLimits,
) -> Compiled {
    let failure = |error: anyhow::Error| {
        let (position, message) = parse_regorus_error(&format!("{error:#}"));
        Compiled::Failure(CompileFailure {
            position,
            message,
            syntax,
        })
    };
    let components = match engine.get_policy_package_components() {
        Ok(mut packages) if !packages.is_empty() => packages.swap_remove(0).components,
        Ok(_) => return failure(anyhow::anyhow!("the module has no package")),
        Err(e) => return failure(e),
    };
    let package = components.join(".");
    let prefix = rule_prefix(&components);
    let rule = |kind: RuleKind| match engine.has_declared_rule_rooted_at(SOURCE_FILE, kind.name()) {
        Ok(true) => Ok(Some(format!("{prefix}.{}", kind.name()))),
        Ok(false) => Ok(None),
        Err(e) => Err(e),
    };
    let (deny_path, warn_path) = match (rule(RuleKind::Deny), rule(RuleKind::Warn)) {
        (Ok(d), Ok(w)) => (d, w),
        (Err(e), _) | (_, Err(e)) => return failure(e),
    };
    let scope = if components.last().map(String::as_str) == Some("workload") {
        PolicyScope::Workload
    } else {
        PolicyScope::Release
    };

    // regorus analyses a rule (unsafe variables, unknown functions) when it first runs, so run
    // each rule once on an empty input: a module that would fail on every input is rejected
    // here, with its line, instead of at the first release. Undefined input paths make rule
    // bodies fail quietly, so valid policies do not error on `{}`.
    engine.set_input(regorus::Value::new_object());
    if let Err(e) = engine.eval_query("true".to_string(), false) {
        return failure(e);
    }
    for path in [&deny_path, &warn_path].into_iter().flatten() {
        if let Err(e) = engine.eval_rule(path.clone()) {
            let text = format!("{e:#}");
            if super::evaluate::is_limit_error(&e, &text) {
                return Compiled::Transient(super::evaluate::limit_error(
                    &e,
                    &text,
                    "",
                    "an empty input (compile-time check)",
                    limits,
                    limits.time_per_evaluation,
                ));
            }
            return failure(e);
        }
    }
    let _ = engine.take_prints();
    Compiled::Module(Box::new(CompiledModule {
        digest,
        package,
        scope,
        syntax,
        deny_path,
        warn_path,
        template: engine,
        pool: Mutex::new(Vec::new()),
    }))
}

/// `data.gitopshq.workload`; components that are not identifiers use brackets
/// (`data.graph["1.0.0"]`), as regorus expects in rule paths.
fn rule_prefix(components: &[String]) -> String {
    let mut prefix = String::from("data");
    for component in components {
        let identifier = component
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && component
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if identifier {
            prefix.push('.');
            prefix.push_str(component);
        } else {
            prefix.push_str(&format!(
                "[{}]",
                serde_json::Value::from(component.as_str())
            ));
        }
    }
    prefix
}

/// The package named in a text that does not compile, for status (`package a.b` on its own line).
pub(crate) fn package_of_text(rego: &str) -> Option<String> {
    rego.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default().trim();
        line.strip_prefix("package ")
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_markers() {
        let v0 = "package a\ndeny[msg] { msg := \"if\" } # contains if";
        assert_eq!(syntax_order(v0).1, RegoVersion::V0);
        let v1 = "package a\ndeny contains msg if { msg := \"x\" }";
        assert_eq!(syntax_order(v1).1, RegoVersion::V1);
        let keywords = "package a\nimport future.keywords.if\ndeny[msg] if { msg := \"x\" }";
        assert_eq!(syntax_order(keywords).0[0], RegoVersion::V0);
        let explicit = "package a\nimport rego.v1\n";
        assert_eq!(syntax_order(explicit).0[0], RegoVersion::V1);
    }

    #[test]
    fn rule_prefixes_quote_non_identifiers() {
        assert_eq!(
            rule_prefix(&["gitopshq".into(), "workload".into()]),
            "data.gitopshq.workload"
        );
        assert_eq!(
            rule_prefix(&["graph".into(), "1.0.0".into()]),
            "data.graph[\"1.0.0\"]"
        );
    }

    #[test]
    fn package_is_found_in_broken_text() {
        assert_eq!(
            package_of_text("# header\npackage gitopshq.workload\n\ndeny[ {"),
            Some("gitopshq.workload".to_string())
        );
    }
}

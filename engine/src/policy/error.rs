//! Errors of policy compilation and evaluation. Variant names are stable (metric labels); every
//! message names the policy, where the problem is, and the next step.

use std::fmt;
use std::time::Duration;

/// Rego syntax a module was (or was tried to be) parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegoVersion {
    /// OPA < 1.0 syntax: `deny[msg] { … }`.
    V0,
    /// OPA 1.0 syntax: `deny contains msg if { … }`.
    V1,
}

impl fmt::Display for RegoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegoVersion::V0 => "Rego v0",
            RegoVersion::V1 => "Rego v1",
        })
    }
}

/// Where in the Rego text a problem is, as regorus reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcePosition {
    /// 1-based line, when regorus named one.
    pub line: Option<u32>,
    /// 1-based column, when regorus named one.
    pub column: Option<u32>,
    /// The text of that line, to show under the message.
    pub source_line: Option<String>,
}

impl fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: "),
            (Some(line), None) => write!(f, "line {line}: "),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The module does not parse, or refers to something that does not exist.
    #[error(
        "policy {policy} does not compile: {position}{message} (parsed as {syntax}); fix the Rego at that line and check it offline with `gitopshq policy test -f <file>`"
    )]
    Compile {
        policy: String,
        position: SourcePosition,
        message: String,
        /// The syntax whose error is reported (the one the text most looks like).
        syntax: RegoVersion,
    },

    /// One evaluation ran longer than [`super::EvalLimits::time_per_evaluation`].
    #[error(
        "policy {policy} exceeded its evaluation time limit of {} on {context}; make the rules cheaper (avoid nested iteration over large collections) or raise the limit",
        DisplayDuration(*limit)
    )]
    TimeLimitExceeded {
        policy: String,
        limit: Duration,
        /// What was being evaluated: an object, a release, a test case.
        context: String,
    },

    /// All evaluations of one release together ran longer than
    /// [`super::EvalLimits::time_per_release`].
    #[error(
        "policy evaluation of release {release} exceeded its time budget of {} while policy {policy} was evaluated on {context} ({evaluated} evaluations done); make the bound policies cheaper, bind fewer of them to this environment, or raise the budget",
        DisplayDuration(*limit)
    )]
    ReleaseBudgetExceeded {
        release: String,
        policy: String,
        context: String,
        limit: Duration,
        evaluated: usize,
    },

    /// A built-in would have built a value larger than [`super::EvalLimits`] allow.
    #[error(
        "policy {policy} exceeded a size limit on {context}: {builtin} would build more than {limit} elements; iterate over the input instead of a generated range, or raise the limit"
    )]
    SizeLimitExceeded {
        policy: String,
        context: String,
        builtin: String,
        limit: usize,
    },

    /// The rules failed at run time (a conflict between complete rules, a type error …).
    #[error(
        "policy {policy} failed on {context}: {position}{message}; fix the rule at that line (reproduce it with `gitopshq policy eval -f <file> --input <input>`)"
    )]
    Evaluation {
        policy: String,
        context: String,
        position: SourcePosition,
        message: String,
    },

    /// regorus panicked. The engine instance is discarded; other evaluations are unaffected.
    #[error(
        "policy {policy} crashed the Rego interpreter on {context}: {message}; simplify the rule it points at and report the policy to the GitOpsHQ maintainers"
    )]
    Panicked {
        policy: String,
        context: String,
        message: String,
    },
}

impl PolicyError {
    /// The policy the error is about.
    pub fn policy(&self) -> &str {
        match self {
            PolicyError::Compile { policy, .. }
            | PolicyError::TimeLimitExceeded { policy, .. }
            | PolicyError::ReleaseBudgetExceeded { policy, .. }
            | PolicyError::SizeLimitExceeded { policy, .. }
            | PolicyError::Evaluation { policy, .. }
            | PolicyError::Panicked { policy, .. } => policy,
        }
    }

    /// Stable name of the variant, for metric labels and condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            PolicyError::Compile { .. } => "Compile",
            PolicyError::TimeLimitExceeded { .. } => "TimeLimitExceeded",
            PolicyError::ReleaseBudgetExceeded { .. } => "ReleaseBudgetExceeded",
            PolicyError::SizeLimitExceeded { .. } => "SizeLimitExceeded",
            PolicyError::Evaluation { .. } => "Evaluation",
            PolicyError::Panicked { .. } => "Panicked",
        }
    }

    /// The short form `Policy.status.error` holds: `line 7, column 3: unexpected token`.
    pub fn status_message(&self) -> String {
        match self {
            PolicyError::Compile {
                position, message, ..
            }
            | PolicyError::Evaluation {
                position, message, ..
            } => format!("{position}{message}"),
            other => other.to_string(),
        }
    }

    /// Position in the Rego text, when the error has one.
    pub fn position(&self) -> Option<&SourcePosition> {
        match self {
            PolicyError::Compile { position, .. } | PolicyError::Evaluation { position, .. } => {
                Some(position)
            }
            _ => None,
        }
    }

    /// The same error about another policy name (compiled modules are shared between policies
    /// with the same text).
    pub(crate) fn renamed(mut self, name: &str) -> Self {
        match &mut self {
            PolicyError::Compile { policy, .. }
            | PolicyError::TimeLimitExceeded { policy, .. }
            | PolicyError::ReleaseBudgetExceeded { policy, .. }
            | PolicyError::SizeLimitExceeded { policy, .. }
            | PolicyError::Evaluation { policy, .. }
            | PolicyError::Panicked { policy, .. } => *policy = name.to_string(),
        }
        self
    }
}

/// `250ms`, `2s`: durations as people write them in flags.
struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.as_nanos().is_multiple_of(1_000_000) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{d:?}")
        }
    }
}

/// Splits a regorus error (`\n--> policy.rego:3:11\n  |\n3 | deny[msg] {\n  |  ^\nerror: …`) into
/// its position and message. Errors without a position keep their whole text as the message.
pub(crate) fn parse_regorus_error(text: &str) -> (SourcePosition, String) {
    let mut position = SourcePosition::default();
    let mut message = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(location) = trimmed.strip_prefix("--> ") {
            // `file:line:col`; the file name is ours and has no colon.
            let mut parts = location.rsplitn(3, ':');
            let column = parts.next().and_then(|c| c.trim().parse().ok());
            let line_no = parts.next().and_then(|l| l.trim().parse().ok());
            if line_no.is_some() && position.line.is_none() {
                position.line = line_no;
                position.column = column;
            }
        } else if let (Some(line_no), None) = (position.line, &position.source_line) {
            // `7 | the source text`
            if let Some((number, source)) = trimmed.split_once(" | ")
                && number.trim().parse::<u32>().ok() == Some(line_no)
            {
                position.source_line = Some(source.to_string());
            } else if let Some(number) = trimmed.strip_suffix(" |")
                && number.trim().parse::<u32>().ok() == Some(line_no)
            {
                position.source_line = Some(String::new());
            }
        }
        if message.is_none()
            && let Some(rest) = trimmed.strip_prefix("error: ")
        {
            message = Some(rest.to_string());
        }
    }
    let message = match message {
        Some(m) => tidy(&m),
        None => tidy(text.trim()),
    };
    (position, message)
}

/// Drops interpreter internals from messages meant for policy authors.
fn tidy(message: &str) -> String {
    // "var msg is unsafe (path [\"x\", \"msg\"], scopes [...])": the scopes dump helps nobody.
    if let Some(index) = message.find(" is unsafe (path ") {
        return format!(
            "{} is unsafe: it is never assigned in this rule body",
            &message[..index]
        );
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regorus_error_positions_are_parsed() {
        let text = "\n--> policy.rego:3:11\n  |\n3 | deny[msg] {\n  |           ^\nerror: `if` keyword is required before rule body";
        let (position, message) = parse_regorus_error(text);
        assert_eq!(position.line, Some(3));
        assert_eq!(position.column, Some(11));
        assert_eq!(position.source_line.as_deref(), Some("deny[msg] {"));
        assert_eq!(message, "`if` keyword is required before rule body");
    }

    #[test]
    fn errors_without_position_keep_their_text() {
        let (position, message) = parse_regorus_error("something broke");
        assert_eq!(position, SourcePosition::default());
        assert_eq!(message, "something broke");
    }

    #[test]
    fn unsafe_variable_messages_are_tidied() {
        let (_, message) = parse_regorus_error(
            "\n--> policy.rego:3:15\n  |\n3 | x\n  | ^\nerror: var msg is unsafe (path [\"x\", \"msg\"], scopes [{\"y\": Number(1)}])",
        );
        assert_eq!(
            message,
            "var msg is unsafe: it is never assigned in this rule body"
        );
    }
}

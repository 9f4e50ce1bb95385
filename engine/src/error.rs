//! The one error type of the render pipeline. Every variant names what a chart author or a
//! developer needs to find the fault: chart@version, template file and line, value path,
//! variable, environment and tenant. Variant names are stable: they are metric labels.

/// Shorthand used by every render-pipeline function.
pub type Result<T, E = RenderError> = std::result::Result<T, E>;

/// Why a chart could not be compiled or rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// A template is not valid Handlebars.
    #[error("chart {chart}: template {template} does not compile{at}: {message}", at = at(*line, *column))]
    TemplateCompile {
        chart: String,
        template: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },

    /// A template failed while rendering (missing value path in strict mode, helper misuse …).
    #[error("chart {chart}: template {template} failed to render{at}: {message}", at = at(*line, *column))]
    TemplateRender {
        chart: String,
        template: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },

    /// A value layer is neither a map nor empty, so it cannot be merged.
    #[error("values from {source_label} must be a map of keys to values, found {found}")]
    LayerNotAMap { source_label: String, found: String },

    /// An `{{hq.var.NAME}}` reference found no definition in the scopes it may read.
    #[error(
        "HQ variable {variable} used at value path {path} is not defined for environment {environment}, tenant {tenant} (looked in {looked_in}); define it in a Variables object"
    )]
    UnresolvedVariable {
        variable: String,
        environment: String,
        tenant: String,
        path: String,
        looked_in: &'static str,
    },

    /// The chart's `valuesSchema` is itself not a valid JSON Schema.
    #[error("chart {chart}: valuesSchema is not a valid JSON Schema: {message}")]
    InvalidValuesSchema { chart: String, message: String },

    /// The merged, resolved values break the chart's `valuesSchema`.
    #[error(
        "chart {chart}: values do not match valuesSchema: {}",
        join_violations(violations)
    )]
    ValuesSchema {
        chart: String,
        violations: Vec<SchemaViolation>,
    },

    /// A rendered document is not YAML.
    #[error("chart {chart}: template {template} document {document} is not valid YAML{at}: {message}", at = at(*line, *column))]
    InvalidYaml {
        chart: String,
        template: String,
        /// 1-based position of the document in the template's output.
        document: usize,
        /// Line in the rendered output of the template (not in the template source).
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },

    /// A rendered document is not a Kubernetes object (apiVersion, kind, metadata.name).
    #[error(
        "chart {chart}: template {template} document {document} is not a Kubernetes object: {problem}"
    )]
    NotAnObject {
        chart: String,
        template: String,
        document: usize,
        problem: String,
    },

    /// `metadata.name` or `metadata.namespace` is not a valid Kubernetes name.
    #[error("chart {chart}: template {template}: {kind} {field} {name:?} is invalid: {reason}")]
    InvalidName {
        chart: String,
        template: String,
        kind: Box<str>,
        field: NameField,
        name: String,
        // Boxed to keep the error small: it travels through every render result.
        reason: Box<str>,
    },

    /// Two documents describe the same object.
    #[error(
        "chart {chart}: {kind} {object} is rendered twice, by template {first_template} and by template {second_template}"
    )]
    DuplicateObject {
        chart: String,
        kind: Box<str>,
        /// `namespace/name`, or `name` for cluster-scoped objects.
        object: String,
        first_template: String,
        second_template: String,
    },

    /// A Secret-backed HQ variable's value is in a rendered object outside a Secret's `data`
    /// or `stringData`, where delivery would commit it in plaintext.
    #[error(
        "HQ variable {variable} is read from a Secret, so its value may only appear in a Secret's data or stringData, but {kind} {object} holds it at {field} (environment {environment}, tenant {tenant}); reference it with valueFrom.secretKeyRef from a Secret the chart renders"
    )]
    SecretValueOutsideSecret {
        // Boxed strings keep the error small: it travels through every render result.
        variable: Box<str>,
        kind: Box<str>,
        /// `namespace/name`, or `name` for cluster-scoped objects.
        object: Box<str>,
        field: Box<str>,
        environment: Box<str>,
        tenant: Box<str>,
    },

    /// A value could not be turned into YAML (should not happen for JSON values).
    #[error("cannot serialise {what} to YAML: {message}")]
    Serialize { what: String, message: String },

    /// Independent faults of one render (every unresolved variable, every template or document
    /// that fails), so one run shows everything to fix. Never holds a single fault or another
    /// `Several`: build it with [`RenderError::all`].
    #[error("{} problems:{}", problems.len(), bulleted(problems))]
    Several { problems: Vec<RenderError> },
}

impl RenderError {
    /// One error for every fault in `errors`, in their order: `Ok` when there is none, the
    /// fault itself when there is one, [`RenderError::Several`] (flat) otherwise.
    pub fn all(errors: impl IntoIterator<Item = RenderError>) -> Result<()> {
        let mut problems: Vec<RenderError> = Vec::new();
        for error in errors {
            match error {
                RenderError::Several { problems: inner } => problems.extend(inner),
                leaf => problems.push(leaf),
            }
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(RenderError::Several { problems }),
        }
    }

    /// The single faults this error stands for: itself, or each of [`RenderError::Several`].
    pub fn problems(&self) -> &[RenderError] {
        match self {
            RenderError::Several { problems } => problems,
            leaf => std::slice::from_ref(leaf),
        }
    }
}

/// `problems` one per line, as a list under the error's first line.
pub fn bulleted<T: std::fmt::Display>(problems: &[T]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

/// An error and its causes on one line, "what failed: why: why that". Error messages never
/// embed their source (it would print twice), so a message for a person is written with this;
/// a cause whose text the line already holds (a library that does embed its source) is
/// skipped, so each cause shows once.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut line = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            cause = error.source();
        }
        f.write_str(&line)
    }
}

/// Which name of an object is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameField {
    Name,
    Namespace,
}

impl std::fmt::Display for NameField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameField::Name => "metadata.name",
            NameField::Namespace => "metadata.namespace",
        })
    }
}

/// One `valuesSchema` violation, at a value path such as `image.tag` or `env[2].value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Value path of the offending value; empty for the root.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "(root): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

fn join_violations(violations: &[SchemaViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}

//! Rendering a chart for one (workload, tenant): values → variables → schema → Handlebars →
//! Kubernetes objects.
//!
//! ```text
//! CompiledChart::compile(&ChartSource)          once per chart version
//!   └─ render(&RenderInput) -> RenderOutput      per workload × tenant
//!        1. merge chart values with input.layers          (values.rs)
//!        2. resolve {{hq.var.*}} in the merged values      (variables.rs)
//!        3. validate against valuesSchema, if any
//!        4. run each template (strict mode, no HTML escaping) over the context
//!           {values, release, project, environment, tenant, workload, chart}
//!        5. split into YAML documents, drop empty ones, check each is an object,
//!           default its namespace, set the caller's labels (render_labelled),
//!           canonicalise keys                                     (manifest.rs)
//!        6. sort in install order, reject duplicates (the YAML text and the digest of the
//!           stream are made on first use: judging a release needs only the objects)
//!        7. refuse a Secret-backed variable's value outside Secret data  (secret_values.rs)
//! ```
//!
//! A compiled chart is immutable and `Send + Sync`: one compilation serves any number of
//! renders, from any number of threads.

mod documents;
mod input;
mod secret_values;

use std::sync::OnceLock;

use handlebars::{Context, Handlebars, RenderErrorReason};
use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use self::input::{ChartSource, ReleaseInfo, RenderInput, TenantInfo, WorkloadInfo};
pub use self::secret_values::MIN_SEARCHED_LEN;
use self::secret_values::{SecretValue, used_secret_values};
use crate::error::{RenderError, Result, SchemaViolation};
use crate::manifest::{DocumentOrigin, RenderedManifest, to_manifest};
use crate::values::{ValuePath, merge_layers};
use crate::variables::resolve_variables;

/// From this many templates on, a render spreads them over the shared pool. Below it the
/// hand-off (waking a pool thread) costs more than it saves: with 4 templates of about 37 µs
/// each, a render took 166 µs in parallel against 151 µs on one thread; 20 templates take a
/// third less time in parallel.
const PARALLEL_TEMPLATES: usize = 8;

/// A chart version with its templates compiled and its schema prepared.
pub struct CompiledChart {
    name: String,
    version: String,
    id: String,
    registry: Handlebars<'static>,
    /// Templates that produce objects, in file-name order (partials excluded).
    manifests: Vec<String>,
    values: Value,
    schema: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for CompiledChart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledChart")
            .field("chart", &self.id)
            .field("templates", &self.manifests)
            .finish_non_exhaustive()
    }
}

/// The result of one render.
#[derive(Debug, Clone)]
pub struct RenderOutput {
    /// Objects in install order (see [`crate::manifest`]).
    pub manifests: Vec<RenderedManifest>,
    /// The merged, resolved values the templates saw.
    pub values: Value,
    /// [`RenderOutput::digest`], computed on first use (it needs every object's YAML).
    digest: OnceLock<String>,
}

/// The digest follows from the objects, so it is not compared.
impl PartialEq for RenderOutput {
    fn eq(&self, other: &Self) -> bool {
        self.manifests == other.manifests && self.values == other.values
    }
}

impl RenderOutput {
    /// SHA-256 (lowercase hex) of [`RenderOutput::yaml_stream`], computed once.
    pub fn digest(&self) -> Result<&str> {
        if let Some(digest) = self.digest.get() {
            return Ok(digest);
        }
        let computed = digest(&self.manifests)?;
        Ok(self.digest.get_or_init(|| computed))
    }

    /// Every object as one YAML stream: each document starts with `---\n`.
    pub fn yaml_stream(&self) -> Result<String> {
        yaml_stream(&self.manifests)
    }

    /// `(file name, YAML)` per object. Names are `kind-name.yaml`; when two objects would share
    /// one (same kind and name in different namespaces), theirs become `kind-namespace-name.yaml`.
    pub fn files(&self) -> Result<Vec<(String, String)>> {
        file_names(&self.manifests)
            .into_iter()
            .zip(&self.manifests)
            .map(|(name, m)| Ok((name, m.rendered_yaml()?.to_owned())))
            .collect()
    }

    /// [`RenderOutput::files`], consuming the output: the YAML is moved, not copied, and the
    /// parsed objects are dropped.
    pub fn into_files(self) -> Result<Vec<(String, String)>> {
        file_names(&self.manifests)
            .into_iter()
            .zip(self.manifests)
            .map(|(name, m)| Ok((name, m.into_rendered_yaml()?)))
            .collect()
    }
}

fn file_names(manifests: &[RenderedManifest]) -> Vec<String> {
    let mut names: Vec<String> = manifests.iter().map(RenderedManifest::file_name).collect();
    let clashes: Vec<bool> = names
        .iter()
        .map(|n| names.iter().filter(|m| *m == n).count() > 1)
        .collect();
    for ((name, clash), m) in names.iter_mut().zip(clashes).zip(manifests) {
        if let (true, Some(ns)) = (clash, &m.namespace) {
            *name = format!("{}-{ns}-{}.yaml", m.kind.to_ascii_lowercase(), m.name);
        }
    }
    names
}

/// Every object as one YAML stream, each document introduced by `---\n`.
pub fn yaml_stream(manifests: &[RenderedManifest]) -> Result<String> {
    let mut out = String::new();
    for m in manifests {
        out.push_str("---\n");
        out.push_str(m.rendered_yaml()?);
    }
    Ok(out)
}

/// SHA-256 (lowercase hex) of [`yaml_stream`]: equal digests mean byte-identical output.
pub fn digest(manifests: &[RenderedManifest]) -> Result<String> {
    let mut hasher = Sha256::new();
    for m in manifests {
        hasher.update(b"---\n");
        hasher.update(m.rendered_yaml()?.as_bytes());
    }
    Ok(hex::encode(hasher.finalize()))
}

impl CompiledChart {
    /// Compiles every template and the values schema. Errors name the chart, the template and
    /// the line and column of the fault.
    pub fn compile(source: &ChartSource) -> Result<Self> {
        let id = format!("{}@{}", source.name, source.version);
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        crate::helpers::register(&mut registry);
        for (name, text) in &source.templates {
            registry.register_template_string(name, text).map_err(|e| {
                let (line, column) = e.pos().map_or((None, None), |(l, c)| (Some(l), Some(c)));
                RenderError::TemplateCompile {
                    chart: id.clone(),
                    template: name.clone(),
                    line,
                    column,
                    message: e.reason().to_string(),
                }
            })?;
        }
        let schema = match &source.values_schema {
            None => None,
            Some(schema) => Some(jsonschema::validator_for(schema).map_err(|e| {
                RenderError::InvalidValuesSchema {
                    chart: id.clone(),
                    message: e.to_string(),
                }
            })?),
        };
        Ok(Self {
            name: source.name.clone(),
            version: source.version.clone(),
            manifests: source
                .templates
                .keys()
                .filter(|name| !name.starts_with('_'))
                .cloned()
                .collect(),
            id,
            registry,
            values: source.values.clone(),
            schema,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// `name@version`, as error messages write it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The chart's default values.
    pub fn default_values(&self) -> &Value {
        &self.values
    }

    /// The values templates would see for `input`: merged, variables resolved, checked
    /// against the schema. This is what the environment compare view diffs.
    pub fn values_for(&self, input: &RenderInput) -> Result<Value> {
        self.values_and_secrets(input).map(|(values, _)| values)
    }

    /// [`CompiledChart::values_for`], and the Secret-backed variables those values use.
    fn values_and_secrets(&self, input: &RenderInput) -> Result<(Value, Vec<SecretValue>)> {
        let merged = merge_layers(&self.values, &input.layers)?;
        let secrets = used_secret_values(&merged, &input.variables);
        let resolved = resolve_variables(
            &merged,
            &input.variables,
            &input.environment,
            &input.tenant.name,
        )?;
        self.check_schema(&resolved)?;
        Ok((resolved, secrets))
    }

    fn check_schema(&self, values: &Value) -> Result<()> {
        let Some(schema) = &self.schema else {
            return Ok(());
        };
        let violations: Vec<SchemaViolation> = schema
            .iter_errors(values)
            .map(|e| SchemaViolation {
                path: ValuePath::from_pointer(e.instance_path().as_str(), values).to_string(),
                message: e.to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(RenderError::ValuesSchema {
                chart: self.id.clone(),
                violations,
            })
        }
    }

    /// Renders every template for `input`.
    pub fn render(&self, input: &RenderInput) -> Result<RenderOutput> {
        self.render_labelled(input, &[])
    }

    /// [`CompiledChart::render`], with `labels` set in every object's `metadata.labels` (over
    /// the template's own) before the objects are serialised and digested.
    pub fn render_labelled(
        &self,
        input: &RenderInput,
        labels: &[(&str, &str)],
    ) -> Result<RenderOutput> {
        let (values, secrets) = self.values_and_secrets(input)?;
        let mut context = Context::wraps(json!({
            "values": values,
            "release": input.release,
            "project": {"name": input.project},
            "environment": {"name": input.environment},
            "tenant": input.tenant,
            "workload": input.workload,
            "chart": {"name": self.name, "version": self.version},
        }))
        .map_err(|e| RenderError::Serialize {
            what: "the template context".to_owned(),
            message: e.to_string(),
        })?;

        // Templates are independent: a chart with many of them renders them on the shared
        // pool. Errors are reported in template order whichever thread met them first.
        let render = |template: &String| self.render_template(template, &context, input, labels);
        let per_template: Vec<Result<Vec<RenderedManifest>>> =
            if self.manifests.len() >= PARALLEL_TEMPLATES && rayon::current_num_threads() > 1 {
                self.manifests.par_iter().map(render).collect()
            } else {
                self.manifests.iter().map(render).collect()
            };
        // Every failing template and document is reported, not only the first.
        let mut manifests = Vec::new();
        let mut problems = Vec::new();
        for rendered in per_template {
            match rendered {
                Ok(objects) => manifests.extend(objects),
                Err(error) => problems.push(error),
            }
        }
        RenderError::all(problems)?;

        manifests.sort_by(RenderedManifest::install_order);
        if let Some(pair) = manifests.windows(2).find(|w| {
            w[0].kind == w[1].kind && w[0].namespace == w[1].namespace && w[0].name == w[1].name
        }) {
            return Err(RenderError::DuplicateObject {
                chart: self.id.clone(),
                kind: pair[0].kind.as_str().into(),
                object: pair[0].display_name(),
                first_template: pair[0].source_template.clone(),
                second_template: pair[1].source_template.clone(),
            });
        }
        secret_values::check(&manifests, &secrets, &input.environment, &input.tenant.name)?;
        Ok(RenderOutput {
            manifests,
            values: std::mem::take(&mut context.data_mut()["values"]),
            digest: OnceLock::new(),
        })
    }

    /// One template's objects, in document order; empty documents are dropped.
    fn render_template(
        &self,
        template: &String,
        context: &Context,
        input: &RenderInput,
        labels: &[(&str, &str)],
    ) -> Result<Vec<RenderedManifest>> {
        let output = self
            .registry
            .render_with_context(template, context)
            .map_err(|e| self.render_error(template, e))?;
        let mut manifests = Vec::new();
        let mut invalid = Vec::new();
        for (index, doc) in documents::split(&output).iter().enumerate() {
            let origin = DocumentOrigin {
                chart: &self.id,
                template,
                document: index + 1,
            };
            let parsed = match documents::parse(doc) {
                Ok(parsed) => parsed,
                Err(e) => {
                    invalid.push(RenderError::InvalidYaml {
                        chart: self.id.clone(),
                        template: template.clone(),
                        document: index + 1,
                        line: e.line,
                        column: e.column,
                        message: e.message,
                    });
                    continue;
                }
            };
            if parsed.is_null() {
                continue;
            }
            match to_manifest(parsed, &input.tenant.namespace, labels, &origin) {
                Ok(manifest) => manifests.push(manifest),
                Err(error) => invalid.push(error),
            }
        }
        RenderError::all(invalid)?;
        Ok(manifests)
    }

    fn render_error(&self, template: &str, e: handlebars::RenderError) -> RenderError {
        let message = match e.reason() {
            RenderErrorReason::MissingVariable(Some(path)) => format!(
                "{path} is missing (strict mode: set it in values, or guard it with #if or default)"
            ),
            RenderErrorReason::MissingVariable(None) => {
                "a helper argument is missing (strict mode: set it in values, or guard it with #if or default)".to_owned()
            }
            reason => reason.to_string(),
        };
        // An error inside a partial names the partial: that is where the author must look.
        RenderError::TemplateRender {
            chart: self.id.clone(),
            template: e
                .template_name
                .clone()
                .unwrap_or_else(|| template.to_owned()),
            line: e.line_no,
            column: e.column_no,
            message,
        }
    }
}

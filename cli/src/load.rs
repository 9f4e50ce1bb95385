//! Reads the YAML a user would `kubectl apply`: files or folders (recursively), multi-document.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

/// One YAML document and where it came from, so errors can point at the file.
#[derive(Debug, Clone)]
pub struct SourcedDocument {
    pub file: PathBuf,
    pub index: usize,
    pub value: Value,
}

impl SourcedDocument {
    pub fn describe(&self) -> String {
        format!("{} (document {})", self.file.display(), self.index + 1)
    }
}

/// Expands `-f` arguments into the YAML files they name, in a stable order.
pub fn yaml_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input)
            .with_context(|| format!("cannot read {}: check the -f path", input.display()))?;
        if meta.is_dir() {
            collect_dir(input, &mut files)?;
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        bail!(
            "no YAML files found in {}: pass files or folders holding .yaml/.yml/.json manifests with -f",
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(files)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_dir(&path, files)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(path);
        }
    }
    Ok(())
}

/// Parses every document of every file; empty documents are skipped.
pub fn read_documents(inputs: &[PathBuf]) -> Result<Vec<SourcedDocument>> {
    let mut documents = Vec::new();
    for file in yaml_files(inputs)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        for (index, document) in yaml_serde::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(document).with_context(|| {
                format!(
                    "{} (document {}) is not valid YAML: fix the syntax at the position shown",
                    file.display(),
                    index + 1
                )
            })?;
            if value.is_null() {
                continue;
            }
            documents.push(SourcedDocument {
                file: file.clone(),
                index,
                value,
            });
        }
    }
    Ok(documents)
}

/// Reads `-f` inputs into the engine's catalog. Non-GitOpsHQ objects (Namespaces …) are
/// skipped, except Secrets, whose data may back HQ variables. A namespaced object without a
/// namespace belongs to the only project, as `kubectl apply -n <project>` would place it.
pub fn catalog(inputs: &[PathBuf]) -> Result<gitopshq_engine::catalog::Catalog> {
    use gitopshq_engine::catalog::Catalog;
    let documents = read_documents(inputs)?;
    let mut catalog = Catalog::default();
    let mut pending_namespace = Vec::new();
    for doc in &documents {
        let api_version = doc
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = doc
            .value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if api_version.is_empty() || kind.is_empty() {
            bail!(
                "{} has no apiVersion/kind: every document must be a Kubernetes object",
                doc.describe()
            );
        }
        if api_version == "v1" && kind == "Secret" {
            add_secret(&mut catalog, doc)?;
            continue;
        }
        if api_version != gitopshq_crds::consts::API_VERSION {
            if api_version.starts_with("gitopshq.io/") {
                bail!(
                    "{}: apiVersion {api_version} is not served: use {}",
                    doc.describe(),
                    gitopshq_crds::consts::API_VERSION
                );
            }
            continue;
        }
        let namespaced = !matches!(
            kind,
            "Environment"
                | "Cluster"
                | "Project"
                | "Chart"
                | "ChartVersion"
                | "Policy"
                | "ApprovalPolicy"
                | "NotificationChannel"
        );
        if namespaced && doc.value.pointer("/metadata/namespace").is_none() {
            pending_namespace.push((kind.to_string(), doc.describe()));
        }
        macro_rules! push {
            ($field:ident) => {{
                let object = serde_json::from_value(doc.value.clone()).with_context(|| {
                    format!(
                        "{} is not a valid {kind}: fix the field named above",
                        doc.describe()
                    )
                })?;
                catalog.$field.push(object);
            }};
        }
        match kind {
            "Project" => push!(projects),
            "Environment" => push!(environments),
            "Cluster" => push!(clusters),
            "ChartVersion" => push!(chart_versions),
            "Workload" => push!(workloads),
            "Tenant" => push!(tenants),
            "Variables" => push!(variables),
            "Release" => push!(releases),
            _ => {}
        }
    }
    if !pending_namespace.is_empty() {
        default_namespaces(&mut catalog, &pending_namespace)?;
    }
    Ok(catalog)
}

fn default_namespaces(
    catalog: &mut gitopshq_engine::catalog::Catalog,
    missing: &[(String, String)],
) -> Result<()> {
    let project = match catalog.projects.as_slice() {
        [only] => only.metadata.name.clone().unwrap_or_default(),
        _ => bail!(
            "{} {} has no metadata.namespace and the input does not define exactly one Project: set the namespace to the project's name",
            missing[0].0,
            missing[0].1
        ),
    };
    fn fill<K: kube::Resource>(objects: &mut [K], project: &str) {
        for object in objects {
            let meta = object.meta_mut();
            if meta.namespace.is_none() {
                meta.namespace = Some(project.to_string());
            }
        }
    }
    fill(&mut catalog.workloads, &project);
    fill(&mut catalog.tenants, &project);
    fill(&mut catalog.variables, &project);
    fill(&mut catalog.releases, &project);
    Ok(())
}

fn add_secret(
    catalog: &mut gitopshq_engine::catalog::Catalog,
    doc: &SourcedDocument,
) -> Result<()> {
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(doc.value.clone())
        .with_context(|| format!("{} is not a valid Secret", doc.describe()))?;
    let namespace = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let mut data = std::collections::BTreeMap::new();
    for (key, bytes) in secret.data.unwrap_or_default() {
        let text = String::from_utf8(bytes.0)
            .with_context(|| format!("{}: data.{key} is not UTF-8 text", doc.describe()))?;
        data.insert(key, text);
    }
    for (key, text) in secret.string_data.unwrap_or_default() {
        data.insert(key, text);
    }
    catalog.secrets.insert((namespace, name), data);
    Ok(())
}

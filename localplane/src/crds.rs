use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::Value;

use crate::{Error, Result};

const FIELD_MANAGER: &str = "gitopshq-localplane";

/// Every CustomResourceDefinition in the `*.yaml`/`*.yml` files of `dir`, in file name order.
/// Other kinds in those files are left alone: the directory is for CRDs.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<CustomResourceDefinition>> {
    let entries =
        std::fs::read_dir(dir).map_err(Error::io(format!("cannot list {}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(Error::io(format!("cannot read {}", file.display())))?;
        for doc in yaml_serde::Deserializer::from_str(&text) {
            let crd_err = |message: String| Error::Crd {
                file: file.clone(),
                message,
            };
            let value: Value =
                serde::Deserialize::deserialize(doc).map_err(|e| crd_err(e.to_string()))?;
            if value.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            crds.push(serde_json::from_value(value).map_err(|e| crd_err(e.to_string()))?);
        }
    }
    Ok(crds)
}

/// Installs every CRD in the files of `dir` (see [`read_dir`]) and waits until each is served.
pub(crate) async fn install_dir(client: &Client, dir: &Path, timeout: Duration) -> Result<()> {
    install(client, &read_dir(dir)?, timeout).await
}

/// Applies the CRDs and waits until the API server serves each of them.
pub(crate) async fn install(
    client: &Client,
    crds: &[CustomResourceDefinition],
    timeout: Duration,
) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(crd)).await?;
    }
    let deadline = Instant::now() + timeout;
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        loop {
            if established(&api.get(&name).await?) {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::CrdNotEstablished { name, timeout });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

use base64::Engine as _;
use serde_json::json;

use crate::{Error, Result, users::Account};

/// A kubeconfig with one context per account, named after the user, and `current` selected.
///
/// The CA is embedded rather than referenced by path so the text stays valid wherever it is
/// stored, e.g. in a Secret that registers this server as a workload cluster.
pub(crate) fn render(
    cluster: &str,
    server: &str,
    ca_pem: &str,
    accounts: &[&Account],
    current: &str,
) -> Result<String> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": cluster,
            "cluster": { "server": server, "certificate-authority-data": ca },
        }],
        "users": accounts.iter().map(|a| json!({
            "name": a.name,
            "user": { "token": a.token },
        })).collect::<Vec<_>>(),
        "contexts": accounts.iter().map(|a| json!({
            "name": a.name,
            "context": { "cluster": cluster, "user": a.name },
        })).collect::<Vec<_>>(),
        "current-context": current,
    });
    yaml_serde::to_string(&config).map_err(|e| Error::Encode {
        what: "kubeconfig",
        message: e.to_string(),
    })
}

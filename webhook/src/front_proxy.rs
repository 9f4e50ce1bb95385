//! Requests the API server forwards to an aggregated API (an `APIService` served here). The
//! API server has authenticated the caller and sends who they are in request headers; those
//! headers are believed only on a connection whose client certificate the front-proxy CA
//! signed, with a name the API server allows: its `--requestheader-*` settings, which it
//! publishes in `kube-system/extension-apiserver-authentication`. Anyone else who reaches the
//! Service and sends `X-Remote-User: admin` is refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};
use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};

/// Where the API server publishes its front-proxy settings.
pub const AUTHENTICATION_NAMESPACE: &str = "kube-system";
pub const AUTHENTICATION_CONFIG_MAP: &str = "extension-apiserver-authentication";

/// The API server's front-proxy settings: whom to believe, and which headers carry the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontProxy {
    /// Signs the client certificate the API server presents when it forwards a request.
    pub ca_pem: String,
    /// Common names that certificate may have; empty: any the CA signed.
    pub allowed_names: Vec<String>,
    pub user_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_prefixes: Vec<String>,
}

/// The client certificate a connection presented and the server verified against the
/// front-proxy CA: its subject's common name. Absent when none was presented.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCertificate(pub Option<String>);

impl FrontProxy {
    /// The settings in the ConfigMap's data; `None` when the API server has no front proxy
    /// configured (no `requestheader-client-ca-file`), so nothing it forwards can be trusted.
    pub fn from_config_map(config_map: &ConfigMap) -> Result<Option<Self>> {
        let data = config_map.data.clone().unwrap_or_default();
        let Some(ca_pem) = data
            .get("requestheader-client-ca-file")
            .filter(|ca| !ca.trim().is_empty())
        else {
            return Ok(None);
        };
        let list = |key: &str| -> Result<Vec<String>> {
            match data.get(key).map(|text| text.trim()) {
                None | Some("") => Ok(Vec::new()),
                Some(text) => serde_json::from_str(text).map_err(|error| {
                    Error::FrontProxy(format!(
                        "{key} in {AUTHENTICATION_NAMESPACE}/{AUTHENTICATION_CONFIG_MAP} is not a JSON list of strings: {error}"
                    ))
                }),
            }
        };
        let front_proxy = FrontProxy {
            ca_pem: ca_pem.clone(),
            allowed_names: list("requestheader-allowed-names")?,
            user_headers: list("requestheader-username-headers")?,
            group_headers: list("requestheader-group-headers")?,
            extra_prefixes: list("requestheader-extra-headers-prefix")?,
        };
        if front_proxy.user_headers.is_empty() {
            return Err(Error::FrontProxy(format!(
                "{AUTHENTICATION_NAMESPACE}/{AUTHENTICATION_CONFIG_MAP} names a front-proxy CA but no requestheader-username-headers; start the API server with --requestheader-username-headers=X-Remote-User"
            )));
        }
        Ok(Some(front_proxy))
    }

    /// Reads the API server's settings (the `extension-apiserver-authentication-reader` Role
    /// in kube-system allows it).
    pub async fn load(client: &Client) -> Result<Option<Self>> {
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), AUTHENTICATION_NAMESPACE);
        match config_maps.get_opt(AUTHENTICATION_CONFIG_MAP).await? {
            Some(config_map) => Self::from_config_map(&config_map),
            None => Ok(None),
        }
    }

    /// Who the API server says made a forwarded request, or why it is not believed.
    pub fn caller(
        &self,
        certificate: &ClientCertificate,
        headers: &HeaderMap,
    ) -> std::result::Result<UserInfo, String> {
        let Some(name) = &certificate.0 else {
            return Err("no client certificate signed by the API server's front-proxy CA: this API answers only requests the Kubernetes API server forwards; call it through the API server (kubectl get --raw /apis/logs.gitopshq.io/...)".into());
        };
        if !self.allowed_names.is_empty() && !self.allowed_names.contains(name) {
            return Err(format!(
                "the client certificate's name {name:?} is not among the API server's requestheader-allowed-names"
            ));
        }
        let values = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .map(str::to_string)
                .collect()
        };
        let Some(user) = self
            .user_headers
            .iter()
            .flat_map(|header| values(header))
            .find(|user| !user.is_empty())
        else {
            return Err(format!(
                "the forwarded request names no user ({})",
                self.user_headers.join(", ")
            ));
        };
        let groups = self
            .group_headers
            .iter()
            .flat_map(|header| values(header))
            .collect();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (header, value) in headers {
            let header = header.as_str();
            let Some(key) = self.extra_prefixes.iter().find_map(|prefix| {
                header
                    .get(..prefix.len())
                    .filter(|start| start.eq_ignore_ascii_case(prefix))
                    .map(|_| &header[prefix.len()..])
            }) else {
                continue;
            };
            if let Ok(value) = value.to_str() {
                extra
                    // Extra keys travel percent-encoded in header names
                    // (`X-Remote-Extra-Acme.com%2fproject`).
                    .entry(percent_decode_str(key).decode_utf8_lossy().to_lowercase())
                    .or_default()
                    .push(value.to_string());
            }
        }
        Ok(UserInfo {
            username: Some(user),
            groups: Some(groups),
            extra: Some(extra),
            uid: None,
        })
    }
}

/// `api`'s routes answered only for requests the API server forwards: each gets its caller as a
/// [`UserInfo`] extension; any other request is refused with 401 before a handler runs, and
/// all are refused with 503 while the API server has no front proxy configured.
pub fn guard(api: axum::Router, front_proxy: Option<FrontProxy>) -> axum::Router {
    api.layer(axum::middleware::from_fn_with_state(
        Arc::new(front_proxy),
        authenticate,
    ))
}

async fn authenticate(
    State(front_proxy): State<Arc<Option<FrontProxy>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(front_proxy) = front_proxy.as_ref() else {
        return status_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the Kubernetes API server has no front proxy configured (--requestheader-client-ca-file), so GitOpsHQ cannot tell who is asking; configure the aggregation layer (https://kubernetes.io/docs/tasks/extend-kubernetes/configure-aggregation-layer/) and restart the GitOpsHQ webhook",
        );
    };
    let certificate = request
        .extensions()
        .get::<ClientCertificate>()
        .cloned()
        .unwrap_or_default();
    match front_proxy.caller(&certificate, request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(why) => status_response(StatusCode::UNAUTHORIZED, "Unauthorized", &why),
    }
}

/// A Kubernetes Status error response.
pub fn status_response(code: StatusCode, reason: &str, message: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        gitopshq_engine::logs::status_json(code.as_u16(), reason, message),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn front_proxy() -> FrontProxy {
        let config_map: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": AUTHENTICATION_CONFIG_MAP, "namespace": AUTHENTICATION_NAMESPACE},
            "data": {
                "client-ca-file": "CLIENT CA",
                "requestheader-client-ca-file": "FRONT PROXY CA",
                "requestheader-allowed-names": "[\"front-proxy-client\"]",
                "requestheader-username-headers": "[\"X-Remote-User\"]",
                "requestheader-group-headers": "[\"X-Remote-Group\"]",
                "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]"
            }
        }))
        .unwrap();
        FrontProxy::from_config_map(&config_map).unwrap().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn proxy() -> ClientCertificate {
        ClientCertificate(Some("front-proxy-client".into()))
    }

    #[test]
    fn the_settings_are_read_from_the_api_servers_config_map() {
        let front_proxy = front_proxy();
        assert_eq!(front_proxy.ca_pem, "FRONT PROXY CA");
        assert_eq!(front_proxy.allowed_names, ["front-proxy-client"]);
        assert_eq!(front_proxy.user_headers, ["X-Remote-User"]);
        let without: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": AUTHENTICATION_CONFIG_MAP},
            "data": {"client-ca-file": "CLIENT CA"}
        }))
        .unwrap();
        assert_eq!(FrontProxy::from_config_map(&without).unwrap(), None);
    }

    #[test]
    fn the_caller_comes_from_the_headers_of_a_forwarded_request() {
        let caller = front_proxy()
            .caller(
                &proxy(),
                &headers(&[
                    ("x-remote-user", "bob"),
                    ("x-remote-group", "sre-team"),
                    ("x-remote-group", "system:authenticated"),
                    ("x-remote-extra-acme.com%2Fproject", "checkout"),
                    ("x-remote-extra-scopes", "a"),
                    ("x-remote-extra-scopes", "b"),
                ]),
            )
            .unwrap();
        assert_eq!(caller.username.as_deref(), Some("bob"));
        assert_eq!(caller.groups.unwrap(), ["sre-team", "system:authenticated"]);
        let extra = caller.extra.unwrap();
        assert_eq!(extra["acme.com/project"], ["checkout"]);
        assert_eq!(extra["scopes"], ["a", "b"]);
    }

    #[test]
    fn headers_without_the_front_proxy_certificate_are_not_believed() {
        let forged = headers(&[
            ("x-remote-user", "admin"),
            ("x-remote-group", "system:masters"),
        ]);
        let why = front_proxy()
            .caller(&ClientCertificate(None), &forged)
            .unwrap_err();
        assert!(why.contains("no client certificate"), "{why}");
        let why = front_proxy()
            .caller(&ClientCertificate(Some("someone-else".into())), &forged)
            .unwrap_err();
        assert!(why.contains("\"someone-else\""), "{why}");
        let why = front_proxy().caller(&proxy(), &headers(&[])).unwrap_err();
        assert!(why.contains("names no user"), "{why}");
    }
}

//! Who is asking: the bearer token of the signed-in person (session cookie, or a token an
//! authenticating proxy forwards), the API client that acts as them, and their identity as
//! the API server tells it (SelfSubjectReview). The dashboard never acts with its own
//! credentials for a person.

use gitopshq_crds::consts::GROUP;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use gitopshq_engine::admission::Requester;
use gitopshq_engine::outcome::Attempt;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::config::AuthInfo;
use kube::{Api, Client, Config};
use sha2::{Digest, Sha256};

use super::State;
use super::error::{ApiError, ApiResult};
use crate::kube_client::Session;

/// Name of the session cookie that carries the token.
pub const COOKIE: &str = "gitopshq_session";
/// How long an identity is trusted before the API server is asked again.
const IDENTITY_TTL: Duration = Duration::from_secs(120);
/// Signed-in people remembered at most; the oldest are forgotten first.
const MAX_PEOPLE: usize = 512;

/// A signed-in person: their client and identity.
#[derive(Clone)]
pub struct Person {
    pub client: Client,
    pub requester: Requester,
    pub server: String,
}

impl Person {
    /// A CLI session as this person, working in `namespace`.
    pub fn session(&self, namespace: &str) -> Session {
        Session {
            client: self.client.clone(),
            namespace: namespace.to_string(),
            server: self.server.clone(),
        }
    }

    /// Whether RBAC lets this person `verb` `resource` (GitOpsHQ group unless `group` says
    /// otherwise) in `namespace`, asked as them.
    pub async fn can(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
        name: Option<&str>,
    ) -> ApiResult<bool> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_string()),
                    verb: Some(verb.to_string()),
                    group: Some(group.to_string()),
                    resource: Some(resource.to_string()),
                    name: name.map(str::to_string),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answer = self
            .session(namespace)
            .call(
                Attempt::new("create", "selfsubjectaccessreviews", None),
                api.create(&PostParams::default(), &review),
            )
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    /// Whether a project grant gives this person `verb` (`release`, `rollback` …) in `environment`
    /// of the project in `namespace`, asked as them.
    pub async fn holds(&self, verb: &str, namespace: &str, environment: &str) -> ApiResult<bool> {
        self.can(verb, GROUP, "environments", namespace, Some(environment))
            .await
    }

    /// [`Self::holds`] for each of `environments`, asked at once.
    pub async fn holds_in(
        &self,
        verb: &str,
        namespace: &str,
        environments: impl IntoIterator<Item = &String>,
    ) -> ApiResult<std::collections::BTreeMap<String, bool>> {
        let asked = environments.into_iter().map(|environment| async move {
            let holds = self.holds(verb, namespace, environment).await?;
            Ok::<_, super::error::ApiError>((environment.clone(), holds))
        });
        Ok(futures::future::try_join_all(asked)
            .await?
            .into_iter()
            .collect())
    }
}

struct Remembered {
    person: Person,
    checked: Instant,
}

/// Clients and identities by token digest (the token itself is not kept as a key).
pub struct People {
    base: Config,
    known: Mutex<HashMap<[u8; 32], Remembered>>,
}

impl People {
    /// `base`: where the API server is and how to trust it; its credentials are never used.
    pub fn new(mut base: Config) -> Self {
        base.auth_info = AuthInfo::default();
        Self {
            base,
            known: Mutex::new(HashMap::new()),
        }
    }

    pub fn server(&self) -> String {
        self.base.cluster_url.to_string()
    }

    /// The person behind `token`, asking the API server who that is when not known recently.
    pub async fn person(&self, token: &str) -> ApiResult<Person> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(known) = self.lock().get(&digest)
            && known.checked.elapsed() < IDENTITY_TTL
        {
            return Ok(known.person.clone());
        }
        let mut config = self.base.clone();
        config.auth_info = AuthInfo {
            token: Some(token.to_string().into()),
            ..AuthInfo::default()
        };
        let server = self.server();
        let client = Client::try_from(config).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                format!("cannot build a client for {server}: {e}"),
                Some("check the dashboard's --kubeconfig / --server"),
            )
        })?;
        let session = Session {
            client: client.clone(),
            namespace: String::new(),
            server: server.clone(),
        };
        let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
        let review = session
            .call(
                Attempt::new("create", "selfsubjectreviews", None),
                reviews.create(&PostParams::default(), &SelfSubjectReview::default()),
            )
            .await
            .map_err(|e| {
                let e = ApiError::from(e);
                if e.status == axum::http::StatusCode::UNAUTHORIZED {
                    ApiError::unauthorized("the API server does not accept this token")
                } else {
                    e
                }
            })?;
        let info = review.status.and_then(|s| s.user_info).ok_or_else(|| {
            ApiError::unauthorized("the API server returned no user for this token")
        })?;
        let person = Person {
            client,
            requester: Requester {
                username: info.username.unwrap_or_default(),
                groups: info.groups.unwrap_or_default(),
            },
            server,
        };
        let mut known = self.lock();
        if known.len() >= MAX_PEOPLE {
            let oldest = known.iter().min_by_key(|(_, r)| r.checked).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                known.remove(&oldest);
            }
        }
        known.insert(
            digest,
            Remembered {
                person: person.clone(),
                checked: Instant::now(),
            },
        );
        Ok(person)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Remembered>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The token of a request: a forwarded `Authorization: Bearer`, oauth2-proxy's
/// `X-Forwarded-Access-Token`, or the session cookie.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let forwarded = headers
        .get("x-forwarded-access-token")
        .and_then(|v| v.to_str().ok());
    bearer
        .or(forwarded)
        .map(|t| t.trim().to_string())
        .or_else(|| cookie(headers, COOKIE))
        .filter(|t| !t.is_empty())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

impl FromRequestParts<Arc<State>> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> ApiResult<Self> {
        let token =
            token_of(&parts.headers).ok_or_else(|| ApiError::unauthorized("not signed in"))?;
        state.people.person(&token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_token_comes_from_a_proxy_header_first_then_the_cookie() {
        assert_eq!(token_of(&headers(&[])), None);
        assert_eq!(
            token_of(&headers(&[("cookie", "theme=dark; gitopshq_session=abc")])).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_of(&headers(&[
                ("authorization", "Bearer xyz"),
                ("cookie", "gitopshq_session=abc")
            ]))
            .as_deref(),
            Some("xyz")
        );
        assert_eq!(
            token_of(&headers(&[("x-forwarded-access-token", "oidc")])).as_deref(),
            Some("oidc")
        );
        assert_eq!(token_of(&headers(&[("cookie", "gitopshq_session=")])), None);
    }
}

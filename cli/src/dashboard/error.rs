//! Every failure of the dashboard API as `{"error", "next"}` with the HTTP status of its kind:
//! the API server's own message (RBAC, the webhook's denial) is passed through verbatim.

use super::api::ErrorBody;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gitopshq_engine::error::Chain;
use gitopshq_engine::outcome::Kind;

use crate::kube_client::Failure;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub next: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>, next: Option<&str>) -> Self {
        Self {
            status,
            error: error.into(),
            next: next.map(str::to_string),
        }
    }

    pub fn bad_request(error: impl Into<String>, next: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, Some(next))
    }

    pub fn unauthorized(error: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            error,
            Some(
                "sign in with a bearer token the API server accepts (kubectl create token, or your OIDC id-token)",
            ),
        )
    }
}

fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::NotPermitted | Kind::Gated => StatusCode::FORBIDDEN,
        Kind::NotAuthenticated => StatusCode::UNAUTHORIZED,
        Kind::Invalid => StatusCode::BAD_REQUEST,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict | Kind::Failed => StatusCode::CONFLICT,
        Kind::Runtime => StatusCode::BAD_GATEWAY,
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        match error.chain().find_map(|e| e.downcast_ref::<Failure>()) {
            Some(Failure(classified)) => Self {
                status: status_of(classified.kind),
                error: classified.message.clone(),
                next: classified.next_step.clone(),
            },
            None => Self {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: Chain(error.as_ref()).to_string(),
                next: None,
            },
        }
    }
}

impl From<gitopshq_engine::plan::PlanError> for ApiError {
    fn from(error: gitopshq_engine::plan::PlanError) -> Self {
        Self::bad_request(
            Chain(&error).to_string(),
            "fix the objects it names; gitopshq render shows the same error offline",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.error, "dashboard request failed");
        }
        (
            self.status,
            Json(ErrorBody {
                error: self.error,
                next: self.next,
            }),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

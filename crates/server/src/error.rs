//! Maps domain errors to the API's error body `{"error": {code, message, details}}` and a
//! fitting status. Internal details are logged here, never returned to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use satusky_store::StoreError;
use satusky_types::{ApiError, ErrorCode};

/// An error on its way out of a handler.
#[derive(Debug)]
pub struct ApiErrorResponse {
    pub status: StatusCode,
    pub body: ApiError,
}

impl ApiErrorResponse {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiErrorResponse {
            status,
            body: ApiError::new(code, message),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidInput,
            message,
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; the server log has the details",
        )
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.body = self.body.with_details(details);
        self
    }
}

impl IntoResponse for ApiErrorResponse {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<StoreError> for ApiErrorResponse {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what } => ApiErrorResponse::not_found(format!("{what} not found")),
            StoreError::HostnameTaken {
                hostname,
                owner_org: _,
                owner_app: _,
            } => ApiErrorResponse::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                format!(
                    "hostname {hostname} is already used by another app; hostnames are unique across all orgs — remove it from [[domains]] or pick another"
                ),
            )
            .with_details(serde_json::json!({ "hostname": hostname, "reason": satusky_types::Reason::HostnameTaken })),
            StoreError::LimitReached { what, limit } => ApiErrorResponse::invalid(format!(
                "{what}: the limit of {limit} is reached"
            ))
            .with_details(serde_json::json!({ "limit": limit })),
            StoreError::KeyClash { ref name, is } => {
                let fix = match is {
                    "a secret" => format!("`1ctl secret unset {name}` first to make it an env value"),
                    _ => format!("`1ctl env unset {name}` first (and remove it from [env]) to make it a secret"),
                };
                ApiErrorResponse::invalid(format!("{err}; {fix}"))
                    .with_details(serde_json::json!({ "field": name }))
            }
            StoreError::DeployInFlight { release } => ApiErrorResponse::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                format!(
                    "release v{release} is being deployed: try again once it settles (`1ctl app status --watch`), or stage an env/secret change with --stage"
                ),
            )
            .with_details(serde_json::json!({ "release": release })),
            StoreError::NotRunning { app } => ApiErrorResponse::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                format!("{app} has no running release yet: deploy it first (`1ctl deploy`)"),
            ),
            StoreError::ScaleRefused(refusal) => {
                ApiErrorResponse::invalid(format!("replicas: {refusal}"))
                    .with_details(serde_json::json!({ "field": "replicas" }))
            }
            StoreError::MissingSecrets { names } => {
                let commands: Vec<String> = names
                    .iter()
                    .map(|n| format!("1ctl secret set {n}=…"))
                    .collect();
                ApiErrorResponse::invalid(format!(
                    "[secrets] required lists {} but the app has no such secret: set it first ({})",
                    names.join(", "),
                    commands.join("; ")
                ))
                .with_details(serde_json::json!({ "missing": names }))
            }
            StoreError::NoKeyRing => ApiErrorResponse::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "the control plane has no secret key, so it can neither seal nor open secrets: its operator sets secret_keys in server.toml (or SATUSKY_SECRET_KEYS)",
            ),
            other => {
                tracing::error!(error = %error_chain(&other), "store error");
                ApiErrorResponse::internal()
            }
        }
    }
}

pub use satusky_core::error_chain;

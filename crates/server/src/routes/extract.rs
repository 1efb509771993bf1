//! Extractors whose rejections use the API's error body instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use satusky_types::ErrorCode;
use serde::de::DeserializeOwned;

use crate::auth::{Caller, authenticate, bearer};
use crate::error::ApiErrorResponse;
use crate::state::AppState;

/// `Json<T>` with errors that name what is wrong in the body.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiErrorResponse;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiErrorResponse::invalid(format!(
                "the request body does not match the schema: {}",
                bounded(&e.body_text())
            ))),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiErrorResponse::bad_request(format!(
                "the request body is not valid JSON: {}",
                bounded(&e.body_text())
            ))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiErrorResponse::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidInput,
                "send the body with `Content-Type: application/json`",
            )),
            Err(other) => {
                let status = other.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorCode::PayloadTooLarge
                } else {
                    ErrorCode::InvalidInput
                };
                Err(ApiErrorResponse::new(status, code, other.body_text()))
            }
        }
    }
}

/// Longest parser message passed on: serde quotes the offending value, which a client controls
/// (up to the 1 MiB body limit); the field and the position come first and stay.
const MAX_PARSER_MESSAGE: usize = 300;

/// `message`, cut at [`MAX_PARSER_MESSAGE`] characters with `…`.
fn bounded(message: &str) -> String {
    match message.char_indices().nth(MAX_PARSER_MESSAGE) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_string(),
    }
}

/// `Path<T>` with errors in the API's body.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiErrorResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e @ PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiErrorResponse::bad_request(e.body_text()))
            }
            Err(e) => Err(ApiErrorResponse::internal()
                .with_details(serde_json::json!({"path": e.body_text()}))),
        }
    }
}

/// The caller of a request (bearer token → org and role), as every handler takes it.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiErrorResponse;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A layer that already authenticated the request (the Idempotency-Key middleware)
        // leaves the caller here: one token lookup per request.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = bearer(&parts.headers)?;
        authenticate(&state.store, token).await
    }
}

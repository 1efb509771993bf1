//! `POST /v1/orgs/{org}/builds`: upload a build context (tar.gz). The archive is inspected in
//! full before anything is kept — path traversal, absolute paths, links out of the tree,
//! special files, size and entry caps are refused with a message naming the entry and the
//! rule — then stored by content digest for the runtime to build.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use satusky_local::unpack::{self, Limits, UnpackError};
use satusky_types::{ApiError, ContextUploaded, ErrorCode};

use super::extract::ApiPath;
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::state::AppState;

/// The largest upload the route reads; the inspector enforces the exact limit and names it.
pub const MAX_UPLOAD: usize = 101 * 1024 * 1024;

/// Upload a build context.
#[utoipa::path(post, path = "/v1/orgs/{org}/builds", tag = "apps",
    params(("org" = String, Path, description = "org name")),
    request_body(content = Vec<u8>, content_type = "application/gzip", description = "tar.gz of the build context"),
    responses(
        (status = 201, description = "stored; deploy with `context`", body = ContextUploaded),
        (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 413, description = "over the size limit", body = ApiError),
        (status = 422, description = "unsafe or malformed archive; the message names the entry", body = ApiError)),
    security(("bearer" = [])))]
pub async fn upload_context(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<ContextUploaded>), ApiErrorResponse> {
    caller.check_org(&org)?;
    let dir = state.settings.contexts_dir.clone().ok_or_else(|| {
        ApiErrorResponse::new(
            StatusCode::NOT_IMPLEMENTED,
            ErrorCode::InvalidInput,
            "this control plane has no runtime that builds contexts; deploy with an image",
        )
    })?;
    let summary = tokio::task::spawn_blocking(move || {
        let summary = unpack::inspect(&body, &Limits::default())?;
        let path = dir.join(file_name(&summary.digest));
        if !path.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| write_err(&dir, e))?;
            let tmp = dir.join(format!(".upload-{}", std::process::id()));
            std::fs::write(&tmp, &body).map_err(|e| write_err(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| write_err(&path, e))?;
        }
        Ok::<_, UnpackError>(summary)
    })
    .await
    .map_err(|_| ApiErrorResponse::internal())?
    .map_err(refusal)?;
    tracing::info!(%org, context = %summary.digest, entries = summary.entries, "context uploaded");
    Ok((
        StatusCode::CREATED,
        Json(ContextUploaded {
            context: summary.digest,
            entries: summary.entries,
            unpacked_bytes: summary.unpacked_bytes,
        }),
    ))
}

fn write_err(path: &std::path::Path, e: std::io::Error) -> UnpackError {
    UnpackError::Write {
        dest: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Download an uploaded context: for a build Job's init container (with the build token the
/// runtime minted for exactly this context) or for a user of the org.
#[utoipa::path(get, path = "/v1/orgs/{org}/builds/{context}/context", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("context" = String, Path, description = "sha256:HEX")),
    responses(
        (status = 200, description = "the tar.gz", content_type = "application/gzip"),
        (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn download_context(
    State(state): State<AppState>,
    ApiPath((org, context)): ApiPath<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiErrorResponse> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let allowed = if bearer.starts_with(crate::build_token::PREFIX) {
        state
            .build_tokens
            .as_ref()
            .and_then(|t| t.check(bearer, satusky_core::time::now_ms()))
            .is_some_and(|g| g.org == org && g.context == context)
    } else {
        matches!(state.store.authenticate(bearer).await?, Some(t) if t.org == org)
    };
    if !allowed {
        return Err(ApiErrorResponse::unauthenticated(
            "this token cannot read that context (build tokens are for one org, one context, and expire)",
        ));
    }
    check_context_exists(&state, &context)
        .map_err(|_| ApiErrorResponse::not_found(format!("context {context} not found")))?;
    let path = state
        .settings
        .contexts_dir
        .as_ref()
        .map(|d| d.join(file_name(&context)))
        .ok_or_else(|| ApiErrorResponse::not_found(format!("context {context} not found")))?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "cannot read a stored context");
        ApiErrorResponse::internal()
    })?;
    Ok(axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, "application/gzip")],
        bytes,
    )))
}

/// `sha256:HEX` → `sha256-HEX.tar.gz`.
pub fn file_name(digest: &str) -> String {
    format!("{}.tar.gz", digest.replace(':', "-"))
}

fn refusal(e: UnpackError) -> ApiErrorResponse {
    match &e {
        UnpackError::CompressedTooLarge { .. } | UnpackError::UnpackedTooLarge { .. } => {
            ApiErrorResponse::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("build context refused: {e}"),
            )
        }
        UnpackError::Write { .. } => {
            tracing::error!(error = %e, "cannot store an uploaded context");
            ApiErrorResponse::internal()
        }
        _ => ApiErrorResponse::invalid(format!("build context refused: {e}")),
    }
}

/// A deploy naming a context must name one that was uploaded.
pub fn check_context_exists(state: &AppState, context: &str) -> Result<(), ApiErrorResponse> {
    let valid = context
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(ApiErrorResponse::invalid(format!(
            "context: \"{context}\" is not a context digest (sha256:HEX from POST /v1/orgs/{{org}}/builds)"
        )));
    }
    let known = state
        .settings
        .contexts_dir
        .as_ref()
        .is_some_and(|d| d.join(file_name(context)).exists());
    if known {
        Ok(())
    } else {
        Err(ApiErrorResponse::invalid(format!(
            "context: {context} was not uploaded to this control plane; upload it with POST /v1/orgs/{{org}}/builds first"
        )))
    }
}

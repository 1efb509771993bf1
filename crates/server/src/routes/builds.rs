//! `POST /v1/orgs/{org}/builds`: upload a build context (tar.gz). The archive is inspected in
//! full before anything is kept — path traversal, absolute paths, links out of the tree,
//! special files, size and entry caps are refused with a message naming the entry and the
//! rule — then stored for the uploading org by content digest for the runtime to build
//! (through `satusky_core::contexts::ContextStore`). Another org's digest is 404, as if it did
//! not exist.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use futures_util::StreamExt;
use satusky_core::contexts::{ContextError, ContextStore};
use satusky_types::{ApiError, ContextUploaded, ErrorCode};

use super::extract::ApiPath;
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// Bytes of an upload gathered before they are written to its temporary file.
const WRITE_BATCH: usize = 1024 * 1024;

/// Upload a build context.
#[utoipa::path(post, path = "/v1/orgs/{org}/builds", tag = "apps",
    params(("org" = String, Path, description = "org name")),
    request_body(description = "tar.gz of the build context (sent as application/gzip or application/octet-stream)", content((Vec<u8> = "application/gzip"), (Vec<u8> = "application/octet-stream"))),
    responses(
        (status = 201, description = "stored for this org; deploy with `context`", body = ContextUploaded),
        (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 413, description = "over the size limit", body = ApiError),
        (status = 501, description = "this control plane has no runtime that builds (`--runtime none`)", body = ApiError),
        (status = 422, description = "unsafe or malformed archive; the message names the entry", body = ApiError)),
    security(("bearer" = [])))]
pub async fn upload_context(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    body: Body,
) -> Result<(StatusCode, Json<ContextUploaded>), ApiErrorResponse> {
    caller.authorize(&org, Action::Deploy)?;
    let store = state.settings.contexts.clone().ok_or_else(|| {
        ApiErrorResponse::new(
            StatusCode::NOT_IMPLEMENTED,
            ErrorCode::NotImplemented,
            "this control plane has no runtime that builds contexts; deploy with an image",
        )
    })?;
    // Stream the body into this upload's own temporary file, hashing as it comes: the
    // compressed limit is enforced on the bytes received, not on a length header.
    let mut upload = blocking(&store, {
        let org = org.clone();
        move |s| s.begin(&org)
    })
    .await?;
    // Chunks are gathered into WRITE_BATCH before each blocking write: one thread hand-off
    // per MiB, not one per network chunk (a few KiB).
    let mut stream = body.into_data_stream();
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        let chunk = stream.next().await.transpose().map_err(|e| {
            ApiErrorResponse::bad_request(format!("the upload was interrupted: {e}"))
        })?;
        let done = chunk.is_none();
        if let Some(chunk) = chunk {
            batch.extend_from_slice(&chunk);
        }
        if batch.len() >= WRITE_BATCH || (done && !batch.is_empty()) {
            let bytes = std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BATCH));
            upload = tokio::task::spawn_blocking(move || upload.write(&bytes).map(|()| upload))
                .await
                .map_err(|_| ApiErrorResponse::internal())?
                .map_err(refusal)?;
        }
        if done {
            break;
        }
    }
    let summary = tokio::task::spawn_blocking(move || upload.commit())
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

/// Run a blocking content-store call off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn ContextStore>,
    f: impl FnOnce(&dyn ContextStore) -> Result<T, ContextError> + Send + 'static,
) -> Result<T, ApiErrorResponse> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .map_err(|_| ApiErrorResponse::internal())?
        .map_err(refusal)
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
    let bearer = crate::auth::bearer(&headers)?;
    let not_found = || ApiErrorResponse::not_found(format!("context {context} not found"));
    if bearer.starts_with(crate::build_token::PREFIX) {
        let grant = state
            .build_tokens
            .as_ref()
            .and_then(|t| t.check(bearer, satusky_core::time::now_ms()))
            .ok_or_else(|| {
                ApiErrorResponse::unauthenticated(
                    "the build token is not valid or has expired (build tokens are for one org, one context, and expire with their Job)",
                )
            })?;
        if grant.org != org || grant.context != context {
            return Err(not_found());
        }
    } else {
        let caller = crate::auth::authenticate(&state.store, bearer).await?;
        caller.authorize(&org, Action::Read)?;
    }
    let store = state.settings.contexts.clone().ok_or_else(not_found)?;
    let bytes = blocking(&store, move |s| s.read_verified(&org, &context)).await?;
    Ok(axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, "application/gzip")],
        bytes,
    )))
}

fn refusal(e: ContextError) -> ApiErrorResponse {
    match &e {
        ContextError::TooLarge(_) => ApiErrorResponse::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("build context refused: {e}"),
        ),
        ContextError::InvalidArchive(_) => {
            ApiErrorResponse::invalid(format!("build context refused: {e}"))
        }
        ContextError::InvalidDigest { .. } => ApiErrorResponse::invalid(format!("context: {e}")),
        ContextError::NotFound { digest, .. } => {
            ApiErrorResponse::not_found(format!("context {digest} not found"))
        }
        ContextError::Io(_) => {
            tracing::error!(error = %satusky_core::error_chain(&e), "context store");
            ApiErrorResponse::internal()
        }
    }
}

/// A deploy naming a context must name one its own org uploaded: another org's digest is as
/// unknown as one never uploaded, and nothing is built from it.
pub fn check_context_exists(
    state: &AppState,
    org: &str,
    context: &str,
) -> Result<(), ApiErrorResponse> {
    let unknown = || {
        ApiErrorResponse::invalid(format!(
            "context: {context} was not uploaded by org {org}; upload it with POST /v1/orgs/{org}/builds first"
        ))
    };
    let store = state.settings.contexts.as_ref().ok_or_else(unknown)?;
    match store.exists(org, context) {
        Ok(true) => Ok(()),
        Ok(false) => Err(unknown()),
        Err(e) => Err(refusal(e)),
    }
}

/// Stores `archive` (a tar.gz the server made itself, e.g. a template's bundled context) in
/// `org`'s content store like an upload; returns its digest.
pub(crate) async fn store_archive(
    state: &AppState,
    org: &str,
    archive: Vec<u8>,
) -> Result<String, ApiErrorResponse> {
    let store = state.settings.contexts.clone().ok_or_else(|| {
        ApiErrorResponse::new(
            StatusCode::NOT_IMPLEMENTED,
            ErrorCode::NotImplemented,
            "this control plane has no runtime that builds contexts",
        )
    })?;
    let org = org.to_string();
    let summary = blocking(&store, move |s| {
        let mut upload = s.begin(&org)?;
        upload.write(&archive)?;
        upload.commit()
    })
    .await?;
    Ok(summary.digest)
}

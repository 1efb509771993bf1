//! Identity and health: `whoami`, `/healthz`, `/readyz`, and the JSON 404 fallback.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use satusky_types::{ApiError, Whoami};

use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// The token's org and role.
#[utoipa::path(get, path = "/v1/whoami", tag = "meta",
    responses((status = 200, body = Whoami), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub async fn whoami(caller: Caller) -> Result<Json<Whoami>, ApiErrorResponse> {
    caller.require(Action::Read)?;
    Ok(Json(Whoami {
        org: caller.org,
        role: caller.role,
    }))
}

/// 200 once the server serves.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "serving", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the store answers and, with a runtime, once the engine has restored every active
/// release after the start (before that, the edge may not serve them yet): 503 until then.
#[utoipa::path(get, path = "/readyz", tag = "meta",
    responses(
        (status = 200, description = "ready", body = String, content_type = "text/plain"),
        (status = 500, description = "the store does not answer", body = ApiError),
        (status = 503, description = "starting: the active releases are being restored", body = ApiError)))]
pub async fn readyz(State(state): State<AppState>) -> Result<String, ApiErrorResponse> {
    state.store.org_exists("-").await?;
    if state.engine.as_ref().is_some_and(|e| !e.restored()) {
        return Err(ApiErrorResponse::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            satusky_types::ErrorCode::Unavailable,
            "starting: the active releases are being restored; ready in a moment",
        ));
    }
    // Ready; problems that do not stop serving follow, one per line.
    let mut body = String::from("ready\n");
    for notice in state.notices.all() {
        body.push_str("warning: ");
        body.push_str(&notice);
        body.push('\n');
    }
    Ok(body)
}

/// Prometheus metrics (text format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "metrics", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    use axum::http::header::CONTENT_TYPE;
    use axum::response::IntoResponse;
    let open = match state.store.open_findings_by_plane().await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %crate::error::error_chain(&e), "metrics: cannot count drift findings");
            return ApiErrorResponse::internal().into_response();
        }
    };
    let apps = match state.store.every_app().await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %crate::error::error_chain(&e), "metrics: cannot read the apps");
            return ApiErrorResponse::internal().into_response();
        }
    };
    // The same report `1ctl app status` shows (planes not observed since this process started
    // read `unknown`).
    let reports: Vec<_> = apps
        .iter()
        .map(|a| satusky_core::engine::report(&a.view(), state.engine.is_some(), state.started_ms))
        .collect();
    let mut text = crate::metrics::render();
    text.push_str(&crate::metrics::drift_gauge_text(&open));
    text.push_str(&crate::metrics::app_series_text(&reports));
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// 405 in the API's error body (axum's default has none).
pub async fn method_not_allowed() -> ApiErrorResponse {
    ApiErrorResponse::new(
        StatusCode::METHOD_NOT_ALLOWED,
        satusky_types::ErrorCode::InvalidInput,
        "this path does not accept that method; the API is described at /v1/openapi.json",
    )
}

pub async fn not_found() -> ApiErrorResponse {
    ApiErrorResponse::new(
        StatusCode::NOT_FOUND,
        satusky_types::ErrorCode::NotFound,
        "no such endpoint; the API is described at /v1/openapi.json",
    )
}

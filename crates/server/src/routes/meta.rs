//! Identity and health: `whoami`, `/healthz`, `/readyz`, and the JSON 404 fallback.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use satusky_types::{ApiError, Whoami};

use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::state::AppState;

/// The token's org and role.
#[utoipa::path(get, path = "/v1/whoami", tag = "meta",
    responses((status = 200, body = Whoami), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub async fn whoami(caller: Caller) -> Json<Whoami> {
    Json(Whoami {
        org: caller.org,
        role: caller.role,
    })
}

/// 200 once the server serves.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the store answers and, with a runtime, once the engine has restored every active
/// release after the start (before that, the edge may not serve them yet): 503 until then.
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiErrorResponse> {
    state.store.org_exists("-").await?;
    if state.engine.as_ref().is_some_and(|e| !e.restored()) {
        return Err(ApiErrorResponse::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            satusky_types::ErrorCode::Unavailable,
            "starting: the active releases are being restored; ready in a moment",
        ));
    }
    Ok("ready\n")
}

pub async fn not_found() -> ApiErrorResponse {
    ApiErrorResponse::new(
        StatusCode::NOT_FOUND,
        satusky_types::ErrorCode::NotFound,
        "no such endpoint; the API is described at /v1/openapi.json",
    )
}

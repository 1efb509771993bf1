//! `POST …/apps/{app}/scale` and `POST …/apps/{app}/restart` (SPEC §6): operate the running
//! release without making a release. Both record the request on the app
//! ([`satusky_store::Store::operate`]), start the engine's work on the active release and
//! answer `202` with the generation a client waits for (the readiness report's
//! `observed_generation`). A scale to the count that already runs changes nothing and says so
//! (`changed: false`); a retried request is answered again by the Idempotency-Key layer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use satusky_core::time::now_ms;
use satusky_store::{OperationRecord, OperationRequest};
use satusky_types::{ApiError, OperationAccepted, ScaleRequest};

use super::apps::load_app;
use super::extract::{ApiJson, ApiPath};
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// Scale the active release to `replicas` (no new release; kept across restarts, config
/// releases and rollbacks, until a deploy whose satusky.toml sets `replicas`).
#[utoipa::path(post, path = "/v1/orgs/{org}/apps/{app}/scale", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    request_body = ScaleRequest,
    responses(
        (status = 202, description = "accepted: the active release runs with the new count", body = OperationAccepted),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "nothing runs yet, or another release is being deployed", body = ApiError),
        (status = 422, description = "a count over the limit, or the app scales itself ([hpa])", body = ApiError)),
    security(("bearer" = [])))]
pub async fn scale(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<ScaleRequest>,
) -> Result<(StatusCode, Json<OperationAccepted>), ApiErrorResponse> {
    operate(
        &state,
        &caller,
        org,
        app,
        OperationRequest::Scale(req.replicas),
    )
    .await
}

/// Replace every replica of the active release, a new one ready before an old one stops (no
/// new release).
#[utoipa::path(post, path = "/v1/orgs/{org}/apps/{app}/restart", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    responses(
        (status = 202, description = "accepted: every replica is being replaced", body = OperationAccepted),
        (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "nothing runs yet, or another release is being deployed", body = ApiError)),
    security(("bearer" = [])))]
pub async fn restart(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
) -> Result<(StatusCode, Json<OperationAccepted>), ApiErrorResponse> {
    operate(&state, &caller, org, app, OperationRequest::Restart).await
}

async fn operate(
    state: &AppState,
    caller: &Caller,
    org: String,
    app: String,
    request: OperationRequest,
) -> Result<(StatusCode, Json<OperationAccepted>), ApiErrorResponse> {
    load_app(state, caller, &org, &app, Action::Operate).await?;
    let start_work = state.engine.is_some();
    let rec: OperationRecord = state
        .store
        .operate(&org, &app, request, start_work, now_ms())
        .await?;
    if rec.operation.is_some() {
        state.hub.notify(&org, &app);
        if let Some(engine) = &state.engine {
            engine.kick(&org, &app);
        }
    }
    let operation = match request {
        OperationRequest::Scale(_) => "scale",
        OperationRequest::Restart => "restart",
    };
    tracing::info!(%org, %app, operation, release = rec.release, generation = rec.generation,
        changed = rec.operation.is_some(), "operation accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(OperationAccepted {
            app,
            org,
            operation: operation.to_string(),
            generation: rec.generation,
            release: rec.release,
            replicas_before: rec.replicas.0,
            replicas: rec.replicas.1,
            changed: rec.operation.is_some(),
            event_seq: rec.event_seq,
            https_port: state.engine.as_ref().and_then(|e| e.url_port()),
        }),
    ))
}

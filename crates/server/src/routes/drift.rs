//! `GET /v1/orgs/{org}/apps/{app}/drift`: the app's drift findings (SPEC §7), open first, and
//! with `?check=true` a drift check of the app run now, before answering. Reads and triggers
//! the drift checker; must not record findings itself.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use satusky_core::time::rfc3339_ms;
use satusky_types::{ApiError, DriftReport};
use serde::Deserialize;

use super::apps::load_app;
use super::extract::ApiPath;
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::state::AppState;

/// Query of `GET …/drift`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriftQuery {
    /// Run a drift check of the app now (probing its hostnames, healing what the platform
    /// owns) before answering.
    #[serde(default)]
    pub check: bool,
}

/// Drift findings: open first, then healed (`healed_at`: no longer observed), newest first.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/drift", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"), DriftQuery),
    responses((status = 200, body = DriftReport), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn app_drift(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    query: Result<Query<DriftQuery>, QueryRejection>,
) -> Result<Json<DriftReport>, ApiErrorResponse> {
    let Query(query) = query.map_err(|e| ApiErrorResponse::bad_request(e.body_text()))?;
    load_app(&state, &caller, &org, &app).await?;
    if query.check
        && let Some(engine) = &state.engine
    {
        engine.check_drift(&org, &app).await?;
    }
    let findings = state.store.list_findings(&org, &app).await?;
    let checked_at = state
        .engine
        .as_ref()
        .and_then(|e| e.drift_checked_at(&org, &app))
        .map(rfc3339_ms);
    Ok(Json(DriftReport {
        app,
        org,
        checked_at,
        findings: findings.iter().map(|f| f.to_wire()).collect(),
    }))
}

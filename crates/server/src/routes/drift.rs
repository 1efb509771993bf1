//! `GET /v1/orgs/{org}/apps/{app}/drift`: the app's drift findings (SPEC §7), open first, and
//! with `?check=true` a drift check of the app run now, before answering. Reads and triggers
//! the drift checker; must not record findings itself.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use satusky_core::time::rfc3339_ms;
use satusky_types::{ApiError, DriftReport};
use serde::Deserialize;

use satusky_store::AppRecord;

use super::apps::load_app;
use super::extract::ApiPath;
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
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
    load_app(&state, &caller, &org, &app, Action::Read).await?;
    let mut not_checked = None;
    if query.check {
        not_checked = match &state.engine {
            None => Some(
                "this control plane runs no runtime (--runtime none): there is nothing to check"
                    .to_string(),
            ),
            Some(engine) => {
                // A deploy that settles while the check looks is met again on a second try.
                let mut why = None;
                for _ in 0..2 {
                    if engine.check_drift(&org, &app).await?.is_some() {
                        why = None;
                        break;
                    }
                    let rec = load_app(&state, &caller, &org, &app, Action::Read).await?;
                    why = Some(why_not_checked(&rec));
                    if rec.work.is_some() || rec.active_release.is_none() {
                        break;
                    }
                }
                why
            }
        };
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
        not_checked,
        findings: findings.iter().map(|f| f.to_wire()).collect(),
    }))
}

/// Why the drift checker skipped the app: it checks only the active release of an app no
/// deploy is working on (the deploy owns the app until it settles).
fn why_not_checked(rec: &AppRecord) -> String {
    match (rec.work.is_some(), rec.target_release, rec.active_release) {
        (true, Some(target), _) => format!(
            "a deploy is in progress (release v{target}): drift is checked once it settles; run `1ctl app drift {} --check` again then",
            rec.name
        ),
        (true, None, _) => "a deploy is in progress: drift is checked once it settles".to_string(),
        (false, _, None) => {
            "no release is active yet: drift is checked once a deploy succeeds".to_string()
        }
        (false, _, Some(_)) => format!(
            "the app changed while it was being checked; run `1ctl app drift {} --check` again",
            rec.name
        ),
    }
}

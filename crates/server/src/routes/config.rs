//! An app's env and secrets (SPEC §6): list and change. Env values are shown with who set
//! them; secrets are write-only (names and versions, never a value, in every answer). A
//! change of an app that runs records a `config` release of the active artifact — no rebuild
//! — and the engine rolls it out like any release; values set before the first deploy wait
//! for it. Members may change env; secrets are admin-only.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use satusky_core::secrets::{MAX_SECRET_BYTES, SecretValue};
use satusky_core::time::now_ms;
use satusky_core::validate::app_var_name;
use satusky_store::ConfigOutcome;
use satusky_types::{
    ApiError, ConfigChanged, ConfigPatch, EnvVar, ReleaseStatus, SecretInfo, SecretsMissing,
};

use super::extract::{ApiJson, ApiPath};
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// The most keys one change may name (set and unset together).
pub const MAX_KEYS_PER_CHANGE: usize = 100;

/// The app's env values, by name, each with who set it (`file` or `cli`).
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/env", tag = "config",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    responses((status = 200, body = Vec<EnvVar>), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_env(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
) -> Result<Json<Vec<EnvVar>>, ApiErrorResponse> {
    authorize(&state, &caller, &org, &app, Action::Read).await?;
    Ok(Json(state.store.list_env(&org, &app).await?))
}

/// Set and unset env values. An app that runs gets a new release (source `config`, same
/// artifact, no rebuild), answered 202; otherwise the values wait for the first deploy (200).
#[utoipa::path(patch, path = "/v1/orgs/{org}/apps/{app}/env", tag = "config",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    request_body = ConfigPatch,
    responses(
        (status = 200, description = "nothing to roll out: no change, or the app does not run yet", body = ConfigChanged),
        (status = 202, description = "a config release rolls the change out", body = ConfigChanged),
        (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "a deploy is in flight", body = ApiError),
        (status = 422, description = "a bad name or value, or the key is a secret", body = ApiError)),
    security(("bearer" = [])))]
pub async fn change_env(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<ConfigPatch>,
) -> Result<(StatusCode, Json<ConfigChanged>), ApiErrorResponse> {
    authorize(&state, &caller, &org, &app, Action::ChangeEnv).await?;
    check_patch(&patch)?;
    let outcome = state
        .store
        .change_env(
            &org,
            &app,
            &patch.set,
            &patch.unset,
            patch.stage,
            true,
            now_ms(),
        )
        .await?;
    Ok(answer(&state, org, app, outcome, "env"))
}

/// The app's secrets: names, versions and when each changed — never values (admin only).
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/secrets", tag = "config",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    responses((status = 200, body = Vec<SecretInfo>), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_secrets(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
) -> Result<Json<Vec<SecretInfo>>, ApiErrorResponse> {
    authorize(&state, &caller, &org, &app, Action::ManageSecrets).await?;
    Ok(Json(state.store.list_secrets(&org, &app).await?))
}

/// Query of `GET …/secrets/missing`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MissingQuery {
    /// Secret names, comma-separated (at most 100).
    #[serde(default)]
    pub names: String,
}

/// Which of the named secrets the app lacks — names only, never values. What a deploy with
/// `[secrets] required` asks before it uploads anything, so members may ask it.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/secrets/missing", tag = "config",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"), MissingQuery),
    responses((status = 200, body = SecretsMissing), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub async fn missing_secrets(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    query: Result<Query<MissingQuery>, QueryRejection>,
) -> Result<Json<SecretsMissing>, ApiErrorResponse> {
    let Query(query) = query.map_err(|e| ApiErrorResponse::bad_request(e.body_text()))?;
    authorize(&state, &caller, &org, &app, Action::Deploy).await?;
    let names: Vec<String> = query
        .names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() > MAX_KEYS_PER_CHANGE {
        return Err(ApiErrorResponse::invalid(format!(
            "names: {} names is over the limit of {MAX_KEYS_PER_CHANGE}",
            names.len()
        )));
    }
    let missing = state.store.missing_secrets(&org, &app, &names).await?;
    Ok(Json(SecretsMissing { missing }))
}

/// Set and unset secrets (admin only). Values are sealed at once and never answered; a
/// change of an app that runs is a config release (202).
#[utoipa::path(patch, path = "/v1/orgs/{org}/apps/{app}/secrets", tag = "config",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    request_body = ConfigPatch,
    responses(
        (status = 200, description = "nothing to roll out: no change, or the app does not run yet", body = ConfigChanged),
        (status = 202, description = "a config release rolls the change out", body = ConfigChanged),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "a deploy is in flight", body = ApiError),
        (status = 422, description = "a bad name or value, or the key is an env key", body = ApiError),
        (status = 503, description = "the control plane has no secret key", body = ApiError)),
    security(("bearer" = [])))]
pub async fn change_secrets(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<ConfigPatch>,
) -> Result<(StatusCode, Json<ConfigChanged>), ApiErrorResponse> {
    authorize(&state, &caller, &org, &app, Action::ManageSecrets).await?;
    check_patch(&patch)?;
    let set: BTreeMap<String, SecretValue> = patch
        .set
        .into_iter()
        .map(|(k, v)| (k, SecretValue::new(v)))
        .collect();
    let outcome = state
        .store
        .change_secrets(&org, &app, &set, &patch.unset, patch.stage, true, now_ms())
        .await?;
    Ok(answer(&state, org, app, outcome, "secret"))
}

/// The caller may do `action` in `org`, and `app` is a valid app name (the app itself need
/// not exist yet: values may be set before its first deploy).
async fn authorize(
    _state: &AppState,
    caller: &Caller,
    org: &str,
    app: &str,
    action: Action,
) -> Result<(), ApiErrorResponse> {
    caller.authorize(org, action)?;
    satusky_core::validate_app_name(app).map_err(|e| {
        ApiErrorResponse::not_found(format!(
            "app \"{app}\" not found in org \"{org}\" (no app can be called that: {e})"
        ))
    })?;
    Ok(())
}

/// Every named key valid, every value within bounds, no key both set and unset, at most
/// [`MAX_KEYS_PER_CHANGE`] keys. The error names the key and the rule.
fn check_patch(patch: &ConfigPatch) -> Result<(), ApiErrorResponse> {
    let bad = |field: String, message: String| {
        ApiErrorResponse::invalid(format!("{field}: {message}"))
            .with_details(serde_json::json!({ "field": field }))
    };
    let count = patch.set.len() + patch.unset.len();
    if count == 0 {
        return Err(bad(
            "set".into(),
            "name at least one key to set or unset".into(),
        ));
    }
    if count > MAX_KEYS_PER_CHANGE {
        return Err(bad(
            "set".into(),
            format!("{count} keys is over the limit of {MAX_KEYS_PER_CHANGE} per change"),
        ));
    }
    for (name, value) in &patch.set {
        app_var_name(name, "name").map_err(|m| bad(format!("set.{name}"), m))?;
        if value.len() > MAX_SECRET_BYTES {
            return Err(bad(
                format!("set.{name}"),
                format!(
                    "{} bytes is over the limit of {} KiB for a value",
                    value.len(),
                    MAX_SECRET_BYTES / 1024
                ),
            ));
        }
        if value.contains('\0') {
            return Err(bad(
                format!("set.{name}"),
                "a value cannot contain a NUL byte (environment variables cannot hold one)".into(),
            ));
        }
    }
    for name in &patch.unset {
        app_var_name(name, "name").map_err(|m| bad(format!("unset.{name}"), m))?;
        if patch.set.contains_key(name) {
            return Err(bad(
                format!("unset.{name}"),
                "it is also in set: a change either sets or unsets a key".into(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn answer(
    state: &AppState,
    org: String,
    app: String,
    outcome: ConfigOutcome,
    what: &str,
) -> (StatusCode, Json<ConfigChanged>) {
    let message = match (&outcome.release, outcome.changed.is_empty()) {
        (_, false) if outcome.staged => format!(
            "staged for {app}'s next deploy: the {what} change is not rolled out until then (`1ctl {what} list` shows it)"
        ),
        (_, true) => format!("no {what} changed: every value is already as asked; no new release"),
        (Some(r), false) => format!(
            "release v{r} rolls the {what} change out (the artifact of v{} — not rebuilt)",
            outcome.from.unwrap_or_default()
        ),
        (None, false) if outcome.app_exists => format!(
            "{app} has no running release yet: the {what} change is kept and its next release uses it"
        ),
        (None, false) => {
            format!("{app} is not deployed yet: the {what} change is kept for its first deploy")
        }
    };
    if let (Some(release), Some(engine)) = (outcome.release, &state.engine) {
        state.hub.notify(&org, &app);
        engine.kick(&org, &app);
        tracing::info!(%org, %app, release, keys = ?outcome.changed, "{what} change accepted");
    }
    let status = match outcome.release {
        Some(_) => StatusCode::ACCEPTED,
        None => StatusCode::OK,
    };
    let https_port = state.engine.as_ref().and_then(|e| e.url_port());
    (
        status,
        Json(ConfigChanged {
            app,
            org,
            changed: outcome.changed,
            unchanged: outcome.unchanged,
            release: outcome.release,
            from: outcome.from,
            status: outcome.release.map(|_| ReleaseStatus::Pending),
            pinned: outcome.pinned,
            staged: outcome.staged,
            message,
            https_port,
        }),
    )
}

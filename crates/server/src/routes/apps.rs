//! Apps: upsert (deploy), list, get, destroy, readiness status and release history.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use satusky_core::time::{now_ms, rfc3339_ms};
use satusky_core::{AppHostnames, hostnames, names, validate};
use satusky_store::{AppRecord, DeployInput, ScaleAfterDeploy};
use satusky_types::{
    ApiError, AppDeleted, AppDetail, AppSummary, DeployAccepted, HostnameKind, PutAppRequest,
    ReadinessReport, ReleaseInfo, ReleaseStatus, RollbackAccepted, RollbackRequest,
};

use super::extract::{ApiJson, ApiPath};
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;
use satusky_core::engine::report;

/// Upsert the desired spec: a new generation and a pending release, recorded durably before
/// the answer is sent.
#[utoipa::path(put, path = "/v1/orgs/{org}/apps/{app}", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    request_body = PutAppRequest,
    responses(
        (status = 202, description = "accepted: a new generation and a pending release", body = DeployAccepted),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "a hostname is used by another app", body = ApiError),
        (status = 422, description = "the spec is invalid; `details` lists every field", body = ApiError)),
    security(("bearer" = [])))]
pub async fn put_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<PutAppRequest>,
) -> Result<(StatusCode, Json<DeployAccepted>), ApiErrorResponse> {
    caller.authorize(&org, Action::Deploy)?;
    names::validate_app_name(&app).map_err(|e| ApiErrorResponse::invalid(e.to_string()))?;
    if req.spec.name != app {
        return Err(ApiErrorResponse::invalid(format!(
            "spec.name {} does not match the app in the path \"{app}\"",
            validate::limits::quoted(&req.spec.name)
        )));
    }
    let validated = validate::validate_spec(req.spec).map_err(|errs| {
        let details: Vec<_> = errs
            .0
            .iter()
            .map(|e| serde_json::json!({"field": e.field, "message": e.message}))
            .collect();
        ApiErrorResponse::invalid(format!("the app spec is invalid: {errs}"))
            .with_details(serde_json::json!({ "fields": details }))
    })?;
    let accepted = deploy_validated(
        &state,
        &org,
        validated,
        Deploying {
            source: "deploy",
            context: req.context.as_deref(),
            sets_replicas: !req.keep_scaled_replicas,
            template: None,
        },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// How a validated spec is deployed: where it comes from and what comes with it.
pub(crate) struct Deploying<'a> {
    /// The release source: `deploy`, `template(NAME@VERSION)`.
    pub source: &'a str,
    pub context: Option<&'a str>,
    pub sets_replicas: bool,
    pub template: Option<satusky_store::TemplateDeploy<'a>>,
}

/// The one deploy path (a `PUT` of a spec and a template deploy alike): the runtime's own
/// refusal, domains outside the platform zone, the context, then the deploy recorded in one
/// transaction and the engine kicked.
pub(crate) async fn deploy_validated(
    state: &AppState,
    org: &str,
    validated: satusky_core::ValidatedApp,
    how: Deploying<'_>,
) -> Result<DeployAccepted, ApiErrorResponse> {
    let app = validated.spec().name.clone();
    // The runtime's own refusal (e.g. the local runtime and an app with no command), before
    // anything is recorded: no app exists afterwards.
    if let Some(engine) = &state.engine
        && let Err(e) = engine.admit(&validated)
    {
        let field = match e.failure() {
            Some(satusky_types::Reason::NoCommand) => "command",
            _ => "spec",
        };
        return Err(
            ApiErrorResponse::invalid(format!("{field}: {}", e.message())).with_details(
                serde_json::json!({
                    "fields": [{"field": field, "message": e.message()}],
                    "reason": e.failure(),
                    "runtime": engine.runtime_name(),
                }),
            ),
        );
    }
    let spec = validated.spec();
    let zone = &state.settings.dns_zone;
    for (i, d) in spec.domains.iter().enumerate() {
        if zone.contains(&d.host) {
            return Err(ApiErrorResponse::invalid(format!(
                "domains[{i}].host: {} is inside the platform zone {zone}; the platform assigns those names (this app gets {}) — use a domain you own",
                d.host,
                hostnames::generated_hostname(&app, org, zone.as_str())
            )));
        }
    }
    if let Some(context) = how.context {
        super::builds::check_context_exists(state, org, context)?;
    }
    // Custom domains passed validation and lie outside the zone, and the zone is checked at
    // start: only a zone too long for the generated name gets here.
    let hosts = AppHostnames::of_app(org, zone.as_str(), &validated).map_err(|e| {
        tracing::error!(%org, %app, %zone, error = %e, "the platform zone gives the app an invalid hostname");
        ApiErrorResponse::internal()
    })?;
    // The build's env is the only env a build sees and its cache key: a change means a build.
    let mut notes = Vec::new();
    if let Some(before) = state.store.get_app(org, &app).await?
        && before.spec.build.env != spec.build.env
        && spec.image.is_none()
    {
        notes.push(
            "[build.env] changed, so this release is built again ([build.env] is the only env a build sees: [env] and secrets reach replicas only)"
                .to_string(),
        );
    }
    // The release number is allocated in the transaction, where its work starts.
    let input = DeployInput {
        spec,
        hostnames: &hosts,
        source: how.source,
        context: how.context,
        start_work: true,
        sets_replicas: how.sets_replicas,
        template: how.template,
    };
    let rec = state
        .store
        .record_deploy_with(org, &input, now_ms())
        .await?;
    match rec.scale {
        ScaleAfterDeploy::NotScaled => {}
        ScaleAfterDeploy::Kept(n) => notes.push(format!(
            "keeps {n} replica(s), the count set with `1ctl app scale` (satusky.toml does not set replicas)"
        )),
        ScaleAfterDeploy::Replaced { scaled, now } if scaled != now => notes.push(format!(
            "replicas: {now} from satusky.toml replaces the {scaled} set with `1ctl app scale`"
        )),
        ScaleAfterDeploy::Replaced { .. } => {}
    }
    state.hub.notify(org, &app);
    if let Some(engine) = &state.engine {
        engine.kick(org, &app);
        // New custom domains are looked up at once.
        engine.wake_ownership();
    }
    tracing::info!(%org, %app, generation = rec.generation, release = rec.release, "deploy accepted");
    Ok(DeployAccepted {
        app,
        org: org.to_string(),
        generation: rec.generation,
        release: rec.release,
        status: ReleaseStatus::Pending,
        created: rec.created,
        hostnames: hosts.into_vec(),
        unpinned: rec.unpinned,
        kept: rec.kept,
        kept_env: rec.kept_env,
        notes,
        staged_applied: rec.staged_applied,
        https_port: state.engine.as_ref().and_then(|e| e.url_port()),
    })
}

/// The org's apps, by name.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps", tag = "apps",
    params(("org" = String, Path, description = "org name")),
    responses((status = 200, body = Vec<AppSummary>), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<AppSummary>>, ApiErrorResponse> {
    caller.authorize(&org, Action::Read)?;
    let apps = state.store.list_apps(&org).await?;
    Ok(Json(
        apps.iter()
            .map(|a| AppSummary {
                name: a.name.clone(),
                org: a.org.clone(),
                generation: a.generation,
                active_release: a.active_release,
                phase: a.phase,
                hostnames: hostname_list(a),
            })
            .collect(),
    ))
}

/// One app: its stored spec, generation and releases in force.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    responses((status = 200, body = AppDetail), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn get_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
) -> Result<Json<AppDetail>, ApiErrorResponse> {
    let a = load_app(&state, &caller, &org, &app, Action::Read).await?;
    let hostnames = hostname_list(&a);
    let domains = super::domains::with_tls(&a);
    let template = state
        .store
        .template_use(&org, &app)
        .await?
        .map(|t| format!("{}@{}", t.name, t.version));
    let bindings = state
        .store
        .bindings_of(&org, &app)
        .await?
        .iter()
        .map(super::templates::binding_info)
        .collect();
    let internal_address = internal_address(&state, &a).await;
    Ok(Json(AppDetail {
        name: a.name,
        org: a.org,
        generation: a.generation,
        spec: a.spec,
        active_release: a.active_release,
        target_release: a.target_release,
        hostnames,
        domains,
        scaled_replicas: a.operated.replicas,
        restarted_at: a.operated.restarted_at_ms.map(rfc3339_ms),
        template,
        bindings,
        internal_address,
        created_at: rfc3339_ms(a.created_at_ms),
        updated_at: rfc3339_ms(a.updated_at_ms),
    }))
}

/// Query of `DELETE …/apps/{app}`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DestroyQuery {
    /// Delete the app's volumes and their data too (once its workload stopped). Without it
    /// they are kept and listed in `volumes_kept`. Also for an app already destroyed: its
    /// kept volumes are deleted (404 when it left none).
    #[serde(default)]
    pub purge_volumes: bool,
}

/// Destroy an app: its workload, releases, events and hostnames go with it. Its volumes are
/// kept unless `purge_volumes=true` (see [`AppDeleted`]).
#[utoipa::path(delete, path = "/v1/orgs/{org}/apps/{app}", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"), DestroyQuery),
    responses((status = 200, body = AppDeleted), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, description = "a member token: only admins destroy apps", body = ApiError),
        (status = 404, body = ApiError),
        (status = 503, description = "the runtime cannot tell the app's volumes now; nothing was deleted", body = ApiError)),
    security(("bearer" = [])))]
pub async fn delete_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    query: Result<Query<DestroyQuery>, QueryRejection>,
) -> Result<Json<AppDeleted>, ApiErrorResponse> {
    let Query(query) = query.map_err(|e| ApiErrorResponse::bad_request(e.body_text()))?;
    caller.authorize(&org, Action::DestroyApp)?;
    // Known before anything is deleted, so the answer can say what was kept.
    let volumes = match &state.engine {
        Some(engine) if names::validate_app_name(&app).is_ok() => engine
            .volumes(&org, &app)
            .await
            .map_err(|e| volumes_unavailable(&org, &app, &e))?,
        _ => Vec::new(),
    };
    let Some(deleted) = state.store.delete_app(&org, &app).await? else {
        return match (&state.engine, volumes.is_empty()) {
            // Gone already, its volumes kept by that destroy: deleted now if asked.
            (Some(engine), false) if query.purge_volumes => {
                let purged = engine
                    .purge_volumes(&org, &app)
                    .await
                    .map_err(|e| volumes_unavailable(&org, &app, &e))?;
                tracing::info!(%org, %app, ?purged, "volumes of a destroyed app deleted");
                Ok(Json(AppDeleted {
                    app,
                    org,
                    releases_removed: 0,
                    hostnames_released: Vec::new(),
                    bindings_removed: Vec::new(),
                    volumes_kept: Vec::new(),
                    volumes_purged: purged,
                }))
            }
            (_, false) => Err(ApiErrorResponse::not_found(format!(
                "app \"{app}\" not found in org \"{org}\"; it left volumes ({}): destroy it \
                 again with purge_volumes=true (`1ctl app destroy {app} --yes --purge-volumes`) \
                 to delete them",
                volumes.join(", ")
            ))),
            _ => Err(app_not_found(&org, &app)),
        };
    };
    state.hub.notify(&org, &app);
    if let Some(engine) = &state.engine {
        engine.remove(&org, &app, query.purge_volumes);
    }
    let (volumes_kept, volumes_purged) = if query.purge_volumes {
        (Vec::new(), volumes)
    } else {
        (volumes, Vec::new())
    };
    Ok(Json(AppDeleted {
        app,
        org,
        releases_removed: deleted.releases_removed,
        hostnames_released: deleted.hostnames,
        bindings_removed: deleted
            .bindings
            .iter()
            .map(super::templates::binding_info)
            .collect(),
        volumes_kept,
        volumes_purged,
    }))
}

/// 503: the runtime could not list or delete the app's volumes.
fn volumes_unavailable(
    org: &str,
    app: &str,
    e: &satusky_core::runtime::RuntimeError,
) -> ApiErrorResponse {
    tracing::warn!(%org, %app, error = %satusky_core::error_chain(e), "cannot reach the app's volumes");
    ApiErrorResponse::new(
        StatusCode::SERVICE_UNAVAILABLE,
        satusky_types::ErrorCode::Unavailable,
        format!(
            "the runtime cannot tell {app}'s volumes now ({}); nothing was deleted, try again",
            e.message()
        ),
    )
}

/// The readiness report of SPEC §4.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/status", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    responses((status = 200, body = ReadinessReport), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn app_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
) -> Result<Json<ReadinessReport>, ApiErrorResponse> {
    let a = load_app(&state, &caller, &org, &app, Action::Read).await?;
    let mut report = report(&a.view(), state.engine.is_some(), state.started_ms);
    report.internal_address = internal_address(&state, &a).await;
    Ok(Json(report))
}

/// Where the org's other apps reach `a`, when a runtime is attached and can say.
async fn internal_address(state: &AppState, a: &AppRecord) -> Option<String> {
    match &state.engine {
        Some(engine) => engine
            .internal_address(&a.org, &a.name, &a.spec)
            .await
            .map(|address| address.to_string()),
        None => None,
    }
}

/// Release history, newest first.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/releases", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    responses((status = 200, body = Vec<ReleaseInfo>), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_releases(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
) -> Result<Json<Vec<ReleaseInfo>>, ApiErrorResponse> {
    load_app(&state, &caller, &org, &app, Action::Read).await?;
    let releases = state.store.list_releases(&org, &app).await?;
    Ok(Json(releases.iter().map(|r| r.info()).collect()))
}

/// The app, once the caller may perform `action` on its org.
pub(crate) async fn load_app(
    state: &AppState,
    caller: &Caller,
    org: &str,
    app: &str,
    action: Action,
) -> Result<AppRecord, ApiErrorResponse> {
    caller.authorize(org, action)?;
    state
        .store
        .get_app(org, app)
        .await?
        .ok_or_else(|| app_not_found(org, app))
}

pub(crate) fn app_not_found(org: &str, app: &str) -> ApiErrorResponse {
    ApiErrorResponse::not_found(format!("app \"{app}\" not found in org \"{org}\""))
}

fn hostname_list(a: &AppRecord) -> Vec<String> {
    let mut v: Vec<_> = a.hostnames.iter().collect();
    v.sort_by_key(|h| h.kind != HostnameKind::Generated);
    v.into_iter().map(|h| h.hostname.clone()).collect()
}

/// What a rollback does not revert; said to the user every time.
const NOT_REVERTED: [&str; 4] = [
    "domains (they are the app's, not a release's: the current set is kept; `1ctl domains` changes it)",
    "secrets (the current values are kept; the snapshot's env values are restored; `1ctl secret set` changes a secret)",
    "volume data (a rollback reconciles the old spec, not the contents of volumes)",
    "DNS records of custom domains (they are yours; the drift checker reports if they point elsewhere)",
];

/// Roll back: a NEW release N+1 reconciling the snapshot of vK (default: the previous active
/// release), never rebuilt, the app pinned to it until the next explicit deploy.
#[utoipa::path(post, path = "/v1/orgs/{org}/apps/{app}/rollback", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    request_body = RollbackRequest,
    responses(
        (status = 202, description = "accepted: a new release from the old snapshot", body = RollbackAccepted),
        (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "a hostname of the snapshot is used by another app", body = ApiError),
        (status = 422, description = "nothing to roll back to", body = ApiError)),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> Result<(StatusCode, Json<RollbackAccepted>), ApiErrorResponse> {
    let current = load_app(&state, &caller, &org, &app, Action::Rollback).await?;
    let from = match req.version {
        Some(v) => {
            let rel = state.store.get_release(&org, &app, v).await?.ok_or_else(|| {
                ApiErrorResponse::not_found(format!("release v{v} of \"{app}\" not found; `1ctl app releases` lists them"))
            })?;
            if rel.artifact.is_none() && rel.image.is_none() {
                return Err(ApiErrorResponse::invalid(format!(
                    "release v{v} never got an image or a build artifact (its build did not finish); pick a release that ran"
                )));
            }
            v
        }
        None => state.store.previous_active(&org, &app).await?.ok_or_else(|| {
            ApiErrorResponse::invalid(format!(
                "\"{app}\" has no previous active release to roll back to; pass --version N (see `1ctl app releases`)"
            ))
        })?,
    };
    if current.target_release == Some(from) && current.active_release == Some(from) {
        return Err(ApiErrorResponse::invalid(format!(
            "v{from} is already the active release"
        )));
    }
    let rec = state
        .store
        .record_rollback(&org, &app, from, true, now_ms())
        .await?;
    state.hub.notify(&org, &app);
    if let Some(engine) = &state.engine {
        engine.kick(&org, &app);
    }
    tracing::info!(%org, %app, release = rec.release, from, "rollback accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(RollbackAccepted {
            app,
            org,
            generation: rec.generation,
            release: rec.release,
            from,
            status: ReleaseStatus::Pending,
            image: rec.artifact.or(rec.image),
            not_reverted: NOT_REVERTED.iter().map(|s| s.to_string()).collect(),
            https_port: state.engine.as_ref().and_then(|e| e.url_port()),
        }),
    ))
}

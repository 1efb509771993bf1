//! An app's domains (SPEC §6): list, add (with `--with-www`), remove (admin), check now
//! (ownership looked up, route, DNS, TLS and HTTP read) and the records to create. Adding or
//! removing one re-routes the active release without a new release; nothing unproven is
//! routed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use satusky_core::engine::{AppView, endpoint_reports, initial_doc};
use satusky_core::hostnames::generated_hostname;
use satusky_core::ownership;
use satusky_core::time::now_ms;
use satusky_store::AppRecord;
use satusky_types::{
    AddDomainRequest, ApiError, AppSpec, Domain, DomainCheck, DomainRemoved, DomainSetup,
    DomainSource, DomainSpec, DomainsAdded, Hostname, HostnameKind, Plane, PlaneState, Reason,
};

use super::apps::load_app;
use super::extract::{ApiJson, ApiPath};
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// The app's domains: generated first, then aliases, then redirects; each with its source,
/// ownership proof, whether it is routed, and its last TLS plane.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/domains", tag = "domains",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    responses((status = 200, body = Vec<Domain>), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_domains(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
) -> Result<Json<Vec<Domain>>, ApiErrorResponse> {
    let rec = load_app(&state, &caller, &org, &app, Action::Read).await?;
    Ok(Json(with_tls(&rec)))
}

/// Add a custom domain (and with `with_www` its `www.` companion, redirecting to it). It is
/// routed once its TXT proof is seen; the answer holds the records to create.
#[utoipa::path(post, path = "/v1/orgs/{org}/apps/{app}/domains", tag = "domains",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name")),
    request_body = AddDomainRequest,
    responses(
        (status = 201, description = "added: routed once proven", body = DomainsAdded),
        (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "another app of the org has the hostname", body = ApiError),
        (status = 422, description = "not a hostname, inside the platform zone, or a bad redirect", body = ApiError)),
    security(("bearer" = [])))]
pub async fn add_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<AddDomainRequest>,
) -> Result<(StatusCode, Json<DomainsAdded>), ApiErrorResponse> {
    let rec = load_app(&state, &caller, &org, &app, Action::AddDomain).await?;
    let host = req.hostname.trim_end_matches('.').to_ascii_lowercase();
    let mut wanted = vec![DomainSpec {
        host: host.clone(),
        redirect_to: req.redirect_to.clone(),
    }];
    if req.with_www {
        let www = ownership::www_companion(&host).ok_or_else(|| {
            ApiErrorResponse::invalid(format!(
                "with_www: {host} already starts with www.; add the apex instead"
            ))
            .with_details(serde_json::json!({"field": "with_www"}))
        })?;
        wanted.push(DomainSpec {
            host: www,
            redirect_to: Some(format!("https://{host}")),
        });
    }
    check_new_domains(&state, &org, &app, &rec, &wanted)?;
    let hostnames: Vec<Hostname> = wanted
        .iter()
        .map(|d| Hostname {
            hostname: d.host.clone(),
            kind: if d.redirect_to.is_some() {
                HostnameKind::Redirect
            } else {
                HostnameKind::Alias
            },
            redirect_to: d.redirect_to.clone(),
        })
        .collect();
    let all = state
        .store
        .add_domains(&org, &app, &hostnames, now_ms())
        .await?;
    state.hub.notify(&org, &app);
    if let Some(engine) = &state.engine {
        engine.wake_ownership();
        engine.reroute(&org, &app);
    }
    let added: Vec<Domain> = all
        .into_iter()
        .filter(|d| wanted.iter().any(|w| w.host == d.hostname))
        .collect();
    let setup = added
        .iter()
        .map(|d| setup_of(&state, &org, &app, &d.hostname))
        .collect();
    tracing::info!(%org, %app, %host, with_www = req.with_www, "domain added");
    Ok((
        StatusCode::CREATED,
        Json(DomainsAdded {
            app,
            org,
            added,
            setup,
        }),
    ))
}

/// Remove a domain: it stops being routed at once (admin only).
#[utoipa::path(delete, path = "/v1/orgs/{org}/apps/{app}/domains/{host}", tag = "domains",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"),
        ("host" = String, Path, description = "the hostname")),
    responses(
        (status = 200, description = "removed", body = DomainRemoved),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 422, description = "the generated hostname cannot be removed", body = ApiError)),
    security(("bearer" = [])))]
pub async fn remove_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app, host)): ApiPath<(String, String, String)>,
) -> Result<Json<DomainRemoved>, ApiErrorResponse> {
    let rec = load_app(&state, &caller, &org, &app, Action::RemoveDomain).await?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let d = find(&rec, &host)?;
    if d.source == DomainSource::Generated {
        return Err(ApiErrorResponse::invalid(format!(
            "{host} is the app's generated hostname: it goes only with the app (`1ctl app destroy`)"
        )));
    }
    if !state
        .store
        .remove_domain(&org, &app, &host, now_ms())
        .await?
    {
        return Err(not_on_app(&org, &app, &host));
    }
    state.hub.notify(&org, &app);
    if let Some(engine) = &state.engine {
        engine.reroute_now(&org, &app).await;
    }
    tracing::info!(%org, %app, %host, "domain removed");
    Ok(Json(DomainRemoved {
        app,
        org,
        hostname: host,
    }))
}

/// Check one domain now: its ownership proof is looked up (a proof routes it before this
/// answers), then its route, DNS, TLS and HTTP planes are read.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/domains/{host}/check", tag = "domains",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"),
        ("host" = String, Path, description = "the hostname")),
    responses((status = 200, body = DomainCheck), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn check_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app, host)): ApiPath<(String, String, String)>,
) -> Result<Json<DomainCheck>, ApiErrorResponse> {
    let rec = load_app(&state, &caller, &org, &app, Action::CheckDomain).await?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let d = find(&rec, &host)?;
    let Some(engine) = &state.engine else {
        let none = || {
            Plane::new(
                PlaneState::Unknown,
                Reason::NoRuntime,
                "no runtime is attached",
            )
        };
        return Ok(Json(DomainCheck {
            hostname: host,
            ownership: ownership::metadata_plane(&org, &app, &d),
            route: none(),
            dns: none(),
            tls: none(),
            http: none(),
        }));
    };
    if d.ownership.state != satusky_types::OwnershipState::NotRequired
        && d.ownership.state != satusky_types::OwnershipState::Verified
    {
        state
            .store
            .recheck_ownership(&org, &app, &host, now_ms())
            .await?;
        engine.check_ownership(&org, &app, &host).await?;
    }
    let view = load_app(&state, &caller, &org, &app, Action::CheckDomain)
        .await?
        .view();
    if view.domain(&host).is_some_and(|d| d.routed) {
        // Just proven (here or by the background lookups): its route may still be on its way.
        routed_soon(engine, &view, &host).await;
    }
    Ok(Json(read_now(engine, &view, &host).await))
}

/// The DNS records that prove and point one of the app's domains.
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/domains/{host}/setup", tag = "domains",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"),
        ("host" = String, Path, description = "the hostname")),
    responses((status = 200, body = DomainSetup), (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn setup_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app, host)): ApiPath<(String, String, String)>,
) -> Result<Json<DomainSetup>, ApiErrorResponse> {
    let rec = load_app(&state, &caller, &org, &app, Action::Read).await?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let d = find(&rec, &host)?;
    if d.source == DomainSource::Generated {
        return Err(ApiErrorResponse::invalid(format!(
            "{host} is in the platform zone: the platform publishes its records, there is nothing to set up"
        )));
    }
    Ok(Json(setup_of(&state, &org, &app, &host)))
}

/// The same checks a `[[domains]]` entry gets (one rule owner: `validate_spec`), plus the
/// platform zone's.
fn check_new_domains(
    state: &AppState,
    org: &str,
    app: &str,
    rec: &AppRecord,
    wanted: &[DomainSpec],
) -> Result<(), ApiErrorResponse> {
    if !rec.spec.expose.is_public() {
        return Err(ApiErrorResponse::invalid(format!(
            "hostname: {app} has expose = \"{}\" in satusky.toml, so it has no public hostname to add a domain to: set expose = \"http\" and deploy first",
            rec.spec.expose
        ))
        .with_details(serde_json::json!({"field": "hostname"})));
    }
    let zone = &state.settings.dns_zone;
    for d in wanted {
        if zone.contains(&d.host) {
            return Err(ApiErrorResponse::invalid(format!(
                "hostname: {} is inside the platform zone {zone}; the platform assigns those names (this app has {}) — add a domain you own",
                d.host,
                generated_hostname(app, org, zone.as_str())
            ))
            .with_details(serde_json::json!({"field": "hostname"})));
        }
    }
    // The app's custom domains with the new ones, checked as a spec would be (names,
    // redirect targets, loops through the app's own redirect hosts).
    let mut spec = AppSpec {
        name: app.to_string(),
        ..rec.spec.clone()
    };
    spec.domains = rec
        .domains
        .iter()
        .filter(|d| d.source != DomainSource::Generated)
        .filter(|d| wanted.iter().all(|w| w.host != d.hostname))
        .map(|d| DomainSpec {
            host: d.hostname.clone(),
            redirect_to: d.redirect_to.clone(),
        })
        .collect();
    let first_new = spec.domains.len();
    spec.domains.extend(wanted.iter().cloned());
    if let Err(errors) = satusky_core::validate_spec(spec) {
        let mine: Vec<_> = errors
            .0
            .iter()
            .filter(|e| e.field.starts_with("domains["))
            .collect();
        if let Some(e) = mine.first() {
            let index = e
                .field
                .trim_start_matches("domains[")
                .split(']')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(first_new);
            let field = if e.field.ends_with(".redirect_to") {
                "redirect_to"
            } else {
                "hostname"
            };
            let about = wanted
                .get(index.saturating_sub(first_new))
                .map_or(String::new(), |w| format!(" ({})", w.host));
            return Err(
                ApiErrorResponse::invalid(format!("{field}{about}: {}", e.message))
                    .with_details(serde_json::json!({"field": field})),
            );
        }
    }
    Ok(())
}

/// The app's domain `host`, or 404 naming how to add it.
fn find(rec: &AppRecord, host: &str) -> Result<Domain, ApiErrorResponse> {
    rec.domains
        .iter()
        .find(|d| d.hostname == host)
        .cloned()
        .ok_or_else(|| not_on_app(&rec.org, &rec.name, host))
}

fn not_on_app(org: &str, app: &str, host: &str) -> ApiErrorResponse {
    ApiErrorResponse::not_found(format!(
        "{host} is not a domain of {org}/{app}; `1ctl domains list` shows them, `1ctl domains add {host}` adds it"
    ))
}

fn setup_of(state: &AppState, org: &str, app: &str, host: &str) -> DomainSetup {
    let edge = state
        .engine
        .as_ref()
        .map(|e| e.handle().runtime.edge())
        .unwrap_or_default();
    let generated = generated_hostname(app, org, state.settings.dns_zone.as_str());
    ownership::setup(org, host, &generated, &edge)
}

/// The app's domains with each one's TLS plane from the last report.
pub(super) fn with_tls(rec: &AppRecord) -> Vec<Domain> {
    let endpoints = rec
        .status
        .as_ref()
        .map(|s| s.endpoints.as_slice())
        .unwrap_or_default();
    rec.domains
        .iter()
        .map(|d| Domain {
            tls: endpoints
                .iter()
                .find(|e| e.hostname == d.hostname)
                .map(|e| e.tls.clone()),
            ..d.clone()
        })
        .collect()
}

/// How long `check` waits for a just-proven hostname's route before it reads the planes.
const ROUTE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Wait (up to [`ROUTE_WAIT`]) until the runtime routes `host` for the app.
async fn routed_soon(engine: &crate::engine::Engine, view: &AppView, host: &str) {
    let Some(h) = view.hostnames.iter().find(|h| h.hostname == host) else {
        return;
    };
    let deadline = tokio::time::Instant::now() + ROUTE_WAIT;
    loop {
        let planes = engine
            .handle()
            .runtime
            .routes(view.org.clone(), view.name.clone(), vec![h.clone()])
            .await;
        let ready = planes
            .ok()
            .and_then(|p| p.first().map(|p| p.state.is_satisfied()))
            .unwrap_or(false);
        if ready || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Every plane of `host` read now: the proof as stored (just looked up), the route from the
/// runtime, DNS/TLS/HTTP from the prober, expecting the active release.
async fn read_now(engine: &crate::engine::Engine, view: &AppView, host: &str) -> DomainCheck {
    let handle = engine.handle();
    let serving = view.active_release.or(view.target_release).unwrap_or(0);
    let (routes, probed) = handle.read_endpoints(view, serving).await;
    let prev = initial_doc(view, true, now_ms());
    let reports = endpoint_reports(view, &prev, &routes, probed.as_deref(), now_ms());
    let r = reports.into_iter().find(|e| e.hostname == host);
    let unknown = || Plane::new(PlaneState::Unknown, Reason::NotChecked, "not read");
    match r {
        Some(r) => DomainCheck {
            hostname: host.to_string(),
            ownership: r.metadata,
            route: r.route,
            dns: r.dns,
            tls: r.tls,
            http: r.http,
        },
        None => DomainCheck {
            hostname: host.to_string(),
            ownership: unknown(),
            route: unknown(),
            dns: unknown(),
            tls: unknown(),
            http: unknown(),
        },
    }
}

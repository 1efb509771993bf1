//! The marketplace (SPEC §6, §10 "Templates"): `GET /v1/templates[/{name}]`, a template
//! deploy or upgrade (`POST /v1/orgs/{org}/templates/{name}/deploy`) and bindings
//! (`POST /v1/orgs/{org}/apps/{app}/bindings`).
//!
//! A template deploy resolves the template (`satusky_templates::resolve`: `--set` values, then
//! what the app stored, then defaults, then generated secrets) into the `ValidatedApp` a
//! `satusky.toml` would give, and hands it to the one deploy path
//! ([`super::apps::deploy_validated`]) with release source `template(NAME@VERSION)`, the
//! parameters to remember and the secrets to write in the same transaction. Nothing after
//! that knows a template was involved.
//!
//! A binding resolves the service's template again with its stored values to get the output,
//! fills in the service's internal address, and writes it into the target's secret through
//! the ordinary secret change (a config release of the target).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use satusky_core::secrets::SecretValue;
use satusky_core::time::{now_ms, rfc3339_ms};
use satusky_store::{BindingRecord, StoredTemplate, TemplateDeploy, TemplateUse};
use satusky_templates::{
    Catalog, CatalogTemplate, ContextKind, Kind, LookupError, Request, ResolveError, Resolved,
    RuntimeKind, StoredParameters, StoredValue, SystemRandom,
};
use satusky_types::{
    ApiError, BindRequest, BindingAccepted, BindingInfo, ErrorCode, TemplateDeployRequest,
    TemplateDeployed, TemplateDetail, TemplateOutput, TemplateParameter, TemplateRuntime,
    TemplateSummary,
};
use serde::Deserialize;

use super::apps::{Deploying, app_not_found, deploy_validated};
use super::extract::{ApiJson, ApiPath};
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// The output a binding writes when none is named.
const DEFAULT_OUTPUT: &str = "url";
/// Apps one template deploy may bind to.
const MAX_BIND: usize = 16;

/// The built-in catalog, read once (a template that does not parse is a build defect, caught
/// by the catalog's tests; here it reads as an empty catalog and is logged).
fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::builtin().unwrap_or_else(|e| {
            tracing::error!(error = %satusky_core::error_chain(&e), "the built-in template catalog does not read");
            Catalog::from_entries(&[]).unwrap_or_else(|_| unreachable!("an empty catalog reads"))
        })
    })
}

/// The runtime templates resolve for: the engine's, else (no runtime) the local one's.
fn runtime_of(state: &AppState) -> RuntimeKind {
    state
        .engine
        .as_ref()
        .and_then(|e| RuntimeKind::parse(e.runtime_name()))
        .unwrap_or(RuntimeKind::Local)
}

/// The catalog, newest version of each template.
#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    responses((status = 200, body = Vec<TemplateSummary>), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TemplateSummary>>, ApiErrorResponse> {
    caller.require(Action::Read)?;
    let here = runtime_of(&state);
    let cat = catalog();
    Ok(Json(
        cat.latest()
            .into_iter()
            .map(|t| {
                let tpl = &t.template;
                TemplateSummary {
                    name: tpl.name().to_string(),
                    version: tpl.version(),
                    versions: cat.versions(tpl.name()),
                    description: tpl.description.clone(),
                    expose: tpl.expose.as_str().to_string(),
                    runtimes: tpl
                        .runtimes
                        .iter()
                        .map(|r| r.runtime.as_str().to_string())
                        .collect(),
                    runs_here: runs_here(tpl, here),
                }
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// A version of the template (default: the newest).
    pub version: Option<u32>,
}

/// One template version: its parameters, outputs and runtimes.
#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates",
    params(("name" = String, Path, description = "template name"), VersionQuery),
    responses((status = 200, body = TemplateDetail), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, description = "no such template or version", body = ApiError)),
    security(("bearer" = [])))]
pub async fn get_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    query: Result<Query<VersionQuery>, QueryRejection>,
) -> Result<Json<TemplateDetail>, ApiErrorResponse> {
    caller.require(Action::Read)?;
    let Query(q) = query.map_err(|e| ApiErrorResponse::bad_request(e.body_text()))?;
    let t = lookup(&name, q.version)?;
    Ok(Json(detail(t, runtime_of(&state))))
}

/// Whether `tpl` runs on this control plane's runtime.
fn runs_here(tpl: &satusky_templates::Template, here: RuntimeKind) -> bool {
    tpl.runtime(here).is_some()
}

fn detail(t: &CatalogTemplate, here: RuntimeKind) -> TemplateDetail {
    let tpl = &t.template;
    TemplateDetail {
        name: tpl.name().to_string(),
        version: tpl.version(),
        versions: catalog().versions(tpl.name()),
        description: tpl.description.clone(),
        expose: tpl.expose.as_str().to_string(),
        context: tpl.context.as_str().to_string(),
        runtimes: tpl
            .runtimes
            .iter()
            .map(|r| TemplateRuntime {
                runtime: r.runtime.as_str().to_string(),
                notes: r.notes.clone(),
                binaries: r.binaries.clone(),
            })
            .collect(),
        runs_here: runs_here(tpl, here),
        bind_as: tpl.bind_as.clone(),
        parameters: tpl
            .parameters
            .iter()
            .map(|p| TemplateParameter {
                name: p.name.clone(),
                kind: p.kind.name().to_string(),
                description: p.description.clone(),
                default: match (&p.kind, &p.default) {
                    (Kind::Secret { .. }, _) | (_, None) => None,
                    (_, Some(v)) => Some(v.text()),
                },
                required: p.required,
                rule: rule(&p.kind),
                secret: match &p.kind {
                    Kind::Secret { secret, .. } => Some(secret.clone()),
                    _ => None,
                },
            })
            .collect(),
        outputs: tpl
            .outputs
            .iter()
            .map(|o| TemplateOutput {
                name: o.name.clone(),
                text: o.text().to_string(),
            })
            .collect(),
    }
}

/// A kind's rule in words.
fn rule(kind: &Kind) -> Option<String> {
    let range = |min: Option<String>, max: Option<String>| match (min, max) {
        (Some(a), Some(b)) => Some(format!("{a}–{b}")),
        (Some(a), None) => Some(format!("at least {a}")),
        (None, Some(b)) => Some(format!("at most {b}")),
        (None, None) => None,
    };
    match kind {
        Kind::String {
            pattern,
            max_length,
        } => Some(match pattern {
            Some(p) => format!("matches {p}"),
            None => format!("at most {max_length} characters"),
        }),
        Kind::Int { min, max } => range(min.map(|v| v.to_string()), max.map(|v| v.to_string())),
        Kind::Bool => Some("true or false".into()),
        Kind::Enum { values } => Some(format!("one of {}", values.join(", "))),
        Kind::Quantity { min, max, .. } => range(
            min.as_ref().map(|v| v.to_string()),
            max.as_ref().map(|v| v.to_string()),
        ),
        Kind::Secret {
            pattern, length, ..
        } => Some(match pattern {
            Some(p) => format!("matches {p}; generated ({length} characters) when not given"),
            None => format!("generated ({length} characters) when not given"),
        }),
    }
}

fn lookup(name: &str, version: Option<u32>) -> Result<&'static CatalogTemplate, ApiErrorResponse> {
    catalog().get(name, version).map_err(|e| match e {
        LookupError::Name { .. } | LookupError::Version { .. } => {
            ApiErrorResponse::not_found(e.to_string())
        }
        LookupError::Reference { .. } => ApiErrorResponse::invalid(e.to_string()),
    })
}

fn conflict(message: String) -> ApiErrorResponse {
    ApiErrorResponse::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
}

/// Deploy (or upgrade) an app from a catalog template, through the ordinary lifecycle.
#[utoipa::path(post, path = "/v1/orgs/{org}/templates/{name}/deploy", tag = "templates",
    params(("org" = String, Path, description = "org name"), ("name" = String, Path, description = "template name")),
    request_body = TemplateDeployRequest,
    responses(
        (status = 202, description = "accepted: a new generation and a pending release (source template(NAME@VERSION))", body = TemplateDeployed),
        (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, description = "no such template, version, or (an upgrade) app", body = ApiError),
        (status = 409, description = "the app runs another template or its own satusky.toml, or a hostname is taken", body = ApiError),
        (status = 422, description = "a parameter value its rules refuse; `details.fields` names each", body = ApiError)),
    security(("bearer" = [])))]
pub async fn deploy_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, name)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<TemplateDeployRequest>,
) -> Result<(StatusCode, Json<TemplateDeployed>), ApiErrorResponse> {
    caller.authorize(&org, Action::Deploy)?;
    let app = req.app.as_str();
    satusky_core::validate_app_name(app)
        .map_err(|e| field_error("app", format!("{}: {e}", quoted(app))))?;
    if req.bind.len() > MAX_BIND {
        return Err(field_error(
            "bind",
            format!(
                "{} apps is over the limit of {MAX_BIND} per deploy",
                req.bind.len()
            ),
        ));
    }
    for target in &req.bind {
        if target == app {
            return Err(field_error(
                "bind",
                format!("{app} cannot be bound to itself"),
            ));
        }
        if state.store.get_app(&org, target).await?.is_none() {
            return Err(field_error(
                "bind",
                format!("no app {target} in org {org} to bind {app} to: deploy it first"),
            ));
        }
    }
    let existing = state.store.get_app(&org, app).await?;
    let stored = match &existing {
        Some(_) => state.store.template_of(&org, app).await?,
        None => None,
    };
    match (&existing, &stored) {
        (None, _) if req.upgrade => return Err(app_not_found(&org, app)),
        (Some(_), None) => {
            return Err(conflict(format!(
                "{app} runs its own satusky.toml, not a template: deploy the template under another name, or destroy {app} first"
            )));
        }
        (Some(_), Some(s)) if s.used.name != name => {
            return Err(conflict(format!(
                "{app} runs the template {}, not {name}: `1ctl marketplace upgrade {app}` upgrades it; deploy {name} under another name",
                s.used.name
            )));
        }
        _ => {}
    }
    let version = match (req.version, &stored) {
        (Some(v), _) => Some(v),
        (None, Some(s)) if !req.upgrade => Some(s.used.version),
        _ => None,
    };
    let t = lookup(&name, version)?;
    let previous_version = stored.as_ref().map(|s| s.used.version);

    check_programs(&state, t)?;
    let given: Vec<(String, String)> = req.set.clone().into_iter().collect();
    let stored_values = stored.as_ref().map(stored_parameters).unwrap_or_default();
    let resolved = resolve(t, app, runtime_of(&state), &given, &stored_values)?;
    let context = match resolved.context {
        ContextKind::None => {
            if req.context.is_some() {
                return Err(field_error(
                    "context",
                    format!("{} builds from no files of yours: leave context out", resolved.template),
                ));
            }
            // No image (the machine's programs, on the local runtime): the build still needs
            // a context to make the artifact the replicas start in — an empty one.
            match resolved.spec.spec().image {
                Some(_) => None,
                // Without a content store nothing builds here (`serve --runtime none`).
                None if state.settings.contexts.is_none() => None,
                None => {
                    let archive = pack(&[]).map_err(|e| {
                        tracing::error!(error = %e, "packing an empty context");
                        ApiErrorResponse::internal()
                    })?;
                    Some(super::builds::store_archive(&state, &org, archive).await?)
                }
            }
        }
        ContextKind::Bundled if state.settings.contexts.is_none() => None,
        ContextKind::Bundled => {
            let archive = pack(t.context).map_err(|e| {
                tracing::error!(template = %resolved.template, error = %e, "packing a bundled context");
                ApiErrorResponse::internal()
            })?;
            Some(super::builds::store_archive(&state, &org, archive).await?)
        }
        ContextKind::User => Some(req.context.clone().ok_or_else(|| {
            field_error(
                "context",
                format!(
                    "{} serves the files of a folder you upload: upload it (POST /v1/orgs/{org}/builds) and give its digest as context",
                    resolved.template
                ),
            )
        })?),
    };

    // What `bind` asks for is checked before anything is recorded.
    if !req.bind.is_empty() && !resolved.outputs.contains_key(DEFAULT_OUTPUT) {
        return Err(field_error(
            "bind",
            format!(
                "{} has no {DEFAULT_OUTPUT} output to bind",
                resolved.template
            ),
        ));
    }
    let (used, secrets) = remembered(t, &resolved);
    let source = resolved.source();
    let accepted = deploy_validated(
        &state,
        &org,
        resolved.spec.clone(),
        Deploying {
            source: &source,
            context: context.as_deref(),
            sets_replicas: true,
            template: Some(TemplateDeploy {
                used: &used,
                secrets: &secrets,
            }),
        },
    )
    .await?;
    tracing::info!(%org, app, template = %resolved.template, release = accepted.release, "template deploy accepted");

    // The deploy is recorded: a binding that fails now (its target being deployed, say) is
    // said in the answer with the command that makes it, never undoes the deploy.
    let mut accepted = accepted;
    let mut bindings = Vec::new();
    for target in &req.bind {
        match bind_one(&state, &org, app, &resolved, t, target, None, None).await {
            Ok(b) => bindings.push(b),
            Err(e) => accepted.notes.push(format!(
                "{app} is not bound to {target}: {}; bind it with `1ctl bind {app} {target}`",
                e.body.error.message
            )),
        }
    }
    let parameters = resolved
        .parameters
        .iter()
        .map(|(k, v)| {
            let shown = match (v, t.template.parameter(k).map(|p| &p.kind)) {
                (StoredValue::Secret(_), Some(Kind::Secret { secret, .. })) => {
                    format!("<secret {secret}>")
                }
                (StoredValue::Secret(_), _) => "<secret>".to_string(),
                (StoredValue::Plain(p), _) => p.clone(),
            };
            (k.clone(), shown)
        })
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(TemplateDeployed {
            deploy: accepted,
            template: format!("{}@{}", t.template.name(), t.template.version()),
            previous_version,
            generated: resolved.generated.clone(),
            dropped: resolved.dropped.clone(),
            parameters,
            bindings,
        }),
    ))
}

/// A template whose programs the runtime's machine lacks is refused before anything is
/// recorded, naming them and what provides them (instead of a crash loop after the deploy).
fn check_programs(state: &AppState, t: &CatalogTemplate) -> Result<(), ApiErrorResponse> {
    let (Some(engine), Some(support)) = (&state.engine, t.template.runtime(runtime_of(state)))
    else {
        return Ok(());
    };
    if support.binaries.is_empty() {
        return Ok(());
    }
    let missing = engine.missing_programs(&support.binaries, &support.paths);
    if missing.is_empty() {
        return Ok(());
    }
    let provided = support
        .packages
        .as_deref()
        .map_or(String::new(), |p| format!(": install {p}"));
    let message = format!(
        "{} runs the machine's {} on the {} runtime, and this machine has no {} that its apps can run{provided}",
        t.template.reference,
        support.binaries.join(", "),
        support.runtime,
        missing.join(", ")
    );
    Err(
        ApiErrorResponse::invalid(message.clone()).with_details(serde_json::json!({
            "reason": "BinaryNotFound",
            "missing": missing,
            "packages": support.packages,
            "fields": [{"field": "template", "message": message}],
        })),
    )
}

/// Bind a service's output into another app's secret (a config release of that app).
#[utoipa::path(post, path = "/v1/orgs/{org}/apps/{app}/bindings", tag = "templates",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "the service app (deployed from a template)")),
    request_body = BindRequest,
    responses(
        (status = 200, description = "bound; the secret already held this value", body = BindingAccepted),
        (status = 202, description = "bound; a config release of the target rolls the value out", body = BindingAccepted),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "the target is being deployed, or the service has no address to bind", body = ApiError),
        (status = 422, description = "no such output, a bad secret name, or the service is not from a template", body = ApiError)),
    security(("bearer" = [])))]
pub async fn bind(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<BindRequest>,
) -> Result<(StatusCode, Json<BindingAccepted>), ApiErrorResponse> {
    caller.authorize(&org, Action::Bind)?;
    if state.store.get_app(&org, &app).await?.is_none() {
        return Err(app_not_found(&org, &app));
    }
    if req.target == app {
        return Err(field_error(
            "target",
            format!("{app} cannot be bound to itself"),
        ));
    }
    if state.store.get_app(&org, &req.target).await?.is_none() {
        return Err(app_not_found(&org, &req.target));
    }
    let stored = state.store.template_of(&org, &app).await?.ok_or_else(|| {
        ApiErrorResponse::invalid(format!(
            "{app} was not deployed from a template, so it has no outputs to bind: set the value with `1ctl secret set NAME=… --app {}`",
            req.target
        ))
    })?;
    let t = lookup(&stored.used.name, Some(stored.used.version))?;
    let values = stored_parameters(&stored);
    let resolved = resolve(t, &app, runtime_of(&state), &[], &values)?;
    if !resolved.generated.is_empty() {
        return Err(conflict(format!(
            "{app}'s secret parameter(s) {} have no value any more (was a secret unset?): `1ctl marketplace deploy {} {app} --set NAME=…` sets them again",
            resolved.generated.join(", "),
            stored.used.name
        )));
    }
    let accepted = bind_one(
        &state,
        &org,
        &app,
        &resolved,
        t,
        &req.target,
        req.output.as_deref(),
        req.secret.as_deref(),
    )
    .await?;
    let status = if accepted.change.release.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(accepted)))
}

/// Writes `service`'s `output` (default: `url`) into `target`'s secret `secret` (default: the
/// template's `bind_as` for `url`, else `SERVICE_OUTPUT`).
#[allow(clippy::too_many_arguments)]
async fn bind_one(
    state: &AppState,
    org: &str,
    service: &str,
    resolved: &Resolved,
    t: &CatalogTemplate,
    target: &str,
    output: Option<&str>,
    secret: Option<&str>,
) -> Result<BindingAccepted, ApiErrorResponse> {
    let output = output.unwrap_or(DEFAULT_OUTPUT);
    let Some(out) = resolved.outputs.get(output) else {
        let have: Vec<&str> = resolved.outputs.keys().map(String::as_str).collect();
        return Err(field_error(
            "output",
            if have.is_empty() {
                format!("{} has no outputs to bind", resolved.template)
            } else {
                format!(
                    "{} has no output {}: it has {}",
                    resolved.template,
                    quoted(output),
                    have.join(", ")
                )
            },
        ));
    };
    let secret = match secret {
        Some(s) => s.to_string(),
        None => match (&t.template.bind_as, output == DEFAULT_OUTPUT) {
            (Some(name), true) => name.clone(),
            _ => format!("{service}_{output}")
                .to_ascii_uppercase()
                .replace('-', "_"),
        },
    };
    satusky_core::validate::app_var_name(&secret, "secret")
        .map_err(|m| field_error("secret", m))?;
    let value = if out.needs_address() {
        let (host, port) = internal_address(state, org, service).await?.ok_or_else(|| {
            conflict(format!(
                "{service} has no internal address on this control plane (no runtime places it), so its {output} cannot be written yet"
            ))
        })?;
        out.fill(&host, port)
    } else {
        out.fill("", 0)
    };
    let record = BindingRecord {
        service: service.to_string(),
        output: output.to_string(),
        target: target.to_string(),
        secret,
        created_at_ms: now_ms(),
    };
    let outcome = state
        .store
        .bind(org, &record, &value, true)
        .await
        .map_err(ApiErrorResponse::from)?;
    let (_, Json(change)) = super::config::answer(
        state,
        org.to_string(),
        target.to_string(),
        outcome,
        "secret",
    );
    tracing::info!(%org, service, target, secret = %record.secret, output, "bound");
    Ok(BindingAccepted {
        binding: binding_info(&record),
        change,
    })
}

/// The internal address (`host`, `port`) other apps of the org reach `app` at.
async fn internal_address(
    state: &AppState,
    org: &str,
    app: &str,
) -> Result<Option<(String, u16)>, ApiErrorResponse> {
    let Some(engine) = &state.engine else {
        return Ok(None);
    };
    let Some(record) = state.store.get_app(org, app).await? else {
        return Err(app_not_found(org, app));
    };
    Ok(engine
        .internal_address(org, app, &record.spec)
        .await
        .map(|a| (a.host, a.port)))
}

/// One binding as the API shows it.
pub(crate) fn binding_info(b: &BindingRecord) -> BindingInfo {
    BindingInfo {
        service: b.service.clone(),
        output: b.output.clone(),
        target: b.target.clone(),
        secret: b.secret.clone(),
        created_at: rfc3339_ms(b.created_at_ms),
    }
}

/// What the app stored, as the resolver takes it.
fn stored_parameters(s: &StoredTemplate) -> StoredParameters {
    let mut values: StoredParameters = s
        .used
        .plain
        .iter()
        .map(|(k, v)| (k.clone(), StoredValue::Plain(v.clone())))
        .collect();
    for (k, v) in &s.secret_values {
        values.insert(k.clone(), StoredValue::Secret(v.clone()));
    }
    values
}

/// What the store remembers of a resolution, and the secrets to write (by secret name).
fn remembered(
    t: &CatalogTemplate,
    resolved: &Resolved,
) -> (TemplateUse, BTreeMap<String, SecretValue>) {
    let mut used = TemplateUse {
        name: t.template.name().to_string(),
        version: t.template.version(),
        plain: BTreeMap::new(),
        secrets: BTreeMap::new(),
    };
    for (k, v) in &resolved.parameters {
        match (v, t.template.parameter(k).map(|p| &p.kind)) {
            (StoredValue::Secret(_), Some(Kind::Secret { secret, .. })) => {
                used.secrets.insert(k.clone(), secret.clone());
            }
            (StoredValue::Plain(p), _) => {
                used.plain.insert(k.clone(), p.clone());
            }
            (StoredValue::Secret(_), _) => {}
        }
    }
    (used, resolved.secrets.clone())
}

fn resolve(
    t: &CatalogTemplate,
    app: &str,
    runtime: RuntimeKind,
    given: &[(String, String)],
    stored: &StoredParameters,
) -> Result<Resolved, ApiErrorResponse> {
    let request = Request {
        app,
        runtime,
        given,
        stored,
    };
    satusky_templates::resolve(&t.template, &request, &SystemRandom::new()).map_err(resolve_error)
}

fn resolve_error(e: ResolveError) -> ApiErrorResponse {
    if let Some(diagnostics) = e.diagnostics() {
        let fields: Vec<_> = diagnostics
            .iter()
            .map(|d| serde_json::json!({"field": d.field, "message": d.message}))
            .collect();
        let text: Vec<String> = diagnostics
            .iter()
            .map(|d| {
                if d.field.is_empty() {
                    d.message.clone()
                } else {
                    format!("{}: {}", d.field, d.message)
                }
            })
            .collect();
        if let ResolveError::Config { .. } = e {
            // A value the parameters' rules let through broke the app part, or the template
            // is wrong: the caller sees it, the operator too.
            tracing::warn!(error = %satusky_core::error_chain(&e), "a template's app part did not read");
        }
        return ApiErrorResponse::invalid(format!("{}: {}", e, text.join("; ")))
            .with_details(serde_json::json!({ "fields": fields }));
    }
    match &e {
        ResolveError::Random { .. } => {
            tracing::error!(error = %satusky_core::error_chain(&e), "generating a template secret");
            ApiErrorResponse::internal()
        }
        _ => ApiErrorResponse::invalid(satusky_core::error_chain(&e)),
    }
}

fn field_error(field: &str, message: String) -> ApiErrorResponse {
    ApiErrorResponse::invalid(format!("{field}: {message}"))
        .with_details(serde_json::json!({ "fields": [{"field": field, "message": message}] }))
}

fn quoted(s: &str) -> String {
    satusky_core::validate::limits::quoted(s)
}

/// A bundled context as an ordinary context archive: tar.gz, files in the catalog's order,
/// fixed modes and times, so the same template version always gives the same digest (and its
/// build is reused).
fn pack(files: &[satusky_templates::BundledFile]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, f.path, f.bytes)?;
    }
    tar.into_inner()?.finish()
}

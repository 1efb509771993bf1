//! The route table and the OpenAPI document, both built from the annotated handlers so the
//! document cannot drift from what is served.

mod apps;
mod build_report;
mod builds;
mod config;
mod doc;
mod domains;
mod drift;
mod events;
mod extract;
mod logs;
mod logs_stream;
mod meta;
mod operate;
mod templates;
mod tokens;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::settings::MAX_JSON_BODY;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Satusky API", description = "Deploy control plane: desired state, releases, readiness and events."),
    modifiers(&BearerAuth),
    tags((name = "apps", description = "Apps, releases and readiness"), (name = "meta", description = "Identity and health"),
        (name = "tokens", description = "The org's API tokens (admin only)"),
        (name = "domains", description = "An app's custom domains: ownership proof, routing, certificates"),
        (name = "config", description = "An app's env values and secrets (write-only); a change is a release"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::whoami))
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::readyz))
        .routes(routes!(meta::metrics))
        .routes(routes!(apps::list_apps))
        .routes(routes!(apps::put_app, apps::get_app, apps::delete_app))
        .routes(routes!(apps::app_status))
        .routes(routes!(apps::list_releases))
        .routes(routes!(build_report::build_report))
        .routes(routes!(logs::app_logs))
        .routes(routes!(logs_stream::logs_stream))
        .routes(routes!(apps::rollback))
        .routes(routes!(operate::scale))
        .routes(routes!(operate::restart))
        .routes(routes!(templates::list_templates))
        .routes(routes!(templates::get_template))
        .routes(routes!(templates::deploy_template))
        .routes(routes!(templates::bind))
        .routes(routes!(drift::app_drift))
        .routes(routes!(domains::list_domains, domains::add_domain))
        .routes(routes!(domains::remove_domain))
        .routes(routes!(domains::check_domain))
        .routes(routes!(domains::setup_domain))
        .routes(routes!(config::list_env, config::change_env))
        .routes(routes!(config::list_secrets, config::change_secrets))
        .routes(routes!(config::missing_secrets))
        .routes(routes!(events::events))
        .routes(routes!(builds::download_context))
        // Uploads stream to disk; the content store enforces their own size limit.
        .routes(routes!(builds::upload_context))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
}

/// The document as served: the annotated operations, completed with the answers every
/// handler shares ([`doc::SharedAnswers`], applied once every route is in).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_router().into_openapi();
    doc::SharedAnswers.modify(&mut doc);
    crate::idempotency::openapi::document(&mut doc);
    doc
}

pub fn router(state: AppState) -> axum::Router {
    let (api, mut doc) = api_router().split_for_parts();
    doc::SharedAnswers.modify(&mut doc);
    crate::idempotency::openapi::document(&mut doc);
    // On every /v1 route (a route layer, so it sees which route matched).
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        crate::idempotency::Keyed::from(&state),
        crate::idempotency::middleware,
    ));
    let doc = std::sync::Arc::new(doc);
    api.route(
        "/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .fallback(meta::not_found)
    .method_not_allowed_fallback(meta::method_not_allowed)
    .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
    .with_state(state)
}

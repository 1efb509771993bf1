//! The Satusky control plane's HTTP surface: the `/v1` API, WebSocket event streams, bearer
//! auth with org isolation, and the OpenAPI document generated from the handlers.
//!
//! It wires `satusky-core` (rules) to `satusky-store` (durable state). It must not know how a
//! runtime, the prober or the build-context store work: they plug in behind traits from
//! `satusky-core` (`Runtime`, `EndpointProber`, `ContextStore`), wired by `satusky-stack`.
//! Binaries call [`serve`] with a listener and a [`Settings`].
#![forbid(unsafe_code)]

mod auth;
pub mod build_token;
mod claims;
pub mod drift;
pub mod engine;
mod error;
mod handle;
mod hub;
pub mod idempotency;
pub mod metrics;
mod roles;
mod routes;
mod settings;
mod state;

use std::future::Future;

use satusky_store::Store;
use tokio::net::TcpListener;

pub use engine::{Engine, EngineConfig};
pub use error::ApiErrorResponse;
pub use hub::EventHub;
pub use idempotency::Idempotency;
pub use settings::Settings;
pub use state::{AppState, Notices};

/// The full router: API, health endpoints and `/v1/openapi.json`.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}

/// The OpenAPI document, as served at `/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::openapi()
}

/// Serve the API on `listener` until `shutdown` resolves (no runtime attached).
pub async fn serve(
    listener: TcpListener,
    store: Store,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_state(listener, AppState::new(store, settings), shutdown).await
}

/// Serve the API for `state` (e.g. with an engine) until `shutdown` resolves.
pub async fn serve_state(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

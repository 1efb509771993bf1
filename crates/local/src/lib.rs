//! The local runtime: everything on one machine, no containers (SPEC §8 "Local").
//!
//! - [`routes`]: the route table the edge serves (Host → release upstreams or redirect),
//!   the same model as an HTTPRoute.
//! - [`edge`]: the embedded edge — hyper + tokio-rustls, HTTP and HTTPS on loopback,
//!   certificate by SNI, `x-satusky-release`, `X-Forwarded-*`, WebSocket pass-through.
//! - [`ca`]: a local CA persisted in the state dir, issuing a certificate per hostname.
//! - [`acme`]: certificates for custom domains from an ACME server (`[acme]` in server.toml),
//!   stored in the state dir and renewed in the background.
//! - [`contexts`]: uploaded build contexts, stored per org under their verified digest.
//! - [`unpack`], [`build`]: safe build-context extraction and the build step producing a
//!   content-addressed artifact.
//! - [`supervisor`]: replicas as supervised processes in their own process groups, with
//!   readiness checks, restart backoff and a ledger so nothing is orphaned.
//! - [`isolation`]: who replicas and builds run as (a dedicated user when `satusky` is root)
//!   and the state dir's permissions that keep them out of it.
//! - [`logs`]: each app's kept runtime log (every replica's output lines, bounded per app,
//!   under the state dir), fed by the supervisor without ever making an app wait.
//! - [`volumes`]: each app's persistent directory (`[volume]`), `$SATUSKY_VOLUME` for its
//!   replicas, kept until purged.
//! - [`internal`]: every app's internal address — a stable loopback port per app (kept in the
//!   state dir), a TCP proxy to its serving replicas.
//! - [`limits`]: the open-files limit (two per running replica), raised at start.
//! - [`runtime`]: [`LocalRuntime`], which implements `satusky_core::runtime::Runtime` from
//!   the pieces above.
//!
//! It must not touch the store or the API: its wiring hands it what it needs (a ledger
//! implementation, the platform zone's records as a `satusky_core::runtime::DnsZone`,
//! directories, addresses). The DNS server answering for that zone is `satusky-dns`.
#![forbid(unsafe_code)]

pub mod acme;
pub mod build;
pub mod ca;
pub mod contexts;
pub mod edge;
pub mod internal;
pub mod isolation;
pub mod ledger;
pub mod limits;
pub mod logs;
pub mod programs;
pub mod routes;
pub mod runtime;
pub mod supervisor;
pub mod unpack;
pub mod volumes;

pub use runtime::{LocalConfig, LocalRuntime};

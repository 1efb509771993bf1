//! Certificates from an ACME server (RFC 8555; pebble in tests, Let's Encrypt in production)
//! for custom domains on the local runtime, when `server.toml` has an `[acme]` section.
//! Hostnames in the platform zone keep the local CA's certificates; the runtime decides
//! which hostnames are handed here (`satusky_core::hostnames::Zone::contains`).
//!
//! - [`config`]: `[acme]` parsed once ([`AcmeConfig`]) and the issuer's [`AcmeTimings`].
//! - [`plan`]: the pure decisions — renewal time, retry backoff, next action, what an order's
//!   status means, the TLS plane of a hostname.
//! - `files`: `STATE_DIR/acme/` — the account and each certificate and key, 0600; with the
//!   secret key ring the account and keys sealed ([`reseal_all`] for `rotate-key`).
//! - `order`: the ACME conversation of one attempt (instant-acme, HTTP-01).
//! - [`serving`]: what the edge reads — issued certificates by SNI, challenge answers.
//! - `issuer`: [`AcmeIssuer`], one background task per wanted hostname.
//!
//! It must not touch the route table, the store or the API.

pub mod config;
mod files;
mod issuer;
mod order;
pub mod plan;
pub mod serving;

pub use config::{AcmeConfig, AcmeConfigError, AcmeTimings};
pub use files::{FilesError, reseal_all};
pub use issuer::AcmeIssuer;
pub use serving::AcmeServing;

//! Wire and domain types shared by the control plane (`satusky`) and the CLI (`1ctl`).
//!
//! This crate owns the shapes that cross a process boundary: the app spec, releases, the
//! readiness report (SPEC §4), lifecycle events and the API's request, response and error
//! bodies. It holds serde derives and small helpers only — no I/O, no validation rules
//! (those live in `satusky-core`), no knowledge of HTTP status codes.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod domains;
pub mod event;
pub mod logs;
pub mod readiness;
pub mod release;
pub mod spec;
pub mod templates;

pub use api::*;
pub use config::*;
pub use domains::*;
pub use event::*;
pub use logs::*;
pub use readiness::*;
pub use release::*;
pub use spec::*;
pub use templates::*;

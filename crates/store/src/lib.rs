//! Satusky's durable store: orgs, API tokens, apps (desired state), releases, lifecycle events
//! and hostnames (plus Idempotency-Key records), in SQLite (the default, one file shared by the
//! server and the CLI) or PostgreSQL, through sqlx's `Any` driver.
//!
//! It owns the schema (one migrations folder per backend, kept in lockstep and checked by a
//! test) and the transactions that keep the invariants: one owner per hostname across all
//! orgs, per-app release versions and event sequence numbers allocated without collisions, a
//! deploy recorded all or nothing. It holds no policy (what a valid name or spec is belongs to
//! `satusky-core`) and knows nothing about HTTP.
//!
//! Conventions: `$N` placeholders everywhere, times as epoch milliseconds (BIGINT), ids and
//! JSON documents as TEXT.
#![forbid(unsafe_code)]

mod apps;
mod codec;
mod config;
mod db;
mod domains;
mod drift;
mod engine;
mod error;
mod events;
mod idempotency;
mod operate;
mod orgs;
mod release_write;
mod releases;
mod rollback;
mod templates;
mod tokens;

pub use apps::{AppRecord, DeletedApp, DeployInput, DeployRecord, ScaleAfterDeploy};
pub use config::ConfigOutcome;
pub use db::{Backend, Store};
pub use domains::{DueClaim, Proven};
pub use drift::{FindingChange, FindingRecord, Observed};
pub use error::StoreError;
pub use events::{EVENTS_PAGE_MAX, EventPage};
pub use idempotency::{IdempotencyRecord, StoredResponse};
pub use operate::{OperationRecord, OperationRequest};
pub use releases::ReleaseRecord;
pub use rollback::RollbackRecord;
pub use templates::{BindingRecord, StoredTemplate, TemplateDeploy, TemplateUse};
pub use tokens::{NewToken, TOKEN_PREFIX, TokenCheck, TokenInfo, TokenRecord};

//! The lifecycle engine's decisions, as pure code (SPEC §3, §4): the pending [`Work`] on one
//! release, the [`StatusDoc`] the engine stores for it, and the step function [`next`] that,
//! given what the store holds and what the executor last observed, says what the status
//! document becomes, which events that produces, how the release and the work move, and what
//! the executor must do next ([`Action`]).
//!
//! No tokio, no store, no clock: the server's executor loads the app, calls [`next`], saves
//! the decision and performs its action through the `Runtime` / `EndpointProber` traits, then
//! loads again and feeds the action's [`Outcome`] back in. Every transition is therefore a
//! synchronous test (`crates/server/tests/engine_steps.rs`, against the testkit's scripted
//! `FakeRuntime`).
//!
//! Once the work is done the app is at rest, and stays observed: [`observed_at_rest`] turns
//! each reading the runtime reports as changed into the workload plane of the active release.

mod endpoints;
mod rest;
mod state;
mod status;
mod step;
mod work;

pub use endpoints::{RouteReading, endpoint_reports, endpoint_targets, not_public_plane};
pub use rest::{observable, observed_at_rest};
pub use state::{AppView, Operated, ReleaseView, routed};
pub use status::{StatusDoc, diff_events, initial_doc, metadata_plane, report};
pub use step::{
    Action, BUILD_STOP_GRACE, Decision, ENDPOINT_RECHECK, ENDPOINT_SETTLE, EngineRules,
    OBSERVE_EVERY, Outcome, RETRY_AFTER, ReleaseChange, Tagged, WorkChange, next, recheck,
    resume_after_restart, status_events, unusable_release,
};
pub use work::{Operation, Step, Work};

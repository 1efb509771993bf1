//! Pure logic of Satusky: turning `satusky.toml` into a validated app, naming rules,
//! generated hostnames, and (later) the release rules, readiness evaluation and lifecycle
//! state machine. No tokio, no database, no network: adapters implement the traits defined
//! here and the server wires them together.
#![forbid(unsafe_code)]

pub mod time;

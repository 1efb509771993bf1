//! Pure logic of Satusky: turning `satusky.toml` into a validated app, naming rules,
//! generated hostnames, the release rules, workload judgement (kstatus-like), phases, and the
//! traits runtimes and the prober implement. No tokio, no database, no network: adapters
//! implement the traits defined here and the server wires them together.
#![forbid(unsafe_code)]

pub mod build_log;
pub mod changes;
pub mod config;
pub mod contexts;
pub mod desired;
pub mod digest;
pub mod endpoints;
pub mod engine;
pub mod errors;
pub mod expect;
pub mod hostnames;
pub mod ledger;
pub mod lifecycle;
pub mod names;
pub mod operate;
pub mod ownership;
pub mod paths;
pub mod quantity;
pub mod runtime;
pub mod secrets;
pub mod stale;
pub mod time;
pub mod tokens;
pub mod urls;
pub mod validate;

pub use config::{
    ConfigError, ConfigNameError, Diagnostic, LoadedConfig, Overrides, config_file_name,
    init_template, load, parse_str, validate_config_name,
};
pub use desired::{AppHostnames, DesiredError, HostnameError};
pub use errors::{ForeignError, error_chain};
pub use expect::ExpectedStatus;
pub use hostnames::{DEFAULT_ZONE, Zone, generated_hostname, hostnames};
pub use names::{validate_app_name, validate_hostname, validate_org_name, validate_record_name};
pub use validate::{FieldError, ValidatedApp, ValidationErrors, validate_spec};

//! Satusky's marketplace catalog as data, and the resolution of a template into an ordinary
//! app (SPEC §3, §10 "Templates"): a template's app part is a `satusky.toml` with
//! `{placeholders}`; resolving it fills them from typed parameters (given with `--set`,
//! stored by an earlier deploy, defaulted or generated) and reads the result with the same
//! config reader `1ctl deploy` uses — so what enters the lifecycle is exactly what a file
//! would have produced, and nothing downstream knows a template was involved.
//!
//! Owns: the template format (`parse`), the parameter rules (`values`, `pattern`), secret
//! generation (`generate`), resolution (`resolve`, `output`) and the embedded catalog
//! (`catalog`). Pure: no I/O, no clock; randomness comes from the caller. Depends on
//! `satusky-types` and `satusky-core` only; the server, the CLI and the runtimes are not its
//! business.
#![forbid(unsafe_code)]

pub mod catalog;
mod diag;
pub mod generate;
mod model;
pub mod output;
mod parse;
pub mod pattern;
mod placeholder;
pub mod resolve;
pub mod values;

pub use catalog::{
    BundledFile, Catalog, CatalogError, CatalogTemplate, Entry, LookupError, parse_reference,
};
pub use generate::{RandomError, RandomSource, SystemRandom};
pub use model::{
    ContextKind, Expose, Kind, OutputTemplate, Parameter, RuntimeKind, RuntimeSupport, Template,
    TemplateRef, Unit, Value,
};
pub use output::Output;
pub use parse::{MAX_OUTPUTS, MAX_PARAMETERS, MAX_TEMPLATE_BYTES, parse};
pub use resolve::{Request, ResolveError, Resolved, resolve};
pub use values::{
    MAX_SET_VALUES, MAX_VALUE_BYTES, StoredParameters, StoredValue, check_value, check_values,
};

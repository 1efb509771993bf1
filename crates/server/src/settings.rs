//! Server settings that change what the API computes (the platform DNS zone for generated
//! hostnames, …). Binaries fill them from flags, `SATUSKY_*` env vars and `server.toml`.

use std::sync::Arc;

use satusky_core::contexts::ContextStore;
use satusky_core::hostnames::Zone;

/// The largest JSON body the API reads (an app spec is a few KiB).
pub(crate) const MAX_JSON_BODY: usize = 1024 * 1024;

/// Tunables of the API layer.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The platform DNS zone: apps get `APP-ORG.ZONE` (default
    /// [`satusky_core::DEFAULT_ZONE`]).
    pub dns_zone: Zone,
    /// Where uploaded build contexts are kept, per org; `None` refuses uploads.
    pub contexts: Option<Arc<dyn ContextStore>>,
}

//! Server settings that change what the API computes (the platform DNS zone for generated
//! hostnames, …). Binaries fill them from flags, `SATUSKY_*` env vars and `server.toml`.

use std::sync::Arc;

use satusky_core::contexts::ContextStore;
use satusky_core::hostnames::DEFAULT_ZONE;

/// Tunables of the API layer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The platform DNS zone: apps get `APP-ORG.ZONE`.
    pub dns_zone: String,
    /// Where uploaded build contexts are kept, per org; `None` refuses uploads.
    pub contexts: Option<Arc<dyn ContextStore>>,
    /// Route hostnames outside the platform zone without proof of ownership. Off on a shared
    /// control plane (any org could claim any hostname); `satusky dev` (one user) turns it on.
    /// A stopgap until custom domains carry a TXT ownership proof.
    pub allow_unproven_domains: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dns_zone: DEFAULT_ZONE.to_string(),
            contexts: None,
            allow_unproven_domains: false,
        }
    }
}

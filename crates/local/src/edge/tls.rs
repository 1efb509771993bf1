//! The edge's TLS side: a rustls server configuration (ring provider, HTTP/1.1 over ALPN)
//! whose certificate is chosen by SNI and issued by the [`LocalCa`] on first use.
//!
//! Only hostnames present in the [`RouteTable`] at handshake time get a certificate; any other
//! SNI, or none (a client connecting by IP address), gets none and the handshake fails. So the
//! TLS plane of a hostname is ready exactly when the edge routes it. A certificate installed
//! for a routed hostname out of band ([`RouteTable::install_certificate`]) is served instead
//! of the CA's, and so is one the ACME issuer obtained for a custom domain ([`AcmeServing`];
//! until it has one, the CA's). Owns no state beyond the configuration; the CA caches the
//! certificates.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::acme::AcmeServing;
use crate::ca::LocalCa;
use crate::routes::{RouteTable, normalize_host};

/// Picks the certificate for the SNI hostname, if the edge routes it: the one installed out of
/// band, else the ACME issuer's, else the CA's (issued if needed).
#[derive(Debug)]
pub(crate) struct SniResolver {
    routes: RouteTable,
    ca: Arc<LocalCa>,
    acme: Option<Arc<AcmeServing>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(sni) = hello.server_name() else {
            tracing::debug!("TLS handshake without SNI: no certificate");
            return None;
        };
        let host = normalize_host(sni);
        if self.routes.lookup(&host).is_none() {
            tracing::debug!(%host, "TLS handshake for a hostname the edge does not route");
            return None;
        }
        if let Some(installed) = self.routes.installed_certificate(&host) {
            tracing::debug!(%host, "serving a certificate installed out of band");
            return Some(installed);
        }
        if let Some(issued) = self.acme.as_ref().and_then(|a| a.certificate(&host)) {
            return Some(issued);
        }
        match self.ca.issue(&host) {
            Ok(certified) => Some(certified),
            Err(error) => {
                tracing::warn!(%host, error = %error, "cannot issue a certificate");
                None
            }
        }
    }
}

/// The acceptor for the HTTPS listener.
pub(crate) fn acceptor(
    routes: RouteTable,
    ca: Arc<LocalCa>,
    acme: Option<Arc<AcmeServing>>,
) -> Result<TlsAcceptor, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { routes, ca, acme }));
    // HTTP/2 is not served: clients that offer both settle on HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

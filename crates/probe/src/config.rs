//! How to check: the [`ProbeConfig`] shared by every check (resolvers, edge address, extra
//! trust roots, timeouts, concurrency). What to check per hostname is core's
//! `satusky_core::runtime::EndpointTarget`. Plain data: no I/O here.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::ProbeError;

/// How long each step of a check may take. A step that does not finish in time yields
/// `failed`/`Timeout` and costs about this long, never the OS default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole DNS check (A and AAAA, run together, following CNAMEs).
    pub dns: Duration,
    /// TCP connect to the edge.
    pub connect: Duration,
    /// The TLS handshake.
    pub tls: Duration,
    /// Sending the request and reading the response head.
    pub http: Duration,
}

/// The default per-step timeout (SPEC: `satusky probe --timeout` defaults to it as well).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Timeouts {
    /// The same limit for every step.
    pub fn uniform(limit: Duration) -> Self {
        Timeouts {
            dns: limit,
            connect: limit,
            tls: limit,
            http: limit,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::uniform(DEFAULT_TIMEOUT)
    }
}

/// How many checks run at once by default. Each check holds one TCP connection and up to two
/// DNS queries; 64 keeps a 2-core machine busy without queueing in the resolver.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// The port of HTTPS, used when no edge address is given and the resolved address is dialled.
pub const HTTPS_PORT: u16 = 443;

/// Settings shared by every check of a [`crate::Prober`].
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// DNS servers (`IP:PORT`) to ask; empty = the system's (`/etc/resolv.conf`).
    pub resolvers: Vec<SocketAddr>,
    /// Where TLS and HTTP connect; `None` = the first resolved address on port 443.
    pub edge: Option<SocketAddr>,
    /// Trust roots in addition to webpki-roots (e.g. a local CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub timeouts: Timeouts,
    /// At most this many checks run at once in [`crate::Prober::check_all`] (at least 1).
    pub concurrency: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            resolvers: Vec::new(),
            edge: None,
            extra_roots: Vec::new(),
            timeouts: Timeouts::default(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Every certificate in a PEM text (other PEM sections, such as keys, are skipped). Fails when
/// the text holds none, so a wrong file is noticed rather than silently trusting nothing.
pub fn parse_pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, ProbeError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(ProbeError::Pem)?;
    if certs.is_empty() {
        return Err(ProbeError::NoCertificate);
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_is_an_error() {
        assert!(
            parse_pem_certs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        assert!(parse_pem_certs("hello").is_err());
    }
}

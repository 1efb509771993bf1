//! What to check and how: a [`Target`] per hostname (what its DNS should point to, which HTTP
//! answer counts as healthy) and the [`ProbeConfig`] shared by every check (resolvers, edge
//! address, extra trust roots, timeouts, concurrency). Plain data: no I/O here.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use satusky_core::ExpectedStatus;

use crate::ProbeError;

/// The HTTP status set a check expects: `2xx`, `2xx,3xx` or exact codes such as `200,204`.
/// The syntax and the match live in `satusky_core` (`checks.expect` in `satusky.toml` uses the
/// same type), so the CLI flag and the app config cannot drift apart.
pub type StatusSet = ExpectedStatus;

/// Where a hostname's DNS should lead: the edge's addresses, a CNAME target, or both (either
/// route counts, see [`crate::dns_verdict`]). Empty means "nothing to compare with": any
/// answer is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedEdge {
    pub addresses: Vec<IpAddr>,
    /// A CNAME target such as `edge.apps.example.net` (with or without the final dot).
    pub cname: Option<String>,
}

impl ExpectedEdge {
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.cname.is_none()
    }
}

/// One hostname to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub hostname: String,
    pub expected: ExpectedEdge,
    /// A custom domain (outside the platform zone): the user owns its DNS, so a DNS failure's
    /// remediation names the exact record to create.
    pub custom_domain: bool,
    /// The path of the HTTP check, starting with `/`.
    pub path: String,
    pub expect: StatusSet,
    /// `ORG/APP@vN`: the `x-satusky-release` the answer must carry.
    pub expect_release: Option<String>,
    /// A redirect host: it must answer 301/308 with this `Location` (a URL, or a bare host
    /// meaning `https://HOST/`).
    pub redirect_to: Option<String>,
}

/// The default HTTP expectation (`2xx`).
pub const DEFAULT_EXPECT: &str = "2xx";

impl Target {
    /// A target with the defaults: path `/`, status `2xx`, no DNS expectation, no release.
    pub fn new(hostname: impl Into<String>) -> Self {
        Target {
            hostname: hostname.into(),
            expected: ExpectedEdge::default(),
            custom_domain: false,
            path: "/".to_string(),
            expect: default_expect(),
            expect_release: None,
            redirect_to: None,
        }
    }

    pub fn with_addresses(mut self, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.expected.addresses = addresses.into_iter().collect();
        self
    }

    pub fn with_cname(mut self, cname: impl Into<String>) -> Self {
        self.expected.cname = Some(cname.into());
        self
    }

    pub fn custom_domain(mut self, custom: bool) -> Self {
        self.custom_domain = custom;
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    pub fn with_expect(mut self, expect: StatusSet) -> Self {
        self.expect = expect;
        self
    }

    pub fn with_release(mut self, release: impl Into<String>) -> Self {
        self.expect_release = Some(release.into());
        self
    }

    pub fn with_redirect_to(mut self, to: impl Into<String>) -> Self {
        self.redirect_to = Some(to.into());
        self
    }
}

fn default_expect() -> StatusSet {
    match ExpectedStatus::parse(DEFAULT_EXPECT) {
        Ok(set) => set,
        // A constant literal that core's own tests parse: this arm cannot be taken.
        Err(e) => unreachable!("{e}"),
    }
}

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
    fn a_new_target_expects_2xx_on_the_root_path() {
        let t = Target::new("a.example.net");
        assert_eq!(t.path, "/");
        assert!(t.expect.matches(204));
        assert!(!t.expect.matches(301));
        assert!(t.expected.is_empty());
    }

    #[test]
    fn pem_without_certificates_is_an_error() {
        assert!(
            parse_pem_certs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        assert!(parse_pem_certs("hello").is_err());
    }
}

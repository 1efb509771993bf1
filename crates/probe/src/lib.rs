//! Satusky's endpoint prober: decides, per hostname, whether the DNS, TLS and HTTP planes of
//! SPEC §4 are really ready, by speaking the real protocols — DNS through the configured (or
//! the system's) resolvers, a TLS handshake with SNI against the edge, and an HTTPS `GET` that
//! must carry the expected release. The same code serves the control plane's background
//! prober and `satusky probe`.
//!
//! Shape: each plane has an I/O module that only observes ([`dns`], [`tls`], [`http`]) and a
//! pure verdict module that turns the observation into a [`Plane`] ([`dns_verdict`],
//! [`tls_verdict`], [`http_verdict`]); [`prober`] wires them. What to check and what comes
//! back are core's `EndpointTarget` and `ProbedEndpoint`.
//! Reason codes come from `satusky_types::Reason` (documented in docs/reasons.md); this crate
//! adds none. It never touches the store, the server or a runtime.
//!
//! Crypto: rustls with the ring provider only (no aws-lc-rs in the tree).
#![forbid(unsafe_code)]

pub mod config;
mod dns;
pub mod dns_verdict;
mod http;
pub mod http_verdict;
pub mod prober;
mod tls;
pub mod tls_verdict;

pub use config::{DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, ProbeConfig, Timeouts, parse_pem_certs};
pub use http::{PROBE_HEADER, USER_AGENT_VALUE};
pub use prober::Prober;
pub use satusky_core::runtime::{EndpointTarget, ProbedEndpoint};
pub use satusky_types::{Plane, PlaneState, Reason};

use satusky_core::ForeignError;

/// Setting up a [`Prober`] failed (checks themselves never fail: they yield planes).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// hickory's errors repeat their source in `Display`: kept as a [`ForeignError`].
    #[error("cannot read the system's DNS resolver configuration")]
    SystemResolvers(#[source] ForeignError),
    #[error("cannot build the DNS resolver")]
    Resolver(#[source] ForeignError),
    #[error("not a usable PEM certificate file")]
    Pem(#[source] rustls::pki_types::pem::Error),
    #[error("not a usable PEM certificate file: no CERTIFICATE section found")]
    NoCertificate,
    #[error("a configured trust root is not a usable CA certificate")]
    TrustRoot(#[source] rustls::Error),
    #[error("cannot build the certificate verifier")]
    Verifier(#[source] rustls::client::VerifierBuilderError),
    #[error("cannot build the TLS client configuration")]
    Tls(#[source] rustls::Error),
}

/// What the verdict modules' tests share.
#[cfg(test)]
pub(crate) mod verdict_test_support {
    use satusky_types::{Plane, PlaneState};
    use std::collections::BTreeSet;

    /// When `p` failed: note its reason in `failed` and assert it carries a fix.
    pub fn record_failed(failed: &mut BTreeSet<String>, case: &dyn std::fmt::Debug, p: &Plane) {
        if p.state == PlaneState::Failed {
            failed.insert(p.reason.code());
            assert!(
                p.remediation
                    .as_deref()
                    .is_some_and(|r| !r.trim().is_empty()),
                "{case:?}: {p:?}"
            );
        }
    }
}

//! The TLS plane's decision, pure: the verifier's verdict on the presented chain, the leaf's
//! validity window and "now" → a [`Plane`]; and the planes a failed connection leaves behind.
//! No sockets here; [`crate::tls`] performs the handshake and hands over what it saw.
//!
//! - Verified and more than [`EXPIRING_SOON`] left: `ready`/`CertificateValid`,
//!   `expires in 62d (2027-01-28), issued by CN=…`. Less: `ready`/`ExpiringSoon` (a warning, still ready).
//! - rustls' `CertificateError`s map to `UnknownIssuer` (also for `BadSignature`: a chain naming
//!   a trusted issuer that did not sign it), `NotValidForName`, `Expired` and `NotYetValid`;
//!   any other rejection or protocol failure is `HandshakeFailed`.
//! - A plain HTTP server on the TLS port (it answered the ClientHello with `HTTP/1.1 400 …`)
//!   is `NotTls`: the fix is where the prober connects or what listens there, not a
//!   certificate.
//! - A connection that never got to TLS (refused, reset, timed out) fails the HTTP plane with
//!   its own reason too: no request could be sent. A TLS protocol failure leaves HTTP
//!   `pending`/`Waiting` (nothing to speak HTTP over); a *certificate* failure does not stop
//!   HTTP, see [`crate::prober`].
//! - Every `failed` plane carries a remediation; those about reaching the edge name where the
//!   prober connects (`probe_edge` in server.toml, `--edge` for `satusky probe`).

use rustls::{CertificateError, Error as TlsError};
use satusky_types::{Plane, PlaneState, Reason};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// Under this much validity left, a valid certificate is `ExpiringSoon` (SPEC §4: 14 days).
pub const EXPIRING_SOON_SECS: i64 = 14 * DAY;
/// [`EXPIRING_SOON_SECS`] as a readable name for the docs.
pub const EXPIRING_SOON: &str = "14 days";

const DAY: i64 = 86_400;

/// What the leaf certificate says about itself (parsed with x509-parser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafInfo {
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    pub issuer: String,
    /// DNS names and IP addresses in the subjectAltName extension.
    pub names: Vec<String>,
}

impl LeafInfo {
    /// Parses a DER certificate; `None` when it is not one.
    pub fn parse(der: &[u8]) -> Option<LeafInfo> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let validity = cert.validity();
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => names.push((*d).to_string()),
                    GeneralName::IPAddress(bytes) => names.push(ip_text(bytes)),
                    _ => {}
                }
            }
        }
        Some(LeafInfo {
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            issuer: cert.issuer().to_string(),
            names,
        })
    }
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => {
            let mut b = [0u8; 4];
            b.copy_from_slice(bytes);
            std::net::Ipv4Addr::from(b).to_string()
        }
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(b).to_string()
        }
        _ => format!("{bytes:?}"),
    }
}

/// `2027-01-28` for Unix seconds.
pub fn date(secs: i64) -> String {
    let text = satusky_core::time::rfc3339_ms(secs.max(0).saturating_mul(1000));
    text.get(..10).unwrap_or(&text).to_string()
}

/// `62d`, or `5h` under a day, or `12m` under an hour.
pub fn span(secs: i64) -> String {
    let secs = secs.max(0);
    if secs >= DAY {
        format!("{}d", secs / DAY)
    } else if secs >= 3600 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}m", secs / 60)
    }
}

/// A verified certificate's plane: `CertificateValid`, or `ExpiringSoon` under 14 days.
pub fn expiry_plane(host: &str, not_after: i64, now: i64) -> Plane {
    let left = not_after - now;
    let message = format!("expires in {} ({})", span(left), date(not_after));
    if left < EXPIRING_SOON_SECS {
        Plane::new(PlaneState::Ready, Reason::ExpiringSoon, message).with_remediation(format!(
            "renew the certificate for {host} before {}",
            date(not_after)
        ))
    } else {
        Plane::new(PlaneState::Ready, Reason::CertificateValid, message)
    }
}

/// The TLS plane after a completed handshake: `verdict` is what rustls' WebPKI verifier said
/// about the chain, `leaf` what the leaf says, `now` Unix seconds.
pub fn tls_plane(
    host: &str,
    verdict: &Result<(), TlsError>,
    leaf: Option<&LeafInfo>,
    now: i64,
) -> Plane {
    match verdict {
        Ok(()) => match leaf {
            Some(leaf) => {
                // Who issued it, too: the local CA, an ACME server, cert-manager's issuer.
                let mut plane = expiry_plane(host, leaf.not_after, now);
                if !leaf.issuer.is_empty() {
                    plane
                        .message
                        .push_str(&format!(", issued by {}", leaf.issuer));
                }
                plane
            }
            None => Plane::new(
                PlaneState::Ready,
                Reason::CertificateValid,
                "certificate verified (its expiry could not be read)",
            ),
        },
        Err(e) => rejected_plane(host, e, leaf, now),
    }
}

fn rejected_plane(host: &str, e: &TlsError, leaf: Option<&LeafInfo>, now: i64) -> Plane {
    let failed = |reason, message: String, fix: String| {
        Plane::new(PlaneState::Failed, reason, message).with_remediation(fix)
    };
    let cert_error = match e {
        TlsError::InvalidCertificate(c) => Some(c),
        _ => None,
    };
    match cert_error {
        Some(CertificateError::UnknownIssuer) => {
            let issuer = leaf.map_or_else(|| "an unknown issuer".to_string(), |l| l.issuer.clone());
            failed(
                Reason::UnknownIssuer,
                format!(
                    "the certificate for {host} (issued by {issuer}) does not chain to a trusted root"
                ),
                "serve the full chain from a publicly trusted CA; for a private CA, add its \
                 certificate to the probe's trust roots (--ca)"
                    .to_string(),
            )
        }
        // The chain names a trusted issuer whose key did not sign it: another CA under the
        // same name, or a forgery. Either way, not from the issuer it claims.
        Some(CertificateError::BadSignature) => {
            let issuer = leaf.map_or_else(|| "a trusted issuer".to_string(), |l| l.issuer.clone());
            failed(
                Reason::UnknownIssuer,
                format!(
                    "the certificate for {host} names {issuer} as its issuer, but that issuer's key did not sign it"
                ),
                "serve a certificate really issued by a trusted CA (another CA with the same \
                 name is not that CA)"
                    .to_string(),
            )
        }
        Some(CertificateError::NotValidForName)
        | Some(CertificateError::NotValidForNameContext { .. }) => {
            // The leaf's own SAN list reads better than webpki's `DnsName("…")` debug text.
            let presented = match (leaf, cert_error) {
                (Some(l), _) if !l.names.is_empty() => l.names.join(", "),
                (_, Some(CertificateError::NotValidForNameContext { presented, .. }))
                    if !presented.is_empty() =>
                {
                    presented.join(", ")
                }
                _ => "other names".to_string(),
            };
            failed(
                Reason::NotValidForName,
                format!("the certificate covers {presented}, not {host}"),
                format!("issue a certificate that covers {host}"),
            )
        }
        Some(CertificateError::Expired) | Some(CertificateError::ExpiredContext { .. }) => {
            let message = match leaf {
                Some(l) => format!(
                    "expired {} ago ({})",
                    span(now - l.not_after),
                    date(l.not_after)
                ),
                None => "the certificate has expired".to_string(),
            };
            failed(
                Reason::Expired,
                message,
                format!("renew the certificate for {host}"),
            )
        }
        Some(CertificateError::NotValidYet) | Some(CertificateError::NotValidYetContext { .. }) => {
            let message = match leaf {
                Some(l) => format!(
                    "valid only from {} (in {})",
                    date(l.not_before),
                    span(l.not_before - now)
                ),
                None => "the certificate is not valid yet".to_string(),
            };
            failed(
                Reason::NotYetValid,
                message,
                "check the clocks of the issuer and of this machine, or serve a certificate \
                 that is valid now"
                    .to_string(),
            )
        }
        _ => failed(
            Reason::HandshakeFailed,
            format!("the certificate for {host} was rejected: {e}"),
            format!("serve a valid certificate for {host}"),
        ),
    }
}

/// How a connection attempt ended before TLS completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// TCP connect did not finish in time.
    ConnectTimeout,
    /// Nothing listens there (RST to SYN).
    Refused(String),
    /// The peer reset or closed the connection during connect or handshake.
    Reset(String),
    /// Another connect error (unreachable network, …).
    Connect(String),
    /// Connected, but the handshake did not finish in time (a black-holed listener).
    HandshakeTimeout,
    /// The edge refused the handshake for this SNI: it has no certificate for the hostname.
    NoCertificate(String),
    /// Another TLS protocol failure: an alert, a bad message.
    Handshake(String),
    /// A plain HTTP server answered the ClientHello; its status line.
    NotTls(String),
}

/// The TLS and HTTP planes when the connection failed before a TLS session existed.
pub fn failure_planes(
    addr: &str,
    failure: &ConnectFailure,
    limits: (std::time::Duration, std::time::Duration),
) -> (Plane, Plane) {
    let (connect_limit, tls_limit) = limits;
    let failed = |reason, message: String| Plane::new(PlaneState::Failed, reason, message);
    // Where the prober connects is a setting: name it in every fix about reaching the edge.
    let setting = "`probe_edge` in server.toml, `--edge` for satusky probe";
    match failure {
        ConnectFailure::ConnectTimeout => {
            let m = format!("no TCP connection to {addr} within {connect_limit:?}");
            let fix = format!(
                "{addr} does not accept connections in time: check that the edge runs there \
                 and that no firewall drops the traffic ({setting})"
            );
            (
                failed(Reason::Timeout, m.clone()).with_remediation(fix.clone()),
                failed(Reason::Timeout, m).with_remediation(fix),
            )
        }
        ConnectFailure::Refused(e) => {
            let fix = format!(
                "nothing listens on {addr}: check that the edge runs and the address is right \
                 ({setting})"
            );
            (
                failed(
                    Reason::HandshakeFailed,
                    format!("connection to {addr} refused: {e}"),
                )
                .with_remediation(fix.clone()),
                failed(
                    Reason::ConnectionRefused,
                    format!("connection to {addr} refused"),
                )
                .with_remediation(fix),
            )
        }
        ConnectFailure::Reset(e) => {
            let fix = format!(
                "{addr} dropped the connection before TLS: check the edge's logs, and that \
                 {addr} is its HTTPS port ({setting})"
            );
            (
                failed(
                    Reason::HandshakeFailed,
                    format!("the connection to {addr} was reset during the handshake: {e}"),
                )
                .with_remediation(fix.clone()),
                failed(
                    Reason::ConnectionReset,
                    format!("the connection to {addr} was reset before a request could be sent"),
                )
                .with_remediation(fix),
            )
        }
        ConnectFailure::Connect(e) => (
            failed(
                Reason::HandshakeFailed,
                format!("cannot connect to {addr}: {e}"),
            )
            .with_remediation(format!(
                "{addr} cannot be reached from the control plane: check the route to it and \
                 the address ({setting})"
            )),
            Plane::new(
                PlaneState::Pending,
                Reason::Waiting,
                "not attempted: no connection to the edge",
            ),
        ),
        ConnectFailure::HandshakeTimeout => {
            let m = format!(
                "{addr} accepted the connection but the TLS handshake did not finish within {tls_limit:?}"
            );
            let fix = format!(
                "{addr} accepts connections but does not speak TLS in time: check that the \
                 edge's TLS listener is there and not overloaded ({setting})"
            );
            (
                failed(Reason::Timeout, m).with_remediation(fix.clone()),
                failed(
                    Reason::Timeout,
                    "not attempted: the TLS handshake timed out".to_string(),
                )
                .with_remediation(fix),
            )
        }
        ConnectFailure::NoCertificate(e) => (
            failed(
                Reason::HandshakeFailed,
                format!("TLS handshake with {addr} failed: {e}"),
            )
            .with_remediation(format!(
                "make the edge at {addr} serve a certificate for this hostname (SNI): check \
                 that an app deployed on this platform has it (`1ctl app status`)"
            )),
            no_session(),
        ),
        ConnectFailure::Handshake(e) => (
            failed(
                Reason::HandshakeFailed,
                format!("TLS handshake with {addr} failed: {e}"),
            )
            .with_remediation(format!(
                "check that {addr} is the edge's HTTPS port and that it speaks TLS 1.2 or 1.3 \
                 ({setting})"
            )),
            no_session(),
        ),
        ConnectFailure::NotTls(status_line) => (
            failed(
                Reason::NotTls,
                format!(
                    "{addr} answered in plain HTTP ({status_line}), not TLS: a plain HTTP \
                     server listens on the TLS port"
                ),
            )
            .with_remediation(format!(
                "a plain HTTP server listens on {addr}, where TLS is expected: point the \
                 prober at the edge's HTTPS port ({setting}), or serve TLS on {addr}"
            )),
            Plane::new(
                PlaneState::Pending,
                Reason::Waiting,
                format!("not attempted: {addr} speaks plain HTTP, not TLS (see the tls plane)"),
            ),
        ),
    }
}

fn no_session() -> Plane {
    Plane::new(
        PlaneState::Pending,
        Reason::Waiting,
        "not attempted: no TLS session (see the tls plane)",
    )
}

#[cfg(test)]
#[path = "tls_verdict_tests.rs"]
mod tests;

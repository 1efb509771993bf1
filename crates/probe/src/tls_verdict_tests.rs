//! Unit tests of the TLS plane's decision: expiry classification with an injected "now", and
//! the mapping of rustls' certificate errors.

use crate::verdict_test_support::record_failed;
use std::time::Duration;

use rustls::pki_types::{ServerName, UnixTime};

use super::*;

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

fn leaf(not_before: i64, not_after: i64) -> LeafInfo {
    LeafInfo {
        not_before,
        not_after,
        issuer: "CN=Test CA".into(),
        names: vec!["other.example".into()],
    }
}

#[test]
fn dates_and_spans_read_like_a_person_writes_them() {
    assert_eq!(date(NOW), "2026-01-01");
    assert_eq!(span(62 * DAY + 5), "62d");
    assert_eq!(span(5 * 3600 + 1), "5h");
    assert_eq!(span(600), "10m");
}

#[test]
fn far_expiry_is_certificate_valid_with_the_date() {
    let p = expiry_plane("a.example", NOW + 62 * DAY, NOW);
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Ready, Reason::CertificateValid)
    );
    assert_eq!(p.message, "expires in 62d (2026-03-04)");
    assert!(p.remediation.is_none());
}

#[test]
fn under_fourteen_days_is_expiring_soon_but_still_ready() {
    let p = expiry_plane("a.example", NOW + 5 * DAY, NOW);
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Ready, Reason::ExpiringSoon)
    );
    assert_eq!(p.message, "expires in 5d (2026-01-06)");
    assert!(
        p.remediation
            .unwrap_or_default()
            .contains("before 2026-01-06")
    );
    // The boundary: exactly 14 days left is no longer "soon".
    let p = expiry_plane("a.example", NOW + 14 * DAY, NOW);
    assert_eq!(p.reason, Reason::CertificateValid);
    let p = expiry_plane("a.example", NOW + 14 * DAY - 1, NOW);
    assert_eq!(p.reason, Reason::ExpiringSoon);
}

#[test]
fn certificate_errors_map_to_their_reasons() {
    let l = leaf(NOW - 10 * DAY, NOW - 3 * DAY);
    let cases = [
        (CertificateError::UnknownIssuer, Reason::UnknownIssuer),
        (CertificateError::BadSignature, Reason::UnknownIssuer),
        (CertificateError::NotValidForName, Reason::NotValidForName),
        (CertificateError::Expired, Reason::Expired),
        (
            CertificateError::ExpiredContext {
                time: UnixTime::since_unix_epoch(Duration::from_secs(NOW as u64)),
                not_after: UnixTime::since_unix_epoch(Duration::from_secs(0)),
            },
            Reason::Expired,
        ),
        (CertificateError::NotValidYet, Reason::NotYetValid),
        (CertificateError::BadEncoding, Reason::HandshakeFailed),
        (CertificateError::Revoked, Reason::HandshakeFailed),
    ];
    for (err, want) in cases {
        let p = tls_plane(
            "a.example",
            &Err(TlsError::InvalidCertificate(err.clone())),
            Some(&l),
            NOW,
        );
        assert_eq!((p.state, p.reason), (PlaneState::Failed, want), "{err:?}");
        assert!(p.remediation.is_some(), "{err:?}");
    }
}

#[test]
fn messages_name_the_dates_issuer_and_names() {
    let l = leaf(NOW + 2 * DAY, NOW - 3 * DAY);
    let expired = tls_plane(
        "a.example",
        &Err(TlsError::InvalidCertificate(CertificateError::Expired)),
        Some(&l),
        NOW,
    );
    assert_eq!(expired.message, "expired 3d ago (2025-12-29)");
    let early = tls_plane(
        "a.example",
        &Err(TlsError::InvalidCertificate(CertificateError::NotValidYet)),
        Some(&l),
        NOW,
    );
    assert_eq!(early.message, "valid only from 2026-01-03 (in 2d)");
    let unknown = tls_plane(
        "a.example",
        &Err(TlsError::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )),
        Some(&l),
        NOW,
    );
    assert!(
        unknown.message.contains("issued by CN=Test CA"),
        "{}",
        unknown.message
    );
    let name = tls_plane(
        "a.example",
        &Err(TlsError::InvalidCertificate(
            CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("a.example").unwrap(),
                presented: vec!["DnsName(\"b.example\")".into()],
            },
        )),
        Some(&l),
        NOW,
    );
    assert_eq!(
        name.message,
        "the certificate covers other.example, not a.example"
    );
}

#[test]
fn connection_failures_fill_both_planes() {
    let limits = (Duration::from_secs(1), Duration::from_secs(2));
    let (tls, http) = failure_planes("127.0.0.1:1", &ConnectFailure::HandshakeTimeout, limits);
    assert_eq!(
        (tls.reason, http.reason),
        (Reason::Timeout, Reason::Timeout)
    );
    assert_eq!(http.state, PlaneState::Failed);
    let (tls, http) = failure_planes("127.0.0.1:1", &ConnectFailure::Refused("x".into()), limits);
    assert_eq!(
        (tls.reason, http.reason),
        (Reason::HandshakeFailed, Reason::ConnectionRefused)
    );
    let (tls, http) = failure_planes("a:1", &ConnectFailure::Handshake("alert".into()), limits);
    assert_eq!(
        (tls.reason, http.state),
        (Reason::HandshakeFailed, PlaneState::Pending)
    );
    assert_eq!(http.reason, Reason::Waiting);
}

#[test]
fn plain_http_on_the_tls_port_is_not_tls_and_says_so() {
    let limits = (Duration::from_secs(1), Duration::from_secs(2));
    let (tls, http) = failure_planes(
        "127.0.0.1:8443",
        &ConnectFailure::NotTls("HTTP/1.1 400 Bad Request".into()),
        limits,
    );
    assert_eq!(
        (tls.state, tls.reason),
        (PlaneState::Failed, Reason::NotTls)
    );
    assert_eq!(
        tls.message,
        "127.0.0.1:8443 answered in plain HTTP (HTTP/1.1 400 Bad Request), not TLS: a plain \
         HTTP server listens on the TLS port"
    );
    let fix = tls.remediation.unwrap_or_default();
    assert!(
        fix.contains("plain HTTP server listens on 127.0.0.1:8443") && fix.contains("probe_edge"),
        "{fix}"
    );
    assert!(
        !fix.contains("certificate"),
        "not a certificate problem: {fix}"
    );
    assert_eq!(
        (http.state, http.reason),
        (PlaneState::Pending, Reason::Waiting)
    );
    // Only a refusal for the SNI asks for a certificate.
    let (tls, _) = failure_planes(
        "a:1",
        &ConnectFailure::Handshake("received corrupt message".into()),
        limits,
    );
    assert!(!tls.remediation.unwrap_or_default().contains("certificate"));
    let (tls, _) = failure_planes(
        "a:1",
        &ConnectFailure::NoCertificate("alert AccessDenied".into()),
        limits,
    );
    assert!(tls.remediation.unwrap_or_default().contains("certificate"));
}

#[test]
fn every_failed_plane_has_a_remediation() {
    let limits = (Duration::from_secs(1), Duration::from_secs(2));
    let mut planes = Vec::new();
    for failure in [
        ConnectFailure::ConnectTimeout,
        ConnectFailure::Refused("connection refused".into()),
        ConnectFailure::Reset("connection reset by peer".into()),
        ConnectFailure::Connect("network unreachable".into()),
        ConnectFailure::HandshakeTimeout,
        ConnectFailure::NoCertificate("alert AccessDenied".into()),
        ConnectFailure::Handshake("received corrupt message".into()),
        ConnectFailure::NotTls("HTTP/1.1 400 Bad Request".into()),
    ] {
        let (tls, http) = failure_planes("127.0.0.1:8443", &failure, limits);
        planes.push((format!("{failure:?}"), tls));
        planes.push((format!("{failure:?} (http)"), http));
    }
    let l = leaf(NOW - 10 * DAY, NOW - 3 * DAY);
    for err in [
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
        TlsError::InvalidCertificate(CertificateError::BadSignature),
        TlsError::InvalidCertificate(CertificateError::NotValidForName),
        TlsError::InvalidCertificate(CertificateError::Expired),
        TlsError::InvalidCertificate(CertificateError::NotValidYet),
        TlsError::InvalidCertificate(CertificateError::Revoked),
        TlsError::General("something else".into()),
    ] {
        for leaf in [Some(&l), None] {
            let p = tls_plane("a.example", &Err(err.clone()), leaf, NOW);
            planes.push((format!("{err:?} {}", leaf.is_some()), p));
        }
    }
    let mut failed = std::collections::BTreeSet::new();
    for (case, p) in &planes {
        record_failed(&mut failed, case, p);
    }
    for reason in [
        Reason::UnknownIssuer,
        Reason::NotValidForName,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::HandshakeFailed,
        Reason::NotTls,
        Reason::Timeout,
        Reason::ConnectionRefused,
        Reason::ConnectionReset,
    ] {
        assert!(failed.contains(&reason.code()), "{reason} is produced");
    }
}

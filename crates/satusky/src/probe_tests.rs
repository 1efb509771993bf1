//! `satusky probe` as the user runs it: flags parsed by clap, a table or SPEC §4 JSON, and the
//! exit code (0 all ready, 12 some plane not ready, 2 invalid input), against the prober's
//! test edge (DNS, TLS and HTTP on loopback; shared with `satusky-probe`'s own tests).

#[path = "../../probe/tests/support/mod.rs"]
mod support;

use clap::Parser;
use satusky_types::{Plane, PlaneState, Reason};
use support::{EdgeBuilder, TestEdge};

use super::{EXIT_INVALID, EXIT_NOT_READY, EXIT_READY, ProbeArgs, run_cli_captured};

async fn edge() -> TestEdge {
    EdgeBuilder::new("apps.test")
        .healthy("web-acme.apps.test", "acme/web@v4")
        .start()
        .await
}

fn args(edge: &TestEdge, ca: &std::path::Path, extra: &[&str]) -> ProbeArgs {
    let dns = edge.dns.to_string();
    let https = edge.https.to_string();
    let mut argv = vec![
        "probe",
        "--resolver",
        &dns,
        "--edge",
        &https,
        "--ca",
        ca.to_str().unwrap(),
        "--expect-release",
        "acme/web@v4",
        "--timeout",
        "2s",
    ];
    argv.extend_from_slice(extra);
    ProbeArgs::try_parse_from(argv).unwrap()
}

#[tokio::test]
async fn json_output_is_the_plane_format_and_the_exit_code_says_not_ready() {
    let edge = edge().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &edge.ca_pem).unwrap();
    let a = args(
        &edge,
        &ca,
        &["-o", "json", "web-acme.apps.test", "gone.apps.test"],
    );
    let (text, code) = run_cli_captured(a).await.unwrap();
    assert_eq!(code, EXIT_NOT_READY);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let items = doc.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["hostname"], "web-acme.apps.test");
    for plane in ["dns", "tls", "http"] {
        let p: Plane = serde_json::from_value(items[0][plane].clone()).unwrap();
        assert_eq!(p.state, PlaneState::Ready, "{plane}: {p:?}");
        assert!(p.checked_at.is_some());
    }
    assert_eq!(items[0]["dns"]["reason"], "ResolvesToEdge");
    assert_eq!(items[0]["http"]["message"], "GET / → 200 (acme/web@v4)");
    assert_eq!(items[1]["dns"]["state"], "failed");
    assert_eq!(items[1]["dns"]["reason"], "NxDomain");
    // No --zone: a custom domain, so the record to create is named.
    assert_eq!(
        items[1]["dns"]["remediation"],
        "create \"gone.apps.test. A 127.0.0.1\""
    );
    let p: Plane = serde_json::from_value(items[1]["tls"].clone()).unwrap();
    assert_eq!(p.reason, Reason::HandshakeFailed);
}

#[tokio::test]
async fn a_ready_host_exits_zero_with_a_table() {
    let edge = edge().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &edge.ca_pem).unwrap();
    let (text, code) = run_cli_captured(args(&edge, &ca, &["web-acme.apps.test"]))
        .await
        .unwrap();
    assert_eq!(code, EXIT_READY, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "web-acme.apps.test (ready)");
    assert!(lines[1].starts_with("PLANE"), "{text}");
    assert!(
        lines[2].starts_with("dns") && lines[2].contains("ResolvesToEdge"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("tls") && lines[3].contains("CertificateValid"),
        "{text}"
    );
    assert!(
        lines[4].starts_with("http") && lines[4].contains("GET / → 200"),
        "{text}"
    );
}

#[tokio::test]
async fn without_the_test_ca_the_issuer_is_unknown() {
    let edge = edge().await;
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    std::fs::write(&other, support::TestCa::new("Some Other CA").pem).unwrap();
    let (text, code) = run_cli_captured(args(&edge, &other, &["-o", "json", "web-acme.apps.test"]))
        .await
        .unwrap();
    assert_eq!(code, EXIT_NOT_READY);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc[0]["tls"]["reason"], "UnknownIssuer");
}

#[tokio::test]
async fn a_ca_file_without_certificates_is_invalid_input() {
    let edge = edge().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let (text, code) = run_cli_captured(args(&edge, &bad, &["web-acme.apps.test"]))
        .await
        .unwrap();
    assert_eq!((text.as_str(), code), ("", EXIT_INVALID));
}

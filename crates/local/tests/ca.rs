//! The local CA as its users meet it: the certificates it issues verify against `ca.pem` alone
//! for the right hostname, survive a restart, and its key stays private.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use satusky_local::ca::{CA_CERT_FILE, CA_KEY_FILE, LocalCa};

/// A verifier that trusts only `ca_pem`, as `curl --cacert` or the prober would.
fn verifier(ca_pem: &str) -> Arc<WebPkiServerVerifier> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap()
}

fn verify(
    ca_pem: &str,
    chain: &[CertificateDer<'static>],
    host: &str,
) -> Result<(), rustls::Error> {
    verifier(ca_pem)
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &ServerName::try_from(host.to_string()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

#[test]
fn issued_certificates_verify_against_the_ca_for_their_hostname_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(dir.path()).unwrap();
    let host = "web-acme.satusky.localhost";
    let certified = ca.issue(host).unwrap();
    assert_eq!(certified.cert.len(), 2, "the chain is leaf + CA");
    verify(ca.ca_pem(), &certified.cert, host).unwrap();

    let wrong = verify(ca.ca_pem(), &certified.cert, "other.satusky.localhost").unwrap_err();
    assert!(
        matches!(wrong, rustls::Error::InvalidCertificate(_)),
        "{wrong:?}"
    );

    let stranger = tempfile::tempdir().unwrap();
    let other_ca = LocalCa::load_or_create(stranger.path()).unwrap();
    let untrusted = verify(other_ca.ca_pem(), &certified.cert, host).unwrap_err();
    assert!(
        matches!(untrusted, rustls::Error::InvalidCertificate(_)),
        "another CA must not vouch for it: {untrusted:?}"
    );
}

#[test]
fn pem_files_for_other_tools_hold_the_chain_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(dir.path()).unwrap();
    let (chain_pem, key_pem) = ca.issue_pem("api.test").unwrap();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(chain.len(), 2);
    verify(ca.ca_pem(), &chain, "api.test").unwrap();
    assert!(key_pem.contains("PRIVATE KEY"));
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
}

#[test]
fn a_restart_keeps_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalCa::load_or_create(dir.path()).unwrap();
    let trusted = first.ca_pem().to_string();
    assert_eq!(first.ca_pem_path(), dir.path().join(CA_CERT_FILE));
    assert_eq!(
        std::fs::read_to_string(first.ca_pem_path()).unwrap(),
        trusted
    );
    drop(first);

    let again = LocalCa::load_or_create(dir.path()).unwrap();
    assert_eq!(again.ca_pem(), trusted, "the CA is reloaded, not replaced");
    let certified = again.issue("web.test").unwrap();
    verify(&trusted, &certified.cert, "web.test").unwrap();
}

#[test]
fn the_ca_key_is_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    LocalCa::load_or_create(dir.path()).unwrap();
    let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_ca_without_its_key_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalCa::load_or_create(dir.path()).unwrap();
    let trusted = ca.ca_pem().to_string();
    drop(ca);
    std::fs::remove_file(dir.path().join(CA_KEY_FILE)).unwrap();
    let err = LocalCa::load_or_create(dir.path()).unwrap_err();
    assert!(err.to_string().contains(CA_KEY_FILE), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join(CA_CERT_FILE)).unwrap(),
        trusted,
        "the trusted CA certificate is left alone"
    );
}

#[test]
fn a_key_that_does_not_match_the_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    LocalCa::load_or_create(dir.path()).unwrap();
    let other = tempfile::tempdir().unwrap();
    LocalCa::load_or_create(other.path()).unwrap();
    std::fs::copy(other.path().join(CA_KEY_FILE), dir.path().join(CA_KEY_FILE)).unwrap();
    let err = LocalCa::load_or_create(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not a usable CA"), "{err}");
}

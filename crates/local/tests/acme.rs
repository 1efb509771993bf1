//! Custom-domain certificates from a real ACME server (pebble): the local runtime, its edge
//! and the embedded DNS server on loopback, pebble validating HTTP-01 on the edge's HTTP port
//! and resolving through that DNS server. Issuance, serving, renewal without a failed
//! request, a failed challenge and an unreachable directory; with the secret key ring, the
//! account and keys sealed on disk (and plaintext ones from before sealed on the next start).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::KillOnDrop;
use rustls::pki_types::CertificateDer;
use satusky_core::runtime::{DesiredWorkload, Runtime};
use satusky_core::secrets::{KeyRing, OpenError};
use satusky_core::{AppHostnames, validate_spec};
use satusky_dns::{DnsServer, RecordData, ZoneRecords};
use satusky_local::acme::plan::CertInfo;
use satusky_local::acme::{AcmeConfig, AcmeIssuer, AcmeTimings, FilesError};
use satusky_local::ca::LocalCa;
use satusky_local::edge::{self, Edge, EdgeConfig, RELEASE_HEADER};
use satusky_local::ledger::MemoryLedger;
use satusky_local::routes::RouteTable;
use satusky_local::{LocalConfig, LocalRuntime};
use satusky_testkit::pebble::{Pebble, PebbleOptions, PebbleSetup, free_port, https_get};
use satusky_testkit::spec;
use satusky_types::{Hostname, Plane, PlaneState, Reason};

const TEST_APP: &str = env!("CARGO_BIN_EXE_satusky-test-app");
const ZONE: &str = "satusky.localhost";
const GEN: &str = "web-acme.satusky.localhost";
const SHOP: &str = "shop.example.test";

/// Short enough for a test to see a retry; the product's are 10 s … 10 min.
fn timings() -> AcmeTimings {
    AcmeTimings {
        retry_base: Duration::from_secs(1),
        retry_cap: Duration::from_secs(4),
        ..AcmeTimings::default()
    }
}

struct Fixture {
    _kill: KillOnDrop,
    state: tempfile::TempDir,
    rt: LocalRuntime,
    edge: Edge,
    _dns: DnsServer,
    records: ZoneRecords,
    ca: Arc<LocalCa>,
    pebble: Pebble,
    config: AcmeConfig,
}

/// DNS server, issuer, edge and runtime, then pebble validating on the edge's ports.
async fn fixture(validity_secs: Option<u64>) -> Fixture {
    fixture_with_keys(validity_secs, None).await
}

/// [`fixture`] with the issuer given the secret key ring `keys`.
async fn fixture_with_keys(validity_secs: Option<u64>, keys: Option<Arc<KeyRing>>) -> Fixture {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = tempfile::tempdir().unwrap();
    let zone = satusky_core::hostnames::Zone::parse(ZONE).unwrap();
    let records = ZoneRecords::new();
    let dns = satusky_dns::start("127.0.0.1:0".parse().unwrap(), &zone, records.clone())
        .await
        .unwrap();
    let setup = PebbleSetup::new();
    let config = AcmeConfig::new(setup.directory(), &setup.ca_file, None).unwrap();
    let issuer = AcmeIssuer::start(config.clone(), state.path(), timings(), keys).unwrap();
    let routes = RouteTable::new();
    let ca = Arc::new(LocalCa::load_or_create(&state.path().join("ca")).unwrap());
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let edge = edge::start_with_acme(
        EdgeConfig {
            http_addr: any,
            https_addr: any,
        },
        routes.clone(),
        ca.clone(),
        Some(issuer.serving()),
    )
    .await
    .unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let rt = LocalRuntime::start_with_acme(
        LocalConfig {
            state_dir: state.path().to_path_buf(),
            zone,
            edge_addresses: vec!["127.0.0.1".parse().unwrap()],
            probe_addr: Some(edge.https_addr()),
            isolation: satusky_local::isolation::Isolation::SameUser,
            ready_recheck: satusky_local::supervisor::READY_RECHECK,
        },
        routes,
        Arc::new(records.clone()),
        ledger.clone(),
        Some(issuer),
    )
    .await
    .unwrap();
    let pebble = setup
        .start(PebbleOptions {
            http_port: edge.http_addr().port(),
            tls_port: edge.https_addr().port(),
            dns: dns.local_addr(),
            validity_secs,
        })
        .await;
    Fixture {
        _kill: KillOnDrop(ledger),
        state,
        rt,
        edge,
        _dns: dns,
        records,
        ca,
        pebble,
        config,
    }
}

fn hostnames(custom: &str) -> Vec<Hostname> {
    vec![spec::generated_as(GEN), spec::alias(custom)]
}

fn desired(custom: &str) -> DesiredWorkload {
    let mut s = spec::app("web");
    s.command = Some(vec![TEST_APP.to_string()]);
    s.checks.timeout_ms = 500;
    DesiredWorkload {
        org: "acme".into(),
        app: "web".into(),
        release: 1,
        spec: validate_spec(s).unwrap(),
        artifact: None,
        hostnames: AppHostnames::new(hostnames(custom)).unwrap(),
        secrets: Default::default(),
        restarted_at_ms: None,
    }
}

impl Fixture {
    fn point(&self, host: &str, ip: &str) {
        self.records
            .set_static(host, vec![RecordData::A(ip.parse().unwrap())]);
    }

    async fn planes(&self, custom: &str) -> Vec<Option<Plane>> {
        self.rt
            .certificates("acme".into(), "web".into(), hostnames(custom))
            .await
            .unwrap()
    }

    /// Waits until the custom domain's certificate plane satisfies `cond`; every plane seen
    /// on the way is returned (the last one satisfies it).
    async fn wait_plane(
        &self,
        custom: &str,
        what: &str,
        cond: impl Fn(&Plane) -> bool,
    ) -> Vec<Plane> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen: Vec<Plane> = Vec::new();
        loop {
            let planes = self.planes(custom).await;
            assert_eq!(planes[0], None, "the platform zone keeps the local CA");
            let p = planes[1]
                .clone()
                .expect("a custom domain has an issuer plane");
            if seen.last() != Some(&p) {
                seen.push(p.clone());
            }
            if cond(&p) {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; planes seen: {seen:#?}\npebble: {}",
                self.pebble.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let o = self.rt.observe("acme".into(), "web".into()).await.unwrap();
            if o.replicas.available == 1 {
                return;
            }
            assert!(Instant::now() < deadline, "the app never served: {o:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn leaf_info(der: &CertificateDer<'_>) -> CertInfo {
    CertInfo::parse(der).expect("an X.509 leaf")
}

#[tokio::test]
async fn a_custom_domain_gets_a_certificate_from_pebble_that_the_edge_serves() {
    let f = fixture(None).await;
    f.point(SHOP, "127.0.0.1");
    f.rt.apply(desired(SHOP)).await.unwrap();
    let seen = f
        .wait_plane(SHOP, "the certificate", |p| p.state == PlaneState::Ready)
        .await;
    let ready = seen.last().unwrap();
    assert_eq!(ready.reason, Reason::CertificateValid, "{seen:#?}");
    assert!(
        seen.iter()
            .any(|p| p.reason == Reason::Issuing || p.reason == Reason::ChallengePending),
        "the steps before it show: {seen:#?}"
    );
    f.wait_serving().await;

    let root = f.pebble.root().await;
    let resp = https_get(f.edge.https_addr(), SHOP, "/", std::slice::from_ref(&root))
        .await
        .expect("the edge serves pebble's certificate for the custom domain");
    assert_eq!(resp.status, 200, "{}", resp.head);
    assert_eq!(resp.header(RELEASE_HEADER).as_deref(), Some("acme/web@v1"));
    let leaf = leaf_info(&resp.leaf);
    assert!(
        leaf.issuer.starts_with("Pebble Intermediate CA"),
        "{leaf:?}"
    );
    assert!(
        ready.message.contains(&leaf.issuer)
            && ready.message.contains(&leaf.serial)
            && ready.message.contains("valid until"),
        "the plane names the issuer and expiry: {}",
        ready.message
    );
    let local_ca = https_get(f.edge.https_addr(), SHOP, "/", &[f.ca.ca_der().clone()]).await;
    assert!(local_ca.is_err(), "not the local CA's: {local_ca:?}");
    let platform = https_get(f.edge.https_addr(), GEN, "/", &[f.ca.ca_der().clone()]).await;
    assert_eq!(
        platform
            .expect("the platform zone keeps the local CA")
            .status,
        200
    );

    // A restart reads the stored certificate back: nothing is ordered again.
    let again = AcmeIssuer::start(f.config.clone(), f.state.path(), timings(), None).unwrap();
    let status = again.status(SHOP).expect("loaded from STATE_DIR/acme");
    assert_eq!(status.cert.map(|c| c.serial), Some(leaf.serial));
    assert_eq!(again.plane(SHOP).reason, Reason::CertificateValid);
    let key = f.state.path().join("acme/certs/shop.example.test.key");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(key).unwrap().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn a_short_lived_certificate_is_renewed_while_clients_keep_connecting() {
    // pebble's certificateValidityPeriod: renewal is due after two thirds, 20 s in.
    let f = fixture(Some(30)).await;
    f.point(SHOP, "127.0.0.1");
    f.rt.apply(desired(SHOP)).await.unwrap();
    f.wait_plane(SHOP, "the first certificate", |p| {
        p.state == PlaneState::Ready
    })
    .await;
    f.wait_serving().await;
    let root = f.pebble.root().await;
    let first = https_get(f.edge.https_addr(), SHOP, "/", std::slice::from_ref(&root))
        .await
        .unwrap();
    let first = leaf_info(&first.leaf);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = {
        let (stop, ok, failed, addr, root) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            f.edge.https_addr(),
            root.clone(),
        );
        tokio::spawn(async move {
            let mut serials = Vec::<String>::new();
            let mut errors = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match https_get(addr, SHOP, "/", std::slice::from_ref(&root)).await {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::SeqCst);
                        let serial = leaf_info(&r.leaf).serial;
                        if serials.last() != Some(&serial) {
                            serials.push(serial);
                        }
                    }
                    other => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        errors.push(format!("{other:?}"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (serials, errors)
        })
    };
    f.wait_plane(SHOP, "a renewed certificate", |p| {
        p.state == PlaneState::Ready && !p.message.contains(&first.serial)
    })
    .await;
    // A few more requests on the new certificate, then stop.
    let settled = ok.load(Ordering::SeqCst) + 20;
    while ok.load(Ordering::SeqCst) < settled && failed.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (serials, errors) = client.await.unwrap();
    assert!(
        errors.is_empty(),
        "no request failed during renewal: {errors:?}"
    );
    assert_eq!(serials.first(), Some(&first.serial));
    assert!(
        serials.len() >= 2 && serials.last() != Some(&first.serial),
        "a second certificate with another serial was served: {serials:?}"
    );
    println!(
        "renewal: {} requests, serials {serials:?}",
        ok.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn a_failed_challenge_reports_pebbles_problem_and_when_it_retries() {
    let f = fixture(None).await;
    let broken = "broken.example.test";
    // The name resolves, but to an address where nothing listens: pebble's HTTP-01
    // validation cannot connect.
    f.point(broken, "127.0.0.2");
    f.rt.apply(desired(broken)).await.unwrap();
    let seen = f
        .wait_plane(broken, "a failed issuance", |p| {
            p.state == PlaneState::Failed
        })
        .await;
    let failed = seen.last().unwrap();
    assert_eq!(failed.reason, Reason::IssuanceFailed);
    let m = &failed.message;
    assert!(
        m.contains("the http-01 challenge for broken.example.test failed")
            && m.contains("urn:ietf:params:acme:error:")
            && m.contains("retrying at")
            && m.contains("(attempt 1 failed)"),
        "pebble's problem and the retry time: {m}"
    );
    println!("failed plane: {m}");
    f.wait_plane(broken, "the retry", |p| {
        p.message.contains("(attempt 2 failed)")
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_directory_is_a_failed_issuance_naming_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = tempfile::tempdir().unwrap();
    let setup = PebbleSetup::new(); // only for a CA file: no pebble runs
    let directory = format!("https://127.0.0.1:{}/dir", free_port());
    let config = AcmeConfig::new(directory.clone(), &setup.ca_file, None).unwrap();
    let issuer = AcmeIssuer::start(config, state.path(), timings(), None).unwrap();
    issuer.set_app("acme", "web", vec![SHOP.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let plane = loop {
        let p = issuer.plane(SHOP);
        if p.state == PlaneState::Failed {
            break p;
        }
        assert!(Instant::now() < deadline, "still {p:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(plane.reason, Reason::IssuanceFailed);
    assert!(
        plane
            .message
            .starts_with(&format!("cannot reach the ACME directory {directory}"))
            && plane.message.contains("retrying at"),
        "{}",
        plane.message
    );
    println!("unreachable directory: {}", plane.message);
    assert!(
        !state.path().join("acme/account.json").exists(),
        "no account without a server"
    );
}

fn ring(keys: &[(&str, u8)]) -> Arc<KeyRing> {
    Arc::new(
        KeyRing::new(
            keys.iter()
                .map(|(id, b)| (id.to_string(), [*b; 32]))
                .collect(),
        )
        .unwrap(),
    )
}

const ACCOUNT_FILE: &str = "acme/account.json";
const KEY_FILE: &str = "acme/certs/shop.example.test.key";

impl Fixture {
    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.state.path().join(rel)).unwrap()
    }

    /// The account and the certificate's key hold no private key and no credential in
    /// clear: each is a sealed envelope under `key_id`. The chain stays PEM.
    fn assert_sealed(&self, key_id: &str) {
        for rel in [ACCOUNT_FILE, KEY_FILE] {
            let text = self.read(rel);
            for clear in [
                "PRIVATE KEY",
                "-----BEGIN",
                "key_pkcs8",
                "credentials",
                "\"id\"",
            ] {
                assert!(
                    !text.contains(clear),
                    "{rel} holds {clear:?} in clear: {text}"
                );
            }
            assert!(
                text.starts_with(&format!("{{\"sealed\":1,\"key_id\":\"{key_id}\",")),
                "{rel}: {text}"
            );
        }
        assert!(
            self.read("acme/certs/shop.example.test.pem")
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
    }

    /// A new issuer on the same state dir with `keys` serves the stored certificate (its key
    /// opened and matching it) and orders nothing, even once the hostname is wanted again.
    async fn restart_serves_without_an_order(&self, keys: Arc<KeyRing>, serial: &str) {
        let again = AcmeIssuer::start(
            self.config.clone(),
            self.state.path(),
            timings(),
            Some(keys),
        )
        .unwrap();
        let status = again.status(SHOP).expect("loaded from STATE_DIR/acme");
        assert_eq!(status.cert.map(|c| c.serial).as_deref(), Some(serial));
        let certified = again.serving().certificate(SHOP).expect("served by SNI");
        certified
            .keys_match()
            .expect("the opened key is the certificate's");
        again.set_app("acme", "web", vec![SHOP.to_string()]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = again.status(SHOP).unwrap();
        assert_eq!(
            status.step,
            satusky_local::acme::plan::Step::Idle,
            "{status:?}"
        );
        assert_eq!(status.cert.map(|c| c.serial).as_deref(), Some(serial));
        assert_eq!(again.plane(SHOP).reason, Reason::CertificateValid);
    }

    async fn issue_and_serve(&self) -> String {
        self.point(SHOP, "127.0.0.1");
        self.rt.apply(desired(SHOP)).await.unwrap();
        self.wait_plane(SHOP, "the certificate", |p| p.state == PlaneState::Ready)
            .await;
        self.wait_serving().await;
        let root = self.pebble.root().await;
        let resp = https_get(
            self.edge.https_addr(),
            SHOP,
            "/",
            std::slice::from_ref(&root),
        )
        .await
        .expect("the edge serves pebble's certificate");
        assert_eq!(resp.status, 200, "{}", resp.head);
        leaf_info(&resp.leaf).serial
    }
}

#[tokio::test]
async fn with_the_secret_key_ring_the_account_and_key_are_sealed_and_a_restart_orders_nothing() {
    let f = fixture_with_keys(None, Some(ring(&[("k1", 1)]))).await;
    let serial = f.issue_and_serve().await;
    f.assert_sealed("k1");
    f.restart_serves_without_an_order(ring(&[("k1", 1)]), &serial)
        .await;
    // A ring with k1 second still opens them (and leaves them as they are).
    f.restart_serves_without_an_order(ring(&[("k2", 2), ("k1", 1)]), &serial)
        .await;
    f.assert_sealed("k1");

    // A ring without k1: the issuer does not start, naming the file and secret_keys.
    let e = AcmeIssuer::start(
        f.config.clone(),
        f.state.path(),
        timings(),
        Some(ring(&[("k2", 2)])),
    )
    .err()
    .expect("k1 is not in the ring");
    let account = f.state.path().join(ACCOUNT_FILE);
    assert!(
        matches!(&e, FilesError::Open { path, source: OpenError::UnknownKey(id), .. }
            if *path == account && id == "k1"),
        "{e:?}"
    );
    let text = satusky_core::error_chain(&e);
    assert!(
        text.contains(&account.display().to_string()) && text.contains("secret_keys"),
        "{text}"
    );
    println!("a ring without k1: {text}");
    // Without the account, the key file is the one named.
    std::fs::remove_file(&account).unwrap();
    let e = AcmeIssuer::start(
        f.config.clone(),
        f.state.path(),
        timings(),
        Some(ring(&[("k2", 2)])),
    )
    .err()
    .expect("k1 is not in the ring");
    let key = f.state.path().join(KEY_FILE);
    assert!(
        matches!(&e, FilesError::Open { path, .. } if *path == key),
        "{e:?}"
    );
    // No ring at all: the same, saying to set secret_keys.
    let e = AcmeIssuer::start(f.config.clone(), f.state.path(), timings(), None)
        .err()
        .expect("no ring");
    assert!(
        matches!(&e, FilesError::NoKeyRing { path, key_id, .. } if *path == key && key_id == "k1"),
        "{e:?}"
    );
    assert!(e.to_string().contains("set secret_keys"), "{e}");
}

#[tokio::test]
async fn plaintext_files_from_before_the_ring_are_read_and_sealed_on_the_next_start() {
    let f = fixture(None).await;
    let serial = f.issue_and_serve().await;
    assert!(
        f.read(KEY_FILE).contains("PRIVATE KEY"),
        "no ring: plaintext"
    );
    assert!(
        f.read(ACCOUNT_FILE).contains("key_pkcs8"),
        "no ring: plaintext"
    );
    f.restart_serves_without_an_order(ring(&[("k1", 1)]), &serial)
        .await;
    f.assert_sealed("k1");
    // And the sealed files serve on the start after.
    f.restart_serves_without_an_order(ring(&[("k1", 1)]), &serial)
        .await;
}

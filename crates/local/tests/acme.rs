//! Custom-domain certificates from a real ACME server (pebble): the local runtime, its edge
//! and the embedded DNS server on loopback, pebble validating HTTP-01 on the edge's HTTP port
//! and resolving through that DNS server. Issuance, serving, renewal without a failed
//! request, a failed challenge and an unreachable directory.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::KillOnDrop;
use rustls::pki_types::CertificateDer;
use satusky_core::runtime::{DesiredWorkload, Runtime};
use satusky_core::{AppHostnames, validate_spec};
use satusky_dns::{DnsServer, RecordData, ZoneRecords};
use satusky_local::acme::plan::CertInfo;
use satusky_local::acme::{AcmeConfig, AcmeIssuer, AcmeTimings};
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
    let _ = rustls::crypto::ring::default_provider().install_default();
    let state = tempfile::tempdir().unwrap();
    let zone = satusky_core::hostnames::Zone::parse(ZONE).unwrap();
    let records = ZoneRecords::new();
    let dns = satusky_dns::start("127.0.0.1:0".parse().unwrap(), &zone, records.clone())
        .await
        .unwrap();
    let setup = PebbleSetup::new();
    let config = AcmeConfig::new(setup.directory(), &setup.ca_file, None).unwrap();
    let issuer = AcmeIssuer::start(config.clone(), state.path(), timings()).unwrap();
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
    let again = AcmeIssuer::start(f.config.clone(), f.state.path(), timings()).unwrap();
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
    let issuer = AcmeIssuer::start(config, state.path(), timings()).unwrap();
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

//! Custom-domain certificates from a real ACME server (pebble) end to end through
//! `satusky dev` and `1ctl`, as a user lives with them (issue 13): `STATE_DIR/server.toml`
//! names the ACME directory (`[acme]`) and trusts pebble's issuing root (`ca_files`, for the
//! TLS plane); pebble validates HTTP-01 on the dev edge's HTTP port and resolves through the
//! dev's DNS server, so the records `1ctl domains setup` prints, written to server.toml's
//! `[[dns_records]]`, are what pebble sees too. Issuance → every plane ready → a real HTTPS
//! request verified against pebble's root only; a short-lived certificate renewed while a
//! client keeps connecting; a challenge pebble cannot complete → the TLS plane's
//! `IssuanceFailed` with pebble's problem and the retry time, and `1ctl deploy` exits 12.
//! The account and certificate keys under `STATE_DIR/acme` are sealed with dev's key ring.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Dev, bins, dns_records_toml, json, stderr, stdout};
use rustls::pki_types::CertificateDer;
use satusky_local::acme::plan::CertInfo;
use satusky_testkit::pebble::{Pebble, PebbleOptions, PebbleSetup, free_port, https_get};
use serde_json::Value;

const SHOP: &str = "shop.example.test";
const BROKEN: &str = "broken.example.test";
/// pebble's `certificateValidityPeriod` for the renewal test: renewal is due ⅔ in, 20 s
/// after issuance.
const SHORT_VALIDITY: u64 = 30;

/// `satusky dev` with `[acme]` pointing at a pebble that validates on the dev's edge, and the
/// runtime that runs pebble. Fields drop in order: the dev stops before pebble, the runtime
/// last.
struct AcmeDev {
    dev: Dev,
    pebble: Pebble,
    /// pebble's issuing root for this run (and `root_file`, its PEM in `ca_files`).
    root: CertificateDer<'static>,
    root_file: PathBuf,
    state: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    started: Instant,
}

/// A loopback port free for both TCP and UDP (the DNS server listens on both).
fn free_dns_port() -> u16 {
    loop {
        let port = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl AcmeDev {
    /// pebble first (the dev's server.toml needs its directory and issuing root), told the
    /// ports the dev will then listen on. `challenge_port`: where pebble sends HTTP-01
    /// requests instead of the edge's HTTP port (a port nothing listens on: a failed
    /// challenge).
    fn start(validity_secs: Option<u64>, challenge_port: Option<u16>) -> AcmeDev {
        let started = Instant::now();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (http, https, dns) = (free_port(), free_port(), free_dns_port());
        let setup = PebbleSetup::new();
        let directory = setup.directory();
        let ca_file = setup.ca_file.clone();
        let pebble = rt.block_on(setup.start(PebbleOptions {
            http_port: challenge_port.unwrap_or(http),
            tls_port: https,
            dns: ([127, 0, 0, 1], dns).into(),
            validity_secs,
        }));
        let pem = rt.block_on(pebble.root_pem());
        let root_file = pebble.setup.dir.path().join("issuing-root.pem");
        std::fs::write(&root_file, &pem).unwrap();
        let root = rt.block_on(pebble.root());

        let state = tempfile::tempdir().unwrap();
        std::fs::write(
            state.path().join("server.toml"),
            acme_toml(&root_file, &directory, &ca_file),
        )
        .unwrap();
        let addr = |port: u16| format!("127.0.0.1:{port}");
        let (http, https, dns) = (addr(http), addr(https), addr(dns));
        let dev = Dev::start_with(
            &bins(),
            state.path(),
            &[
                "--http-addr",
                &http,
                "--https-addr",
                &https,
                "--dns-addr",
                &dns,
            ],
        );
        assert_eq!(dev.info["dns_addr"], dns.as_str());
        println!("[{:>5.1?}] pebble and satusky dev up", started.elapsed());
        AcmeDev {
            dev,
            pebble,
            root,
            root_file,
            state,
            rt,
            started,
        }
    }

    fn note(&self, what: &str) {
        println!("[{:>5.1?}] {what}", self.started.elapsed());
    }

    /// Writes server.toml again: the `[acme]` and `ca_files` lines, then `records` (the
    /// machine's simulated external DNS) as `(name, type, value)`.
    fn publish(&self, records: &[(String, String, String)]) {
        let text = std::fs::read_to_string(self.state.path().join("server.toml")).unwrap();
        let mut toml = text
            .split("[[dns_records]]")
            .next()
            .unwrap()
            .trim_end()
            .to_string();
        toml.push_str("\n\n");
        toml.push_str(&dns_records_toml(records));
        std::fs::write(self.state.path().join("server.toml"), toml).unwrap();
    }

    /// `1ctl domains setup HOST -o json`'s records, as `(name, type, value)`.
    fn setup_records(&self, dir: &Path, host: &str) -> Vec<(String, String, String)> {
        let setup = json(
            &self
                .dev
                .onectl_exits(0, dir, &["domains", "setup", host, "-o", "json"]),
        );
        let records: Vec<_> = setup["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap().to_string();
                (s("name"), s("type"), s("value"))
            })
            .collect();
        let kinds: Vec<&str> = records.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(kinds, ["TXT", "CNAME"], "{setup:#}");
        records
    }

    /// `1ctl domains check HOST -o json` until `done` holds (each plane seen on the way is
    /// printed once).
    fn check_until(
        &self,
        dir: &Path,
        host: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = String::new();
        let watch = |c: &Value| {
            let planes = summary(c);
            if planes != last {
                self.note(&format!("check {host}: {planes}"));
                last = planes;
            }
        };
        let context = || format!("{}\npebble:\n{}", self.dev.log(), self.pebble.log());
        common::check_until(&self.dev, dir, host, what, done, watch, context)
    }

    /// `GET https://HOST/healthz` at the edge over a new connection, verified against pebble's
    /// issuing root only.
    fn get_pebble_verified(&self, host: &str) -> Result<(u16, Option<String>, CertInfo), String> {
        let resp = self.rt.block_on(https_get(
            self.dev.https_addr(),
            host,
            "/healthz",
            std::slice::from_ref(&self.root),
        ))?;
        let leaf = CertInfo::parse(&resp.leaf).ok_or("the leaf is not X.509")?;
        Ok((resp.status, resp.header("x-satusky-release"), leaf))
    }
}

fn acme_toml(root: &Path, directory: &str, ca_file: &Path) -> String {
    format!(
        "ca_files = [{:?}]\n\n[acme]\ndirectory = {directory:?}\nca_file = {:?}\nemail = \"ops@example.test\"\n",
        root.display().to_string(),
        ca_file.display().to_string(),
    )
}

/// `ownership=ready dns=ready tls=failed/IssuanceFailed …`
fn summary(c: &Value) -> String {
    ["ownership", "route", "dns", "tls", "http"]
        .iter()
        .map(|p| {
            let state = c[p]["state"].as_str().unwrap_or("?");
            match c[p]["reason"].as_str() {
                Some(r) if state != "ready" => format!("{p}={state}/{r}"),
                _ => format!("{p}={state}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn all_ready(c: &Value) -> bool {
    ["ownership", "route", "dns", "tls", "http"]
        .iter()
        .all(|p| c[p]["state"] == "ready")
}

/// Deploys `web`, adds SHOP with `1ctl domains add`, publishes the records `domains setup`
/// prints and waits until `domains check` shows every plane ready; returns the app's folder,
/// the check and the release SHOP must serve.
fn serve_shop(a: &AcmeDev) -> (tempfile::TempDir, Value, String) {
    let app = bins().test_app_dir("web", &[], "");
    let dir = app.path();
    a.dev.onectl_exits(0, dir, &["deploy"]);
    a.note("deployed");
    a.dev.onectl_exits(0, dir, &["domains", "add", SHOP]);
    let records = a.setup_records(dir, SHOP);
    a.publish(&records);
    a.note("records published");
    let c = a.check_until(dir, SHOP, "every plane ready", all_ready);
    a.dev.onectl_exits(0, dir, &["domains", "check", SHOP]);
    let release = format!("{}/web@v1", a.dev.info["org"].as_str().unwrap());
    (app, c, release)
}

#[test]
fn a_custom_domain_gets_pebbles_certificate_and_every_plane_turns_ready() {
    let a = AcmeDev::start(None, None);
    let (_app, c, release) = serve_shop(&a);
    // Once the issuer holds a certificate the handshake decides the plane
    // (satusky_core::endpoints::with_issuer): pebble's default lifetime is years, so
    // CertificateValid.
    assert_eq!(c["tls"]["reason"], "CertificateValid", "{c:#}");
    let tls = c["tls"]["message"].as_str().unwrap();
    assert!(
        tls.contains("issued by CN=Pebble Intermediate CA"),
        "names pebble: {tls}"
    );

    // A real client, trusting pebble's issuing root only.
    let pem = std::fs::read(&a.root_file).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .resolve(SHOP, a.dev.https_addr())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = a.dev.url(SHOP, "/healthz");
    let resp =
        a.rt.block_on(async { client.get(&url).send().await })
            .expect("the edge serves pebble's certificate for the custom domain");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-satusky-release"].to_str().unwrap(),
        release
    );
    let (status, _, leaf) = a.get_pebble_verified(SHOP).unwrap();
    assert_eq!(status, 200);
    assert!(
        leaf.issuer.starts_with("Pebble Intermediate CA"),
        "{leaf:?}"
    );
    a.note(&format!("served: {leaf:?}"));
    // dev's secret key ring (STATE_DIR/secret-keys/dev.key) seals the ACME account and the
    // certificate's key: no private key or credential in clear. The chain stays PEM.
    for rel in ["acme/account.json", "acme/certs/shop.example.test.key"] {
        let text = std::fs::read_to_string(a.state.path().join(rel)).unwrap();
        assert!(
            text.starts_with("{\"sealed\":1,\"key_id\":\"dev\",")
                && !text.contains("PRIVATE KEY")
                && !text.contains("key_pkcs8"),
            "{rel}: {text}"
        );
    }
    let chain = std::fs::read_to_string(a.state.path().join("acme/certs/shop.example.test.pem"));
    assert!(chain.unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    // Not the local CA's: a client trusting only the dev CA refuses it.
    let local =
        a.rt.block_on(async { a.dev.client_for(SHOP).get(&url).send().await });
    assert!(local.is_err(), "{local:?}");
    // The plane's reading was that certificate's, not the local CA's served before it.
    let expiry = humantime::format_rfc3339(leaf.not_after).to_string();
    let message = c["tls"]["message"].as_str().unwrap();
    assert!(message.contains(&expiry[..10]), "{message} vs {leaf:?}");
}

#[test]
fn a_short_lived_certificate_is_renewed_while_a_client_keeps_connecting() {
    let a = AcmeDev::start(Some(SHORT_VALIDITY), None);
    let (app, c, release) = serve_shop(&a);
    // Under 14 days left: ready, with the warning.
    assert_eq!(c["tls"]["reason"], "ExpiringSoon", "{c:#}");
    let (_, _, first) = a.get_pebble_verified(SHOP).unwrap();
    a.note(&format!("served by pebble's certificate {}", first.serial));

    // Renewal is due ⅔ into the certificate's life: a client opening a new connection every
    // 20 ms sees no failure and the serial change.
    let deadline = Instant::now() + Duration::from_secs(SHORT_VALIDITY + 30);
    let mut serials = vec![first.serial.clone()];
    let (mut ok, mut after_change) = (0usize, 0usize);
    while serials.len() < 2 || after_change < 20 {
        assert!(
            Instant::now() < deadline,
            "no renewal seen: {serials:?} after {ok} requests\n{}",
            a.dev.log()
        );
        match a.get_pebble_verified(SHOP) {
            Ok((200, Some(r), leaf)) if r == release => {
                ok += 1;
                if serials.last() != Some(&leaf.serial) {
                    a.note(&format!("now serving {} ({})", leaf.serial, leaf.issuer));
                    serials.push(leaf.serial);
                }
                if serials.len() >= 2 {
                    after_change += 1;
                }
            }
            other => panic!(
                "a request failed after {ok} good ones across renewal: {other:?}\n{}",
                a.dev.log()
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(serials.len(), 2, "{serials:?}");
    a.note(&format!("renewal: {ok} requests, serials {serials:?}"));
    let c = json(
        &a.dev
            .onectl_exits(0, app.path(), &["domains", "check", SHOP, "-o", "json"]),
    );
    assert!(all_ready(&c), "{c:#}");
}

#[test]
fn a_challenge_pebble_cannot_complete_is_a_failed_tls_plane_and_the_deploy_exits_12() {
    // pebble sends its HTTP-01 requests to a port nothing listens on: the domain's records are
    // right (ownership, route and DNS turn ready), only issuance fails.
    let a = AcmeDev::start(None, Some(free_port()));
    let app = bins().test_app_dir("api", &[], &format!("[[domains]]\nhost = \"{BROKEN}\"\n"));
    let dir = app.path();
    a.dev
        .onectl_exits(0, dir, &["deploy", "--wait-for", "workload"]);
    a.note("deployed");
    let records = a.setup_records(dir, BROKEN);
    a.publish(&records);
    a.note("records published");

    let c = a.check_until(dir, BROKEN, "a failed issuance", |c| {
        c["tls"]["state"] == "failed"
    });
    assert_eq!(c["tls"]["reason"], "IssuanceFailed", "{c:#}");
    for plane in ["ownership", "route", "dns"] {
        assert_eq!(c[plane]["state"], "ready", "{plane}: {c:#}");
    }
    let m = c["tls"]["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("the http-01 challenge for {BROKEN} failed"))
            && m.contains("urn:ietf:params:acme:error:")
            && m.contains("retrying at"),
        "pebble's problem and the retry time: {m}"
    );
    println!("tls: {m}");
    let text = stdout(&a.dev.onectl_exits(12, dir, &["domains", "check", BROKEN]));
    assert!(text.contains("IssuanceFailed"), "{text}");

    // The app's own satusky.toml lists the domain, its TXT is proven: the deploy waits for
    // the endpoint and exits 12 with the failed TLS plane.
    let out = a.dev.onectl_exits(12, dir, &["deploy", "--timeout", "20s"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("IssuanceFailed"), "{said}");
    a.note("deploy exited 12");
    println!("deploy said:\n{said}");
}

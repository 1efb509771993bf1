//! An app's secrets in the local runtime, with real processes: a replica reads them from its
//! environment, a heal with a new secret version starts a replica with the new value, and no
//! value ever reaches the disk (the runtime's whole state dir, byte by byte), the process
//! ledger, the replicas' logs, the observation or a tracing event.

mod common;

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::KillOnDrop;
use satusky_core::runtime::{BuildRequest, DesiredWorkload, LogSink, Runtime};
use satusky_core::secrets::{SecretEntry, SecretValue, Secrets};
use satusky_core::{AppHostnames, validate_spec};
use satusky_dns::ZoneRecords;
use satusky_local::ledger::{Ledger, MemoryLedger};
use satusky_local::routes::{Route, RouteTable};
use satusky_local::{LocalConfig, LocalRuntime};
use satusky_testkit::spec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const TEST_APP: &str = env!("CARGO_BIN_EXE_satusky-test-app");
const GEN: &str = "web-acme.satusky.localhost";

/// Every tracing event and span field of this test binary, as text.
fn captured() -> &'static Mutex<String> {
    static TEXT: OnceLock<Arc<Mutex<String>>> = OnceLock::new();
    TEXT.get_or_init(|| {
        let text = Arc::new(Mutex::new(String::new()));
        let capture = Capture {
            text: Arc::clone(&text),
            next: AtomicU64::new(1),
        };
        tracing::subscriber::set_global_default(capture).expect("the only subscriber");
        text
    })
}

struct Capture {
    text: Arc<Mutex<String>>,
    next: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut Fields(&mut self.text.lock().unwrap()));
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&mut self.text.lock().unwrap()));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = self.text.lock().unwrap();
        text.push('\n');
        text.push_str(event.metadata().target());
        event.record(&mut Fields(&mut text));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// A value that cannot turn up anywhere by chance.
fn unique_value(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}-{}-{nanos:x}-never-on-disk", std::process::id())
}

fn secrets(version: u64, value: &str) -> Secrets {
    let entry = SecretEntry {
        version,
        value: SecretValue::new(value),
    };
    [("API_TOKEN".to_string(), entry)].into()
}

fn desired(secrets: Secrets) -> DesiredWorkload {
    let mut s = spec::app("web");
    s.command = Some(vec![
        TEST_APP.to_string(),
        "--echo-env".into(),
        "API_TOKEN".into(),
        "--print".into(),
        "started".into(),
    ]);
    s.env = spec::env(&[("LOG_LEVEL", "info")]);
    s.secrets.required = vec!["API_TOKEN".into()];
    s.checks.timeout_ms = 500;
    DesiredWorkload {
        org: "acme".into(),
        app: "web".into(),
        release: 1,
        spec: validate_spec(s).unwrap(),
        artifact: None,
        hostnames: AppHostnames::new(vec![spec::generated_as(GEN)]).unwrap(),
        secrets,
        restarted_at_ms: None,
    }
}

/// Builds a small context (with a build command) and returns its artifact.
async fn build(rt: &LocalRuntime) -> String {
    let mut tar = tar::Builder::new(Vec::new());
    let body = b"config of the app\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "app.conf", &body[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    let summary = rt
        .builder()
        .store_context("acme", &gz.finish().unwrap())
        .unwrap();
    let mut s = spec::app("web");
    s.build.command = Some("echo built > built.txt".into());
    let req = BuildRequest {
        org: "acme".into(),
        app: "web".into(),
        release: 1,
        context: summary.digest,
        spec: s,
        timeout: None,
    };
    let log: LogSink = Arc::new(|_: &str| {});
    rt.build(req, log).await.unwrap().artifact
}

/// The upstream the generated hostname is routed to, once there is exactly one.
fn upstream(routes: &RouteTable) -> Option<SocketAddr> {
    match routes.lookup(GEN)? {
        Route::Serve { upstreams, .. } if upstreams.len() == 1 => Some(upstreams[0]),
        _ => None,
    }
}

async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The body of `GET /env` on `addr`.
async fn echoed_env(addr: SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /env HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{out}");
    body.to_string()
}

/// Every file under `root` (not following links) that holds `needle`, and how many files
/// were read.
fn files_holding(root: &Path, needle: &[u8]) -> (Vec<String>, usize) {
    let (mut found, mut read) = (Vec::new(), 0);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let Ok(bytes) = std::fs::read(entry.path()) else {
                    continue; // removed meanwhile (a draining replica's copy)
                };
                read += 1;
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(entry.path().display().to_string());
                }
            }
        }
    }
    (found, read)
}

#[tokio::test]
async fn a_replica_reads_its_secret_from_its_environment_and_nothing_stores_or_logs_it() {
    let captured = captured();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let _kill = KillOnDrop(Arc::clone(&ledger));
    let routes = RouteTable::new();
    let config = LocalConfig {
        state_dir: dir.path().to_path_buf(),
        zone: satusky_core::hostnames::Zone::parse("satusky.localhost").unwrap(),
        edge_addresses: vec!["127.0.0.1".parse().unwrap()],
        probe_addr: None,
        isolation: satusky_local::isolation::Isolation::SameUser,
        ready_recheck: satusky_local::supervisor::READY_RECHECK,
    };
    let zone = Arc::new(ZoneRecords::new());
    let rt = LocalRuntime::start(config, routes.clone(), zone, ledger.clone())
        .await
        .unwrap();

    // A built artifact, so each replica works in a copy of it under the state dir.
    let artifact = build(&rt).await;
    let desired = |secrets| DesiredWorkload {
        artifact: Some(artifact.clone()),
        ..desired(secrets)
    };
    let first = unique_value("first");
    rt.apply(desired(secrets(1, &first))).await.unwrap();
    let addr = wait_for("the replica to be routed", || upstream(&routes)).await;
    assert_eq!(echoed_env(addr).await, first);

    // A heal of the same release with a new version of the secret is a new workload: a new
    // replica, with the new value, takes over.
    let second = unique_value("second");
    rt.heal(desired(secrets(2, &second))).await.unwrap();
    let new_addr = wait_for("the new replica to be routed", || {
        upstream(&routes).filter(|a| *a != addr)
    })
    .await;
    assert_eq!(echoed_env(new_addr).await, second);

    for value in [&first, &second] {
        let (found, read) = files_holding(dir.path(), value.as_bytes());
        assert!(found.is_empty(), "the secret is on disk in {found:?}");
        assert!(read > 0, "the walk read the replicas' files");
        for entry in ledger.all().await.unwrap() {
            assert!(!format!("{entry:?}").contains(value.as_str()), "{entry:?}");
        }
        let logs = rt.logs("acme", "web");
        assert!(logs.iter().any(|l| l.ends_with("] started")), "{logs:?}");
        assert!(!logs.iter().any(|l| l.contains(value.as_str())), "{logs:?}");
        let obs = rt.observe("acme".into(), "web".into()).await.unwrap();
        assert!(!format!("{obs:?}").contains(value.as_str()));
        let traced = captured.lock().unwrap().clone();
        assert!(traced.contains("rollout complete"), "{traced}");
        assert!(!traced.contains(value.as_str()), "a tracing field holds it");
    }
    // A control for the byte search: a value that is written is found.
    let marker = dir.path().join("marker");
    std::fs::write(&marker, &second).unwrap();
    assert_eq!(files_holding(dir.path(), second.as_bytes()).0.len(), 1);
    rt.shutdown().await;
}

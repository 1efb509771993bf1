//! Shared by the drift tests: calling the API in-process, a store in a temp dir, the drift
//! report and `drift` events, polling, and a local stack on free ports.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use satusky_store::Store;
use satusky_types::{EventType, Role};
use serde_json::Value;
use tower::ServiceExt;

pub const ORG: &str = "acme";

/// The API router of a state, called in-process.
pub struct Api {
    pub router: axum::Router,
    pub token: String,
}

impl Api {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let res = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// Upload a small build context and `PUT` `spec` as `app` with it; the release number.
    pub async fn deploy_spec(&self, app: &str, spec: Value) -> u64 {
        let req = Request::post(format!("/v1/orgs/{ORG}/builds"))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/gzip")
            .body(Body::from(context()))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value =
            serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        let (status, accepted) = self
            .call(
                Method::PUT,
                &format!("/v1/orgs/{ORG}/apps/{app}"),
                Some(serde_json::json!({"spec": spec, "context": body["context"]})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        accepted["release"].as_u64().unwrap()
    }

    /// `GET /metrics` as text (no auth).
    pub async fn metrics(&self) -> String {
        let res = self
            .router
            .clone()
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// `/metrics` shows `n` open drift findings on `plane`.
    pub async fn assert_drift_gauge(&self, plane: &str, n: usize) {
        let metrics = self.metrics().await;
        let line = format!("satusky_drift_findings{{plane=\"{plane}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }

    /// `GET …/drift`, optionally with `?check=true`.
    pub async fn drift(&self, app: &str, check: bool) -> Value {
        let q = if check { "?check=true" } else { "" };
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/v1/orgs/{ORG}/apps/{app}/drift{q}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A drift check of `app` (`?check=true`) finds nothing.
    pub async fn assert_no_drift(&self, app: &str, when: &str) {
        let report = self.drift(app, true).await;
        assert_eq!(
            report["findings"],
            serde_json::json!([]),
            "no drift {when}: {report:#}"
        );
    }

    pub async fn status(&self, app: &str) -> Value {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/v1/orgs/{ORG}/apps/{app}/status"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Wait until the app's release `version` is active and the phase is `ready`.
    pub async fn wait_ready(&self, app: &str, version: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = self.status(app).await;
            if s["active_release"] == version && s["phase"] == "ready" {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "v{version} of {app} did not become ready: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A migrated SQLite store in `dir` with org `acme` and an admin token for it, plus a token
/// of another org.
pub async fn store(dir: &std::path::Path) -> (Store, String, String) {
    let store = Store::open_sqlite_file(&dir.join("state.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.ensure_org(ORG).await.unwrap();
    store.ensure_org("other").await.unwrap();
    let token = store.create_token(ORG, Role::Admin).await.unwrap();
    let other = store.create_token("other", Role::Admin).await.unwrap();
    (store, token, other)
}

/// Publishes `org`'s ownership proof of each of `hosts` (TXT `_satusky-challenge.HOST`) in
/// `records`, as the domain's owner would at their DNS provider.
pub fn publish_proofs(records: &satusky_dns::ZoneRecords, org: &str, hosts: &[&str]) {
    for host in hosts {
        records.set_static(
            &satusky_core::ownership::txt_name(host),
            vec![satusky_dns::RecordData::Txt(
                satusky_core::ownership::txt_value(org, host),
            )],
        );
    }
}

/// The finding of `hostname` on `plane` in a drift report.
pub fn finding<'a>(report: &'a Value, hostname: &str, plane: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["hostname"] == hostname && f["plane"] == plane)
}

/// The `http` finding for `hostname` in `report`, which must have observed release `vN`
/// (a stale release served).
pub fn stale_release_finding<'a>(report: &'a Value, hostname: &str, version: u64) -> &'a Value {
    let f = finding(report, hostname, "http")
        .unwrap_or_else(|| panic!("the stale release is found: {report:#}"));
    assert!(
        f["observed"]
            .as_str()
            .unwrap()
            .contains(&format!("@v{version}")),
        "{f:#}"
    );
    f
}

/// The app's `drift` events' data, in order.
pub async fn drift_events(store: &Store, app: &str) -> Vec<Value> {
    store
        .events_after(ORG, app, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventType::Drift)
        .map(|e| e.data)
        .collect()
}

/// The app's `drift` events about (`hostname`, `plane`), in order: each opening (without
/// `healed_at`) followed by its closing once healed.
pub async fn finding_events(store: &Store, app: &str, hostname: &str, plane: &str) -> Vec<Value> {
    drift_events(store, app)
        .await
        .into_iter()
        .filter(|e| e["hostname"] == hostname && e["plane"] == plane)
        .collect()
}

/// Poll `f` until it yields `Some`, or fail with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Check that a finding opened and healed shows in both the report and the events, with
/// first_seen ≤ last_seen ≤ healed_at.
pub async fn assert_healed(store: &Store, report: &Value, app: &str, hostname: &str, plane: &str) {
    let f = finding(report, hostname, plane)
        .unwrap_or_else(|| panic!("no {plane} finding for {hostname}: {report:#}"));
    assert_eq!(f["owner"], "platform", "{f}");
    let healed = f["healed_at"]
        .as_str()
        .unwrap_or_else(|| panic!("{plane} drift of {hostname} not healed: {f:#}"));
    let (first, last) = (
        f["first_seen"].as_str().unwrap(),
        f["last_seen"].as_str().unwrap(),
    );
    assert!(first <= last && last <= healed, "{f:#}");
    let events = drift_events(store, app).await;
    let ours: Vec<&Value> = events
        .iter()
        .filter(|e| e["hostname"] == hostname && e["plane"] == plane)
        .collect();
    assert!(
        ours.iter().any(|e| e["healed_at"].is_null()
            && e["first_seen"].is_string()
            && e["expected"].is_string()
            && e["observed"].is_string()),
        "an opening drift event for {hostname}/{plane}: {events:#?}"
    );
    assert!(
        ours.iter().any(|e| e["healed_at"] == healed),
        "a healing drift event for {hostname}/{plane}: {events:#?}"
    );
}

/// A local stack on `store` with its state in `state_dir`, on free loopback ports, zone
/// `satusky.localhost`, apps run as this user, probing only when asked (the engine is not
/// started: the caller starts it when it needs deploys to run).
pub async fn local_stack(state_dir: &std::path::Path, store: Store) -> satusky_stack::LocalStack {
    let any_port = || std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
    satusky_stack::LocalStack::start(
        satusky_stack::LocalStackConfig {
            state_dir: state_dir.to_path_buf(),
            zone: satusky_core::hostnames::Zone::parse("satusky.localhost").unwrap(),
            http_addr: any_port(),
            https_addr: any_port(),
            dns_addr: any_port(),
            probe_interval: Duration::from_secs(3600),
            isolation: satusky_local::isolation::Isolation::SameUser,
            build_timeout: satusky_server::engine::DEFAULT_BUILD_TIMEOUT,
            ready_recheck: satusky_local::supervisor::READY_RECHECK,
            acme: None,
            extra_roots: Vec::new(),
        },
        store,
        satusky_dns::ZoneRecords::new(),
    )
    .await
    .unwrap()
}

/// The local runtime's test server, built by `cargo test --workspace` next to this test's
/// binary (`target/<profile>/`): `CARGO_BIN_EXE_…` only names binaries of this package.
pub fn test_app() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join(format!("satusky-test-app{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: it is satusky-local's test server; run `cargo test --workspace` (or `cargo build -p satusky-local --bin satusky-test-app`) first",
        path.display()
    );
    path
}

/// The spec of `app`: one replica of the test server run with `args`.
pub fn test_app_spec(app: &str, args: &[&str]) -> Value {
    let mut command = vec![test_app().display().to_string()];
    command.extend(args.iter().map(|a| a.to_string()));
    serde_json::json!({
        "name": app, "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
        "command": command,
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "checks": {"path": "/healthz", "expect": "2xx", "timeout_ms": 1000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 120}
    })
}

/// A small build context (the command is the local test server: nothing to build).
pub fn context() -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let data = b"a test context: the command is the local test server\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "README", &data[..]).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

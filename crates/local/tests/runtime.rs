//! `LocalRuntime` end to end with real processes: rolling and recreate rollouts, a failing
//! release leaving the previous one routed, image-only apps, route planes, removal, reaping.

mod common;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::KillOnDrop;
use satusky_core::runtime::{BuildRequest, DesiredWorkload, Runtime, WorkloadObservation};
use satusky_core::{AppHostnames, validate_spec};
use satusky_dns::{RecordData, ZoneRecords};
use satusky_local::ledger::{
    Ledger, LedgerEntry, MemoryLedger, ProcessKind, process_running, process_start_ticks,
};
use satusky_local::routes::{Route, RouteTable};
use satusky_local::runtime::{IMAGE_ONLY, NO_COMMAND};
use satusky_local::{LocalConfig, LocalRuntime};
use satusky_testkit::spec;
use satusky_types::{AppSpec, Hostname, PlaneState, Reason, Strategy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEST_APP: &str = env!("CARGO_BIN_EXE_satusky-test-app");
const GEN: &str = "web-acme.satusky.localhost";
const ALIAS: &str = "web.example.test";
const REDIRECT: &str = "www.example.test";

struct Fixture {
    _kill: KillOnDrop,
    _dir: tempfile::TempDir,
    rt: LocalRuntime,
    routes: RouteTable,
    zone: ZoneRecords,
}

async fn fixture_with(ledger: Arc<MemoryLedger>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (routes, zone) = (RouteTable::new(), ZoneRecords::new());
    let config = LocalConfig {
        state_dir: dir.path().to_path_buf(),
        zone: satusky_core::hostnames::Zone::parse("satusky.localhost").unwrap(),
        edge_addresses: vec!["127.0.0.1".parse().unwrap()],
        probe_addr: Some("127.0.0.1:8443".parse().unwrap()),
        isolation: satusky_local::isolation::Isolation::SameUser,
        ready_recheck: satusky_local::supervisor::READY_RECHECK,
    };
    let rt = LocalRuntime::start(
        config,
        routes.clone(),
        Arc::new(zone.clone()),
        ledger.clone(),
    )
    .await
    .unwrap();
    Fixture {
        _kill: KillOnDrop(ledger),
        _dir: dir,
        rt,
        routes,
        zone,
    }
}

async fn fixture() -> Fixture {
    fixture_with(Arc::new(MemoryLedger::new())).await
}

fn spec(replicas: u32, command: Option<Vec<String>>) -> AppSpec {
    let mut s = spec::app("web");
    s.replicas = replicas;
    s.command = command;
    s.checks.timeout_ms = 500;
    s
}

fn hostnames() -> Vec<Hostname> {
    vec![
        spec::generated_as(GEN),
        spec::alias(ALIAS),
        spec::redirect(REDIRECT, "https://web.example.test"),
    ]
}

fn desired(release: u64, replicas: u32, args: &[&str]) -> DesiredWorkload {
    let mut command = vec![TEST_APP.to_string()];
    command.extend(args.iter().map(|a| a.to_string()));
    DesiredWorkload {
        org: "acme".into(),
        app: "web".into(),
        release,
        spec: validate_spec(spec(replicas, Some(command))).unwrap(),
        artifact: None,
        hostnames: AppHostnames::new(hostnames()).unwrap(),
        secrets: Default::default(),
        restarted_at_ms: None,
    }
}

/// Changes `d`'s spec with `edit`; the result must validate, as every desired spec does.
fn respec(d: &mut DesiredWorkload, edit: impl FnOnce(&mut AppSpec)) {
    let mut spec = d.spec.spec().clone();
    edit(&mut spec);
    d.spec = validate_spec(spec).unwrap();
}

async fn observe(rt: &LocalRuntime) -> WorkloadObservation {
    rt.observe("acme".into(), "web".into()).await.unwrap()
}

async fn wait_obs(rt: &LocalRuntime, what: &str, cond: impl Fn(&WorkloadObservation) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = observe(rt).await;
        if cond(&o) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn ready(release: u64, n: u32) -> impl Fn(&WorkloadObservation) -> bool {
    move |o| {
        let r = o.replicas;
        o.release == Some(release) && r.ready == n && r.updated == n && r.available == n
    }
}

/// (release id, upstreams) of the generated hostname.
fn served(routes: &RouteTable) -> Option<(String, Vec<SocketAddr>)> {
    match routes.lookup(GEN)? {
        Route::Serve {
            release_id,
            upstreams,
            ..
        } => Some((release_id, upstreams)),
        Route::Redirect { .. } | Route::Static { .. } => None,
    }
}

fn pids(rt: &LocalRuntime, release: u64) -> Vec<u32> {
    rt.replicas("acme", "web")
        .iter()
        .filter(|r| r.release == release)
        .filter_map(|r| r.pid)
        .collect()
}

async fn all_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| process_running(*p)) {
        assert!(Instant::now() < deadline, "processes {pids:?} survived");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn get(addr: SocketAddr) -> Result<String, String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[tokio::test]
async fn rolling_update_switches_only_when_the_new_release_is_ready_and_keeps_serving() {
    let f = fixture().await;
    f.rt.apply(desired(1, 2, &[])).await.unwrap();
    wait_obs(&f.rt, "v1 ready", ready(1, 2)).await;
    wait_obs(&f.rt, "v1 routed", |_| served(&f.routes).is_some()).await;
    let (id, ups) = served(&f.routes).unwrap();
    assert_eq!((id.as_str(), ups.len()), ("acme/web@v1", 2));
    assert_eq!(
        f.zone.lookup(GEN),
        Some(vec![RecordData::A("127.0.0.1".parse().unwrap())])
    );
    assert_eq!(
        f.zone.lookup(ALIAS),
        None,
        "custom domains are not in the platform zone"
    );
    let v1 = pids(&f.rt, 1);

    // A client looping through the route table the way the edge does.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = {
        let (routes, stop, ok, bad) = (f.routes.clone(), stop.clone(), ok.clone(), bad.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (_, ups) = served(&routes).unwrap();
                let answer = get(routes.pick(&ups).unwrap()).await;
                match answer {
                    Ok(a) if a.starts_with("HTTP/1.1 200") => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        let v = a.rsplit('@').next().unwrap_or("").trim().to_string();
                        if seen.last() != Some(&v) {
                            seen.push(v);
                        }
                    }
                    other => {
                        eprintln!("bad answer: {other:?}");
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        })
    };

    f.rt.apply(desired(2, 2, &["--ready-after-ms", "1200"]))
        .await
        .unwrap();
    wait_obs(&f.rt, "v2 running", |o| {
        o.release == Some(2) && o.replicas.updated == 2
    })
    .await;
    let o = observe(&f.rt).await;
    assert!(o.replicas.ready < 2, "v2 cannot be ready yet: {o:?}");
    assert_eq!(
        o.replicas.available, 0,
        "not available before the switch: {o:?}"
    );
    assert_eq!(
        served(&f.routes).unwrap().0,
        "acme/web@v1",
        "no switch before v2 is ready"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (id, ups) = served(&f.routes).unwrap();
        if id == "acme/web@v2" {
            let v2: Vec<_> = f.rt.replicas("acme", "web");
            let v2: Vec<_> = v2.iter().filter(|r| r.release == 2).collect();
            assert!(
                v2.iter().all(|r| r.ready),
                "switched before v2 was ready: {v2:?}"
            );
            let ports: Vec<u16> = ups.iter().map(|a| a.port()).collect();
            assert!(
                v2.iter().all(|r| ports.contains(&r.port)),
                "{ports:?} {v2:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never switched to v2");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_obs(&f.rt, "v2 ready", ready(2, 2)).await;
    all_gone(&v1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = client.await.unwrap();
    assert_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "a request failed during the rollout"
    );
    assert!(ok.load(Ordering::Relaxed) > 20);
    assert_eq!(seen, vec!["v1", "v2"]);
    assert!(f.rt.replicas("acme", "web").iter().all(|r| r.release == 2));
    f.rt.shutdown().await;
}

#[tokio::test]
async fn a_replica_that_is_not_ready_says_why_while_the_rollout_waits() {
    let f = fixture().await;
    // The health path answers 503: its status and what was expected.
    f.rt.apply(desired(1, 1, &["--fail-health"])).await.unwrap();
    // (Right after the start it may still say that nothing listens yet.)
    wait_obs(&f.rt, "the readiness cause", |o| {
        o.waiting.as_deref().is_some_and(|c| c.contains("503"))
    })
    .await;
    let o = observe(&f.rt).await;
    assert_eq!((o.release, o.replicas.ready), (Some(1), 0));
    let cause = o.waiting.unwrap();
    assert_eq!(
        cause,
        "the readiness check GET /healthz answered 503, not 2xx: \"not ready\""
    );
    assert!(
        o.failure.is_none(),
        "a readiness cause does not end the wait early"
    );

    // A process that never listens: the port it was given.
    let mut d = desired(2, 1, &[]);
    respec(&mut d, |s| {
        s.command = Some(vec!["sh".into(), "-c".into(), "exec sleep 600".into()]);
    });
    f.rt.apply(d).await.unwrap();
    wait_obs(&f.rt, "v2's readiness cause", |o| {
        o.release == Some(2)
            && o.waiting
                .as_deref()
                .is_some_and(|c| c.starts_with("nothing listens"))
    })
    .await;
    let cause = observe(&f.rt).await.waiting.unwrap();
    assert!(cause.contains("($PORT)"), "{cause}");
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The port the supervisor gave the app's replica of `release`.
fn replica_port(rt: &LocalRuntime, release: u64) -> Option<u16> {
    rt.replicas("acme", "web")
        .iter()
        .find(|r| r.release == release)
        .map(|r| r.port)
}

/// Issue 12 (acceptance 2): each of the five apps that never become ready gets its own cause,
/// with what to do, in the live observation within 5 s of its start.
#[tokio::test]
async fn each_never_ready_app_says_its_own_cause_within_5s() {
    type Expect = fn(&str, u16, u16) -> bool;
    let wrong = free_port();
    let wrong_arg = wrong.to_string();
    let cases: [(&str, Vec<&str>, Expect); 5] = [
        ("never listens", vec!["--no-listen"], |c, port, _| {
            c == format!(
                "nothing listens on 127.0.0.1:{port} ($PORT) \u{2014} the app must listen on $PORT"
            )
        }),
        (
            "wrong port",
            vec!["--listen-port", &wrong_arg],
            |c, port, wrong| {
                c == format!(
                    "the app listens on 127.0.0.1:{wrong}, not on $PORT={port}: it must listen on $PORT"
                )
            },
        ),
        ("::1 only", vec!["--listen-v6-only"], |c, port, _| {
            c == format!(
                "the app listens on [::1]:{port} only; the readiness check and the edge \
                 connect to 127.0.0.1: listen on 127.0.0.1 or 0.0.0.0"
            )
        }),
        ("500", vec!["--health-status", "500"], |c, _, _| {
            c == "the readiness check GET /healthz answered 500, not 2xx: \"db connection refused\""
        }),
        ("slow", vec!["--health-delay-ms", "3000"], |c, _, _| {
            c == "the readiness check GET /healthz got no answer within 1s ([checks] timeout): \
                  make it answer sooner or raise the limit"
        }),
    ];
    let runs = cases.map(|(what, args, expect)| async move {
        let f = fixture().await;
        let mut d = desired(1, 1, &args);
        respec(&mut d, |s| s.checks.timeout_ms = 1000);
        let start = Instant::now();
        f.rt.apply(d).await.unwrap();
        loop {
            let o = observe(&f.rt).await;
            let port = replica_port(&f.rt, 1).unwrap_or_default();
            if let Some(cause) = &o.waiting
                && expect(cause, port, wrong)
            {
                assert_eq!(o.replicas.ready, 0, "{what}");
                assert!(
                    o.failure.is_none(),
                    "{what}: the cause does not end the wait"
                );
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{what}: no distinct cause within 5 s: {o:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let took = start.elapsed();
        f.rt.shutdown().await;
        (what, took)
    });
    for (what, took) in futures_util::future::join_all(runs).await {
        eprintln!("{what}: its cause after {took:?}");
    }
}

#[tokio::test]
async fn a_crash_looping_release_leaves_the_previous_one_routed() {
    let f = fixture().await;
    f.rt.apply(desired(1, 1, &[])).await.unwrap();
    wait_obs(&f.rt, "v1 ready", ready(1, 1)).await;
    wait_obs(&f.rt, "v1 routed", |_| served(&f.routes).is_some()).await;
    let v1 = pids(&f.rt, 1);
    // Applying the running release again changes nothing.
    f.rt.apply(desired(1, 1, &[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pids(&f.rt, 1), v1, "an idempotent apply must not restart");

    f.rt.apply(desired(2, 1, &["--exit-at-start"]))
        .await
        .unwrap();
    wait_obs(&f.rt, "v2 crash loop", |o| o.failure.is_some()).await;
    let o = observe(&f.rt).await;
    assert_eq!(o.release, Some(2));
    let (reason, msg) = o.failure.unwrap();
    assert_eq!(reason, Reason::CrashLoopBackOff);
    assert!(msg.contains("exited with status 1"), "{msg}");
    assert!(msg.contains("exiting at start as asked"), "{msg}");
    assert_eq!(served(&f.routes).unwrap().0, "acme/web@v1");
    assert_eq!(pids(&f.rt, 1), v1, "v1 keeps running");
    let planes =
        f.rt.routes("acme".into(), "web".into(), hostnames())
            .await
            .unwrap();
    assert_eq!(planes[0].state, PlaneState::Ready);
    assert_eq!(
        planes[0].message,
        "served by the local edge → v1 (1 upstream)"
    );

    // The engine goes back to v1: the failing replicas go, v1 is untouched.
    f.rt.apply(desired(1, 1, &[])).await.unwrap();
    wait_obs(&f.rt, "v1 again", |o| {
        o.release == Some(1) && o.failure.is_none()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.rt.replicas("acme", "web").iter().any(|r| r.release == 2) {
        assert!(Instant::now() < deadline, "v2 replicas were not stopped");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pids(&f.rt, 1), v1);
    f.rt.shutdown().await;
    all_gone(&v1).await;
}

#[tokio::test]
async fn an_image_only_app_fails_with_image_requires_container_runtime() {
    let f = fixture().await;
    let mut d = desired(1, 1, &[]);
    respec(&mut d, |s| {
        s.command = None;
        s.image = Some("ghcr.io/acme/api:1.4".into());
    });
    f.rt.apply(d.clone()).await.unwrap();
    let o = observe(&f.rt).await;
    assert_eq!(o.release, Some(1));
    assert_eq!(
        o.failure,
        Some((
            Reason::ImageRequiresContainerRuntime,
            IMAGE_ONLY.to_string()
        ))
    );
    assert!(f.rt.replicas("acme", "web").is_empty(), "nothing may start");
    d.release = 2;
    respec(&mut d, |s| s.image = None);
    d.artifact = Some(format!("sha256:{}", "a".repeat(64)));
    f.rt.apply(d).await.unwrap();
    let o = observe(&f.rt).await;
    assert_eq!(o.release, Some(2));
    assert_eq!(o.failure.map(|f| f.1), Some(NO_COMMAND.to_string()));
    let planes =
        f.rt.routes("acme".into(), "web".into(), hostnames())
            .await
            .unwrap();
    assert!(
        planes
            .iter()
            .all(|p| p.state == PlaneState::Pending && p.reason == Reason::Waiting)
    );
}

#[tokio::test]
async fn route_planes_report_missing_foreign_and_repaired_routes() {
    let f = fixture().await;
    let planes =
        f.rt.routes("acme".into(), "web".into(), hostnames())
            .await
            .unwrap();
    assert!(
        planes.iter().all(|p| p.reason == Reason::Waiting),
        "{planes:?}"
    );
    f.rt.apply(desired(1, 2, &[])).await.unwrap();
    wait_obs(&f.rt, "v1 ready", ready(1, 2)).await;
    wait_obs(&f.rt, "v1 routed", |_| served(&f.routes).is_some()).await;
    let planes =
        f.rt.routes("acme".into(), "web".into(), hostnames())
            .await
            .unwrap();
    let msgs: Vec<_> = planes
        .iter()
        .map(|p| (p.state, p.reason, p.message.as_str()))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (
                PlaneState::Ready,
                Reason::Accepted,
                "served by the local edge → v1 (2 upstreams)"
            ),
            (
                PlaneState::Ready,
                Reason::Accepted,
                "served by the local edge → v1 (2 upstreams)"
            ),
            (
                PlaneState::Ready,
                Reason::Accepted,
                "redirected by the local edge → https://web.example.test"
            ),
        ]
    );
    // Drift: one route gone, one taken by another app.
    f.routes.remove_host(GEN);
    f.routes.set_host(
        ALIAS,
        Route::Serve {
            org: "other".into(),
            app: "api".into(),
            release_id: "other/api@v3".into(),
            upstreams: vec!["127.0.0.1:1".parse().unwrap()],
        },
    );
    let planes =
        f.rt.routes("acme".into(), "web".into(), hostnames())
            .await
            .unwrap();
    assert_eq!(
        (planes[0].state, planes[0].reason),
        (PlaneState::Failed, Reason::RouteMissing)
    );
    assert_eq!(
        (planes[1].state, planes[1].reason),
        (PlaneState::Failed, Reason::HostnamesMismatch)
    );
    assert!(
        planes[1].message.contains("other/api"),
        "{}",
        planes[1].message
    );
    // Applying again repairs the table without restarting anything.
    let before = pids(&f.rt, 1);
    f.rt.apply(desired(1, 2, &[])).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let planes =
            f.rt.routes("acme".into(), "web".into(), hostnames())
                .await
                .unwrap();
        if planes.iter().all(|p| p.state == PlaneState::Ready) {
            break;
        }
        assert!(Instant::now() < deadline, "not repaired: {planes:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pids(&f.rt, 1), before);
    f.rt.shutdown().await;
}

#[tokio::test]
async fn recreate_stops_the_old_release_first() {
    let f = fixture().await;
    f.rt.apply(desired(1, 1, &[])).await.unwrap();
    wait_obs(&f.rt, "v1 ready", ready(1, 1)).await;
    let v1 = pids(&f.rt, 1);
    let mut d = desired(2, 1, &["--ready-after-ms", "500"]);
    respec(&mut d, |s| s.deploy.strategy = Strategy::Recreate);
    f.rt.apply(d).await.unwrap();
    assert!(
        v1.iter().all(|p| !process_running(*p)),
        "v1 must be stopped before v2 starts"
    );
    wait_obs(&f.rt, "v2 ready", ready(2, 1)).await;
    wait_obs(&f.rt, "v2 routed", |_| {
        served(&f.routes).is_some_and(|(id, ups)| id == "acme/web@v2" && ups.len() == 1)
    })
    .await;
    f.rt.shutdown().await;
}

#[tokio::test]
async fn a_built_artifact_runs_and_remove_clears_everything() {
    let f = fixture().await;
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let script = "#!/bin/sh\nexec \"$APP_BIN\" --print \"from the artifact\"\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(script.len() as u64);
    h.set_mode(0o755);
    h.set_cksum();
    b.append_data(&mut h, "run.sh", script.as_bytes()).unwrap();
    let bytes = b.into_inner().unwrap().finish().unwrap();
    let summary = f.rt.builder().store_context("acme", &bytes).unwrap();
    let mut d = desired(1, 1, &[]);
    respec(&mut d, |s| {
        s.command = Some(vec!["./run.sh".into()]);
        s.env.insert("APP_BIN".into(), TEST_APP.into());
    });
    let built =
        f.rt.build(
            BuildRequest {
                org: "acme".into(),
                app: "web".into(),
                release: 1,
                context: summary.digest,
                spec: d.spec.spec().clone(),
                timeout: None,
            },
            Arc::new(|_: &str| {}),
        )
        .await
        .unwrap();
    d.artifact = Some(built.artifact);
    f.rt.apply(d).await.unwrap();
    wait_obs(&f.rt, "ready", ready(1, 1)).await;
    assert!(
        f.rt.logs("acme", "web")
            .contains(&"[v1#0] from the artifact".to_string())
    );
    let running = pids(&f.rt, 1);
    f.rt.remove("acme".into(), "web".into()).await.unwrap();
    all_gone(&running).await;
    assert!(f.routes.snapshot().is_empty());
    assert_eq!(f.zone.lookup(GEN), None);
    assert_eq!(observe(&f.rt).await.release, None);
    assert!(f.rt.replicas("acme", "web").is_empty());
}

#[tokio::test]
async fn start_reaps_what_a_crashed_run_left() {
    let ledger = Arc::new(MemoryLedger::new());
    let mut leftover = std::process::Command::new("sleep")
        .arg("300")
        .process_group(0)
        .spawn()
        .unwrap();
    let ticks = process_start_ticks(leftover.id()).unwrap();
    let entry = LedgerEntry {
        pid: leftover.id(),
        start_ticks: ticks,
        org: "acme".into(),
        app: "web".into(),
        release: 1,
        port: 1,
        kind: ProcessKind::Replica,
    };
    ledger.record(entry).await.unwrap();
    let _f = fixture_with(ledger.clone()).await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(leftover.wait().unwrap().signal(), Some(9));
    assert!(ledger.all().await.unwrap().is_empty());
}

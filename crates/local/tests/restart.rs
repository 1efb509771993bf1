//! `LocalRuntime` restarts with real processes behind the real edge: the serving release
//! applied again with a new `restarted_at_ms` replaces its replicas one by one — each fresh
//! one ready and routed before the old one of its index leaves the route and stops — so
//! requests keep being answered; a fresh replica that crash-loops stops the restart and the
//! old replicas keep serving; a scale keeps the processes it has.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::KillOnDrop;
use satusky_core::runtime::{DesiredWorkload, Runtime, WorkloadObservation};
use satusky_core::{AppHostnames, validate_spec};
use satusky_local::ca::LocalCa;
use satusky_local::edge::{self, Edge, EdgeConfig};
use satusky_local::ledger::MemoryLedger;
use satusky_local::routes::{Route, RouteTable};
use satusky_local::{LocalConfig, LocalRuntime};
use satusky_testkit::spec;
use satusky_types::{Reason, Strategy};

const TEST_APP: &str = env!("CARGO_BIN_EXE_satusky-test-app");
const GEN: &str = "web-acme.satusky.localhost";

struct Fixture {
    _kill: KillOnDrop,
    dir: tempfile::TempDir,
    rt: LocalRuntime,
    routes: RouteTable,
    edge: Edge,
}

async fn fixture() -> Fixture {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let routes = RouteTable::new();
    let config = LocalConfig {
        state_dir: dir.path().join("state"),
        zone: satusky_core::hostnames::Zone::parse("satusky.localhost").unwrap(),
        edge_addresses: vec!["127.0.0.1".parse().unwrap()],
        probe_addr: None,
        isolation: satusky_local::isolation::Isolation::SameUser,
        ready_recheck: satusky_local::supervisor::READY_RECHECK,
    };
    let zone = satusky_dns::ZoneRecords::new();
    let rt = LocalRuntime::start(config, routes.clone(), Arc::new(zone), ledger.clone())
        .await
        .unwrap();
    let ca = Arc::new(LocalCa::load_or_create(&dir.path().join("ca")).unwrap());
    let edge_config = EdgeConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        https_addr: "127.0.0.1:0".parse().unwrap(),
    };
    let edge = edge::start(edge_config, routes.clone(), ca).await.unwrap();
    Fixture {
        _kill: KillOnDrop(ledger),
        dir,
        rt,
        routes,
        edge,
    }
}

fn desired(replicas: u32, args: &[&str], restarted_at_ms: Option<i64>) -> DesiredWorkload {
    let mut s = spec::app("web");
    s.replicas = replicas;
    let mut command = vec![TEST_APP.to_string()];
    command.extend(args.iter().map(|a| a.to_string()));
    s.command = Some(command);
    s.checks.timeout_ms = 500;
    DesiredWorkload {
        org: "acme".into(),
        app: "web".into(),
        release: 1,
        spec: validate_spec(s).unwrap(),
        artifact: None,
        hostnames: AppHostnames::new(vec![spec::generated_as(GEN)]).unwrap(),
        secrets: Default::default(),
        restarted_at_ms,
    }
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    i64::try_from(since.unwrap().as_millis()).unwrap()
}

async fn observe(rt: &LocalRuntime) -> WorkloadObservation {
    rt.observe("acme".into(), "web".into()).await.unwrap()
}

/// What the engine calls ready (`judge_workload`): every replica updated, ready and
/// available, none old, no failure.
fn ready(o: &WorkloadObservation, n: u32) -> bool {
    let r = o.replicas;
    o.release == Some(1)
        && o.failure.is_none()
        && o.old == 0
        && (r.updated, r.ready, r.available) == (n, n, n)
}

async fn wait_obs(rt: &LocalRuntime, what: &str, cond: impl Fn(&WorkloadObservation) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = observe(rt).await;
        if cond(&o) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pids of the app's running processes (serving, fresh and draining replicas alike).
fn pids(rt: &LocalRuntime) -> BTreeSet<u32> {
    rt.replicas("acme", "web")
        .iter()
        .filter_map(|r| r.pid)
        .collect()
}

fn upstreams(routes: &RouteTable) -> Vec<SocketAddr> {
    match routes.lookup(GEN) {
        Some(Route::Serve { upstreams, .. }) => upstreams,
        _ => Vec::new(),
    }
}

/// A client sending a request through the edge every ~5 ms until `stop`: (answered 200,
/// anything else).
fn client(edge: &Edge, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<(usize, usize)> {
    let http = reqwest::Client::builder()
        .resolve(GEN, edge.http_addr())
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("http://{GEN}/");
    tokio::spawn(async move {
        let (mut ok, mut bad) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            match http.get(&url).send().await {
                Ok(r) if r.status() == 200 => ok += 1,
                other => {
                    eprintln!("bad answer: {other:?}");
                    bad += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (ok, bad)
    })
}

#[tokio::test]
async fn a_restart_replaces_replicas_one_by_one_and_every_request_is_answered() {
    let f = fixture().await;
    f.rt.apply(desired(3, &[], None)).await.unwrap();
    wait_obs(&f.rt, "v1 ready", |o| ready(o, 3)).await;
    wait_obs(&f.rt, "v1 routed", |_| upstreams(&f.routes).len() == 3).await;
    let before = pids(&f.rt);
    assert_eq!(before.len(), 3);

    let stop = Arc::new(AtomicBool::new(false));
    let requests = client(&f.edge, stop.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    let restart = desired(3, &[], Some(now_ms()));
    f.rt.apply(restart.clone()).await.unwrap();
    let (mut most_processes, mut fewest_upstreams, mut most_counted) = (0, usize::MAX, 0);
    let mut swaps_seen = BTreeSet::new();
    loop {
        let o = observe(&f.rt).await;
        let running = pids(&f.rt);
        most_processes = most_processes.max(running.len());
        fewest_upstreams = fewest_upstreams.min(upstreams(&f.routes).len());
        most_counted = most_counted.max(o.replicas.updated + o.old);
        assert_eq!(o.failure, None);
        swaps_seen.insert(o.old);
        if ready(&o, 3) {
            assert!(
                running.is_disjoint(&before),
                "ready while a replica from before the restart runs: {running:?} {before:?}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the restart never completed: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, bad) = requests.await.unwrap();
    eprintln!(
        "restart of 3 replicas: {took:?}; {ok} requests answered; at most {most_processes} \
         processes; at least {fewest_upstreams} upstreams; `old` went through {swaps_seen:?}"
    );
    assert_eq!(bad, 0, "a request failed during the restart");
    assert!(ok > 20, "too few requests to tell: {ok}");
    let after = pids(&f.rt);
    assert_eq!(after.len(), 3);
    assert!(after.is_disjoint(&before), "{after:?} {before:?}");
    assert!(
        most_processes <= 4,
        "{most_processes} processes ran at once (3 replicas + 1 at most)"
    );
    assert!(
        most_counted <= 4,
        "observed {most_counted} replicas at once"
    );
    assert_eq!(fewest_upstreams, 3, "the route lost a replica");
    // One by one: the observation went through 3, 2 and 1 old replicas before none.
    assert!(
        swaps_seen.is_superset(&[0, 1, 2, 3].into()),
        "{swaps_seen:?}"
    );
    let ports: BTreeSet<u16> = upstreams(&f.routes).iter().map(|a| a.port()).collect();
    let serving: BTreeSet<u16> =
        f.rt.replicas("acme", "web")
            .iter()
            .map(|r| r.port)
            .collect();
    assert_eq!(ports, serving, "the route holds the fresh replicas");

    // Applied again with the same stamp: nothing restarts.
    f.rt.apply(restart.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pids(&f.rt),
        after,
        "the same restart stamp must not restart again"
    );
    // A scale with the same stamp works in place: two of the three keep running.
    f.rt.apply(DesiredWorkload {
        spec: desired(2, &[], None).spec,
        ..restart
    })
    .await
    .unwrap();
    wait_obs(&f.rt, "scaled to 2", |o| ready(o, 2)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids(&f.rt).len() != 2 {
        assert!(Instant::now() < deadline, "the extra replica did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(pids(&f.rt).is_subset(&after), "a scale must not restart");
    f.rt.shutdown().await;
}

#[tokio::test]
async fn a_restart_whose_fresh_replica_crash_loops_stops_and_the_old_replicas_keep_serving() {
    let f = fixture().await;
    // Replicas exit at start unless the file exists: the running ones were started with it.
    let behave = f.dir.path().join("behave");
    std::fs::write(&behave, "").unwrap();
    let args = ["--unless-file", path(&behave), "--exit-at-start"];
    f.rt.apply(desired(2, &args, None)).await.unwrap();
    wait_obs(&f.rt, "v1 ready", |o| ready(o, 2)).await;
    wait_obs(&f.rt, "v1 routed", |_| upstreams(&f.routes).len() == 2).await;
    let before = pids(&f.rt);
    let routed = upstreams(&f.routes);

    std::fs::remove_file(&behave).unwrap();
    f.rt.apply(desired(2, &args, Some(now_ms()))).await.unwrap();
    let o = observe(&f.rt).await;
    assert!(!ready(&o, 2), "not ready while nothing is replaced: {o:?}");
    assert_eq!(o.old, 2, "{o:?}");
    wait_obs(&f.rt, "the crash loop", |o| o.failure.is_some()).await;
    let o = observe(&f.rt).await;
    let (reason, message) = o.failure.clone().unwrap();
    assert_eq!(reason, Reason::CrashLoopBackOff);
    assert!(message.contains("exiting at start as asked"), "{message}");
    assert_eq!((o.release, o.old, o.replicas.available), (Some(1), 2, 0));
    // The old replicas serve on, untouched; the crash-looping one is stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids(&f.rt) != before {
        assert!(Instant::now() < deadline, "{:?} vs {before:?}", pids(&f.rt));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(upstreams(&f.routes), routed);
    let answer = reqwest::Client::builder()
        .resolve(GEN, f.edge.http_addr())
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{GEN}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // The failure stays reported (a later tick does not resume the restart)…
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(observe(&f.rt).await.failure, o.failure);
    // …until the next restart, which completes once the app behaves again.
    std::fs::write(&behave, "").unwrap();
    f.rt.apply(desired(2, &args, Some(now_ms() + 1)))
        .await
        .unwrap();
    wait_obs(&f.rt, "the second restart", |o| ready(o, 2)).await;
    assert!(pids(&f.rt).is_disjoint(&before));
    f.rt.shutdown().await;
}

#[tokio::test]
async fn a_restart_with_the_recreate_strategy_stops_everything_first() {
    let f = fixture().await;
    let mut d = desired(2, &[], None);
    let mut s = d.spec.spec().clone();
    s.deploy.strategy = Strategy::Recreate;
    d.spec = validate_spec(s).unwrap();
    f.rt.apply(d.clone()).await.unwrap();
    wait_obs(&f.rt, "v1 ready", |o| ready(o, 2)).await;
    let before = pids(&f.rt);
    d.restarted_at_ms = Some(now_ms());
    f.rt.apply(d).await.unwrap();
    let running = pids(&f.rt);
    assert!(running.is_disjoint(&before), "{running:?} {before:?}");
    wait_obs(&f.rt, "restarted", |o| ready(o, 2)).await;
    f.rt.shutdown().await;
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

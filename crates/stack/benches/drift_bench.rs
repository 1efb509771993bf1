//! Drift sweep benchmark (prints figures; asserts only that every check came out as set up).
//! N apps (default 1000), each with a generated hostname in the platform zone and one alias
//! (a custom domain whose DNS the "user" set up right): 2N hostnames on an in-process edge —
//! satusky-local's authoritative DNS server, its edge (rustls, one certificate per hostname
//! from the local CA, issued on first use) and ONE upstream HTTP server behind every route
//! (the edge stamps `x-satusky-release` per Host from its route table).
//!
//! The apps are deployed through the API into a SQLite store and driven by the real engine
//! to `ready`; the runtime is a route-table runtime defined here (apply writes the route table
//! and the zone records, as the local runtime does, minus the processes). Then, per round:
//! - **baseline**: `Prober::check_all` over the same 2N hostnames (DNS + TLS + HTTP each);
//! - **drift sweep**: `Engine::sweep_once` — per app: re-probe its hostnames, save the status,
//!   read the runtime's served hostnames and the open findings, compare.
//!
//! and once at the end a sweep in which K apps (default 10) had their route dropped out of
//! band (found, healed by reconciling again, re-checked). Wall time, CPU (user+sys, from
//! /proc: the bench's runtime `bench-rt` — engine, store, prober — apart from the edge's
//! `edge-rt`), peak RSS (VmHWM, reset per step through /proc/self/clear_refs).
//!
//! Run: `cargo bench -p satusky-server --bench drift-bench` (release profile). Without
//! `--bench` (e.g. `cargo test --benches`) it runs a 20-app smoke pass. Env:
//! `DRIFT_BENCH_APPS=1000`, `DRIFT_BENCH_ROUNDS=3`, `DRIFT_BENCH_DRIFTED=10`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use satusky_benchkit::{
    Stopwatch, cpus, env_usize, full_run, named_runtime, reset_peak_rss, status_kb,
};
use satusky_core::runtime::{
    BoxFuture, BuildFailure, BuildOutput, BuildRequest, DesiredWorkload, EdgeInfo, LogSink,
    Runtime, RuntimeError, ServedHost, WorkloadObservation,
};
use satusky_dns::{RecordData, ZoneRecords};
use satusky_local::ca::LocalCa;
use satusky_local::edge::{self, EdgeConfig};
use satusky_local::routes::{Route, RouteTable};
use satusky_probe::{EndpointTarget, ProbeConfig, Prober, Timeouts, parse_pem_certs};
use satusky_server::{AppState, Engine, EngineConfig, Settings};
use satusky_store::Store;
use satusky_types::{Hostname, Phase, Plane, PlaneState, Reason, ReplicaCounts, Role};
use serde_json::json;
use tokio::runtime::Handle;
use tower::ServiceExt;

const ORG: &str = "bench";
const ZONE: &str = "apps.bench.test";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// CPU time is split between the bench's runtime and the edge's, by thread name.
const THREADS: [&str; 2] = ["bench-rt", "edge-rt"];

fn main() {
    let full = full_run();
    let apps = env_usize("DRIFT_BENCH_APPS", if full { 1000 } else { 20 });
    let rounds = env_usize("DRIFT_BENCH_ROUNDS", if full { 3 } else { 1 });
    let drifted = env_usize("DRIFT_BENCH_DRIFTED", if full { 10 } else { 2 }).min(apps);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let edge_rt = named_runtime("edge-rt");
    let bench_rt = named_runtime("bench-rt");
    bench_rt.block_on(run(edge_rt.handle().clone(), apps, rounds, drifted));
}

/// The runtime of the benchmark: routes and zone records like the local runtime's, every app
/// served by one upstream; workloads are always ready.
struct TableRuntime {
    routes: RouteTable,
    records: ZoneRecords,
    upstream: SocketAddr,
    edge: EdgeInfo,
    applied: Mutex<HashMap<(String, String), u64>>,
}

impl Runtime for TableRuntime {
    fn name(&self) -> &'static str {
        "bench-table"
    }

    fn build(
        &self,
        _: BuildRequest,
        _: LogSink,
    ) -> BoxFuture<'_, Result<BuildOutput, BuildFailure>> {
        Box::pin(async {
            Err(BuildFailure {
                message: "the benchmark deploys images".into(),
                log_tail: Vec::new(),
                timed_out: false,
            })
        })
    }

    fn apply(&self, d: DesiredWorkload) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let entries = d
                .hostnames
                .iter()
                .map(|h| {
                    let route = Route::Serve {
                        org: d.org.clone(),
                        app: d.app.clone(),
                        release_id: d.release_id(),
                        upstreams: vec![self.upstream],
                    };
                    (h.hostname.clone(), route)
                })
                .collect();
            self.routes.set_app(&d.org, &d.app, entries);
            let platform: Vec<String> = d
                .hostnames
                .iter()
                .map(|h| h.hostname.clone())
                .filter(|h| h.ends_with(&format!(".{ZONE}")))
                .collect();
            self.records.set_app(&d.org, &d.app, &platform, &[LOOPBACK]);
            self.applied
                .lock()
                .unwrap()
                .insert((d.org, d.app), d.release);
            Ok(())
        })
    }

    fn observe(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<WorkloadObservation, RuntimeError>> {
        Box::pin(async move {
            let release = self.applied.lock().unwrap().get(&(org, app)).copied();
            let one = ReplicaCounts {
                desired: 1,
                updated: 1,
                ready: 1,
                available: 1,
            };
            Ok(WorkloadObservation {
                release,
                replicas: one,
                failure: None,
                old: 0,
                waiting: None,
                exited: None,
                recovering: 0,
                static_files: None,
            })
        })
    }

    fn routes(
        &self,
        org: String,
        app: String,
        hostnames: Vec<Hostname>,
    ) -> BoxFuture<'_, Result<Vec<Plane>, RuntimeError>> {
        Box::pin(async move {
            Ok(hostnames
                .iter()
                .map(|h| match self.routes.lookup(&h.hostname) {
                    Some(r) if r.owner() == (org.as_str(), app.as_str()) => {
                        Plane::new(PlaneState::Ready, Reason::Accepted, "in the route table")
                    }
                    Some(_) => Plane::new(
                        PlaneState::Failed,
                        Reason::HostnamesMismatch,
                        "another app's",
                    ),
                    None => Plane::new(PlaneState::Failed, Reason::RouteMissing, "no route"),
                })
                .collect())
        })
    }

    /// As the local runtime does it: the table's entries owned by the app.
    fn served_hosts(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<ServedHost>, RuntimeError>> {
        Box::pin(async move {
            Ok(self
                .routes
                .entries_of(&org, &app)
                .into_iter()
                .map(|(hostname, r)| ServedHost {
                    hostname,
                    release_id: match r {
                        Route::Serve { release_id, .. } | Route::Static { release_id, .. } => {
                            Some(release_id)
                        }
                        Route::Redirect { .. } => None,
                    },
                    redirect_to: None,
                })
                .collect())
        })
    }

    fn remove(&self, org: String, app: String) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            self.routes.remove_app(&org, &app);
            self.records.remove_app(&org, &app);
            Ok(())
        })
    }

    fn edge(&self) -> EdgeInfo {
        self.edge.clone()
    }
}

fn app_name(i: usize) -> String {
    format!("app{i:04}")
}

fn generated(i: usize) -> String {
    format!("{}-{ORG}.{ZONE}", app_name(i))
}

fn alias(i: usize) -> String {
    format!("{}.custom.bench.test", app_name(i))
}

struct Setup {
    engine: Engine,
    store: Store,
    prober: Prober,
    routes: RouteTable,
    targets: Vec<EndpointTarget>,
}

async fn setup(edge_rt: &Handle, apps: usize, dir: &std::path::Path) -> Setup {
    let records = ZoneRecords::new();
    for i in 0..apps {
        records.set_static(&alias(i), vec![RecordData::A(LOOPBACK)]);
        // Its owner proved it, so it is routed.
        records.set_static(
            &satusky_core::ownership::txt_name(&alias(i)),
            vec![RecordData::Txt(satusky_core::ownership::txt_value(
                ORG,
                &alias(i),
            ))],
        );
    }
    let routes = RouteTable::new();
    let ca = Arc::new(LocalCa::load_or_create(&dir.join("ca")).expect("local CA"));
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    // The edge side — DNS, edge, upstream — runs on its own runtime.
    let (dns_addr, https_addr, upstream) = {
        let (records, routes, ca) = (records.clone(), routes.clone(), ca.clone());
        edge_rt
            .spawn(async move {
                let dns = satusky_dns::start(
                    any,
                    &satusky_core::hostnames::Zone::parse(ZONE).unwrap(),
                    records,
                )
                .await
                .expect("DNS server");
                let edge = edge::start(
                    EdgeConfig {
                        http_addr: any,
                        https_addr: any,
                    },
                    routes,
                    ca,
                )
                .await
                .expect("edge");
                let listener = tokio::net::TcpListener::bind(any).await.expect("upstream");
                let upstream = listener.local_addr().expect("upstream address");
                tokio::spawn(async move {
                    let app = axum::Router::new().fallback(|| async { "ok\n" });
                    let _ = axum::serve(listener, app).await;
                });
                let addrs = (dns.local_addr(), edge.https_addr(), upstream);
                // They serve until the process ends.
                std::mem::forget(dns);
                std::mem::forget(edge);
                addrs
            })
            .await
            .expect("edge runtime")
    };
    let store = Store::open_sqlite_file(&dir.join("state.db"))
        .await
        .expect("store");
    store.migrate().await.expect("migrations");
    store.ensure_org(ORG).await.expect("org");
    let token = store.create_token(ORG, Role::Admin).await.expect("token");
    let edge_info = EdgeInfo {
        addresses: vec![LOOPBACK],
        cname_target: None,
        probe_addr: Some(https_addr),
    };
    let runtime = Arc::new(TableRuntime {
        routes: routes.clone(),
        records,
        upstream,
        edge: edge_info,
        applied: Mutex::new(HashMap::new()),
    });
    let prober = Prober::new(ProbeConfig {
        resolvers: vec![dns_addr],
        edge: Some(https_addr),
        extra_roots: parse_pem_certs(ca.ca_pem()).expect("CA certificate"),
        timeouts: Timeouts::uniform(Duration::from_secs(5)),
        ..ProbeConfig::default()
    })
    .expect("prober");
    let settings = Settings {
        dns_zone: ZONE.parse().expect("a zone"),
        contexts: None,
    };
    let state = AppState::new(store.clone(), settings);
    let engine = Engine::new(
        store.clone(),
        runtime as Arc<dyn Runtime>,
        Some(Arc::new(prober.clone())),
        state.hub.clone(),
        EngineConfig {
            // The timer never fires during the benchmark: every sweep is asked for.
            probe_interval: Duration::from_secs(24 * 3600),
            dns_zone: ZONE.parse().expect("a zone"),
            build_timeout: satusky_server::engine::DEFAULT_BUILD_TIMEOUT,
        },
    );
    let router = satusky_server::router(state.with_engine(engine.clone()));
    engine.start().await;

    let started = Instant::now();
    for i in 0..apps {
        let spec = json!({
            "name": app_name(i), "port": 8080, "replicas": 1, "cpu": "100m", "memory": "64Mi",
            "image": "registry.bench.test/app:1",
            "build": {"dockerfile": "Dockerfile", "context": "."},
            "checks": {"path": "/", "expect": "2xx", "timeout_ms": 5000},
            "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                       "progress_deadline_seconds": 600},
            "domains": [{"host": alias(i)}]
        });
        let req = Request::put(format!("/v1/orgs/{ORG}/apps/{}", app_name(i)))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(json!({ "spec": spec }).to_string()))
            .expect("request");
        let res = router.clone().oneshot(req).await.expect("PUT");
        assert_eq!(res.status(), StatusCode::ACCEPTED, "deploy {}", app_name(i));
    }
    loop {
        let list = store.list_apps(ORG).await.expect("list apps");
        let ready = list
            .iter()
            .filter(|a| a.work.is_none() && a.active_release == Some(1) && a.phase == Phase::Ready)
            .count();
        if ready == apps {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {ready}/{apps} apps became ready"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "setup: {apps} apps deployed through the API and driven to ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let release = |i: usize| format!("{ORG}/{}@v1", app_name(i));
    let targets = (0..apps)
        .flat_map(|i| {
            [
                EndpointTarget::new(generated(i))
                    .with_addresses([LOOPBACK])
                    .with_release(release(i)),
                EndpointTarget::new(alias(i))
                    .with_addresses([LOOPBACK])
                    .custom_domain(true)
                    .with_release(release(i)),
            ]
        })
        .collect();
    Setup {
        engine,
        store,
        prober,
        routes,
        targets,
    }
}

async fn run(edge_rt: Handle, apps: usize, rounds: usize, drifted: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "drift sweep benchmark: {} CPUs, {apps} apps, {} hostnames",
        cpus(),
        2 * apps
    );
    let s = setup(&edge_rt, apps, dir.path()).await;
    println!(
        "RSS after setup (edge with {} certificates, store, engine): {:.1} MB",
        2 * apps,
        status_kb("VmRSS:") as f64 / 1024.0
    );
    println!(
        "{:<34} {:>8} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "step", "wall", "hostnames/s", "CPU total", "CPU bench", "CPU edge", "peak RSS", "result"
    );
    for _ in 0..rounds {
        let m = Measure::start();
        let planes = s.prober.check_all(&s.targets).await;
        let ready = planes.iter().filter(|p| p.is_ready()).count();
        m.print(
            "baseline: Prober::check_all",
            s.targets.len(),
            &format!("{ready}/{} ready", s.targets.len()),
        );

        let m = Measure::start();
        let t0 = satusky_core::time::now_ms();
        s.engine.sweep_once().await;
        let checked = (0..apps)
            .filter(|i| {
                s.engine
                    .drift_checked_at(ORG, &app_name(*i))
                    .is_some_and(|t| t >= t0)
            })
            .count();
        let open = open_findings(&s.store).await;
        m.print(
            "drift sweep (no drift)",
            s.targets.len(),
            &format!("{checked}/{apps} checked, {open} open"),
        );
        assert_eq!(
            (checked, open),
            (apps, 0),
            "every app checked, nothing drifting"
        );
    }
    // Drop K apps' generated route out of band: found, healed, re-checked in the sweep.
    for i in 0..drifted {
        s.routes.remove_host(&generated(i));
    }
    let m = Measure::start();
    s.engine.sweep_once().await;
    let mut healed = 0;
    for i in 0..drifted {
        let findings = s
            .store
            .list_findings(ORG, &app_name(i))
            .await
            .expect("findings");
        healed += findings
            .iter()
            .filter(|f| f.plane == "route" && f.healed_at_ms.is_some())
            .count();
    }
    let open = open_findings(&s.store).await;
    m.print(
        &format!("drift sweep ({drifted} routes dropped)"),
        s.targets.len(),
        &format!("{healed}/{drifted} healed, {open} open"),
    );
    assert_eq!(
        (healed, open),
        (drifted, 0),
        "every dropped route found and healed"
    );
}

/// Open drift findings, all planes.
async fn open_findings(store: &Store) -> u64 {
    store
        .open_findings_by_plane()
        .await
        .expect("findings")
        .iter()
        .map(|(_, n)| n)
        .sum()
}

/// Wall, CPU and peak RSS of one step.
struct Measure(Stopwatch<2>);

impl Measure {
    fn start() -> Measure {
        reset_peak_rss();
        Measure(Stopwatch::start(THREADS))
    }

    fn print(&self, step: &str, hostnames: usize, result: &str) {
        let (wall, cpu) = self.0.stop();
        let (wall, [bench, edge]) = (wall.as_secs_f64(), cpu.threads);
        println!(
            "{step:<34} {:>7.3}s {:>12.0} {:>9.2}s {:>9.2}s {:>9.2}s {:>7.1} MB  {result}",
            wall,
            hostnames as f64 / wall,
            cpu.total,
            bench,
            edge,
            status_kb("VmHWM:") as f64 / 1024.0,
        );
    }
}

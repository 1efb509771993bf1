//! Kubernetes runtime benchmark (prints figures; asserts nothing): render, server-side apply,
//! prune and observe N apps through `KubeRuntime` against fakekube until every Deployment is
//! ready for its release and every route plane is ready, with fakekube's request counters per
//! app by verb. fakekube runs with `Auto { rollouts, routes }`, so the "cluster" finishes each
//! rollout inside the write that changed the Deployment: what is measured is the control
//! plane's client side plus the API server's request handling, not a controller's delay.
//!
//! Per transport (the in-process `FakeKube::client()`, and a kube client built from a
//! kubeconfig pointing at `FakeKube::serve("127.0.0.1:0")` over loopback TCP) and per N:
//! - **baseline**: one server-side apply PATCH of a small ConfigMap per app, through the same
//!   client at the same concurrency — the raw cost of one request;
//! - **render only**: render every app once on one thread, no I/O (the app arrives validated,
//!   as it does in `KubeRuntime::apply`);
//! - **pass 1**: each app's release applied (namespace ensured once per org, render, SSA of
//!   every object, prune by label), then `observe` until the Deployment is ready for the
//!   release, then `routes` (HTTPRoute + Gateway status);
//! - **pass 2**: the same releases again through the same `KubeRuntime` (nothing changed);
//! - **observe only**: pass 2 without the apply (what a no-op redeploy would cost if the
//!   applier sent nothing at all);
//! - **pass 3**: the same releases through a *fresh* `KubeRuntime` on the same cluster (what a
//!   restarted control plane does: its apply cache is per process).
//!
//! Columns: wall time, apps/s, API requests/s (fakekube's count over the wall time: compare
//! with the baseline's to see the per-request overhead), per-app latency (apply → ready,
//! p50/p99), fakekube's request counters divided by N (GET, LIST, PATCH, DELETE; `writes` =
//! PATCH + POST + PUT + DELETE),
//! `rvΔ` = how many resourceVersions the cluster handed out during the pass (changes that
//! actually happened, including the auto controllers' status writes), and CPU time per app
//! (the whole process; over TCP split into client threads `client-rt` and fakekube's server
//! threads `fake-rt`).
//!
//! Run: `cargo bench -p satusky-kube --bench apply-bench` (release profile). Without
//! `--bench` (e.g. `cargo test --benches`) it runs a 20-app smoke pass.
//! Env: `APPLY_BENCH_N=100,1000`, `APPLY_BENCH_CONCURRENCY=32`, `APPLY_BENCH_ORGS=10` (apps
//! are spread round-robin over that many orgs, i.e. namespaces), `APPLY_BENCH_TRANSPORT=both`
//! (`inproc`, `tcp` or `both`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fakekube::{Auto, FakeKube, Options, Stats};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use satusky_benchkit::{
    Cpu, Stopwatch, cpus, env_list, full_run, loadavg, named_runtime, percentile,
};
use satusky_core::runtime::{DesiredWorkload, Runtime};
use satusky_core::{AppHostnames, Overrides, parse_str};
use satusky_kube::runtime::{KubeConfig, KubeRuntime};
use satusky_types::PlaneState;
use serde_json::{Value, json};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

const ZONE: &str = "bench.test";
/// How long `observe` waits between looks at a Deployment that is not ready yet.
const OBSERVE_RETRY: Duration = Duration::from_millis(20);
/// Give up on an app after this long (the pass then reports it as not ready).
const APP_TIMEOUT: Duration = Duration::from_secs(60);
/// Over TCP, CPU time is split between the client's runtime and fakekube's, by thread name.
const THREADS: [&str; 2] = ["client-rt", "fake-rt"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    InProcess,
    Tcp,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::InProcess => "in-process",
            Transport::Tcp => "TCP",
        }
    }
}

fn main() {
    let full = full_run();
    let ns = env_list("APPLY_BENCH_N", if full { &[100, 1000] } else { &[20] });
    let concurrency = env_list("APPLY_BENCH_CONCURRENCY", &[32])
        .first()
        .copied()
        .unwrap_or(32)
        .max(1);
    let orgs = env_list("APPLY_BENCH_ORGS", &[10])
        .first()
        .copied()
        .unwrap_or(10)
        .max(1);
    let transports: Vec<Transport> = match std::env::var("APPLY_BENCH_TRANSPORT").as_deref() {
        Ok("inproc") => vec![Transport::InProcess],
        Ok("tcp") => vec![Transport::Tcp],
        _ => vec![Transport::InProcess, Transport::Tcp],
    };
    let fake_rt = named_runtime("fake-rt");
    let client_rt = named_runtime("client-rt");

    println!("Kubernetes runtime benchmark: render + apply + observe N apps against fakekube");
    println!(
        "machine: nproc {}, CPU {:?}, load average at start {}",
        cpus(),
        cpu_model(),
        loadavg()
    );
    println!(
        "concurrency {concurrency}, apps spread over {orgs} org(s); fakekube Auto {{ rollouts: true, routes: true }}"
    );
    for transport in transports {
        for &n in &ns {
            client_rt.block_on(run(transport, n, orgs, concurrency, fake_rt.handle()));
        }
    }
}

/// One transport and size: set up a fresh cluster, then baseline and the three passes.
async fn run(transport: Transport, n: usize, orgs: usize, concurrency: usize, fake_rt: &Handle) {
    let fake = FakeKube::with_options(Options {
        auto: Auto {
            rollouts: true,
            routes: true,
        },
        ..Options::default()
    });
    // The TCP server runs on its own runtime so its CPU time can be told apart.
    let (client, _server) = match transport {
        Transport::InProcess => (fake.client(), None),
        Transport::Tcp => {
            let f = fake.clone();
            let (addr, handle) = fake_rt
                .spawn(async move { f.serve("127.0.0.1:0".parse().expect("addr")).await })
                .await
                .expect("serve task")
                .expect("fakekube serves on loopback");
            (tcp_client(addr).await, Some(handle))
        }
    };
    setup_cluster(&client).await;
    let apps = desired_workloads(n, orgs);

    println!();
    println!("== {} client, N = {n} ==", transport.label());
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>14} {:>8} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>10} {:>7}",
        "what",
        "wall",
        "apps/s",
        "req/s",
        "p50/p99 ms",
        "req/app",
        "GET",
        "LIST",
        "PATCH",
        "DELETE",
        "writes",
        "rvΔ/app",
        "CPU/app",
        "ready",
    );

    // Baseline first: it also opens the client's connections.
    let m = baseline(&fake, &client, n, concurrency).await;
    m.print("baseline: 1 SSA ConfigMap", n, transport);
    render_only(&apps);

    let runtime = Arc::new(KubeRuntime::new(client.clone(), kube_config(), None));
    let m = pass(&fake, &runtime, &apps, concurrency, true).await;
    m.print("pass 1: deploy", n, transport);
    let deployments = fake
        .objects("apps/v1", "Deployment", None)
        .iter()
        .filter(|d| {
            d.pointer("/metadata/labels/app.kubernetes.io~1managed-by") == Some(&json!("satusky"))
        })
        .count();
    let before_noop = runtime.applier().requests();
    let m = pass(&fake, &runtime, &apps, concurrency, true).await;
    m.print("pass 2: same, same process", n, transport);
    let applier_noop = runtime.applier().requests() - before_noop;
    let fresh = Arc::new(KubeRuntime::new(client.clone(), kube_config(), None));
    let m = pass(&fake, &runtime, &apps, concurrency, false).await;
    m.print("observe only (no apply)", n, transport);
    let m = pass(&fake, &fresh, &apps, concurrency, true).await;
    m.print("pass 3: same, new process", n, transport);
    println!(
        "  {deployments} Deployments in the cluster after pass 1; the Applier counted {:.1} requests/app in pass 2",
        applier_noop as f64 / n as f64
    );
}

/// What one pass measured.
struct Measure {
    wall: Duration,
    stats: Stats,
    rv: u64,
    cpu: Cpu<2>,
    latencies: Vec<Duration>,
    ready: usize,
    first_failure: Option<String>,
}

impl Measure {
    fn print(&self, what: &str, n: usize, transport: Transport) {
        let per = |v: u64| v as f64 / n as f64;
        let s = &self.stats;
        let writes = s.patch + s.create + s.update + s.delete;
        let mut lat: Vec<f64> = self
            .latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| percentile(&lat, p).unwrap_or(0.0);
        let wall = self.wall.as_secs_f64();
        let [client_cpu, fake_cpu] = self.cpu.threads;
        let cpu = match transport {
            Transport::InProcess => format!("{:.0}µs", self.cpu.total / n as f64 * 1e6),
            Transport::Tcp => format!(
                "{:.0}+{:.0}µs",
                client_cpu / n as f64 * 1e6,
                fake_cpu / n as f64 * 1e6
            ),
        };
        println!(
            "{:<28} {:>7.3}s {:>8.0} {:>8.0} {:>14} {:>8.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>7.2} {:>7.2} {:>10} {:>7}",
            what,
            wall,
            n as f64 / wall,
            s.total as f64 / wall,
            format!("{:.2}/{:.2}", pct(0.5), pct(0.99)),
            per(s.total),
            per(s.get),
            per(s.list),
            per(s.patch),
            per(s.delete),
            per(writes),
            per(self.rv),
            cpu,
            format!("{}/{n}", self.ready),
        );
        if s.create + s.update + s.watch > 0 {
            println!(
                "  also: {} POST, {} PUT, {} watches",
                s.create, s.update, s.watch
            );
        }
        if let Some(f) = &self.first_failure {
            println!("  first app not ready: {f}");
        }
    }
}

/// The raw cost of one request: an SSA PATCH of one small ConfigMap per app, same client,
/// same concurrency.
async fn baseline(fake: &FakeKube, client: &Client, n: usize, concurrency: usize) -> Measure {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "bench-baseline",
        &resource("", "v1", "ConfigMap", "configmaps"),
    );
    let sem = Arc::new(Semaphore::new(concurrency));
    let start = Start::now(fake);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (api, sem) = (api.clone(), sem.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            let t0 = Instant::now();
            let name = format!("baseline-{i:05}");
            let cm: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "bench-baseline",
                    "labels": {"app.kubernetes.io/managed-by": "satusky"}},
                "data": {"LOG_LEVEL": "info", "INDEX": i.to_string()},
            }))
            .expect("ConfigMap");
            let ok = api
                .patch(&name, &PatchParams::apply("satusky"), &Patch::Apply(&cm))
                .await
                .map_err(|e| format!("{name}: {e}"));
            (t0.elapsed(), ok.map(|_| ()))
        });
    }
    start.finish(fake, tasks).await
}

/// What rendering alone costs (render every app once, one thread, no I/O): the
/// part of pass 1 that is not API requests.
fn render_only(apps: &[DesiredWorkload]) {
    let t0 = Instant::now();
    let mut objects = 0;
    for d in apps {
        let image = d.spec.image.clone().expect("the bench apps have an image");
        let input =
            satusky_kube::RenderInput::new(&d.org, &d.spec, d.release, image, d.hostnames.clone());
        objects += satusky_kube::render(&input).expect("renders").len();
    }
    let wall = t0.elapsed();
    println!(
        "{:<28} {:>7.3}s {:>8.0}   ({} objects/app, {:.0}µs/app on one thread)",
        "render only (no API)",
        wall.as_secs_f64(),
        apps.len() as f64 / wall.as_secs_f64(),
        objects / apps.len().max(1),
        wall.as_secs_f64() / apps.len().max(1) as f64 * 1e6,
    );
}

/// Apply every app's release, observe until ready, read its route planes.
async fn pass(
    fake: &FakeKube,
    runtime: &Arc<KubeRuntime>,
    apps: &[DesiredWorkload],
    concurrency: usize,
    apply: bool,
) -> Measure {
    let sem = Arc::new(Semaphore::new(concurrency));
    let start = Start::now(fake);
    let mut tasks = tokio::task::JoinSet::new();
    for desired in apps {
        let (runtime, sem, desired) = (runtime.clone(), sem.clone(), desired.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            let t0 = Instant::now();
            let r = deploy_one(&runtime, desired, apply).await;
            (t0.elapsed(), r)
        });
    }
    start.finish(fake, tasks).await
}

/// What the engine does for one release: apply (unless `apply` is false), observe until the
/// workload is ready for it, then check the route plane of every hostname.
async fn deploy_one(
    runtime: &KubeRuntime,
    desired: DesiredWorkload,
    apply: bool,
) -> Result<(), String> {
    let (org, app, release) = (desired.org.clone(), desired.app.clone(), desired.release);
    let hostnames = desired.hostnames.to_vec();
    if apply {
        runtime
            .apply(desired)
            .await
            .map_err(|e| format!("{org}/{app}: apply: {e}"))?;
    }
    let deadline = Instant::now() + APP_TIMEOUT;
    loop {
        let obs = runtime
            .observe(org.clone(), app.clone())
            .await
            .map_err(|e| format!("{org}/{app}: observe: {e}"))?;
        if let Some((reason, message)) = obs.failure {
            return Err(format!("{org}/{app}: failed: {reason:?}: {message}"));
        }
        let r = obs.replicas;
        if obs.release == Some(release) && r.ready >= r.desired && r.updated >= r.desired {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{org}/{app}: not ready after {APP_TIMEOUT:?}: {obs:?}"
            ));
        }
        tokio::time::sleep(OBSERVE_RETRY).await;
    }
    let planes = runtime
        .routes(org.clone(), app.clone(), hostnames)
        .await
        .map_err(|e| format!("{org}/{app}: routes: {e}"))?;
    match planes.iter().find(|p| p.state != PlaneState::Ready) {
        Some(p) => Err(format!(
            "{org}/{app}: route plane {:?}: {}",
            p.state, p.message
        )),
        None => Ok(()),
    }
}

/// Counters, resourceVersion, CPU and clock at the start of a pass.
struct Start {
    rv: u64,
    watch: Stopwatch<2>,
}

impl Start {
    fn now(fake: &FakeKube) -> Start {
        fake.reset_stats();
        Start {
            rv: fake.resource_version(),
            watch: Stopwatch::start(THREADS),
        }
    }

    async fn finish(
        self,
        fake: &FakeKube,
        mut tasks: tokio::task::JoinSet<(Duration, Result<(), String>)>,
    ) -> Measure {
        let mut latencies = Vec::new();
        let mut ready = 0;
        let mut first_failure = None;
        while let Some(joined) = tasks.join_next().await {
            let (elapsed, result) = joined.expect("task");
            latencies.push(elapsed);
            match result {
                Ok(()) => ready += 1,
                Err(e) => {
                    first_failure.get_or_insert(e);
                }
            }
        }
        let (wall, cpu) = self.watch.stop();
        Measure {
            wall,
            stats: fake.stats(),
            rv: fake.resource_version() - self.rv,
            cpu,
            latencies,
            ready,
            first_failure,
        }
    }
}

/// A realistic app: 2 replicas, probes, resources, env, one custom domain (an alias), HPA, PDB.
fn app_toml(name: &str, i: usize) -> String {
    format!(
        r#"[app]
name = "{name}"
port = 8080
replicas = 2
image = "registry.example.com/bench/{name}:1.4.{i}"
cpu = "100m"
memory = "128Mi"
memory_limit = "256Mi"

[checks]
path = "/healthz"

[deploy]
progress_deadline = "5m"

[env]
LOG_LEVEL = "info"
APP_INDEX = "{i}"
FEATURE_FLAGS = "a,b,c"

[[domains]]
host = "{name}.customer{i}.example.com"

[hpa]
min = 2
max = 6
cpu_target = 70

[pdb]
min_available = 1
"#
    )
}

/// N releases (v1), app `i` in org `orgNN` (round-robin). Parsing is not timed: in the product
/// it happens in the CLI and at the API's validation, before the runtime sees the spec.
fn desired_workloads(n: usize, orgs: usize) -> Vec<DesiredWorkload> {
    (0..n)
        .map(|i| {
            let org = format!("org{:02}", i % orgs);
            let name = format!("app-{i:05}");
            let app = parse_str(
                &app_toml(&name, i),
                Path::new("satusky.toml"),
                &Overrides::default(),
            )
            .expect("the bench app's satusky.toml validates");
            DesiredWorkload {
                hostnames: AppHostnames::of_app(&org, ZONE, &app)
                    .expect("the bench app's hostnames are valid"),
                org,
                app: name,
                release: 1,
                spec: app,
                artifact: None,
                secrets: Default::default(),
                restarted_at_ms: None,
            }
        })
        .collect()
}

fn kube_config() -> KubeConfig {
    KubeConfig {
        zone: ZONE.parse().expect("a zone"),
        gateway: Default::default(),
        issuer: Default::default(),
        probe_addr: None,
    }
}

/// A kube client built the way `satusky serve --kubeconfig` builds it.
async fn tcp_client(addr: std::net::SocketAddr) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(&fakekube::kubeconfig::render(addr))
        .expect("fakekube's kubeconfig parses");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("fakekube's kubeconfig is usable");
    Client::try_from(config).expect("kube client")
}

/// The platform Gateway (auto-programmed by fakekube) and the baseline's namespace.
async fn setup_cluster(client: &Client) {
    let namespaces: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("", "v1", "Namespace", "namespaces"),
    );
    for ns in ["satusky-system", "bench-baseline"] {
        let obj: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .expect("Namespace");
        namespaces
            .patch(ns, &PatchParams::apply("operator"), &Patch::Apply(&obj))
            .await
            .expect("create namespace");
    }
    let gateways: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "satusky-system",
        &resource("gateway.networking.k8s.io", "v1", "Gateway", "gateways"),
    );
    let gw: Value = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "satusky", "namespace": "satusky-system"},
        "spec": {"gatewayClassName": "bench",
            "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS"}]}
    });
    let gw: DynamicObject = serde_json::from_value(gw).expect("Gateway");
    gateways
        .patch(
            "satusky",
            &PatchParams::apply("operator"),
            &Patch::Apply(&gw),
        )
        .await
        .expect("create the Gateway");
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into())
}

//! Endpoint prober benchmark (prints figures; asserts nothing). Serves N hostnames from the
//! in-process test edge (DNS zone + one certificate per host + HTTP) and checks them all with
//! `Prober::check_all`: wall time, checks/s, CPU time (user+sys, from /proc) split between the
//! prober's threads and the edge's (each on its own tokio runtime, named `probe-*` / `edge-*`),
//! and peak RSS (VmHWM, reset per run through /proc/self/clear_refs). Beside it, in the same
//! run and against the same edge, the baseline: one `curl` process per hostname (`--resolve`,
//! `--cacert`) at the same concurrency.
//!
//! Run: `cargo bench -p satusky-probe --bench probe-bench` (release profile). Without
//! `--bench` (e.g. `cargo test --benches`) it runs a 20-host smoke pass only.
//! Env: `PROBE_BENCH_N=100,1000,5000`, `PROBE_BENCH_CURL_N=100,1000`,
//! `PROBE_BENCH_CONCURRENCY=64`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use satusky_benchkit::{
    Stopwatch, cpus, env_list, full_run, named_runtime, reset_peak_rss, status_kb,
};
use satusky_probe::{DEFAULT_CONCURRENCY, EndpointTarget, Prober};
use support::{EdgeBuilder, TestEdge};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

const RELEASE: &str = "bench/app@v1";
const ZONE: &str = "bench.test";
/// CPU time is split between the prober's runtime and the edge's, by thread name.
const THREADS: [&str; 2] = ["probe-rt", "edge-rt"];

fn main() {
    let full = full_run();
    let ns = env_list(
        "PROBE_BENCH_N",
        if full { &[100, 1000, 5000] } else { &[20] },
    );
    let curl_ns = env_list("PROBE_BENCH_CURL_N", if full { &[100, 1000] } else { &[] });
    let concurrency = env_list("PROBE_BENCH_CONCURRENCY", &[DEFAULT_CONCURRENCY])
        .first()
        .copied()
        .unwrap_or(DEFAULT_CONCURRENCY);
    let edge_rt = named_runtime("edge-rt");
    let probe_rt = named_runtime("probe-rt");
    probe_rt.block_on(run(edge_rt.handle().clone(), &ns, &curl_ns, concurrency));
}

async fn run(edge_rt: Handle, ns: &[usize], curl_ns: &[usize], concurrency: usize) {
    println!(
        "endpoint prober benchmark: {} CPUs, concurrency {concurrency}, per-check timeout 5s",
        cpus()
    );
    println!(
        "{:>5} {:>8} {:>9} {:>9} {:>11} {:>11} {:>9} {:>9} {:>9}  who",
        "N", "wall", "checks/s", "CPU", "client/chk", "edge/chk", "edge RSS", "peak RSS", "ready",
    );
    for &n in ns {
        let edge = edge_rt.spawn(start_edge(n)).await.expect("edge");
        let edge_rss = status_kb("VmRSS:");
        let mut config = edge.config(Duration::from_secs(5));
        config.concurrency = concurrency;
        let prober = Prober::new(config).expect("prober");
        let targets: Vec<EndpointTarget> = (0..n)
            .map(|i| {
                EndpointTarget::new(host(i))
                    .with_addresses(["127.0.0.1".parse().expect("ip")])
                    .with_release(RELEASE)
            })
            .collect();
        // Warm-up (resolver connections, allocator): not timed.
        let _ = prober.check_all(&targets[..n.min(50)]).await;

        reset_peak_rss();
        let watch = Stopwatch::start(THREADS);
        let results = prober.check_all(&targets).await;
        let (wall, cpu) = watch.stop();
        let (wall, [probe_cpu, edge_cpu]) = (wall.as_secs_f64(), cpu.threads);
        let ready = results.iter().filter(|r| r.is_ready()).count();
        println!(
            "{:>5} {:>7.3}s {:>9.0} {:>8.2}s {:>9.0}µs {:>9.0}µs {:>6.1} MB {:>6.1} MB {:>9}  prober (DNS+TLS+HTTP)",
            n,
            wall,
            n as f64 / wall,
            cpu.total,
            probe_cpu / n as f64 * 1e6,
            edge_cpu / n as f64 * 1e6,
            edge_rss as f64 / 1024.0,
            status_kb("VmHWM:") as f64 / 1024.0,
            format!("{ready}/{n}")
        );
        if let Some(bad) = results.iter().find(|r| !r.is_ready()) {
            println!("      first not ready: {bad:?}");
        }
        drop(results);
        if curl_ns.contains(&n) {
            curl_baseline(&edge, n, concurrency).await;
        }
    }
}

async fn curl_baseline(edge: &TestEdge, n: usize, concurrency: usize) {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("      curl baseline: curl is not installed, skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &edge.ca_pem).expect("write CA");
    let watch = Stopwatch::start(THREADS);
    let ok = curl_all(edge, &ca, n, concurrency).await;
    let (wall, cpu) = watch.stop();
    let (wall, [_, edge_cpu]) = (wall.as_secs_f64(), cpu.threads);
    println!(
        "{:>5} {:>7.3}s {:>9.0} {:>8.2}s {:>9.0}µs {:>9.0}µs {:>9} {:>9} {:>9}  curl, one process per host (TLS+HTTP only)",
        n,
        wall,
        n as f64 / wall,
        cpu.total,
        cpu.children / n as f64 * 1e6,
        edge_cpu / n as f64 * 1e6,
        "",
        "",
        format!("{ok}/{n}")
    );
}

fn host(i: usize) -> String {
    format!("h{i}.{ZONE}")
}

async fn start_edge(n: usize) -> TestEdge {
    let mut b = EdgeBuilder::new(ZONE);
    for i in 0..n {
        b = b.healthy(&host(i), RELEASE);
    }
    b.start().await
}

async fn curl_all(edge: &TestEdge, ca: &std::path::Path, n: usize, concurrency: usize) -> usize {
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let port = edge.https.port();
    for i in 0..n {
        let permit = limit.clone().acquire_owned().await.expect("semaphore");
        let h = host(i);
        let ca = ca.to_path_buf();
        tasks.spawn(async move {
            let out = tokio::process::Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5"])
                .arg("--resolve")
                .arg(format!("{h}:{port}:127.0.0.1"))
                .arg("--cacert")
                .arg(&ca)
                .arg(format!("https://{h}:{port}/"))
                .output()
                .await;
            drop(permit);
            matches!(out, Ok(o) if o.stdout == b"200")
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        if matches!(r, Ok(true)) {
            ok += 1;
        }
    }
    ok
}

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
use std::time::{Duration, Instant};

use satusky_probe::{DEFAULT_CONCURRENCY, Prober, Target};
use support::{EdgeBuilder, TestEdge};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

const RELEASE: &str = "bench/app@v1";
const ZONE: &str = "bench.test";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let ns = env_list(
        "PROBE_BENCH_N",
        if full { &[100, 1000, 5000] } else { &[20] },
    );
    let curl_ns = env_list("PROBE_BENCH_CURL_N", if full { &[100, 1000] } else { &[] });
    let concurrency = env_list("PROBE_BENCH_CONCURRENCY", &[DEFAULT_CONCURRENCY])
        .first()
        .copied()
        .unwrap_or(DEFAULT_CONCURRENCY);
    let runtime = |name: &'static str| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    let edge_rt = runtime("edge-rt");
    let probe_rt = runtime("probe-rt");
    probe_rt.block_on(run(edge_rt.handle().clone(), &ns, &curl_ns, concurrency));
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

async fn run(edge_rt: Handle, ns: &[usize], curl_ns: &[usize], concurrency: usize) {
    println!(
        "endpoint prober benchmark: {} CPUs, concurrency {concurrency}, per-check timeout 5s",
        std::thread::available_parallelism().map_or(0, |n| n.get())
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
        let targets: Vec<Target> = (0..n)
            .map(|i| {
                Target::new(host(i))
                    .with_addresses(["127.0.0.1".parse().expect("ip")])
                    .with_release(RELEASE)
            })
            .collect();
        // Warm-up (resolver connections, allocator): not timed.
        let _ = prober.check_all(&targets[..n.min(50)]).await;

        reset_peak_rss();
        let cpu0 = Cpu::now();
        let t0 = Instant::now();
        let results = prober.check_all(&targets).await;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = Cpu::now().since(&cpu0);
        let ready = results.iter().filter(|r| r.is_ready()).count();
        println!(
            "{:>5} {:>7.3}s {:>9.0} {:>8.2}s {:>9.0}µs {:>9.0}µs {:>6.1} MB {:>6.1} MB {:>9}  prober (DNS+TLS+HTTP)",
            n,
            wall,
            n as f64 / wall,
            cpu.total,
            cpu.probe / n as f64 * 1e6,
            cpu.edge / n as f64 * 1e6,
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
    let cpu0 = Cpu::now();
    let t0 = Instant::now();
    let ok = curl_all(edge, &ca, n, concurrency).await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = Cpu::now().since(&cpu0);
    println!(
        "{:>5} {:>7.3}s {:>9.0} {:>8.2}s {:>9.0}µs {:>9.0}µs {:>9} {:>9} {:>9}  curl, one process per host (TLS+HTTP only)",
        n,
        wall,
        n as f64 / wall,
        cpu.total,
        cpu.children / n as f64 * 1e6,
        cpu.edge / n as f64 * 1e6,
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

/// CPU seconds (user+sys) spent so far.
struct Cpu {
    /// The whole process (every thread).
    total: f64,
    /// Threads of the prober's runtime (`probe-rt`).
    probe: f64,
    /// Threads of the edge's runtime (`edge-rt`).
    edge: f64,
    /// Waited-for child processes (curl).
    children: f64,
}

impl Cpu {
    fn now() -> Cpu {
        let tick = clock_ticks();
        let (utime, stime, cutime, cstime) = stat_times("/proc/self/stat");
        let mut cpu = Cpu {
            total: (utime + stime) / tick,
            probe: 0.0,
            edge: 0.0,
            children: (cutime + cstime) / tick,
        };
        let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let (u, s, _, _) = stat_times(&task.path().join("stat").to_string_lossy());
            if comm.starts_with("probe-rt") {
                cpu.probe += (u + s) / tick;
            } else if comm.starts_with("edge-rt") {
                cpu.edge += (u + s) / tick;
            }
        }
        cpu
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            total: self.total - before.total,
            probe: self.probe - before.probe,
            edge: self.edge - before.edge,
            children: self.children - before.children,
        }
    }
}

/// utime, stime, cutime, cstime (clock ticks) of a /proc stat file.
fn stat_times(path: &str) -> (f64, f64, f64, f64) {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after `(comm)` start at field 3 (state); utime is field 14.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let get = |i: usize| f.get(i - 3).copied().unwrap_or(0.0);
    (get(14), get(15), get(16), get(17))
}

fn clock_ticks() -> f64 {
    static TICK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A `/proc/self/status` field in kB.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS, so each run reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

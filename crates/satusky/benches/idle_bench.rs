//! Idle cost of `satusky dev` (issue 12; prints figures, asserts only that the apps ran): N
//! idle apps — the local runtime's test server `satusky-test-app`, 1 replica each, deployed
//! through the HTTP API with one uploaded context — and the control plane's CPU time
//! (utime+stime of the `satusky` process, `/proc/PID/stat`, in whole clock ticks: 10 ms, i.e.
//! 0.033% of a core over 30 s) over a window once all are `ready` and settled; beside it the
//! same from its live threads' schedstat runtimes (ns). The replicas are processes of their
//! own, not counted in it; their summed CPU (schedstat: each uses far less than a tick) is
//! printed beside it.
//!
//! The CPU is split three ways by configuration, each a fresh `satusky dev` with a fresh state
//! dir, measured in one run:
//! - (A) defaults;
//! - (B) the endpoint sweep off: `--probe-interval 1h`;
//! - (C) the sweep off and the readiness re-check of ready replicas slowed down too:
//!   `--probe-interval 1h --ready-recheck 1h`.
//!
//! Endpoint checks = A − B, readiness re-checks = B − C, everything else = C. A baseline
//! `satusky` (`IDLE_BENCH_BASELINE_SATUSKY`, e.g. a build of an older commit) runs A and B in
//! the same run, alternating with this build's (A this, A baseline, B this, B baseline, C
//! this); a binary that has no `--ready-recheck` gets no C, and its "readiness + everything
//! else" is B. Every server runs the same test app (this build's).
//!
//! Run: `cargo build --release --workspace --bins` (for the test app), then
//! `cargo bench -p satusky --bench idle-bench`. Without `--bench` (e.g. under
//! `cargo test --benches`) it runs a smoke pass: 3 apps, a 2 s window, 1 s to settle.
//! Env: `IDLE_BENCH_APPS` (default 1000), `IDLE_BENCH_SECS` (the window, default 30),
//! `IDLE_BENCH_SETTLE_SECS` (default 10), `IDLE_BENCH_BASELINE_SATUSKY`.

#[path = "support/api.rs"]
mod api;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use api::{ORG, app_toml, context_tarball, http, put, spec_of, upload};
use futures_util::StreamExt;
use satusky_benchkit::{
    busy, cmdline, cpu_secs, descendants, env_usize, full_run, loadavg, pids_matching, status_kb_of,
};
use satusky_testkit::process::{Bins, Dev};
use satusky_types::{AppSummary, Phase};

/// PUTs in flight at once while deploying.
const DEPLOY_CONCURRENCY: usize = 16;

struct Sizes {
    apps: usize,
    window: Duration,
    settle: Duration,
}

/// One configuration of `satusky dev`.
#[derive(Clone, Copy)]
struct Config {
    key: &'static str,
    what: &'static str,
    flags: &'static [&'static str],
    /// Needs `--ready-recheck` (a binary without it cannot run this one).
    needs_ready_recheck: bool,
}

const CONFIGS: [Config; 3] = [
    Config {
        key: "A",
        what: "defaults",
        flags: &[],
        needs_ready_recheck: false,
    },
    Config {
        key: "B",
        what: "sweep off (--probe-interval 1h)",
        flags: &["--probe-interval", "1h"],
        needs_ready_recheck: false,
    },
    Config {
        key: "C",
        what: "sweep off, re-check off (+ --ready-recheck 1h)",
        flags: &["--probe-interval", "1h", "--ready-recheck", "1h"],
        needs_ready_recheck: true,
    },
];

/// What one configuration measured on one binary.
#[derive(Debug, Clone, Copy)]
struct Measured {
    /// Control-plane CPU, % of one core over the window.
    cpu_pct: f64,
    /// The same from the live threads' schedstat runtimes (ns, not whole ticks).
    threads_pct: f64,
    /// The replicas' summed CPU, % of one core over the window.
    replicas_pct: f64,
    /// Replica processes counted at the end of the window.
    replicas: usize,
    ready_after: Duration,
    vm_rss_kb: u64,
}

fn main() {
    let full = full_run();
    let sizes = Sizes {
        apps: env_usize("IDLE_BENCH_APPS", if full { 1000 } else { 3 }),
        window: Duration::from_secs(env_usize("IDLE_BENCH_SECS", if full { 30 } else { 2 }) as u64),
        settle: Duration::from_secs(
            env_usize("IDLE_BENCH_SETTLE_SECS", if full { 10 } else { 1 }) as u64,
        ),
    };
    let this = Bins::new(env!("CARGO_BIN_EXE_satusky"));
    // Every server runs this build's test app (`cargo build --workspace --bins` puts it
    // beside satusky); a baseline build need not have one.
    let test_app = this.test_app();
    let baseline = std::env::var_os("IDLE_BENCH_BASELINE_SATUSKY").map(|p| {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "IDLE_BENCH_BASELINE_SATUSKY: {} is not a file",
            p.display()
        );
        p
    });
    let mut servers = vec![("this build", this.satusky().to_path_buf())];
    if let Some(b) = &baseline {
        servers.push(("baseline", b.clone()));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    println!(
        "satusky dev idle-cost benchmark: {} apps of 1 replica, CPU over {} s after {} s to settle",
        sizes.apps,
        sizes.window.as_secs(),
        sizes.settle.as_secs()
    );
    for (which, path) in &servers {
        println!(
            "{which}: {} (--ready-recheck: {})",
            path.display(),
            if knows_ready_recheck(path) {
                "yes"
            } else {
                "no"
            }
        );
    }
    println!("test app: {}", test_app.display());
    println!(
        "machine: nproc {}; load average at the start {} ({})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        busy()
    );
    let before = pids_matching(&test_app.display().to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // results[config][server]
    let mut results: Vec<Vec<Option<Measured>>> = Vec::new();
    let mut retried: Vec<String> = Vec::new();
    rt.block_on(async {
        for config in CONFIGS {
            let mut row = Vec::new();
            for (which, path) in &servers {
                if config.needs_ready_recheck && !knows_ready_recheck(path) {
                    row.push(None);
                    continue;
                }
                // An app that fails while deploying (see `retried`) spoils the idle figure:
                // that configuration runs again on a fresh server, at most twice more.
                let mut measured = None;
                for attempt in 1..=3 {
                    match run(which, path, &config, &sizes, &test_app).await {
                        Ok(m) => {
                            measured = Some(m);
                            break;
                        }
                        Err(e) => {
                            println!("   attempt {attempt} given up: {e}");
                            retried.push(format!("({}) {which}: {e}", config.key));
                        }
                    }
                }
                row.push(measured);
            }
            results.push(row);
        }
    });
    report(&servers, &results, &sizes);
    println!(
        "\nconfigurations run again because an app failed while deploying: {}",
        retried.len()
    );
    for r in &retried {
        println!("   {r}");
    }
    println!("\nload average at the end: {} ({})", loadavg(), busy());
    let left: Vec<u32> = pids_matching(&test_app.display().to_string())
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    println!(
        "test-app processes left by this run: {} {left:?} ({} others were running before it)",
        left.len(),
        before.len()
    );
}

/// Whether `satusky dev --help` of that binary lists `--ready-recheck`.
fn knows_ready_recheck(satusky: &Path) -> bool {
    std::process::Command::new(satusky)
        .args(["dev", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--ready-recheck"))
        .unwrap_or(false)
}

/// The soft and hard open-files limits of `pid` (`/proc/PID/limits`).
fn open_files_limit(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    format!("{} soft / {} hard", f[3], f[4])
                })
        })
        .unwrap_or_else(|| "?".into())
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The apps' phases: (ready, failed names).
async fn phases(c: &reqwest::Client, dev: &Dev) -> (usize, Vec<String>) {
    let r = c
        .get(format!("{}/v1/orgs/{ORG}/apps", dev.api()))
        .bearer_auth(dev.token())
        .send()
        .await
        .expect("GET apps");
    let apps: Vec<AppSummary> = r.json().await.expect("app list");
    let ready = apps.iter().filter(|a| a.phase == Phase::Ready).count();
    let failed = apps
        .iter()
        .filter(|a| a.phase == Phase::Failed)
        .map(|a| a.name.clone())
        .collect();
    (ready, failed)
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One configuration on one binary: a fresh `satusky dev`, N apps deployed and ready, settle,
/// then the CPU over the window.
async fn run(
    which: &str,
    satusky: &Path,
    config: &Config,
    sizes: &Sizes,
    test_app: &Path,
) -> Result<Measured, String> {
    println!(
        "\n== ({}) {} — {which}; load average {} ({})",
        config.key,
        config.what,
        loadavg(),
        busy()
    );
    let state = tempfile::tempdir().expect("a temp state dir");
    let dev = Dev::start_defaults(&Bins::new(satusky), state.path(), config.flags);
    let pid = dev.pid();
    println!(
        "   satusky dev pid {pid}, open-files limit {}",
        open_files_limit(pid)
    );
    let c = http();
    let (api, token) = (dev.api(), dev.token());
    let toml = app_toml(test_app, "i0", 1);
    let context = upload(&c, &api, &token, context_tarball(&toml)).await;
    let t = Instant::now();
    let specs: Vec<_> = (0..sizes.apps)
        .map(|i| spec_of(&app_toml(test_app, &format!("i{i}"), 1)))
        .collect();
    futures_util::stream::iter(&specs)
        .for_each_concurrent(DEPLOY_CONCURRENCY, |spec| {
            let (c, api, token, context) = (&c, &api, &token, &context);
            async move {
                put(c, api, token, spec, context).await;
            }
        })
        .await;
    let puts = t.elapsed();
    // Give up when no app became ready for a minute (a limit was hit, say), or after 10 min.
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut last_print, mut progress, mut most) = (Instant::now(), Instant::now(), 0);
    loop {
        let (ready, failed) = phases(&c, &dev).await;
        if let Some(first) = failed.first() {
            let status = c
                .get(format!("{}/v1/orgs/{ORG}/apps/{first}/status", dev.api()))
                .bearer_auth(dev.token())
                .send()
                .await
                .expect("GET status");
            let log = dev.log();
            let about: Vec<&str> = log
                .lines()
                .filter(|l| {
                    l.contains(&format!("app={first} ")) || l.contains(&format!("/{first}@"))
                })
                .collect();
            let status: serde_json::Value = status.json().await.unwrap_or_default();
            return Err(format!(
                "{} of {} apps failed while deploying, e.g. {:?}; {first}'s workload plane: {} {}; {} lines about it in the log",
                failed.len(),
                sizes.apps,
                &failed[..failed.len().min(5)],
                status["workload"]["reason"],
                status["workload"]["message"],
                about.len()
            ));
        }
        if ready > most {
            (most, progress) = (ready, Instant::now());
        }
        if ready == sizes.apps {
            break;
        }
        assert!(
            Instant::now() < deadline && progress.elapsed() < Duration::from_secs(60),
            "only {ready} of {} apps ready after {:.0} s (none more for {:.0} s); open fds {}, limit {}\n{}",
            sizes.apps,
            t.elapsed().as_secs_f64(),
            progress.elapsed().as_secs_f64(),
            open_fds(pid),
            open_files_limit(pid),
            tail(&dev.log(), 40)
        );
        if last_print.elapsed() >= Duration::from_secs(10) {
            println!(
                "   … {ready} of {} ready after {:.0} s",
                sizes.apps,
                t.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let ready_after = t.elapsed();
    println!(
        "   {} PUTs in {:.1} s; all {} apps ready {:.1} s after the first PUT; {} open fds",
        sizes.apps,
        puts.as_secs_f64(),
        sizes.apps,
        ready_after.as_secs_f64(),
        open_fds(pid)
    );
    tokio::time::sleep(sizes.settle).await;

    let needle = test_app.display().to_string();
    let replicas: Vec<u32> = descendants(pid)
        .into_iter()
        .filter(|p| cmdline(*p).contains(&needle))
        .collect();
    // Each replica uses far less than a clock tick in the window, so their /proc/PID/stat
    // times (whole ticks) would sum to 0: their schedstat runtimes (ns) are summed instead.
    let replica_cpu = |pids: &[u32]| pids.iter().map(|p| runtime_secs(*p)).sum::<f64>();
    let threads_cpu = || threads_runtime_secs(pid);
    let (cpu0, th0, rep0, t0) = (
        cpu_secs(pid),
        threads_cpu(),
        replica_cpu(&replicas),
        Instant::now(),
    );
    tokio::time::sleep(sizes.window).await;
    let (cpu1, th1, rep1, wall) = (
        cpu_secs(pid),
        threads_cpu(),
        replica_cpu(&replicas),
        t0.elapsed(),
    );
    let alive = replicas
        .iter()
        .filter(|p| cmdline(**p).contains(&needle))
        .count();
    let vm_rss_kb = status_kb_of(pid, "VmRSS:");
    let (ready, failed) = phases(&c, &dev).await;
    let secs = wall.as_secs_f64();
    let m = Measured {
        cpu_pct: 100.0 * (cpu1 - cpu0) / secs,
        threads_pct: 100.0 * (th1 - th0) / secs,
        replicas_pct: 100.0 * (rep1 - rep0) / secs,
        replicas: alive,
        ready_after,
        vm_rss_kb,
    };
    println!(
        "   control plane: {:.2} s CPU in {secs:.1} s = {:.2}% of a core ({:.1} µs/s per app); VmRSS {:.1} MB",
        cpu1 - cpu0,
        m.cpu_pct,
        per_app_us(m.cpu_pct, sizes.apps),
        vm_rss_kb as f64 / 1024.0
    );
    println!(
        "   control plane, its live threads' schedstat runtimes (ns; threads that exited in the \
         window not counted): {:.4} s = {:.3}% of a core",
        th1 - th0,
        100.0 * (th1 - th0) / secs
    );
    println!(
        "   replicas ({} of {} still running, not the control plane): {:.2} s CPU = {:.2}% of a core",
        alive,
        replicas.len(),
        rep1 - rep0,
        m.replicas_pct
    );
    println!(
        "   after the window: {ready} of {} apps ready, {} failed",
        sizes.apps,
        failed.len()
    );
    drop(dev);
    Ok(m)
}

/// Time on CPU of one task (`/proc/PID/schedstat`, first field, ns) in seconds; 0 if gone.
fn schedstat_secs(path: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

/// Time on CPU of a single-threaded process (its main thread's schedstat).
fn runtime_secs(pid: u32) -> f64 {
    schedstat_secs(&format!("/proc/{pid}/schedstat"))
}

/// Time on CPU of every live thread of `pid`, summed (precise, unlike whole clock ticks; a
/// thread that exited is missing).
fn threads_runtime_secs(pid: u32) -> f64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|t| schedstat_secs(&t.path().join("schedstat").to_string_lossy()))
        .sum()
}

/// % of one core for all apps → µs of CPU per second per app.
fn per_app_us(pct: f64, apps: usize) -> f64 {
    pct * 10_000.0 / apps.max(1) as f64
}

fn report(servers: &[(&str, PathBuf)], results: &[Vec<Option<Measured>>], sizes: &Sizes) {
    let n = sizes.apps;
    let get = |c: usize, s: usize| results.get(c).and_then(|r| r.get(s)).copied().flatten();
    let pct = |m: Option<Measured>| {
        m.map_or("–".to_string(), |m| {
            format!("{:.2}% ({:.3}%)", m.cpu_pct, m.threads_pct)
        })
    };
    println!(
        "\n== Control-plane CPU, {n} idle apps, {} s window (% of one core: /proc/PID/stat, and in brackets its live threads' schedstat)",
        sizes.window.as_secs()
    );
    let names: Vec<&str> = servers.iter().map(|(w, _)| *w).collect();
    print!("   {:<52}", "configuration");
    for w in &names {
        print!(" {w:>20}");
    }
    println!("   replicas' own CPU");
    for (i, config) in CONFIGS.iter().enumerate() {
        print!("   {:<52}", format!("({}) {}", config.key, config.what));
        for s in 0..servers.len() {
            print!(" {:>20}", pct(get(i, s)));
        }
        let reps: Vec<String> = (0..servers.len())
            .map(|s| {
                get(i, s).map_or("–".into(), |m| {
                    format!("{:.2}% ({} running)", m.replicas_pct, m.replicas)
                })
            })
            .collect();
        println!("   {}", reps.join(" | "));
    }
    print!("   {:<52}", "all apps ready after the first PUT (A)");
    for s in 0..servers.len() {
        print!(
            " {:>20}",
            get(0, s).map_or("–".into(), |m| format!(
                "{:.1} s",
                m.ready_after.as_secs_f64()
            ))
        );
    }
    println!();
    print!("   {:<52}", "VmRSS at the end of the window (A)");
    for s in 0..servers.len() {
        print!(
            " {:>20}",
            get(0, s).map_or("–".into(), |m| format!(
                "{:.1} MB",
                m.vm_rss_kb as f64 / 1024.0
            ))
        );
    }
    println!();

    println!("\n== The split: all {n} apps (% of one core) | per app (µs of CPU per second)");
    print!("   {:<52}", "share");
    for w in &names {
        print!(" {:>24}", w);
    }
    println!();
    let share = |label: &str, f: &dyn Fn(usize) -> Option<f64>| {
        print!("   {label:<52}");
        for s in 0..servers.len() {
            print!(
                " {:>24}",
                f(s).map_or("–".into(), |v| format!(
                    "{v:.2}% | {:.1} µs/s",
                    per_app_us(v, n)
                ))
            );
        }
        println!();
    };
    let a = |s: usize| get(0, s).map(|m| m.cpu_pct);
    let b = |s: usize| get(1, s).map(|m| m.cpu_pct);
    let c = |s: usize| get(2, s).map(|m| m.cpu_pct);
    share("endpoint checks (A − B)", &|s| Some(a(s)? - b(s)?));
    share("readiness re-checks (B − C)", &|s| Some(b(s)? - c(s)?));
    share("everything else (C)", &|s| c(s));
    share("readiness + everything else (B; no C measured)", &|s| {
        if c(s).is_some() { None } else { b(s) }
    });
    share("total (A)", &|s| a(s));

    // What one check costs, from the split and how many checks ran (N/interval per second).
    println!();
    for (s, w) in names.iter().enumerate() {
        if let (Some(a), Some(b)) = (a(s), b(s)) {
            // A: the sweep checks every app's hostname every 10 s (`satusky dev`'s default).
            let per_check_ms = (a - b) / 100.0 / (n as f64 / 10.0) * 1000.0;
            print!("   {w}: ≈ {per_check_ms:.2} ms of control-plane CPU per endpoint check");
            if let Some(c) = c(s) {
                // B: every ready replica is re-checked every 2 s (READY_RECHECK).
                let per_recheck_us = (b - c) / 100.0 / (n as f64 / 2.0) * 1e6;
                print!(", ≈ {per_recheck_us:.0} µs per readiness re-check");
            }
            println!();
        }
    }
    if let Some(m) = get(2, 0) {
        println!(
            "   everything else for {n} idle apps: {:.2}% of a core ({:.3}% by schedstat) — {} the 1% target",
            m.cpu_pct,
            m.threads_pct,
            if m.cpu_pct < 1.0 {
                "under"
            } else {
                "NOT under"
            }
        );
    }
}

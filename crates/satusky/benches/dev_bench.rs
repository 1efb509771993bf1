//! `satusky dev` benchmark (prints figures; asserts only that the deploys worked). Drives the
//! real release binaries — `satusky dev`, `1ctl` and the local runtime's test app
//! `satusky-test-app` — on loopback with a temporary state dir, and measures:
//!
//! 1. **Redeploy latency** of an app (the test app, 2 replicas, `[build] command = "true"`)
//!    whose build context is unchanged, through the HTTP API (context uploaded once, then
//!    `PUT …/apps/{app}` with the same `context`): from the 202 to endpoint ready, with the
//!    time per phase taken from the events' `at` stamps (WebSocket `…/events`): the release's
//!    `pending` event (acceptance) → build plane `ready` (`Built`) → every replica ready (the
//!    `rollout` event) → workload plane `ready` (`RolloutComplete`, route switched) → phase
//!    `ready` (every endpoint plane ready). Two variants: the spec unchanged (the build is
//!    reused: same context, command and build env) and one `[build.env]` variable changed
//!    (the build env is part of the build's cache key, so `true` runs again; before issue 14
//!    this variant changed `[env]`, which no longer reaches builds — a baseline build from
//!    before then does not know `[build.env]`). Then the same two redeploys as a user
//!    sees them: the wall time of `1ctl deploy` (default wait, plain output), split into
//!    before acceptance / control plane / after ready. Baseline, same run: the test app's own
//!    time from spawn to its first `200` on `/healthz` (polled every millisecond).
//! 2. **Memory** of `satusky dev` (VmRSS and VmHWM from `/proc/PID/status`): right after
//!    start, idle a few seconds later, with 100 running apps of one replica (deployed through
//!    the API) right after all are ready and again after they ran for a while, with the CPU
//!    it used meanwhile; the 100 replica processes' RSS is summed separately. Baseline: the
//!    RSS of the test app itself, idle (a trivial Rust process).
//!
//! Run: `cargo build --release --workspace --bins` (for `1ctl` and the test app), then
//! `cargo bench -p satusky --bench dev-bench`. Without `--bench` (e.g. under
//! `cargo test --benches`) it runs a small smoke pass (2 redeploys, 1 `1ctl` run, 3 apps)
//! against the binaries of that profile. Env: `DEV_BENCH_N` (API redeploys per variant,
//! default 20), `DEV_BENCH_CLI_N` (`1ctl` redeploys per variant, default 10),
//! `DEV_BENCH_APPS` (default 100), `DEV_BENCH_BASELINE_1CTL` (another `1ctl` binary, e.g. an
//! older build: its `1ctl deploy` runs are timed too, after this build's, as the baseline),
//! `DEV_BENCH_BASELINE_SATUSKY` (another `satusky` binary, e.g. an older build: part 1's API
//! redeploys and part 2 are measured with it too, in the same run, each server with its own
//! fresh state dir, the same test app and the same client — in part 1 the two servers run side
//! by side and take turns, one redeploy each; part 2 runs after this build's — and printed as
//! `baseline` rows beside this build's; `1ctl deploy` runs only against this build).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "support/api.rs"]
mod api;

use api::{ORG, app_toml, context_tarball, http, put, spec_of, upload};
use futures_util::StreamExt;
use satusky_benchkit::{
    busy, cmdline, cpu_secs, descendants, env_usize, full_run, loadavg, percentile, pids_matching,
    status_kb_of,
};
use satusky_types::{AppSpec, AppSummary, Event, EventType, Phase};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The redeployed app of part 1.
const APP: &str = "bench";
/// Pause between redeploys: longer than the runtime's drain (1 s) so the old replicas are
/// gone before the next rollout starts.
const GAP: Duration = Duration::from_millis(2500);
/// Longest wait for one deploy.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(120);

struct Sizes {
    redeploys: usize,
    cli_runs: usize,
    apps: usize,
    baseline_runs: usize,
    idle_wait: Duration,
    running_wait: Duration,
}

fn main() {
    let full = full_run();
    let sizes = Sizes {
        redeploys: env_usize("DEV_BENCH_N", if full { 20 } else { 2 }),
        cli_runs: env_usize("DEV_BENCH_CLI_N", if full { 10 } else { 1 }),
        apps: env_usize("DEV_BENCH_APPS", if full { 100 } else { 3 }),
        baseline_runs: if full { 20 } else { 3 },
        idle_wait: Duration::from_secs(if full { 5 } else { 1 }),
        running_wait: Duration::from_secs(if full { 10 } else { 1 }),
    };
    let bins = Bins::locate();
    // Other sessions' tests may run the same binary: only what this run left counts.
    let before = pids_matching(&bins.test_app.display().to_string());
    let _ = rustls::crypto::ring::default_provider().install_default();
    print_machine(&bins);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let base = baseline(&bins, sizes.baseline_runs);
        redeploy_latency(&bins, &sizes, &base).await;
        memory(&bins, &sizes, &base).await;
    });
    println!("\nload average at the end: {}", loadavg());
    let left: Vec<u32> = pids_matching(&bins.test_app.display().to_string())
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    println!(
        "test-app processes left by this run: {} {left:?} ({} others were running before it)",
        left.len(),
        before.len()
    );
}

// ---------------------------------------------------------------------------------------
// Binaries, processes, /proc

struct Bins {
    satusky: PathBuf,
    /// `DEV_BENCH_BASELINE_SATUSKY`: another `satusky`, measured beside this build's.
    baseline_satusky: Option<PathBuf>,
    onectl: PathBuf,
    test_app: PathBuf,
    profile: &'static str,
}

impl Bins {
    /// `satusky` is built by cargo for this bench; `1ctl` and the test app live beside it.
    fn locate() -> Bins {
        let satusky = PathBuf::from(env!("CARGO_BIN_EXE_satusky"));
        let dir = satusky
            .parent()
            .expect("the satusky binary has a directory")
            .to_path_buf();
        let release = dir.ends_with("release");
        let build = if release {
            "cargo build --release --workspace --bins"
        } else {
            "cargo build --workspace --bins"
        };
        let sibling = |name: &str| {
            let p = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            assert!(
                p.exists(),
                "{} is missing: build it first with `{build}`",
                p.display()
            );
            p
        };
        let baseline_satusky = std::env::var_os("DEV_BENCH_BASELINE_SATUSKY").map(|p| {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "DEV_BENCH_BASELINE_SATUSKY: {} is not a file",
                p.display()
            );
            p
        });
        Bins {
            onectl: sibling("1ctl"),
            test_app: sibling("satusky-test-app"),
            satusky: sibling("satusky"),
            baseline_satusky,
            profile: if release { "release" } else { "debug" },
        }
    }

    /// The servers to measure: this build's, then the baseline's if one is given, each with
    /// the prefix of its rows (`""` / `"baseline "`).
    fn servers(&self) -> Vec<(&'static str, &Path)> {
        let mut out = vec![("", self.satusky.as_path())];
        if let Some(b) = &self.baseline_satusky {
            out.push(("baseline ", b.as_path()));
        }
        out
    }
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn section(title: &str) {
    println!("\n== {title}");
    println!("   load average {} ({})", loadavg(), busy());
}

fn print_machine(bins: &Bins) {
    println!("satusky dev benchmark ({} binaries)", bins.profile);
    for (which, server) in bins.servers() {
        println!("{which}satusky: {}", server.display());
    }
    println!(
        "machine: nproc {}; {}; {}; kernel {}; {}",
        sh("nproc", &[]),
        sh("lscpu", &[])
            .lines()
            .find(|l| l.starts_with("Model name"))
            .unwrap_or("Model name: ?")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m
                .lines()
                .next()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")))
            .unwrap_or_default(),
        sh("uname", &["-r"]),
        sh("rustc", &["-V"]),
    );
    println!("load average at the start: {} ({})", loadavg(), busy());
}

#[derive(Debug, Clone, Copy, Default)]
struct Mem {
    rss_kb: u64,
    hwm_kb: u64,
}

fn mem(pid: u32) -> Mem {
    Mem {
        rss_kb: status_kb_of(pid, "VmRSS:"),
        hwm_kb: status_kb_of(pid, "VmHWM:"),
    }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A child killed (and waited for) when dropped, even on a panic.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Statistics

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
}

fn stats(values: &[f64]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stats {
        median,
        p90: percentile(&v, 0.9)?,
        min: v[0],
        max: v[n - 1],
    })
}

fn header(title: &str) {
    println!(
        "   {title:<50} {:>8} {:>8} {:>8} {:>8}",
        "median", "p90", "min", "max"
    );
}

fn row(label: &str, values: &[f64]) {
    match stats(values) {
        Some(s) => println!(
            "   {label:<50} {:>8.0} {:>8.0} {:>8.0} {:>8.0}  ms",
            s.median, s.p90, s.min, s.max
        ),
        None => println!("   {label:<50} {:>8}", "–"),
    }
}

// ---------------------------------------------------------------------------------------
// `satusky dev`

struct Dev {
    child: Option<Child>,
    pid: u32,
    api: String,
    token: String,
    /// Kept for the lifetime of the server.
    state: tempfile::TempDir,
    log: Arc<Mutex<VecDeque<String>>>,
    /// From spawn to "Ctrl-C stops everything".
    startup: Duration,
}

impl Dev {
    /// Starts `server` (a `satusky` binary) as `satusky dev` with a fresh state dir.
    fn start(server: &Path) -> Dev {
        let state = tempfile::tempdir().expect("a temp state dir");
        let started = Instant::now();
        let mut child = Command::new(server)
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(["--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(state.path())
            .env("SATUSKY_HOME", state.path().join("home"))
            .env_remove("SATUSKY_DATABASE_URL")
            .env_remove("SATUSKY_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn satusky dev");
        let pid = child.id();
        let stderr = child.stderr.take().expect("satusky dev's stderr is piped");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Ctrl-C stops everything")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_back(line);
                if log.len() > 200 {
                    log.pop_front();
                }
            }
        });
        let mut dev = Dev {
            child: Some(child),
            pid,
            api: String::new(),
            token: String::new(),
            state,
            log,
            startup: Duration::ZERO,
        };
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            panic!("satusky dev did not start:\n{}", dev.log_tail());
        }
        dev.startup = started.elapsed();
        let text = std::fs::read_to_string(dev.state.path().join("dev.json"))
            .expect("satusky dev wrote dev.json");
        let info: serde_json::Value = serde_json::from_str(&text).expect("dev.json is JSON");
        let field = |k: &str| {
            info[k]
                .as_str()
                .unwrap_or_else(|| panic!("dev.json has no {k}: {info}"))
                .to_string()
        };
        dev.api = field("api_url");
        dev.token = field("token");
        dev
    }

    fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let skip = log.len().saturating_sub(40);
        log.iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// SIGINT (Ctrl-C) and wait; SIGKILL after 60 s. Returns how long the stop took.
    fn stop(&mut self) -> Option<Duration> {
        let mut child = self.child.take()?;
        let t = Instant::now();
        let _ = Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status();
        while t.elapsed() < Duration::from_secs(60) {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("satusky dev did not stop within 60 s of SIGINT; killing it");
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// The API

type Feed = mpsc::UnboundedReceiver<(Instant, Event)>;

/// Follow the app's events from the start; each comes with the instant it arrived.
async fn follow(dev: &Dev, app: &str) -> Feed {
    let url = format!(
        "{}/v1/orgs/{ORG}/apps/{app}/events?after=0",
        dev.api.replacen("http://", "ws://", 1)
    );
    let mut req = url.into_client_request().expect("events URL");
    req.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", dev.token)).expect("token header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("open the events WebSocket");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(text) = msg {
                let at = Instant::now();
                match serde_json::from_str::<Event>(&text) {
                    Ok(ev) => {
                        if tx.send((at, ev)).is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("unreadable event ({e}): {text}"),
                }
            }
        }
    });
    rx
}

fn at_ms(ev: &Event) -> i64 {
    humantime::parse_rfc3339(&ev.at)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or_else(|| panic!("event `at` is not RFC 3339: {}", ev.at))
}

/// One release's way to ready, in the server's `at` stamps (epoch ms).
#[derive(Debug, Clone)]
struct Timeline {
    release: u64,
    /// The release's `pending` event: written in the PUT's transaction.
    accepted: i64,
    build_done: i64,
    /// `Built` plane message: "reused sha256:…" or "built sha256:…".
    build_note: String,
    /// First `rollout` event of the release with every replica ready (before the switch).
    replicas_ready: i64,
    /// Workload plane `ready` (`RolloutComplete`: the route switched).
    workload_ready: i64,
    /// Phase `ready`: every endpoint plane ready.
    ready: i64,
    /// When the phase `ready` event reached us.
    ready_seen: Instant,
}

/// Reads events until the first release numbered `from` or later is `ready`.
async fn timeline(feed: &mut Feed, from: u64, dev: &Dev) -> Timeline {
    let deadline = tokio::time::Instant::now() + DEPLOY_TIMEOUT;
    let mut release: Option<u64> = None;
    let (mut accepted, mut build_done, mut replicas_ready, mut workload_ready) =
        (0i64, 0i64, 0i64, 0i64);
    let mut build_note = String::new();
    loop {
        let Ok(Some((seen, ev))) = tokio::time::timeout_at(deadline, feed.recv()).await else {
            panic!(
                "release {from} did not get ready within {DEPLOY_TIMEOUT:?}; satusky dev log:\n{}",
                dev.log_tail()
            );
        };
        let d = &ev.data;
        let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
        let n = |k: &str| d[k].as_u64();
        match (ev.kind, release) {
            (EventType::Release, None)
                if n("version") >= Some(from) && s("status") == "pending" =>
            {
                release = n("version");
                accepted = at_ms(&ev);
            }
            (_, None) => {}
            (EventType::Release, Some(r)) if n("version") == Some(r) && s("status") == "failed" => {
                panic!("release {r} failed: {d}\n{}", dev.log_tail())
            }
            (EventType::Plane, Some(_)) if d["hostname"].is_null() && s("state") == "ready" => {
                match s("plane").as_str() {
                    "build" if build_done == 0 => {
                        build_done = at_ms(&ev);
                        build_note = s("message").chars().take(14).collect();
                    }
                    "workload" if workload_ready == 0 => workload_ready = at_ms(&ev),
                    _ => {}
                }
            }
            (EventType::Rollout, Some(r))
                if n("release") == Some(r)
                    && replicas_ready == 0
                    && n("desired").is_some_and(|want| want > 0 && n("ready") >= Some(want)) =>
            {
                replicas_ready = at_ms(&ev);
            }
            (EventType::Phase, Some(r)) if n("release") == Some(r) => match s("phase").as_str() {
                "ready" => {
                    let ready = at_ms(&ev);
                    let or_ready = |t: i64| if t == 0 { ready } else { t };
                    return Timeline {
                        release: r,
                        accepted,
                        build_done: or_ready(build_done),
                        build_note,
                        replicas_ready: or_ready(replicas_ready),
                        workload_ready: or_ready(workload_ready),
                        ready,
                        ready_seen: seen,
                    };
                }
                "failed" => panic!("release {r} failed: {d}\n{}", dev.log_tail()),
                _ => {}
            },
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Baseline: the app alone

struct Baseline {
    start_to_healthy: Vec<f64>,
    idle_mem: Mem,
}

/// One `GET /healthz` on 127.0.0.1:PORT; true on a 200.
fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    buf[..got].starts_with(b"HTTP/1.1 200") || buf[..got].starts_with(b"HTTP/1.0 200")
}

fn baseline(bins: &Bins, runs: usize) -> Baseline {
    section("Baseline: the test app alone (spawn → first 200 on /healthz, polled every 1 ms)");
    let mut times = Vec::new();
    let mut idle_mem = Mem::default();
    for i in 0..runs {
        let port = free_port();
        let t = Instant::now();
        let kid = Kid(Command::new(&bins.test_app)
            .env("PORT", port.to_string())
            .env("SATUSKY_RELEASE", "baseline/app@v1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the test app"));
        while !healthy(port) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the test app never answered on port {port}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(ms(t.elapsed()));
        if i + 1 == runs {
            std::thread::sleep(Duration::from_secs(2));
            idle_mem = mem(kid.0.id());
        }
        drop(kid);
    }
    header("");
    row("test app: spawn → first healthy answer", &times);
    println!(
        "   test app idle (trivial Rust process, 2 s after start): VmRSS {}, VmHWM {}",
        mb(idle_mem.rss_kb),
        mb(idle_mem.hwm_kb)
    );
    Baseline {
        start_to_healthy: times,
        idle_mem,
    }
}

// ---------------------------------------------------------------------------------------
// Part 1: redeploy latency

#[derive(Default)]
struct Phases {
    put_rtt: Vec<f64>,
    to_build: Vec<f64>,
    build_to_workload: Vec<f64>,
    build_to_replicas: Vec<f64>,
    replicas_to_workload: Vec<f64>,
    workload_to_ready: Vec<f64>,
    accepted_to_ready: Vec<f64>,
    client_202_to_ready: Vec<f64>,
    reused: usize,
}

impl Phases {
    fn add(&mut self, t: &Timeline) {
        let d = |a: i64, b: i64| (b - a) as f64;
        self.to_build.push(d(t.accepted, t.build_done));
        self.build_to_workload
            .push(d(t.build_done, t.workload_ready));
        self.build_to_replicas
            .push(d(t.build_done, t.replicas_ready));
        self.replicas_to_workload
            .push(d(t.replicas_ready, t.workload_ready));
        self.workload_to_ready.push(d(t.workload_ready, t.ready));
        self.accepted_to_ready.push(d(t.accepted, t.ready));
        if t.build_note.starts_with("reused") {
            self.reused += 1;
        }
    }

    /// The rows of [`Phases::print`]: label and values (the client's rows only if taken).
    fn rows(&self) -> Vec<(&'static str, &[f64])> {
        let mut rows = Vec::new();
        if !self.put_rtt.is_empty() {
            rows.push(("PUT round trip (202)", &self.put_rtt[..]));
        }
        rows.extend([
            ("accepted → build done", &self.to_build[..]),
            ("build done → workload ready", &self.build_to_workload),
            (
                "  build done → all replicas ready (engine sees)",
                &self.build_to_replicas,
            ),
            (
                "  replicas ready → workload ready (route switched)",
                &self.replicas_to_workload,
            ),
            (
                "workload ready → endpoints ready (phase ready)",
                &self.workload_to_ready,
            ),
            (
                "accepted → endpoints ready (server `at`)",
                &self.accepted_to_ready,
            ),
        ]);
        if !self.client_202_to_ready.is_empty() {
            rows.push((
                "202 → `ready` event received (client clock)",
                &self.client_202_to_ready,
            ));
        }
        rows
    }

    fn print(&self, title: &str) {
        header(title);
        for (label, values) in self.rows() {
            row(label, values);
        }
        println!(
            "   build reused in {} of {} runs",
            self.reused,
            self.to_build.len()
        );
    }
}

/// This build's phases beside the baseline server's: median / p90 of each, and the
/// difference of the medians (this build − baseline).
fn compare(title: &str, this: &Phases, baseline: &Phases) {
    println!(
        "   {title:<50} {:>17} {:>17} {:>8}",
        "this: med / p90", "base: med / p90", "Δ med"
    );
    for ((label, a), (_, b)) in this.rows().into_iter().zip(baseline.rows()) {
        let (Some(a), Some(b)) = (stats(a), stats(b)) else {
            continue;
        };
        println!(
            "   {label:<50} {:>8.0} / {:>6.0} {:>8.0} / {:>6.0} {:>+8.0}  ms",
            a.median,
            a.p90,
            b.median,
            b.p90,
            a.median - b.median
        );
    }
    println!(
        "   build reused in {} / {} of {} / {} runs",
        this.reused,
        baseline.reused,
        this.to_build.len(),
        baseline.to_build.len()
    );
}

fn print_run(who: &str, i: usize, t: &Timeline, pid: u32, extra: &str) {
    println!(
        "   {who}run {i:>2}: v{:<3} build +{:>4} replicas +{:>4} workload +{:>4} ready +{:>4} ms  ({}) dev RSS {}{extra}",
        t.release,
        t.build_done - t.accepted,
        t.replicas_ready - t.accepted,
        t.workload_ready - t.accepted,
        t.ready - t.accepted,
        t.build_note.trim(),
        mb(mem(pid).rss_kb)
    );
}

/// One `satusky dev` of part 1: the app deployed on it, and the app's event feed.
struct Server {
    /// The prefix of its rows: `""` for this build, `"baseline "` for the other binary.
    which: &'static str,
    dev: Dev,
    feed: Feed,
    /// The context uploaded once; every API redeploy names it.
    context: String,
    /// The app's latest release.
    last: u64,
}

impl Server {
    /// Starts `server` as `satusky dev`, uploads the app's context and deploys it once (cold
    /// build), then waits [`GAP`].
    async fn deploy_first(
        which: &'static str,
        server: &Path,
        c: &reqwest::Client,
        toml: &str,
        spec: &AppSpec,
    ) -> Server {
        let dev = Dev::start(server);
        println!(
            "   {which}satusky dev up in {:.0} ms (spawn → \"Ctrl-C stops everything\")",
            ms(dev.startup)
        );
        let context = upload(c, &dev.api, &dev.token, context_tarball(toml)).await;
        let first = put(c, &dev.api, &dev.token, spec, &context).await;
        let mut feed = follow(&dev, APP).await;
        let t = timeline(&mut feed, first.release, &dev).await;
        println!(
            "   {which}first deploy (cold build): accepted → ready {} ms (build {} ms, {})",
            t.ready - t.accepted,
            t.build_done - t.accepted,
            t.build_note.trim()
        );
        tokio::time::sleep(GAP).await;
        Server {
            which,
            dev,
            feed,
            context,
            last: t.release,
        }
    }

    /// One redeploy of `spec` through the API (the uploaded context), timed into `p`; then
    /// waits [`GAP`].
    async fn redeploy(&mut self, c: &reqwest::Client, spec: &AppSpec, i: usize, p: &mut Phases) {
        let sent = Instant::now();
        let acc = put(c, &self.dev.api, &self.dev.token, spec, &self.context).await;
        let accepted = Instant::now();
        let t = timeline(&mut self.feed, acc.release, &self.dev).await;
        p.put_rtt.push(ms(accepted - sent));
        p.client_202_to_ready
            .push(ms(t.ready_seen.saturating_duration_since(accepted)));
        p.add(&t);
        print_run(self.which, i, &t, self.dev.pid, "");
        self.last = t.release;
        tokio::time::sleep(GAP).await;
    }
}

/// Prints the RSS of `dev` after `deploys` deploys of one app, stops it (SIGINT) and
/// says whether any of its replicas survived.
fn stop_after_deploys(which: &str, mut dev: Dev, deploys: u64, bins: &Bins) {
    let rss = mem(dev.pid);
    println!(
        "\n   {which}satusky dev after {deploys} deploys of one app: VmRSS {}, VmHWM {}",
        mb(rss.rss_kb),
        mb(rss.hwm_kb)
    );
    let replicas = descendants(dev.pid);
    let took = dev.stop();
    println!(
        "   stopped {which}satusky dev (SIGINT) in {}; replicas still alive: {}",
        took.map_or("– (killed)".into(), |d| format!("{:.0} ms", ms(d))),
        alive(&replicas, bins).len()
    );
}

async fn redeploy_latency(bins: &Bins, sizes: &Sizes, base: &Baseline) {
    section("Part 1: redeploy of an already-built context (test app, 2 replicas, build `true`)");
    let c = http();
    let toml = app_toml(&bins.test_app, APP, 2);
    let base_spec = spec_of(&toml);
    // With a baseline server both run side by side and take turns, one redeploy each, so
    // that the load of the machine weighs on both alike.
    let mut servers = Vec::new();
    for (which, server) in bins.servers() {
        servers.push(Server::deploy_first(which, server, &c, &toml, &base_spec).await);
    }

    let mut results = Vec::new();
    for (label, change_env) in [
        ("API, spec unchanged (build reused)", false),
        ("API, one [build.env] var changed (build runs again)", true),
    ] {
        println!("\n   -- {label}");
        let mut phases: Vec<Phases> = servers.iter().map(|_| Phases::default()).collect();
        for i in 0..sizes.redeploys {
            let mut spec = base_spec.clone();
            if change_env {
                spec.build
                    .env
                    .insert("BENCH_RUN".into(), format!("api-{i}"));
            }
            for (server, p) in servers.iter_mut().zip(&mut phases) {
                server.redeploy(&c, &spec, i, p).await;
            }
        }
        results.push((label, phases));
    }
    // `1ctl deploy` runs against this build only: the baseline server is done.
    let mut servers = servers.into_iter();
    let Server {
        dev,
        mut feed,
        mut last,
        ..
    } = servers.next().expect("this build's server");
    for baseline in servers {
        drop(baseline.feed);
        stop_after_deploys(baseline.which, baseline.dev, baseline.last, bins);
    }

    // The same redeploys through `1ctl deploy` (default wait). Its context is its own pack of
    // the folder (another digest than ours): one untimed deploy builds it first.
    let dir = tempfile::tempdir().expect("app dir");
    std::fs::write(dir.path().join("satusky.toml"), &toml).expect("write satusky.toml");
    let cli_home = dev.state.path().join("cli-home");
    let run_cli = |bin: &PathBuf, args: Vec<String>| {
        let (bin, dir, home) = (bin.clone(), dir.path().to_path_buf(), cli_home.clone());
        let (api, token) = (dev.api.clone(), dev.token.clone());
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let out = Command::new(bin)
                .current_dir(dir)
                .args(&args)
                .env("SATUSKY_HOME", home)
                .env("SATUSKY_API_URL", api)
                .env("SATUSKY_TOKEN", token)
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .output()
                .expect("run 1ctl");
            (start, Instant::now(), out)
        })
    };
    let (_, _, out) = run_cli(&bins.onectl, vec!["deploy".into()])
        .await
        .expect("1ctl task");
    assert!(
        out.status.success(),
        "warm-up `1ctl deploy` failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        dev.log_tail()
    );
    let t = timeline(&mut feed, last + 1, &dev).await;
    last = t.release;
    tokio::time::sleep(GAP).await;

    // The same runs with another `1ctl` (e.g. an older build), as the baseline of this run.
    let mut clis = vec![("", bins.onectl.clone())];
    if let Ok(path) = std::env::var("DEV_BENCH_BASELINE_1CTL") {
        clis.push(("baseline ", PathBuf::from(path)));
    }
    let mut cli_results = Vec::new();
    for ((which, bin), (variant, change_env)) in clis.iter().flat_map(|c| {
        [
            ("deploy`, unchanged (build reused)", false),
            // Since issue 14 `[env]` is not in the build's cache key: no build runs.
            ("deploy --env BENCH_RUN=…` (env only: build reused)", true),
        ]
        .map(|v| (c, v))
    }) {
        let label = format!("{which}`1ctl {variant}");
        println!("\n   -- {label}");
        let (mut wall, mut before, mut after) = (Vec::new(), Vec::new(), Vec::new());
        let mut p = Phases::default();
        for i in 0..sizes.cli_runs {
            let mut args = vec!["deploy".to_string()];
            if change_env {
                args.extend(["--env".to_string(), format!("BENCH_RUN=cli-{i}")]);
            }
            let start_ms = now_ms();
            let task = run_cli(bin, args);
            let t = timeline(&mut feed, last + 1, &dev).await;
            let (start, end, out) = task.await.expect("1ctl task");
            assert!(
                out.status.success(),
                "`1ctl deploy` failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                dev.log_tail()
            );
            let after_ready = end.saturating_duration_since(t.ready_seen);
            wall.push(ms(end - start));
            before.push((t.accepted - start_ms) as f64);
            after.push(ms(after_ready));
            p.add(&t);
            print_run(
                "",
                i,
                &t,
                dev.pid,
                &format!(
                    "; 1ctl wall {:.0} ms, exit {:.0} ms after `ready`",
                    ms(end - start),
                    ms(after_ready)
                ),
            );
            last = t.release;
            tokio::time::sleep(GAP).await;
        }
        cli_results.push((label, wall, before, p, after));
    }
    println!("\n   -- Summary (ms)");
    header("baseline");
    row(
        "test app alone: spawn → first healthy answer",
        &base.start_to_healthy,
    );
    for (label, phases) in &results {
        for ((which, _), p) in bins.servers().into_iter().zip(phases) {
            println!();
            p.print(&format!("{which}{label}"));
        }
    }
    for (label, wall, before, p, after) in &cli_results {
        println!();
        header(label);
        row("1ctl wall time (process start → exit 0)", wall);
        row("  1ctl start → accepted (pack, upload, PUT)", before);
        row(
            "  accepted → endpoints ready (server)",
            &p.accepted_to_ready,
        );
        row("  `ready` event → 1ctl exit (poll + drain)", after);
        println!(
            "   build reused in {} of {} runs",
            p.reused,
            p.to_build.len()
        );
    }
    if bins.baseline_satusky.is_some() {
        println!("\n   -- This build's satusky against the baseline satusky, same run (ms)");
        for (label, phases) in &results {
            if let [this, baseline] = &phases[..] {
                println!();
                compare(label, this, baseline);
            }
        }
    }
    drop(feed);
    stop_after_deploys("", dev, last, bins);
}

/// Which of `pids` still run the test app.
fn alive(pids: &[u32], bins: &Bins) -> Vec<u32> {
    let needle = bins.test_app.display().to_string();
    pids.iter()
        .copied()
        .filter(|p| cmdline(*p).contains(&needle))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Part 2: memory

fn replica_mem(dev: &Dev, bins: &Bins) -> (usize, u64) {
    let replicas = alive(&descendants(dev.pid), bins);
    let total = replicas.iter().map(|p| mem(*p).rss_kb).sum();
    (replicas.len(), total)
}

/// What part 2 measured on one server.
struct MemRun {
    startup: Duration,
    start: Mem,
    idle: Mem,
    idle_cpu: f64,
    puts: Duration,
    all_ready: Duration,
    peak_rss: u64,
    ready: Mem,
    running: Mem,
    running_cpu: f64,
    /// The replica processes' summed RSS (KiB) right after all were ready.
    replicas_kb: u64,
    stop: Option<Duration>,
}

async fn memory(bins: &Bins, sizes: &Sizes, base: &Baseline) {
    let mut runs = Vec::new();
    for (which, server) in bins.servers() {
        runs.push(memory_of(which, server, bins, sizes, base).await);
    }
    if let [this, baseline] = &runs[..] {
        section("Part 2: this build's satusky against the baseline satusky, same run");
        println!("   {:<58} {:>10} {:>10}", "", "this build", "baseline");
        let line = |label: &str, f: &dyn Fn(&MemRun) -> String| {
            println!("   {label:<58} {:>10} {:>10}", f(this), f(baseline));
        };
        let apps = sizes.apps;
        let (idle, running) = (sizes.idle_wait.as_secs(), sizes.running_wait.as_secs());
        line("up in (spawn → \"Ctrl-C stops everything\")", &|m| {
            format!("{:.0} ms", ms(m.startup))
        });
        line("VmRSS right after start", &|m| mb(m.start.rss_kb));
        line(&format!("VmRSS idle {idle} s later"), &|m| {
            mb(m.idle.rss_kb)
        });
        line(&format!("CPU in those {idle} s"), &|m| {
            format!("{:.2} s", m.idle_cpu)
        });
        line(&format!("{apps} PUTs"), &|m| {
            format!("{:.0} ms", ms(m.puts))
        });
        line(
            &format!("all {apps} apps ready after the first PUT"),
            &|m| format!("{:.1} s", m.all_ready.as_secs_f64()),
        );
        line("highest VmRSS sampled while the apps rolled out", &|m| {
            mb(m.peak_rss)
        });
        line(
            &format!("VmRSS, {apps} apps, right after all ready"),
            &|m| mb(m.ready.rss_kb),
        );
        line(
            &format!("VmRSS, {apps} apps, running {running} s more"),
            &|m| mb(m.running.rss_kb),
        );
        line(
            &format!("VmHWM, {apps} apps, running {running} s more"),
            &|m| mb(m.running.hwm_kb),
        );
        line(&format!("CPU in those {running} s (% of a core)"), &|m| {
            format!(
                "{:.1}%",
                100.0 * m.running_cpu / sizes.running_wait.as_secs_f64()
            )
        });
        line("replica processes, summed VmRSS, right after ready", &|m| {
            mb(m.replicas_kb)
        });
        line("stop (SIGINT) with the replicas", &|m| {
            m.stop
                .map_or("– (killed)".into(), |d| format!("{:.0} ms", ms(d)))
        });
    }
}

/// Part 2 on `server` (a `satusky` binary), printed with the prefix `which`.
async fn memory_of(
    which: &str,
    server: &Path,
    bins: &Bins,
    sizes: &Sizes,
    base: &Baseline,
) -> MemRun {
    section(&format!(
        "Part 2: {which}satusky dev resident memory, idle and with {} running apps",
        sizes.apps
    ));
    let mut dev = Dev::start(server);
    let m0 = mem(dev.pid);
    let cpu0 = cpu_secs(dev.pid);
    tokio::time::sleep(sizes.idle_wait).await;
    let m1 = mem(dev.pid);
    let idle_cpu = cpu_secs(dev.pid) - cpu0;

    let c = http();
    let toml = app_toml(&bins.test_app, "m0", 1);
    let context = upload(&c, &dev.api, &dev.token, context_tarball(&toml)).await;
    let names: Vec<String> = (0..sizes.apps).map(|i| format!("m{i}")).collect();
    let t = Instant::now();
    for name in &names {
        put(
            &c,
            &dev.api,
            &dev.token,
            &spec_of(&app_toml(&bins.test_app, name, 1)),
            &context,
        )
        .await;
    }
    let puts = t.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut peak_rss = 0;
    loop {
        peak_rss = peak_rss.max(mem(dev.pid).rss_kb);
        let r = c
            .get(format!("{}/v1/orgs/{ORG}/apps", dev.api))
            .bearer_auth(&dev.token)
            .send()
            .await
            .expect("GET apps");
        let apps: Vec<AppSummary> = r.json().await.expect("app list");
        let ready = apps.iter().filter(|a| a.phase == Phase::Ready).count();
        let failed: Vec<_> = apps
            .iter()
            .filter(|a| a.phase == Phase::Failed)
            .map(|a| a.name.as_str())
            .collect();
        assert!(
            failed.is_empty(),
            "apps failed: {failed:?}\n{}",
            dev.log_tail()
        );
        if ready == names.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {ready} of {} apps ready after 600 s\n{}",
            names.len(),
            dev.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_ready = t.elapsed();
    let m2 = mem(dev.pid);
    let (n2, r2) = replica_mem(&dev, bins);
    let cpu2 = cpu_secs(dev.pid);
    tokio::time::sleep(sizes.running_wait).await;
    let m3 = mem(dev.pid);
    let (n3, r3) = replica_mem(&dev, bins);
    let running_cpu = cpu_secs(dev.pid) - cpu2;

    println!(
        "   {} PUTs in {:.0} ms; all {} apps ready {:.1} s after the first PUT",
        names.len(),
        ms(puts),
        names.len(),
        all_ready.as_secs_f64()
    );
    println!(
        "   {:<58} {:>10} {:>10}",
        format!("{which}satusky dev"),
        "VmRSS",
        "VmHWM"
    );
    let line = |label: &str, m: Mem| {
        println!("   {label:<58} {:>10} {:>10}", mb(m.rss_kb), mb(m.hwm_kb));
    };
    line(
        &format!("right after start (up in {:.0} ms)", ms(dev.startup)),
        m0,
    );
    line(
        &format!(
            "idle {} s later (CPU {:.2} s in that time)",
            sizes.idle_wait.as_secs(),
            idle_cpu
        ),
        m1,
    );
    line(&format!("{} apps, right after all ready", names.len()), m2);
    line(
        &format!(
            "{} apps, running {} s more (CPU {:.2} s = {:.1}% of a core)",
            names.len(),
            sizes.running_wait.as_secs(),
            running_cpu,
            100.0 * running_cpu / sizes.running_wait.as_secs_f64()
        ),
        m3,
    );
    println!(
        "   (highest VmRSS sampled while the apps rolled out: {})",
        mb(peak_rss)
    );
    println!(
        "   replica processes (not the control plane): {n2} with {} in all right after ready ({} each); {n3} with {} after {} s",
        mb(r2),
        mb(r2 / n2.max(1) as u64),
        mb(r3),
        sizes.running_wait.as_secs()
    );
    println!(
        "   baseline: the test app alone, idle: VmRSS {}, VmHWM {}",
        mb(base.idle_mem.rss_kb),
        mb(base.idle_mem.hwm_kb)
    );
    let replicas = descendants(dev.pid);
    let took = dev.stop();
    let left = alive(&replicas, bins);
    println!(
        "   stopped {which}satusky dev (SIGINT) with {} replicas in {}; replicas still alive: {} {left:?}",
        n3,
        took.map_or("– (killed)".into(), |d| format!("{:.0} ms", ms(d))),
        left.len()
    );
    MemRun {
        startup: dev.startup,
        start: m0,
        idle: m1,
        idle_cpu,
        puts,
        all_ready,
        peak_rss,
        ready: m2,
        running: m3,
        running_cpu,
        replicas_kb: r2,
        stop: took,
    }
}

//! Event replay memory benchmark (issue 10, acceptance 2): the resident memory of the real
//! `satusky serve --runtime none` while WebSocket followers replay a long history without
//! reading. Prints figures; asserts only that the server stays under [`RSS_LIMIT_MB`] and that
//! the replays worked.
//!
//! Set-up (before the server starts, straight into its SQLite store): org `acme`, app `big`
//! deployed with a spec near the 256 KiB spec limit (seven 32 KiB env values), then
//! `EVENTS_BENCH_EVENTS` events (default 3000) of `EVENTS_BENCH_EVENT_KB` KiB of data each
//! (default 32, the largest env value; build-log lines are capped below that). Then, against
//! the running server, VmRSS / VmHWM of its process (`/proc/PID/status`) at each step:
//!
//! 1. idle after start (the baseline, same run);
//! 2. one follower at `after=0` that reads the whole history (the ordinary case), and its
//!    replay rate;
//! 3. `EVENTS_BENCH_FOLLOWERS` (default 40) followers at `after=0` that never read: sampled
//!    every 100 ms for 5 s while they are connected (the server holds at most one page per
//!    follower; the rest waits in kernel socket buffers, which are not the process's RSS);
//! 4. after the server dropped them (its 10 s send timeout + 5 s close grace), and after the
//!    clients closed.
//!
//! `EVENTS_BENCH_BASELINE_SATUSKY` names another `satusky` binary (e.g. a build from before
//! the bounded replay): the same steps run against it afterwards, on the same history, as the
//! baseline (the limit is not asserted for it).
//!
//! Run: `cargo bench -p satusky --bench events-bench`. Without `--bench` (e.g. under
//! `cargo test --benches`) it runs a small smoke pass (300 events, 4 followers, no wait for
//! the drop).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use satusky_benchkit::{env_usize, full_run, loadavg, status_kb_of};
use satusky_store::Store;
use satusky_types::{AppSpec, EventType, Role};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const ORG: &str = "acme";
const APP: &str = "big";
/// The acceptance bound on the server's resident memory.
const RSS_LIMIT_MB: f64 = 100.0;
/// How long the never-reading followers are watched while connected (below the server's
/// 10 s send timeout, so all of them are still held).
const WATCH: Duration = Duration::from_secs(5);
/// The server's send timeout plus its close grace, and a margin.
const DROP_WAIT: Duration = Duration::from_secs(17);

struct Sizes {
    events: usize,
    event_kb: usize,
    followers: usize,
    wait_for_drop: bool,
}

fn main() {
    let full = full_run();
    let sizes = Sizes {
        events: env_usize("EVENTS_BENCH_EVENTS", if full { 3000 } else { 300 }),
        event_kb: env_usize("EVENTS_BENCH_EVENT_KB", 32),
        followers: env_usize("EVENTS_BENCH_FOLLOWERS", if full { 40 } else { 4 }),
        wait_for_drop: full,
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(run(&sizes));
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// VmRSS and VmHWM of `pid`, in MB.
fn mem(pid: u32) -> (f64, f64) {
    (
        mb(status_kb_of(pid, "VmRSS:")),
        mb(status_kb_of(pid, "VmHWM:")),
    )
}

fn row(step: &str, pid: u32) -> f64 {
    let (rss, hwm) = mem(pid);
    println!("   {step:<58} VmRSS {rss:>7.1} MB   VmHWM {hwm:>7.1} MB");
    rss
}

/// A valid spec near the whole-spec limit: seven 32 KiB env values.
fn big_spec() -> AppSpec {
    let env: serde_json::Map<String, serde_json::Value> = (0..7)
        .map(|i| (format!("BLOB_{i}"), json!("b".repeat(32 * 1024))))
        .collect();
    serde_json::from_value(json!({
        "name": APP, "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
        "image": format!("registry.example/{}:1", "i".repeat(400)),
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "checks": {"path": "/healthz", "expect": "2xx", "timeout_ms": 1000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 120},
        "env": env,
    }))
    .expect("a spec")
}

/// Writes the org, a token, the app and the history; returns the token.
async fn seed(state: &Path, sizes: &Sizes) -> String {
    let store = Store::open_sqlite_file(&state.join("state.db"))
        .await
        .expect("open the store");
    store.migrate().await.expect("migrate");
    store.ensure_org(ORG).await.expect("org");
    let token = store.create_token(ORG, Role::Admin).await.expect("token");
    let spec = big_spec();
    satusky_core::validate_spec(spec.clone()).expect("the spec is within the limits");
    store
        .record_deploy(ORG, &spec, &[], "deploy", 1_795_000_000_000)
        .await
        .expect("deploy");
    let line = "l".repeat((sizes.event_kb * 1024).saturating_sub(30));
    for i in 0..sizes.events {
        let data = json!({"release": 1, "line": line});
        let at = 1_795_000_000_001 + i as i64;
        store
            .append_event(ORG, APP, EventType::BuildLog, &data, at)
            .await
            .expect("event");
    }
    store.close().await;
    token
}

struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(bin: &Path, state: &Path) -> Serve {
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--runtime",
                "none",
                "--listen",
                "127.0.0.1:0",
                "--state-dir",
            ])
            .arg(state)
            .env("SATUSKY_LOG", "warn")
            .env_remove("SATUSKY_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn satusky serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("satusky serve exited before listening")
                .expect("read stderr");
            if let Some(rest) = line.split("API listening on http://").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.parse().ok())
                    .expect("an address");
            }
        };
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Serve { child, addr }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn follow(addr: SocketAddr, token: &str) -> Ws {
    let url = format!("ws://{addr}/v1/orgs/{ORG}/apps/{APP}/events?after=0");
    let mut req = url.into_client_request().expect("request");
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    req.headers_mut().insert("authorization", bearer);
    tokio_tungstenite::connect_async(req)
        .await
        .expect("connect")
        .0
}

async fn run(sizes: &Sizes) {
    println!("events replay memory benchmark");
    println!(
        "machine: nproc {}; load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let state = tempfile::tempdir().expect("state dir");
    let t = Instant::now();
    let token = seed(state.path(), sizes).await;
    let total = sizes.events + 2;
    println!(
        "history: {total} events, {} of {} KiB each ({:.0} MB of event data), written in {:.1} s",
        sizes.events,
        sizes.event_kb,
        (sizes.events * sizes.event_kb) as f64 / 1024.0,
        t.elapsed().as_secs_f64()
    );

    let this = PathBuf::from(env!("CARGO_BIN_EXE_satusky"));
    let worst = measure(&this, "this build", state.path(), &token, sizes).await;
    let baseline = std::env::var_os("EVENTS_BENCH_BASELINE_SATUSKY").map(PathBuf::from);
    if let Some(bin) = &baseline {
        measure(bin, &bin.display().to_string(), state.path(), &token, sizes).await;
    }
    assert!(
        worst < RSS_LIMIT_MB,
        "satusky serve reached {worst:.1} MB of resident memory"
    );
}

/// Runs the steps against `bin`; returns the highest VmRSS seen, in MB.
async fn measure(bin: &Path, label: &str, state: &Path, token: &str, sizes: &Sizes) -> f64 {
    let total = sizes.events + 2;
    println!("\n== {label}");
    let serve = Serve::start(bin, state);
    let pid = serve.child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut worst = row("1. idle after start (baseline)", pid);

    // 2. One follower that reads everything.
    let t = Instant::now();
    let mut ws = follow(serve.addr, token).await;
    let mut got = 0;
    while got < total {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => got += 1,
            other => panic!("the reading follower stopped after {got} events: {other:?}"),
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "   one reading follower replayed {total} events in {secs:.1} s ({:.0} events/s, {:.0} MB/s)",
        total as f64 / secs,
        (sizes.events * sizes.event_kb) as f64 / 1024.0 / secs
    );
    worst = worst.max(row("2. after one follower read the whole history", pid));
    drop(ws);

    // 3. Followers that never read.
    let mut idle = Vec::new();
    for _ in 0..sizes.followers {
        idle.push(follow(serve.addr, token).await);
    }
    let watch = Instant::now();
    let mut peak: f64 = 0.0;
    while watch.elapsed() < WATCH {
        peak = peak.max(mem(pid).0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let step = format!(
        "3. {} never-reading followers connected, after 5 s",
        sizes.followers
    );
    worst = worst.max(row(&step, pid));
    println!("      highest VmRSS sampled every 100 ms meanwhile: {peak:.1} MB");
    worst = worst.max(peak);

    // 4. Dropped by the server, then closed by the clients.
    if sizes.wait_for_drop {
        tokio::time::sleep(DROP_WAIT.saturating_sub(WATCH)).await;
        worst = worst.max(row("4. after the server's send timeout dropped them", pid));
    }
    drop(idle);
    tokio::time::sleep(Duration::from_secs(1)).await;
    worst = worst.max(row("5. after the clients closed", pid));

    println!(
        "highest VmRSS seen: {worst:.1} MB (limit {RSS_LIMIT_MB:.0} MB); load average {}",
        loadavg()
    );
    worst
}

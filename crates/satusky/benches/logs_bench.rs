//! Log-follow latency benchmark (issue 15: a request's log line should reach `1ctl logs -f`
//! within 200 ms). Prints figures; asserts only that every line arrived. Drives the real
//! binaries on loopback with a temporary state dir: `satusky dev` (its own defaults), the
//! local runtime's test app printing a line per request (`--log-requests`, 2 replicas behind
//! the edge) and `1ctl`.
//!
//! `LOGS_BENCH_N` requests (default 200), one after the other, each to a path of its own
//! through the edge (HTTPS, one kept-alive client). For each, the time from just before the
//! request is sent until its line (`request /bench-I`) arrives:
//!
//! - on the log stream (`GET …/logs/stream?tail=1`, a WebSocket read by this process);
//! - on the stdout of `1ctl logs -f --tail 1` (plain output, a pipe read by this process);
//! - through a loop polling `GET …/logs?after=SEQ` every 150 ms — how `1ctl logs -f` followed
//!   before the stream (the old baseline, in the same run).
//!
//! Baseline, same run: the request's own round trip (the app prints its line before it
//! answers, so a line can arrive before the answer does).
//!
//! Run: `cargo build --release -p onectl -p satusky-local --bins` (for `1ctl` and the test
//! app), then `cargo bench -p satusky --bench logs-bench`. Without `--bench` (e.g. under
//! `cargo test --benches`) it runs a small smoke pass (20 requests) against the binaries of
//! that profile.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use satusky_benchkit::{busy, cpus, env_usize, full_run, loadavg, percentile};
use satusky_testkit::process::{Bins, Dev, http};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const APP: &str = "talk";
const HOST: &str = "talk-dev.satusky.localhost";
/// How `1ctl logs -f` polled before the stream.
const OLD_POLL: Duration = Duration::from_millis(150);
/// Longest wait for one line on any path.
const LINE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between requests, so each is measured on its own: 20 ms plus a spread over one
/// polling period, so that requests do not fall in step with the old poller's reads (each
/// request waits for its line on every path, the poller's included).
fn gap(i: usize) -> Duration {
    Duration::from_millis(20 + (i as u64 * 37) % OLD_POLL.as_millis() as u64)
}

/// A line's text and when it arrived.
type Arrivals = mpsc::UnboundedReceiver<(Instant, String)>;

fn main() {
    let n = env_usize("LOGS_BENCH_N", if full_run() { 200 } else { 20 });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bins = Bins::new(env!("CARGO_BIN_EXE_satusky"));
    println!("log follow latency benchmark: {n} requests");
    println!("satusky: {}", bins.satusky().display());
    println!(
        "machine: {} CPUs; load average at the start: {} ({})",
        cpus(),
        loadavg(),
        busy()
    );
    let state = tempfile::tempdir().expect("state dir");
    let dev = Dev::start_defaults(&bins, state.path(), &[]);
    let app = bins.test_app_dir(APP, &["--log-requests"], "");
    dev.onectl_exits(0, app.path(), &["deploy"]);

    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut cli = dev.onectl_spawn(app.path(), &["logs", "-f", "--tail", "1"]);
    let mut from_cli = pipe_lines(cli.stdout.take().expect("1ctl stdout"));
    let results = rt.block_on(async {
        let mut from_ws = stream(&dev).await;
        let mut from_poll = poll(&dev).await;
        let site = dev.client_for(HOST);
        // The tail's line on each, and one warm-up request (TLS, first connection).
        for rx in [&mut from_ws, &mut from_cli, &mut from_poll] {
            tokio::time::timeout(LINE_TIMEOUT, rx.recv())
                .await
                .expect("the tail's line");
        }
        let mut rows = Rows::default();
        for i in 0..=n {
            let path = format!("/bench-{i}");
            let want = format!("request {path}");
            let sent = Instant::now();
            let r = site
                .get(dev.url(HOST, &path))
                .send()
                .await
                .expect("request");
            let round_trip = sent.elapsed();
            assert_eq!(r.status().as_u16(), 200);
            let ws = arrival(&mut from_ws, &want, "the stream").await - sent;
            let cli = arrival(&mut from_cli, &want, "1ctl logs -f").await - sent;
            let poll = arrival(&mut from_poll, &want, "the poller").await - sent;
            if i > 0 {
                rows.add(round_trip, ws, cli, poll);
            }
            tokio::time::sleep(gap(i)).await;
        }
        rows
    });
    let _ = cli.kill();
    let _ = cli.wait();
    println!("\nfrom just before a request is sent (ms; {n} requests):");
    println!(
        "   {:<44} {:>7} {:>7} {:>7} {:>7}",
        "", "p50", "p95", "p99", "max"
    );
    results.print();
    println!("\nload average at the end: {}", loadavg());
}

#[derive(Default)]
struct Rows {
    round_trip: Vec<f64>,
    ws: Vec<f64>,
    cli: Vec<f64>,
    poll: Vec<f64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Rows {
    fn add(&mut self, round_trip: Duration, ws: Duration, cli: Duration, poll: Duration) {
        self.round_trip.push(ms(round_trip));
        self.ws.push(ms(ws));
        self.cli.push(ms(cli));
        self.poll.push(ms(poll));
    }

    fn print(mut self) {
        for (what, v) in [
            ("baseline: the request's round trip", &mut self.round_trip),
            ("its line on the log stream (WebSocket)", &mut self.ws),
            ("its line on `1ctl logs -f`'s stdout", &mut self.cli),
            (
                "old baseline: polling GET …/logs every 150 ms",
                &mut self.poll,
            ),
        ] {
            v.sort_by(f64::total_cmp);
            let p = |q| percentile(v, q).unwrap_or(f64::NAN);
            println!(
                "   {what:<44} {:>7.1} {:>7.1} {:>7.1} {:>7.1}",
                p(0.5),
                p(0.95),
                p(0.99),
                p(1.0)
            );
        }
    }
}

/// When the line ending with `want` arrives on `rx` (other lines are skipped).
async fn arrival(rx: &mut Arrivals, want: &str, on: &str) -> Instant {
    loop {
        let got = tokio::time::timeout(LINE_TIMEOUT, rx.recv()).await;
        match got {
            Ok(Some((at, line))) if line.ends_with(want) => return at,
            Ok(Some(_)) => continue,
            _ => panic!("{want:?} did not arrive on {on} within {LINE_TIMEOUT:?}"),
        }
    }
}

/// Each line of `r` as it arrives.
fn pipe_lines(r: impl std::io::Read + Send + 'static) -> Arrivals {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// The log stream's lines (`tail=1`) as they arrive.
async fn stream(dev: &Dev) -> Arrivals {
    let addr = dev.api().trim_start_matches("http://").to_string();
    let url = format!("ws://{addr}/v1/orgs/dev/apps/{APP}/logs/stream?tail=1");
    let mut req = url.into_client_request().expect("request");
    let bearer = HeaderValue::from_str(&format!("Bearer {}", dev.token())).expect("header");
    req.headers_mut().insert("authorization", bearer);
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("the log stream");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let at = Instant::now();
            let line: serde_json::Value = serde_json::from_str(text.as_str()).expect("LogLine");
            let text = line["line"].as_str().unwrap_or_default().to_string();
            if tx.send((at, text)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Lines found by polling `GET …/logs?after=SEQ` every [`OLD_POLL`] (the tail first).
async fn poll(dev: &Dev) -> Arrivals {
    let (tx, rx) = mpsc::unbounded_channel();
    let url = format!("{}/v1/orgs/dev/apps/{APP}/logs", dev.api());
    let token = dev.token();
    tokio::spawn(async move {
        let c = http();
        let mut after: Option<u64> = None;
        loop {
            let q = match after {
                None => "tail=1".to_string(),
                Some(a) => format!("tail=10000&after={a}"),
            };
            let r = c.get(format!("{url}?{q}")).bearer_auth(&token).send().await;
            let lines: Vec<serde_json::Value> = match r {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let at = Instant::now();
            for l in lines {
                after = l["seq"].as_u64().or(after);
                let text = l["line"].as_str().unwrap_or_default().to_string();
                if tx.send((at, text)).is_err() {
                    return;
                }
            }
            tokio::time::sleep(OLD_POLL).await;
        }
    });
    rx
}

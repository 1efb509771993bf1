//! The log stream (`GET …/apps/{app}/logs/stream`, issue 15) on `satusky dev`, with the real
//! `1ctl` and the test app printing a line per request (`--log-requests`):
//!
//! 1. `1ctl logs -f` shows a request's line; the time from sending the request to the line on
//!    `1ctl`'s stdout is printed beside the request's own round trip (asserted only within
//!    5 s: figures are the bench's, `logs-bench`);
//! 2. a WebSocket client that stops reading during a burst is dropped with close code 1013
//!    and a reason naming `?after=SEQ`, SEQ being the last line it received; reconnecting
//!    with that `after` gives the rest, with no gap and no line twice (the local runtime
//!    numbers an app's lines one by one, so any gap shows);
//! 3. `1ctl logs -f -o json`, stopped (SIGSTOP) through a burst until the server drops it,
//!    says "log stream lost (…): reconnecting…" and "log stream back" and prints every line
//!    once, in order.
//!
//! Another org's 404 and `--runtime none`'s 501 on the handshake are in `foundation.rs`'s
//! isolation test; the roles table covers every caller.
//!
//! Needs `1ctl` and `satusky-test-app` beside `satusky`: `cargo build -p onectl -p
//! satusky-local --bins` first (or `cargo test --workspace`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Dev, bins, http};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const APP: &str = "talk";
const HOST: &str = "talk-dev.satusky.localhost";
/// The burst that fills a stopped reader's buffers: ~6.7 MB of log lines, more than loopback
/// buffers hold (the server's send buffer grows to 4 MiB), and less than the per-app cap of
/// 10 MiB, so the lines a reader resumes with are still kept.
const BURST_LINES: u64 = 6_000;
const BURST_BYTES: u64 = 1_000;
/// The server's send timeout (10 s) and a margin, within its 5 s close grace.
const UNTIL_DROPPED: Duration = Duration::from_secs(12);

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

#[test]
fn follow_shows_new_lines_and_a_dropped_reader_resumes_without_gaps() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir(APP, &["--log-requests"], "");
    let dir = app.path();
    dev.onectl_exits(0, dir, &["deploy"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let site = dev.client_for(HOST);

    // 1. `1ctl logs -f` shows each request's line.
    let mut child = dev.onectl_spawn(dir, &["logs", "-f", "--tail", "1"]);
    let lines = read_lines(child.stdout.take().unwrap());
    lines
        .recv_timeout(Duration::from_secs(10))
        .expect("the tail's line");
    for i in 0..5 {
        let path = format!("/follow-{i}");
        let sent = Instant::now();
        let status = rt.block_on(async { site.get(dev.url(HOST, &path)).send().await });
        let round_trip = sent.elapsed();
        assert_eq!(status.unwrap().status().as_u16(), 200);
        let want = format!("request {path}");
        let shown = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(5).saturating_sub(sent.elapsed()))
                .unwrap_or_else(|_| panic!("{want:?} not shown within 5 s\n{}", dev.log()));
            if line.1.ends_with(&want) {
                break line.0.duration_since(sent);
            }
        };
        eprintln!(
            "request {i}: its line on `1ctl logs -f` {shown:?} after it was sent (its round trip: {round_trip:?})"
        );
    }
    let _ = child.kill();
    let _ = child.wait();

    // 2. A client that stops reading is dropped naming where to resume, and resumes there.
    let last_before = last_seq(&rt, &dev);
    let (code, reason, got) = rt.block_on(async {
        let mut ws = connect(&dev, "tail=1", true).await;
        burst(&site, &dev, "/lines").await;
        tokio::time::sleep(UNTIL_DROPPED).await;
        read_until_closed(&mut ws).await
    });
    assert_eq!(code, Some(CloseCode::Again), "{reason}");
    let after: u64 = reason
        .split("?after=")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the close reason names ?after=SEQ: {reason:?}"));
    assert!(got[0] >= last_before, "the tail: the newest line ({got:?})");
    assert_contiguous(&got, "before the drop");
    assert_eq!(
        got.last(),
        Some(&after),
        "the close names the last line received"
    );
    let end = wait_for_burst(&rt, &dev);
    assert!(
        after < end,
        "dropped before the burst's end ({after} of {end})"
    );
    eprintln!(
        "a reader that stopped got {} lines before it was dropped ({reason:?})",
        got.len()
    );
    let rest = rt.block_on(async {
        let mut ws = connect(&dev, &format!("after={after}"), false).await;
        read_until_seq(&mut ws, end).await
    });
    assert_eq!(
        rest.first(),
        Some(&(after + 1)),
        "resumed right after {after}"
    );
    assert_contiguous(&rest, "after the resume");

    // 3. `1ctl logs -f` stopped through a burst: dropped, back, every line once.
    let mut child = dev.onectl_spawn(dir, &["logs", "-f", "--tail", "1", "-o", "json"]);
    let lines = read_lines(child.stdout.take().unwrap());
    let notes = read_lines(child.stderr.take().unwrap());
    let first = lines.recv_timeout(Duration::from_secs(10)).expect("tail");
    let first = seq_of(&first.1);
    signal(child.id(), "-STOP");
    rt.block_on(burst(&site, &dev, "/lines"));
    std::thread::sleep(UNTIL_DROPPED);
    signal(child.id(), "-CONT");
    let end = wait_for_burst(&rt, &dev);
    let mut seqs = vec![first];
    while *seqs.last().unwrap() < end {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("1ctl stopped at {:?} of {end}", seqs.last()));
        seqs.push(seq_of(&line.1));
    }
    assert_contiguous(&seqs, "1ctl logs -f across the drop");
    let _ = child.kill();
    let _ = child.wait();
    let said: Vec<String> = notes.try_iter().map(|(_, l)| l).collect();
    assert!(
        said.iter()
            .any(|l| l.starts_with("log stream lost (too slow") && l.ends_with("reconnecting…")),
        "{said:?}"
    );
    assert!(said.iter().any(|l| l == "log stream back"), "{said:?}");
}

/// Each line `r` gives, with when it arrived, on a channel.
fn read_lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

fn signal(pid: u32, which: &str) {
    let ok = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {which} {pid}");
}

fn seq_of(json_line: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(json_line)
        .unwrap_or_else(|e| panic!("not a LogLine ({e}): {json_line}"));
    v["seq"].as_u64().expect("seq")
}

fn assert_contiguous(seqs: &[u64], what: &str) {
    assert!(!seqs.is_empty(), "{what}: no lines");
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{what}: a gap or a repeat after {}", w[0]);
    }
}

/// `BURST_LINES` lines of `BURST_BYTES` from one replica.
async fn burst(site: &reqwest::Client, dev: &Dev, path: &str) {
    let url = dev.url(HOST, &format!("{path}?n={BURST_LINES}&size={BURST_BYTES}"));
    let r = site.get(url).send().await.expect("burst request");
    assert_eq!(r.status().as_u16(), 200);
}

/// The seq of the app's newest line (`GET …/logs?tail=1`).
fn last_seq(rt: &tokio::runtime::Runtime, dev: &Dev) -> u64 {
    rt.block_on(async {
        let url = format!("{}/v1/orgs/dev/apps/{APP}/logs?tail=1", dev.api());
        let r = http().get(url).bearer_auth(dev.token()).send().await;
        let lines: serde_json::Value = r.unwrap().json().await.unwrap();
        lines[0]["seq"].as_u64().expect("a line")
    })
}

/// The seq of the burst's last line, once it is in the log.
fn wait_for_burst(rt: &tokio::runtime::Runtime, dev: &Dev) -> u64 {
    let last = format!("burst line {} ", BURST_LINES - 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = rt.block_on(async {
            let url = format!("{}/v1/orgs/dev/apps/{APP}/logs?tail=200", dev.api());
            let r = http().get(url).bearer_auth(dev.token()).send().await;
            let lines: Vec<serde_json::Value> = r.unwrap().json().await.unwrap();
            let line = lines
                .iter()
                .rev()
                .find(|l| l["line"].as_str().is_some_and(|t| t.starts_with(&last)));
            line.map(|l| l["seq"].as_u64().unwrap())
        });
        if let Some(seq) = found {
            return seq;
        }
        assert!(Instant::now() < deadline, "the burst never reached the log");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The stream with `query`; `small`: a 4 KiB receive buffer, so a reader that stops fills it
/// quickly.
async fn connect(dev: &Dev, query: &str, small: bool) -> Ws {
    let api = dev.api();
    let addr = api.trim_start_matches("http://");
    let url = format!("ws://{addr}/v1/orgs/dev/apps/{APP}/logs/stream?{query}");
    let mut req = url.into_client_request().unwrap();
    let bearer = HeaderValue::from_str(&format!("Bearer {}", dev.token())).unwrap();
    req.headers_mut().insert("authorization", bearer);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if small {
        socket.set_recv_buffer_size(4096).unwrap();
    }
    let tcp = socket.connect(addr.parse().unwrap()).await.unwrap();
    let (ws, res) = tokio_tungstenite::client_async(req, tcp)
        .await
        .expect("handshake");
    assert_eq!(res.status().as_u16(), 101);
    ws
}

fn frame_seq(msg: &Message) -> Option<u64> {
    match msg {
        Message::Text(t) => Some(seq_of(t.as_str())),
        _ => None,
    }
}

/// Every line's seq until the server closes; the close code and reason.
async fn read_until_closed(ws: &mut Ws) -> (Option<CloseCode>, String, Vec<u64>) {
    let mut got = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no frame nor close within 10 s after {} lines ({:?}…{:?})",
                    got.len(),
                    got.first(),
                    got.last()
                )
            });
        match msg {
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame.map_or((None, String::new()), |f| {
                    (Some(f.code), f.reason.to_string())
                });
                return (code, reason, got);
            }
            Some(Ok(m)) => got.extend(frame_seq(&m)),
            other => panic!("the stream ended without a close frame: {other:?}"),
        }
    }
}

/// Every line's seq until `end`.
async fn read_until_seq(ws: &mut Ws, end: u64) -> Vec<u64> {
    let mut got = Vec::new();
    while got.last().is_none_or(|s| *s < end) {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap_or_else(|_| panic!("stopped at {:?} of {end}", got.last()))
            .expect("open")
            .expect("a frame");
        got.extend(frame_seq(&msg));
    }
    got
}

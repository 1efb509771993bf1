//! A tiny HTTP server for the local runtime's tests (no Python or Node on CI machines): listens
//! on `127.0.0.1:$PORT`, answers every path with 200 and its `SATUSKY_RELEASE`, and misbehaves
//! on request:
//!
//! - `--fail-health`: `/healthz` answers 503 forever;
//! - `--ready-after-ms N`: `/healthz` answers 503 for the first N ms;
//! - `--fail-health-after-ms N`: `/healthz` answers 500 "health turned bad" from N ms on;
//! - `--health-status N`: `/healthz` answers status N with the body "db connection refused";
//! - `--health-delay-ms N`: `/healthz` answers after N ms;
//! - `--crash-after-ms N`: exits with status 3 after N ms;
//! - `--unless-file PATH`: while PATH exists, `--crash-after-ms`, `--fail-health-after-ms` and
//!   `--exit-at-start` are ignored (checked when the app would crash or exit, and on every
//!   `/healthz` request);
//! - `--no-listen`: runs but never listens (sleeps forever);
//! - `--listen-port N`: listens on `127.0.0.1:N` instead of `$PORT`;
//! - `--listen-v6-only`: listens on `[::1]:$PORT` only;
//! - `--exit-at-start`: prints a line and exits with status 1 at once;
//! - `--print TEXT`: prints TEXT at start (repeatable);
//! - `--echo-env NAME`: `GET /env` answers 200 with the value of `$NAME` (an empty body when
//!   it is unset);
//! - `--log-requests`: prints `request PATH` on stdout for every request but `/healthz`
//!   before answering it, and for `GET /lines?n=N&size=S` also N numbered lines of S bytes
//!   (a burst for log-stream tests);
//! - `--tcp-echo`: speaks no HTTP: each connection gets the line `test-app RELEASE` and then
//!   every byte it sends back (an `expose = "tcp"` service).
//!
//! Std only. It must not grow features the tests do not use.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Flags {
    fail_health: bool,
    ready_after: Duration,
    fail_health_after: Option<Duration>,
    health_status: Option<u16>,
    health_delay: Duration,
    crash_after: Option<Duration>,
    unless_file: Option<PathBuf>,
    no_listen: bool,
    listen_port: Option<u16>,
    listen_v6_only: bool,
    exit_at_start: bool,
    echo_env: Option<String>,
    log_requests: bool,
    tcp_echo: bool,
}

impl Flags {
    /// Whether `--unless-file` exists now: the app behaves.
    fn behave(&self) -> bool {
        self.unless_file.as_ref().is_some_and(|p| p.exists())
    }
}

fn ms(v: Option<String>) -> Duration {
    Duration::from_millis(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

fn main() {
    let mut flags = Flags::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--fail-health" => flags.fail_health = true,
            "--ready-after-ms" => flags.ready_after = ms(args.next()),
            "--fail-health-after-ms" => flags.fail_health_after = Some(ms(args.next())),
            "--health-status" => flags.health_status = args.next().and_then(|s| s.parse().ok()),
            "--health-delay-ms" => flags.health_delay = ms(args.next()),
            "--crash-after-ms" => flags.crash_after = Some(ms(args.next())),
            "--unless-file" => flags.unless_file = args.next().map(PathBuf::from),
            "--no-listen" => flags.no_listen = true,
            "--listen-port" => flags.listen_port = args.next().and_then(|s| s.parse().ok()),
            "--listen-v6-only" => flags.listen_v6_only = true,
            "--exit-at-start" => flags.exit_at_start = true,
            "--print" => println!("{}", args.next().unwrap_or_default()),
            "--echo-env" => flags.echo_env = args.next(),
            "--log-requests" => flags.log_requests = true,
            "--tcp-echo" => flags.tcp_echo = true,
            other => eprintln!("unknown flag {other}"),
        }
    }
    let flags = Arc::new(flags);
    let release = std::env::var("SATUSKY_RELEASE").unwrap_or_default();
    if flags.exit_at_start && !flags.behave() {
        println!("test-app {release}: exiting at start as asked");
        std::process::exit(1);
    }
    if let Some(after) = flags.crash_after {
        let flags = flags.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            if flags.behave() {
                return;
            }
            eprintln!("test-app: crashing as asked");
            std::process::exit(3);
        });
    }
    if flags.no_listen {
        println!("test-app {release} running, not listening as asked");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let port = std::env::var("PORT").unwrap_or_default();
    let addr = match (flags.listen_port, flags.listen_v6_only) {
        (Some(p), _) => format!("127.0.0.1:{p}"),
        (None, true) => format!("[::1]:{port}"),
        (None, false) => format!("127.0.0.1:{port}"),
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("test-app: cannot listen on {addr:?}: {e}");
            std::process::exit(2);
        }
    };
    println!("test-app {release} listening on {addr}");
    let started = Instant::now();
    for stream in listener.incoming().flatten() {
        let (flags, release) = (flags.clone(), release.clone());
        if flags.tcp_echo {
            std::thread::spawn(move || echo(stream, &release));
            continue;
        }
        std::thread::spawn(move || serve(stream, &flags, started, &release));
    }
}

/// `--tcp-echo`: the release line, then every byte back until the peer closes.
fn echo(mut stream: TcpStream, release: &str) {
    if writeln!(stream, "test-app {release}").is_err() {
        return;
    }
    let Ok(mut reader) = stream.try_clone() else {
        return;
    };
    let _ = std::io::copy(&mut reader, &mut stream);
}

/// What `/healthz` answers now when it is unhealthy: a status line and a body.
fn unhealthy(flags: &Flags, started: Instant) -> Option<(String, String)> {
    let up = started.elapsed();
    if flags.fail_health || up < flags.ready_after {
        return Some(("503 Service Unavailable".into(), "not ready\n".into()));
    }
    if flags.fail_health_after.is_some_and(|after| up >= after) && !flags.behave() {
        return Some((
            "500 Internal Server Error".into(),
            "health turned bad\n".into(),
        ));
    }
    let code = flags.health_status?;
    Some((
        format!("{code} Test Status"),
        "db connection refused\n".into(),
    ))
}

fn serve(stream: TcpStream, flags: &Flags, started: Instant, release: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/");
    if path == "/healthz" {
        std::thread::sleep(flags.health_delay);
    } else if flags.log_requests {
        log_request(path);
    }
    let echoed = match &flags.echo_env {
        Some(name) if path == "/env" => Some(std::env::var(name).unwrap_or_default()),
        _ => None,
    };
    let (status, body) = (path == "/healthz")
        .then(|| unhealthy(flags, started))
        .flatten()
        .or_else(|| echoed.map(|value| ("200 OK".into(), value)))
        .unwrap_or_else(|| ("200 OK".into(), format!("hello from {release}\n")));
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = &stream;
    let _ = stream.write_all(answer.as_bytes());
}

/// `--log-requests`: the request's line, and a burst for `/lines?n=N&size=S`.
fn log_request(path: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "request {path}");
    let Some(query) = path.strip_prefix("/lines?") else {
        return;
    };
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let (n, size) = (param("n"), param("size"));
    for i in 0..n {
        let head = format!("burst line {i} ");
        let pad = size.saturating_sub(head.len());
        let _ = writeln!(out, "{head}{}", "x".repeat(pad));
    }
}

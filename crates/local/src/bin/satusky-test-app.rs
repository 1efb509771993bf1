//! A tiny HTTP server for the local runtime's tests (no Python or Node on CI machines): listens
//! on `127.0.0.1:$PORT`, answers every path with 200 and its `SATUSKY_RELEASE`, and misbehaves
//! on request:
//!
//! - `--fail-health`: `/healthz` answers 503 forever;
//! - `--ready-after-ms N`: `/healthz` answers 503 for the first N ms;
//! - `--crash-after-ms N`: exits with status 3 after N ms;
//! - `--exit-at-start`: prints a line and exits with status 1 at once;
//! - `--print TEXT`: prints TEXT at start (repeatable).
//!
//! Std only. It must not grow features the tests do not use.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

struct Flags {
    fail_health: bool,
    ready_after: Duration,
    crash_after: Option<Duration>,
    exit_at_start: bool,
}

fn ms(v: Option<String>) -> Duration {
    Duration::from_millis(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

fn main() {
    let mut flags = Flags {
        fail_health: false,
        ready_after: Duration::ZERO,
        crash_after: None,
        exit_at_start: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--fail-health" => flags.fail_health = true,
            "--ready-after-ms" => flags.ready_after = ms(args.next()),
            "--crash-after-ms" => flags.crash_after = Some(ms(args.next())),
            "--exit-at-start" => flags.exit_at_start = true,
            "--print" => println!("{}", args.next().unwrap_or_default()),
            other => eprintln!("unknown flag {other}"),
        }
    }
    let release = std::env::var("SATUSKY_RELEASE").unwrap_or_default();
    if flags.exit_at_start {
        println!("test-app {release}: exiting at start as asked");
        std::process::exit(1);
    }
    let port = std::env::var("PORT").unwrap_or_default();
    let listener = match TcpListener::bind(format!("127.0.0.1:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("test-app: cannot listen on port {port:?}: {e}");
            std::process::exit(2);
        }
    };
    println!("test-app {release} listening on 127.0.0.1:{port}");
    if let Some(after) = flags.crash_after {
        std::thread::spawn(move || {
            std::thread::sleep(after);
            eprintln!("test-app: crashing as asked");
            std::process::exit(3);
        });
    }
    let started = Instant::now();
    for stream in listener.incoming().flatten() {
        let healthy = !flags.fail_health && started.elapsed() >= flags.ready_after;
        let release = release.clone();
        std::thread::spawn(move || serve(stream, healthy, &release));
    }
}

fn serve(stream: TcpStream, healthy: bool, release: &str) {
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
    let (status, body) = if path == "/healthz" && !healthy {
        ("503 Service Unavailable", "not ready\n".to_string())
    } else {
        ("200 OK", format!("hello from {release}\n"))
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = &stream;
    let _ = stream.write_all(answer.as_bytes());
}

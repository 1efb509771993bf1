//! Test support for the `1ctl` integration tests: a command with an isolated
//! `SATUSKY_HOME`, a listener that only counts connections, and a tiny canned HTTP/1.1
//! server that records what it was asked and speaks WebSocket on `…/events` (see
//! [`Events`]).
#![allow(dead_code)]

pub mod events;
pub mod fixtures;

pub use events::Events;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use assert_cmd::Command;

/// `1ctl` with `SATUSKY_HOME` set to `home` and no ambient Satusky settings.
pub fn onectl(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("1ctl").expect("1ctl binary");
    cmd.env("SATUSKY_HOME", home)
        .env("HOME", home)
        .env_remove("SATUSKY_TOKEN")
        .env_remove("SATUSKY_API_URL")
        .env_remove("SATUSKY_PROFILE")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60));
    cmd
}

/// A URL where nothing listens: a port that was bound and then released.
pub fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// Accepts and immediately closes connections, counting them.
pub struct CountingListener {
    pub url: String,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl CountingListener {
    pub fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            loop {
                match l.accept() {
                    Ok(_) => {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if s.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        CountingListener {
            url,
            count,
            stop,
            handle: Some(handle),
        }
    }

    /// Stops accepting (after draining the backlog) and returns the count.
    pub fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("join");
        }
        self.count.load(Ordering::SeqCst)
    }
}

/// One request as the fake server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
    pub raw: Vec<u8>,
}

/// A canned answer: the first route whose method matches and whose path `path` ends
/// with `suffix` answers. Routes with `times = Some(n)` answer n times, then fall through.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: &'static str,
    pub suffix: String,
    pub status: u16,
    pub body: String,
    pub times: Option<usize>,
}

pub fn route(method: &'static str, suffix: &str, status: u16, body: &str) -> Route {
    Route {
        method,
        suffix: suffix.to_string(),
        status,
        body: body.to_string(),
        times: None,
    }
}

/// A tiny HTTP/1.1 server answering canned JSON (keep-alive), and WebSocket upgrades of
/// `…/events` from an [`Events`] script (without one, `…/events` is a 404 like any
/// unknown route).
pub struct FakeServer {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    pub fn start(routes: Vec<Route>) -> Self {
        Self::start_with_events(routes, None)
    }

    pub fn start_with_events(routes: Vec<Route>, events: Option<Events>) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let routes = Arc::new(Mutex::new(routes));
        let events = events.map(Arc::new);
        let connections = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, routes) = (log.clone(), routes.clone());
                let (events, connections) = (events.clone(), connections.clone());
                std::thread::spawn(move || {
                    let events = events.as_deref().map(|e| (e, connections.as_ref()));
                    serve(stream, &log, &routes, events);
                });
            }
        });
        FakeServer { url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Seen>>,
    routes: &Mutex<Vec<Route>>,
    events: Option<(&Events, &AtomicUsize)>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    loop {
        // A pooled keep-alive connection may carry the upgrade: look before reading.
        if let Some((script, connections)) = events
            && reader.buffer().is_empty()
            && events::is_upgrade(reader.get_ref())
        {
            let n = connections.fetch_add(1, Ordering::SeqCst);
            events::serve(reader.into_inner(), script, n, log);
            return;
        }
        let Some(seen) = read_request(&mut reader) else {
            return;
        };
        let (status, body) = answer(&seen, routes);
        log.lock().expect("lock").push(seen);
        let reply = format!(
            "HTTP/1.1 {status} Canned\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if reader.get_mut().write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    let mut authorization = None;
    let mut content_type = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                length = v.parse().ok()?;
            } else if k == "authorization" {
                authorization = Some(v);
            } else if k == "content-type" {
                content_type = Some(v);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        authorization,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
        raw: body,
    })
}

fn answer(seen: &Seen, routes: &Mutex<Vec<Route>>) -> (u16, String) {
    let mut routes = routes.lock().expect("lock");
    let path = seen.path.split('?').next().unwrap_or_default();
    for r in routes.iter_mut() {
        if r.method == seen.method && path.ends_with(&r.suffix) && r.times != Some(0) {
            if let Some(n) = r.times.as_mut() {
                *n -= 1;
            }
            return (r.status, r.body.clone());
        }
    }
    (
        404,
        r#"{"error":{"code":"not_found","message":"no such route in the fake server"}}"#.into(),
    )
}

//! The notes template's app: an HTTP/1.1 server on `$LISTEN_HOST:$PORT` (127.0.0.1 unless
//! told otherwise) keeping notes as files in its volume (`$SATUSKY_VOLUME`, or `$NOTES_DIR`).
//!
//! - `POST /notes` with `Authorization: Bearer $NOTES_TOKEN` stores the body (at most
//!   `$NOTES_MAX_BYTES`) and answers 201 with its address, `/notes/ID`;
//! - `GET /notes` lists the IDs, `GET /notes/ID` answers the note;
//! - `/healthz` answers the readiness check once the folder is writable.
//!
//! Std only, so it builds offline on any machine that can build Satusky.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most header lines read from one request.
const MAX_HEADERS: usize = 100;
/// The longest line (request line or header) read.
const MAX_LINE: u64 = 8 * 1024;
/// Notes listed by `GET /notes`.
const MAX_LISTED: usize = 1000;

static COUNTER: AtomicU64 = AtomicU64::new(0);

struct Config {
    dir: PathBuf,
    token: String,
    max_bytes: usize,
}

fn fail(message: &str) -> ! {
    eprintln!("notes: {message}");
    std::process::exit(1);
}

fn main() {
    let dir = std::env::var("SATUSKY_VOLUME")
        .or_else(|_| std::env::var("NOTES_DIR"))
        .unwrap_or_else(|_| fail("no folder for the notes: set SATUSKY_VOLUME or NOTES_DIR"));
    let token = std::env::var("NOTES_TOKEN").unwrap_or_default();
    if token.is_empty() {
        fail("NOTES_TOKEN is not set: writes need it");
    }
    let max_bytes = std::env::var("NOTES_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(65536);
    let dir = PathBuf::from(dir).join("notes");
    if let Err(e) = fs::create_dir_all(&dir) {
        fail(&format!("cannot create {}: {e}", dir.display()));
    }
    let host = std::env::var("LISTEN_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let listener = TcpListener::bind(format!("{host}:{port}"))
        .unwrap_or_else(|e| fail(&format!("cannot listen on {host}:{port}: {e}")));
    println!("notes: listening on {host}:{port}, notes in {}", dir.display());
    let config: &'static Config = Box::leak(Box::new(Config { dir, token, max_bytes }));
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || serve(stream, config));
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes; `None` at the end of the stream.
fn read_line(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    match reader.by_ref().take(MAX_LINE).read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

/// Equal without an early exit, so the time taken does not tell how much of a token matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes `bytes` as `dir/ID` all at once (a temporary file renamed), returning the ID.
fn store(dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let id = format!("{:x}{:04x}", now.as_millis(), COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff);
    let tmp = dir.join(format!(".{id}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(&id))?;
    Ok(id)
}

/// Serves requests on one connection until the client closes it (keep-alive).
fn serve(stream: TcpStream, config: &Config) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request_line) = read_line(&mut reader) else {
            return;
        };
        let mut content_length = 0usize;
        let mut authorization = String::new();
        let mut close = false;
        for _ in 0..=MAX_HEADERS {
            let Some(line) = read_line(&mut reader) else {
                return;
            };
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim(), value.trim());
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("authorization") {
                    authorization = value.to_owned();
                } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("/").split('?').next().unwrap_or("/");
        let (status, body) = if content_length > config.max_bytes {
            close = true; // the body is not read
            ("413 Payload Too Large", format!("a note is at most {} bytes\n", config.max_bytes))
        } else {
            let mut body = vec![0; content_length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            answer(config, method, path, &authorization, &body)
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{}\r\n",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(body.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn answer(config: &Config, method: &str, path: &str, authorization: &str, body: &[u8]) -> (&'static str, String) {
    match (method, path) {
        (_, "/healthz") => match fs::metadata(&config.dir) {
            Ok(m) if m.is_dir() => ("200 OK", "ok\n".into()),
            _ => ("503 Service Unavailable", "the notes folder is gone\n".into()),
        },
        ("POST", "/notes") => {
            let given = authorization.strip_prefix("Bearer ").unwrap_or("");
            if !same(given.as_bytes(), config.token.as_bytes()) {
                return ("401 Unauthorized", "writes need Authorization: Bearer TOKEN\n".into());
            }
            match store(&config.dir, body) {
                Ok(id) => ("201 Created", format!("/notes/{id}\n")),
                Err(e) => ("500 Internal Server Error", format!("could not store the note: {e}\n")),
            }
        }
        ("GET", "/notes") => {
            let mut ids: Vec<String> = fs::read_dir(&config.dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| !n.starts_with('.'))
                        .collect()
                })
                .unwrap_or_default();
            ids.sort();
            ids.truncate(MAX_LISTED);
            ("200 OK", ids.iter().map(|id| format!("{id}\n")).collect())
        }
        ("GET", p) => match p.strip_prefix("/notes/") {
            Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                match fs::read(config.dir.join(id)) {
                    Ok(bytes) => ("200 OK", String::from_utf8_lossy(&bytes).into_owned()),
                    Err(_) => ("404 Not Found", "no such note\n".into()),
                }
            }
            _ => ("404 Not Found", "try GET /notes or POST /notes\n".into()),
        },
        _ => ("405 Method Not Allowed", "try GET /notes or POST /notes\n".into()),
    }
}

//! Satusky's example app: a small HTTP/1.1 server on `$PORT`, std only, so it builds on any
//! machine that can build Satusky. `/healthz` answers the readiness check; `/` shows the
//! release serving the page and the app's environment.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Variables shown on the page (never everything: the environment may hold secrets).
const SHOWN: &[&str] = &["SATUSKY_RELEASE", "SATUSKY_ORG", "SATUSKY_APP", "PORT", "GREETING"];

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    let listener = match TcpListener::bind(format!("127.0.0.1:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("hello: listening on 127.0.0.1:{port}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || serve(stream));
    }
}

/// Serve requests on one connection until the client closes it (keep-alive).
fn serve(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut out = write_half;
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut content_length = 0usize;
        let mut close = false;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim();
                if name == "content-length" {
                    content_length = value.parse().unwrap_or(0);
                } else if name == "connection" && value.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        if content_length > 0 {
            let mut body = vec![0; content_length.min(1 << 20)];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let (status, content_type, body) = respond(path);
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{}\r\n",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(body.as_bytes()).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

fn respond(path: &str) -> (&'static str, &'static str, String) {
    match path.split('?').next().unwrap_or("/") {
        "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
        "/" => ("200 OK", "text/html; charset=utf-8", page()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    }
}

fn page() -> String {
    let get = |k: &str| std::env::var(k).unwrap_or_default();
    let mut rows = String::new();
    for k in SHOWN {
        rows.push_str(&format!("<tr><th>{k}</th><td>{}</td></tr>\n", escape(&get(k))));
    }
    format!(
        "<!doctype html>\n<html><head><title>{app}</title></head><body>\n\
         <h1>{greeting}</h1>\n<p>Served by release <strong>{release}</strong>.</p>\n\
         <table>\n{rows}</table>\n</body></html>\n",
        app = escape(&get("SATUSKY_APP")),
        greeting = escape(&get("GREETING")),
        release = escape(&get("SATUSKY_RELEASE")),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

//! The echo template's app: an HTTP/1.1 server on `$LISTEN_HOST:$PORT` (127.0.0.1 unless
//! told otherwise) that answers every request with what it received — its method, path,
//! headers and body — under a banner line (`$ECHO_BANNER`). `/healthz` answers the readiness
//! check. Std only, so it builds offline on any machine that can build Satusky.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The largest request body echoed back; the rest is read and dropped.
const MAX_BODY: usize = 64 * 1024;
/// The most header lines read from one request.
const MAX_HEADERS: usize = 100;
/// The longest line (request line or header) read.
const MAX_LINE: u64 = 8 * 1024;

fn main() {
    let host = std::env::var("LISTEN_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let listener = match TcpListener::bind(format!("{host}:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo: cannot listen on {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    let banner = std::env::var("ECHO_BANNER").unwrap_or_else(|_| "echo".to_owned());
    println!("echo: listening on {host}:{port}");
    for stream in listener.incoming().flatten() {
        let banner = banner.clone();
        std::thread::spawn(move || serve(stream, &banner));
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

/// Serves requests on one connection until the client closes it (keep-alive).
fn serve(stream: TcpStream, banner: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request_line) = read_line(&mut reader) else {
            return;
        };
        let mut headers = Vec::new();
        let mut content_length = 0usize;
        let mut close = false;
        loop {
            let Some(line) = read_line(&mut reader) else {
                return;
            };
            if line.is_empty() {
                break;
            }
            if headers.len() == MAX_HEADERS {
                return;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim(), value.trim());
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                    close = true;
                }
                headers.push(format!("{name}: {value}"));
            }
        }
        let mut body = vec![0; content_length.min(MAX_BODY)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let rest = content_length.saturating_sub(MAX_BODY) as u64;
        if rest > 0 && std::io::copy(&mut reader.by_ref().take(rest), &mut std::io::sink()).is_err() {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let answer = if path == "/healthz" {
            "ok\n".to_owned()
        } else {
            let mut text = format!("{banner}\n\n{request_line}\n");
            for h in &headers {
                text.push_str(h);
                text.push('\n');
            }
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(&body));
            if content_length > MAX_BODY {
                text.push_str(&format!("\n[… {} more bytes not shown]\n", content_length - MAX_BODY));
            }
            text
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{}\r\n",
            answer.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(answer.as_bytes()).is_err() || close {
            return;
        }
    }
}

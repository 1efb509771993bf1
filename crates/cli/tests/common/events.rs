//! The fake server's event stream: a real WebSocket (tokio-tungstenite `accept_hdr_async`)
//! that replays a script of events above the client's `after`, can break the first
//! connection mid-way (no close frame: the TCP connection just goes), and can refuse later
//! connections with a 404. Every connection is logged as a `WS` request with its URI.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use satusky_types::Event;
use tokio_tungstenite::accept_hdr_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::Seen;

/// What the event stream sends.
#[derive(Debug, Clone, Default)]
pub struct Events {
    /// `(seq, JSON text)` in order; a connection gets those with `seq > after`.
    pub frames: Vec<(u64, String)>,
    /// The first connection sends this many frames, then drops.
    pub break_first_after: Option<usize>,
    /// Connections after the first get a 404 (the stream is gone for good).
    pub refuse_reconnects: bool,
    /// A pause before each frame.
    pub pace: Duration,
    /// Sent as the handshake's `x-satusky-last-seq` (the seq of the last event when the
    /// stream opened), as the real server does; `None`: like a server that predates it.
    pub last_seq: Option<u64>,
}

impl Events {
    pub fn new(events: &[Event]) -> Self {
        Events {
            frames: events
                .iter()
                .map(|e| (e.seq, serde_json::to_string(e).expect("event json")))
                .collect(),
            ..Default::default()
        }
    }
}

/// Whether the next request on `stream` is a GET of `…/events` (peeked, not consumed).
pub fn is_upgrade(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 2048];
    for _ in 0..200 {
        let n = match stream.peek(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        if let Some((line, _)) = text.split_once("\r\n") {
            let mut parts = line.split_whitespace();
            let (method, target) = (parts.next(), parts.next().unwrap_or_default());
            let path = target.split('?').next().unwrap_or_default();
            return method == Some("GET") && path.ends_with("/events");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Serves connection number `n` of the event stream.
pub fn serve(stream: TcpStream, script: &Events, n: usize, log: &Mutex<Vec<Seen>>) {
    if n > 0 && script.refuse_reconnects {
        let mut reader = std::io::BufReader::new(stream);
        if let Some(seen) = super::read_request(&mut reader) {
            log.lock().expect("lock").push(seen);
        }
        let body =
            r#"{"error":{"code":"not_found","message":"app \"api\" not found in org \"acme\""}}"#;
        let reply = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = reader.get_mut().write_all(reply.as_bytes());
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        stream.set_nonblocking(true).expect("nonblocking");
        let tcp = tokio::net::TcpStream::from_std(stream).expect("tokio stream");
        let head: Arc<Mutex<(String, Option<String>)>> = Arc::default();
        let h = head.clone();
        let last_seq = script.last_seq;
        // The shape is tungstenite's `Callback`; its error type is not ours to shrink.
        #[allow(clippy::result_large_err)]
        let callback = move |req: &Request, mut resp: Response| {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            *h.lock().expect("lock") = (req.uri().to_string(), auth);
            if let Some(seq) = last_seq {
                resp.headers_mut().insert(
                    "x-satusky-last-seq",
                    seq.to_string().parse().expect("header"),
                );
            }
            Ok(resp)
        };
        let Ok(mut ws) = accept_hdr_async(tcp, callback).await else {
            return;
        };
        let (path, authorization) = head.lock().expect("lock").clone();
        log.lock().expect("lock").push(Seen {
            method: "WS".into(),
            path: path.clone(),
            authorization,
            content_type: None,
            body: String::new(),
            raw: Vec::new(),
        });
        let after: u64 = path
            .split_once("after=")
            .and_then(|(_, a)| a.split('&').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let limit = if n == 0 {
            script.break_first_after
        } else {
            None
        };
        let mut sent = 0;
        for (_, text) in script.frames.iter().filter(|(seq, _)| *seq > after) {
            if limit == Some(sent) {
                return; // dropped without a close frame
            }
            if !script.pace.is_zero() {
                tokio::time::sleep(script.pace).await;
            }
            if ws.send(Message::text(text.clone())).await.is_err() {
                return;
            }
            sent += 1;
        }
        if limit == Some(sent) {
            return;
        }
        // Follow: hold the connection until the client goes.
        while let Some(Ok(_)) = ws.next().await {}
    });
}

//! The events WebSocket on a real TCP port (issue 10): a follower that stops reading is
//! dropped with a close frame naming the seq to resume after, and resuming from there gets
//! every remaining event once, in order; handshake errors answer with the JSON error body.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use satusky_server::Settings;
use satusky_store::Store;
use satusky_types::{AppSpec, EventType, Role};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const ORG: &str = "acme";
const APP: &str = "web";
/// The server's send timeout (routes/events.rs) plus a margin inside its close grace (5 s).
const STALL: Duration = Duration::from_secs(12);

struct Server {
    addr: SocketAddr,
    token: String,
    store: Store,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A store with app `web` (deploy events 1 and 2), served on 127.0.0.1:0.
async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.ensure_org(ORG).await.unwrap();
    let token = store.create_token(ORG, Role::Admin).await.unwrap();
    let spec: AppSpec = serde_json::from_value(json!({
        "name": APP, "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
        "image": "nginx:1.27",
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "checks": {"path": "/healthz", "expect": "2xx", "timeout_ms": 1000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 120}
    }))
    .unwrap();
    store
        .record_deploy(ORG, &spec, &[], "deploy", 1_795_000_000_000)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = store.clone();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        satusky_server::serve(listener, served, Settings::default(), shutdown)
            .await
            .unwrap();
    });
    Server {
        addr,
        token,
        store,
        _dir: dir,
        _stop: stop,
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A WebSocket follower from `after`, over a socket with a small receive buffer so that a
/// follower that does not read fills it quickly.
async fn connect(s: &Server, after: u64) -> Ws {
    let url = format!(
        "ws://{}/v1/orgs/{ORG}/apps/{APP}/events?after={after}",
        s.addr
    );
    let mut req = url.into_client_request().unwrap();
    let bearer = HeaderValue::from_str(&format!("Bearer {}", s.token)).unwrap();
    req.headers_mut().insert("authorization", bearer);
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(s.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    ws
}

/// The next frame, within 30 s.
async fn next(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("a frame within 30 s")
        .map(|m| m.expect("a frame"))
}

fn seq(msg: &Message) -> u64 {
    let ev: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    ev["seq"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_stops_reading_is_dropped_and_resumes_without_gaps() {
    let s = start().await;
    // 300 events of 32 KiB (9.6 MB): more than the kernel buffers between server and client.
    let line = "l".repeat(32 * 1024);
    for _ in 0..300 {
        let data = json!({"release": 1, "line": line});
        s.store
            .append_event(ORG, APP, EventType::BuildLog, &data, 1_795_000_000_001)
            .await
            .unwrap();
    }
    let last = 302;

    let mut ws = connect(&s, 0).await;
    let first = next(&mut ws).await.expect("the first event");
    let mut seen = vec![seq(&first)];
    // Stop reading past the server's send timeout: it gives up and queues a close frame.
    tokio::time::sleep(STALL).await;
    let close = loop {
        match next(&mut ws).await {
            Some(Message::Text(t)) => seen.push(seq(&Message::Text(t))),
            Some(Message::Close(frame)) => break frame.expect("a close frame with a reason"),
            Some(other) => panic!("unexpected frame {other:?}"),
            None => panic!("the stream ended without a close frame after {seen:?}"),
        }
    };
    let resume_after = *seen.last().unwrap();
    assert!(
        resume_after < last,
        "dropped before the end: {resume_after}"
    );
    assert_eq!(close.code, CloseCode::Again);
    assert!(
        close
            .reason
            .ends_with(&format!("reconnect with ?after={resume_after}")),
        "{}",
        close.reason
    );

    let mut ws = connect(&s, resume_after).await;
    while seen.last() != Some(&last) {
        let msg = next(&mut ws).await.expect("the rest of the events");
        seen.push(seq(&msg));
    }
    assert_eq!(
        seen,
        (1..=last).collect::<Vec<_>>(),
        "every event once, in order"
    );
}

#[tokio::test]
async fn handshake_errors_are_json() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = start().await;
    let c = reqwest::Client::new();
    let url = format!("http://{}/v1/orgs/{ORG}/apps/{APP}/events", s.addr);

    // A plain GET: 426 with `Upgrade: websocket`.
    let r = c.get(&url).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 426);
    assert_eq!(r.headers()["upgrade"], "websocket");
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_input");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WebSocket")
    );

    // A bad `after`, upgrade headers or not: 400 naming the parameter.
    for after in ["abc", "-1", "1.5"] {
        let r = c
            .get(format!("{url}?after={after}"))
            .bearer_auth(&s.token)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "after={after}");
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("after:"),
            "{body}"
        );
    }

    // Upgrade headers present but the key missing: 400, still JSON.
    let r = c
        .get(&url)
        .bearer_auth(&s.token)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Sec-WebSocket-Key"),
        "{body}"
    );
}

/// A stream opened with a token that is then revoked ends within seconds with a policy close
/// naming the seq to resume after; the same token cannot open a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_token_closes_its_open_stream() {
    let s = start().await;
    let mut ws = connect(&s, 0).await;
    let mut last = 0;
    while last < 2 {
        let msg = next(&mut ws).await.expect("the replayed events");
        last = seq(&msg);
    }
    let info = s.store.authenticate(&s.token).await.unwrap().unwrap();
    s.store
        .revoke_token(ORG, &info.id, satusky_core::time::now_ms())
        .await
        .unwrap()
        .unwrap();
    let close = loop {
        match next(&mut ws).await {
            Some(Message::Close(frame)) => break frame.expect("a close frame with a reason"),
            Some(Message::Text(t)) => panic!("no event was written, got {t}"),
            Some(_) => continue,
            None => panic!("the stream ended without a close frame"),
        }
    };
    assert_eq!(close.code, CloseCode::Policy, "{close:?}");
    assert!(
        close.reason.contains("revoked") && close.reason.contains(&format!("?after={last}")),
        "{close:?}"
    );
    let url = format!("ws://{}/v1/orgs/{ORG}/apps/{APP}/events", s.addr);
    let mut req = url.into_client_request().unwrap();
    let bearer = HeaderValue::from_str(&format!("Bearer {}", s.token)).unwrap();
    req.headers_mut().insert("authorization", bearer);
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 401),
        other => panic!("expected a 401 answer, got {other:?}"),
    }
}

/// The handshake's answer names the last seq at that moment: events up to it are the
/// replayed history, later ones are new (what `1ctl app status --watch` marks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_names_where_the_history_ends() {
    let s = start().await;
    let url = format!("ws://{}/v1/orgs/{ORG}/apps/{APP}/events?after=0", s.addr);
    let mut req = url.into_client_request().unwrap();
    let bearer = HeaderValue::from_str(&format!("Bearer {}", s.token)).unwrap();
    req.headers_mut().insert("authorization", bearer);
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (mut ws, res) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    let header = res
        .headers()
        .get("x-satusky-last-seq")
        .expect("the header")
        .to_str()
        .unwrap();
    assert_eq!(header, "2", "the deploy wrote events 1 and 2");
    let history: Vec<u64> = [next(&mut ws).await, next(&mut ws).await]
        .iter()
        .map(|m| seq(m.as_ref().expect("an event")))
        .collect();
    assert_eq!(history, [1, 2]);
    let data = json!({"release": 1, "line": "new"});
    s.store
        .append_event(ORG, APP, EventType::BuildLog, &data, 1_795_000_000_001)
        .await
        .unwrap();
    // Followers re-read the store every second: the new event arrives without a wake-up.
    let live = next(&mut ws).await.expect("the new event");
    assert_eq!(seq(&live), 3, "after the history: a live event");
}

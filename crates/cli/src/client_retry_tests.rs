//! Unit tests of [`super::Client`]'s retries, against a scripted HTTP/1.1 server on loopback:
//! a mutation's attempts all carry the same `Idempotency-Key`, a new mutation gets a new one,
//! and reads and refusals are sent once.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// What the server does with one request: close the connection unanswered, or answer.
#[derive(Clone, Copy)]
enum Step {
    Drop,
    Answer(u16, &'static str),
}

/// The `Idempotency-Key` of every request the server received (`None`: it had none).
type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// Serves `script`, one request per connection, in order; returns the base URL.
async fn scripted(script: Vec<Step>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        for step in script {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let head = read_request(&mut conn).await;
            let key = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("idempotency-key")
                    .then(|| value.trim().to_string())
            });
            record.lock().expect("lock").push(key);
            if let Step::Answer(status, body) = step {
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        }
    });
    (url, seen)
}

/// Reads one request (head and body); returns the head.
async fn read_request(conn: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await.expect("read");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if body.len() >= len || n == 0 {
                return head.to_string();
            }
        } else if n == 0 {
            return text;
        }
    }
}

fn seen(s: &Seen) -> Vec<Option<String>> {
    s.lock().expect("lock").clone()
}

#[tokio::test]
async fn a_retried_mutation_reuses_its_key_and_the_next_gets_a_new_one() {
    let (url, log) = scripted(vec![
        Step::Drop,
        Step::Answer(503, ""),
        Step::Answer(202, r#"{"release":1}"#),
        Step::Answer(202, r#"{"release":2}"#),
    ])
    .await;
    let client = Client::new(&url, Some("sky_t".into())).expect("client");
    let first: Value = client
        .put(&["v1", "orgs", "acme", "apps", "web"], &json!({"spec": {}}))
        .await
        .expect("the third attempt is answered");
    assert_eq!(first["release"], 1);
    let keys = seen(&log);
    assert_eq!(keys.len(), 3, "two retries: {keys:?}");
    let key = keys[0].clone().expect("a mutation carries a key");
    assert_eq!(key.len(), 32, "{key}");
    assert!(
        keys.iter().all(|k| k.as_deref() == Some(key.as_str())),
        "every attempt carries the same key: {keys:?}"
    );

    let second: Value = client
        .put(&["v1", "orgs", "acme", "apps", "web"], &json!({"spec": {}}))
        .await
        .expect("answered");
    assert_eq!(second["release"], 2);
    let keys = seen(&log);
    let next = keys[3].clone().expect("a key");
    assert_ne!(next, key, "another request, another key");
}

#[tokio::test]
async fn reads_carry_no_key_and_are_sent_once() {
    let (url, log) = scripted(vec![Step::Drop, Step::Answer(200, "[]")]).await;
    let client = Client::new(&url, Some("sky_t".into())).expect("client");
    let err = client
        .get::<Value>(&["v1", "orgs", "acme", "apps"])
        .await
        .expect_err("the dropped connection is reported");
    assert!(matches!(err.code(), 1 | 4), "{err}");
    assert_eq!(seen(&log), [None]);
}

#[tokio::test]
async fn refusals_are_not_retried() {
    let refusal = r#"{"error":{"code":"invalid_input","message":"Idempotency-Key k was already used with another request body"}}"#;
    let (url, log) = scripted(vec![Step::Answer(422, refusal), Step::Answer(202, "{}")]).await;
    let client = Client::new(&url, Some("sky_t".into())).expect("client");
    let err = client
        .delete::<Value>(&["v1", "orgs", "acme", "apps", "web"])
        .await
        .expect_err("422");
    assert_eq!(err.code(), 2);
    assert!(err.to_string().contains("already used"), "{err}");
    assert_eq!(seen(&log).len(), 1);
}

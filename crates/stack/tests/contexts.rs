//! Build contexts under concurrency and across orgs (issue 10, acceptance 1), in-process on
//! the local stack: 64 different contexts and 64 identical ones uploaded at once all answer
//! 201; every stored file hashes to its name; the 64 deploys that follow each build their own
//! tree. Another org's token gets 404 for a context by digest, and its deploy naming that
//! digest is refused without building anything.

mod drift_common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use drift_common::{Api, ORG, eventually};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const APPS: usize = 64;

/// A context whose `tree.txt` says which tree it is (plus padding, so uploads take a while).
fn context(tree: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, data) in [
        ("tree.txt", format!("{tree}\n")),
        ("padding.txt", format!("{tree} ").repeat(20_000)),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

async fn upload(router: &axum::Router, token: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::post(format!("/v1/orgs/{ORG}/builds"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/gzip")
        .body(Body::from(bytes))
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn spec(app: &str) -> Value {
    json!({
        "name": app, "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
        "command": ["sh", "-c", "exec sleep 600"],
        "build": {"dockerfile": "Dockerfile", "context": ".", "command": "cat tree.txt"},
        "checks": {"path": "/healthz", "expect": "2xx", "timeout_ms": 1000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 120}
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_keep_their_own_bytes_and_stay_in_their_org() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (store, token, other_token) = drift_common::store(dir.path()).await;
    let state_dir = dir.path().join("state");
    let stack = drift_common::local_stack(&state_dir, store.clone()).await;
    stack.engine.start().await;
    let api = Api {
        router: satusky_server::router(stack.state.clone()),
        token: token.clone(),
    };

    // 64 different trees and 64 copies of one tree, all at once.
    let mut tasks = Vec::new();
    for i in 0..APPS {
        let (router, token) = (api.router.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            upload(&router, &token, context(&format!("tree-{i}"))).await
        }));
    }
    for _ in 0..APPS {
        let (router, token) = (api.router.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            upload(&router, &token, context("same-tree")).await
        }));
    }
    let mut digests = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        digests.push(body["context"].as_str().unwrap().to_string());
    }
    for (i, d) in digests.iter().take(APPS).enumerate() {
        assert_eq!(
            *d,
            format!("sha256:{}", sha256_hex(&context(&format!("tree-{i}")))),
            "upload {i} was answered with another upload's digest"
        );
    }
    assert!(digests[APPS..].iter().all(|d| *d == digests[APPS]));

    // Every stored file hashes to its name; no temporary file is left behind.
    let org_dir = state_dir.join("contexts").join(ORG);
    let mut stored = 0;
    for entry in std::fs::read_dir(&org_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let hex = name
            .strip_prefix("sha256-")
            .and_then(|n| n.strip_suffix(".tar.gz"))
            .unwrap_or_else(|| panic!("unexpected file {name} in the content store"));
        assert_eq!(sha256_hex(&std::fs::read(&path).unwrap()), hex, "{name}");
        stored += 1;
    }
    assert_eq!(stored, APPS + 1);

    // The other org: 404 for acme's context, and a deploy naming it is refused, unbuilt.
    let (status, body) = api
        .call_as(
            &other_token,
            Method::GET,
            &format!("/v1/orgs/other/builds/{}/context", digests[0]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api
        .call_as(
            &other_token,
            Method::PUT,
            "/v1/orgs/other/apps/thief",
            Some(json!({"spec": spec("thief"), "context": digests[0]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("was not uploaded by org other"),
        "{body}"
    );
    let (status, _) = api
        .call_as(&other_token, Method::GET, "/v1/orgs/other/apps/thief", None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the refused deploy created nothing"
    );
    assert!(
        !state_dir.join("contexts").join("other").exists() || {
            std::fs::read_dir(state_dir.join("contexts").join("other"))
                .unwrap()
                .next()
                .is_none()
        }
    );

    // 64 deploys at once, each from its own context: each build prints its own tree.
    let mut tasks = Vec::new();
    for (i, digest) in digests.iter().take(APPS).enumerate() {
        let (router, token, digest) = (api.router.clone(), token.clone(), digest.clone());
        tasks.push(tokio::spawn(async move {
            let api = Api { router, token };
            let app = format!("app{i}");
            api.call(
                Method::PUT,
                &format!("/v1/orgs/{ORG}/apps/{app}"),
                Some(json!({"spec": spec(&app), "context": digest})),
            )
            .await
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    for i in 0..APPS {
        let app = format!("app{i}");
        let lines = eventually(&format!("{app}'s build"), Duration::from_secs(120), || {
            let (store, app) = (store.clone(), app.clone());
            async move {
                let events = store.events_after(ORG, &app, 0, 10_000).await.unwrap();
                let lines: Vec<String> = events
                    .iter()
                    .filter(|e| e.kind == satusky_types::EventType::BuildLog)
                    .filter_map(|e| e.data["line"].as_str().map(str::to_string))
                    .collect();
                lines
                    .iter()
                    .any(|l| l.starts_with("build finished") || l.starts_with("reusing"))
                    .then_some(lines)
            }
        })
        .await;
        let trees: Vec<&String> = lines.iter().filter(|l| l.starts_with("tree-")).collect();
        assert_eq!(
            trees,
            vec![&format!("tree-{i}")],
            "{app}'s build log: {lines:#?}"
        );
    }
    stack.shutdown().await;
}

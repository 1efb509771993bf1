//! What a runtime refuses before anything is recorded (issue 12, acceptance 5, second half):
//! on the local runtime a spec with neither `command` nor `image` is answered 422 with reason
//! `NoCommand`, the field and the fix — and no app exists afterwards. An image-only spec is
//! still accepted (it fails at apply, as SPEC §8 says).

mod drift_common;

use axum::http::{Method, StatusCode};
use drift_common::{Api, ORG};
use serde_json::{Value, json};

fn spec(app: &str) -> Value {
    json!({
        "name": app, "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "checks": {"path": "/healthz", "expect": "2xx", "timeout_ms": 1000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 120}
    })
}

#[tokio::test]
async fn the_local_runtime_refuses_an_app_it_could_never_start_before_creating_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (store, token, _) = drift_common::store(dir.path()).await;
    let stack = drift_common::local_stack(&dir.path().join("state"), store.clone()).await;
    let api = Api {
        router: satusky_server::router(stack.state.clone()),
        token,
    };

    let path = format!("/v1/orgs/{ORG}/apps/web");
    let (status, body) = api
        .call(Method::PUT, &path, Some(json!({"spec": spec("web")})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "invalid_input");
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with("command: "), "{message}");
    assert!(
        message.contains("command = [\"./your-server\"]"),
        "{message}"
    );
    assert!(message.contains("$PORT"), "{message}");
    assert_eq!(error["details"]["reason"], "NoCommand");
    assert_eq!(error["details"]["fields"][0]["field"], "command");
    let (status, _) = api.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no app was created");
    assert!(store.list_releases(ORG, "web").await.unwrap().is_empty());

    // An image-only spec is accepted here (and fails at apply with its own reason).
    let mut image_only = spec("img");
    image_only["image"] = json!("nginx:1.27");
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/v1/orgs/{ORG}/apps/img"),
            Some(json!({"spec": image_only})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // /metrics shows each app's phase and planes, one series per possible value.
    let text = api.metrics().await;
    assert!(
        text.contains("satusky_app_phase{org=\"acme\",app=\"img\",phase=\"accepted\"} 1"),
        "{text}"
    );
    assert!(text.contains("satusky_app_phase{org=\"acme\",app=\"img\",phase=\"ready\"} 0"));
    assert!(text.contains(
        "satusky_app_plane_state{org=\"acme\",app=\"img\",hostname=\"img-acme.satusky.localhost\",plane=\"http\",state=\"pending\"} 1"
    ), "{text}");
    assert!(text.contains("satusky_app_active_release{org=\"acme\",app=\"img\"} 0"));
    assert!(
        !text.contains("app=\"web\""),
        "the refused app has no series"
    );
}

/// A hostname another app of the same org holds is refused at `PUT` with 409, naming it, with
/// reason `HostnameTaken` in the details — and nothing of the second app is created. (Another
/// org may claim it, pending its own proof: `takeover.rs`.)
#[tokio::test]
async fn a_hostname_held_by_another_app_of_the_org_is_refused_with_hostname_taken() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (store, token, other) = drift_common::store(dir.path()).await;
    let stack = drift_common::local_stack(&dir.path().join("state"), store.clone()).await;
    let api = Api {
        router: satusky_server::router(stack.state.clone()),
        token,
    };
    let mut first = spec("shop");
    first["image"] = json!("nginx:1.27");
    first["domains"] = json!([{"host": "shop.example.test"}]);
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/v1/orgs/{ORG}/apps/shop"),
            Some(json!({"spec": first.clone()})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let mut second = first;
    second["name"] = json!("squat");
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/v1/orgs/{ORG}/apps/squat"),
            Some(json!({"spec": second})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["error"]["details"]["reason"], "HostnameTaken",
        "{body}"
    );
    assert_eq!(
        body["error"]["details"]["hostname"], "shop.example.test",
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shop.example.test"),
        "{body}"
    );
    let _ = other;
    let (status, _) = api
        .call(Method::GET, &format!("/v1/orgs/{ORG}/apps/squat"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nothing of the second app exists"
    );
    stack.runtime.shutdown().await;
}

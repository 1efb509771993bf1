//! Spec size limits over the API (issue 10): a spec over a limit is refused with 422 naming
//! the field and the limit, in a short answer that does not echo the value, and nothing is
//! stored.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use satusky_server::{AppState, Settings};
use satusky_store::Store;
use satusky_types::Role;
use serde_json::{Value, json};
use tower::ServiceExt;

const ORG: &str = "acme";

fn spec(name: &str) -> Value {
    json!({
        "name": name, "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
        "image": "nginx:1.27",
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "checks": {"path": "/healthz", "expect": "2xx", "timeout_ms": 1000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 120}
    })
}

async fn call(
    router: &axum::Router,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    (
        status,
        res.into_body().collect().await.unwrap().to_bytes().to_vec(),
    )
}

#[tokio::test]
async fn oversized_values_are_422_naming_the_field_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.ensure_org(ORG).await.unwrap();
    let token = store.create_token(ORG, Role::Admin).await.unwrap();
    let router = satusky_server::router(AppState::new(store, Settings::default()));

    // 1,000,000 bytes: under the 1 MiB body limit, so the spec rules answer.
    let mb = "s".repeat(1_000_000);
    let mut with_env = spec("web");
    with_env["env"] = json!({"LOG_LEVEL": "info", "SECRET_BLOB": mb});
    let mut with_image = spec("web");
    with_image["image"] = json!(format!("ghcr.io/{}", "i".repeat(800_000)));
    let mut with_name = spec(&"n".repeat(500_000));
    with_name["build"]["command"] = json!("x".repeat(9000));
    let cases = [
        (
            with_env,
            "env.SECRET_BLOB",
            "976.6 KiB is over the limit of 32 KiB for an env value",
        ),
        (
            with_image,
            "app.image",
            "781.3 KiB is over the limit of 512 bytes for an image reference",
        ),
        (with_name, "", "does not match the app in the path"),
    ];
    for (spec, field, message) in cases {
        let (status, body) = call(
            &router,
            &token,
            "PUT",
            "/v1/orgs/acme/apps/web",
            Some(json!({"spec": spec})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert!(
            body.len() < 1000,
            "a short answer: {}",
            String::from_utf8_lossy(&body[..1000])
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "invalid_input");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(message),
            "{body}"
        );
        if !field.is_empty() {
            assert_eq!(
                body["error"]["details"]["fields"][0]["field"], field,
                "{body}"
            );
        }
    }

    let (status, _) = call(&router, &token, "GET", "/v1/orgs/acme/apps/web", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");

    // The same spec within the limits is accepted.
    let mut ok = spec("web");
    ok["env"] = json!({"SECRET_BLOB": "s".repeat(32 * 1024)});
    let (status, body) = call(
        &router,
        &token,
        "PUT",
        "/v1/orgs/acme/apps/web",
        Some(json!({"spec": ok})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&body)
    );
}

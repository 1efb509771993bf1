//! The API's contract as a client reads it: every answer has the `{"error": …}` body (405 and
//! unknown paths included), and the OpenAPI document lists every operation with the shared
//! answers and the naming rules as patterns.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use satusky_server::{AppState, Settings};
use satusky_store::Store;
use serde_json::Value;
use tower::ServiceExt;

async fn router() -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite_file(&dir.path().join("state.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let app = satusky_server::router(AppState::new(store, Settings::default()));
    (dir, app)
}

async fn call(app: &axum::Router, method: &str, path: &str) -> (StatusCode, String, Value) {
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        ctype,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_answer_with_the_error_body() {
    let (_dir, app) = router().await;
    for (method, path, status) in [
        ("DELETE", "/v1/whoami", StatusCode::METHOD_NOT_ALLOWED),
        ("POST", "/healthz", StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "/v1/nothing-here", StatusCode::NOT_FOUND),
    ] {
        let (got, ctype, body) = call(&app, method, path).await;
        assert_eq!(got, status, "{method} {path}");
        assert_eq!(ctype, "application/json", "{method} {path}");
        assert!(
            body["error"]["message"].is_string(),
            "{method} {path}: {body}"
        );
    }
}

#[tokio::test]
async fn the_document_lists_every_operation_with_the_shared_answers_and_name_rules() {
    let (_dir, app) = router().await;
    let (status, _, doc) = call(&app, "GET", "/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for served in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/openapi.json",
        "/v1/whoami",
    ] {
        assert!(
            paths.contains_key(served),
            "{served} is not in the document"
        );
    }
    let mut org_params = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |code: &str| responses.contains_key(code);
            let what = format!("{method} {path}");
            if path.starts_with("/v1/orgs/") {
                for code in ["400", "401", "403", "404", "500"] {
                    assert!(has(code), "{what} does not document {code}");
                }
                let error_ref = &responses["404"]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(error_ref, "#/components/schemas/ApiError", "{what}");
            }
            if op["requestBody"]["content"]["application/json"].is_object() {
                for code in ["413", "415", "422"] {
                    assert!(has(code), "{what} takes JSON but does not document {code}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" && p["name"] == "org" {
                    assert_eq!(p["schema"]["pattern"], "^[a-z][a-z0-9]{0,19}$", "{what}");
                    org_params += 1;
                }
                if p["in"] == "path" && p["name"] == "app" {
                    assert_eq!(p["schema"]["maxLength"], 40, "{what}");
                }
            }
        }
    }
    assert!(
        org_params > 5,
        "org parameters carry the rule ({org_params})"
    );
    let spec = &doc["components"]["schemas"]["AppSpec"]["properties"];
    assert!(
        spec["name"]["pattern"]
            .as_str()
            .unwrap()
            .starts_with("^[a-z]"),
        "{spec}"
    );
    assert_eq!(spec["cpu"]["pattern"], satusky_core::quantity::CPU_PATTERN);
    assert_eq!(
        spec["memory"]["pattern"],
        satusky_core::quantity::BYTES_PATTERN
    );
    assert_eq!(
        spec["image"]["maxLength"], 512,
        "spec limits are published as bounds"
    );
    let checks = &doc["components"]["schemas"]["ChecksSpec"]["properties"];
    assert_eq!(checks["path"]["maxLength"], 2048);
    // Destroy keeps volumes unless asked: the query parameter and both lists are published.
    let destroy = &doc["paths"]["/v1/orgs/{org}/apps/{app}"]["delete"];
    let purge = destroy["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "purge_volumes")
        .unwrap_or_else(|| panic!("no purge_volumes: {destroy}"));
    assert_eq!(
        (&purge["in"], &purge["schema"]["type"]),
        (&"query".into(), &"boolean".into())
    );
    let deleted = &doc["components"]["schemas"]["AppDeleted"]["properties"];
    assert!(deleted["volumes_kept"].is_object() && deleted["volumes_purged"].is_object());
}

/// A serde error quotes the offending value; the answer stays short whatever its size.
#[tokio::test]
async fn a_type_error_does_not_echo_a_huge_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite_file(&dir.path().join("state.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.ensure_org("acme").await.unwrap();
    let token = store
        .create_token("acme", satusky_types::Role::Admin)
        .await
        .unwrap();
    let app = satusky_server::router(AppState::new(store, Settings::default()));
    let body = serde_json::json!({"spec": {"name": "web", "port": "x".repeat(500_000)}});
    let res = app
        .oneshot(
            Request::put("/v1/orgs/acme/apps/web")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("spec.port"), "{msg}");
    assert!(bytes.len() < 1024, "{} bytes: {msg}", bytes.len());
}

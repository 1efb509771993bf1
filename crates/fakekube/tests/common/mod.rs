//! Shared helpers for fakekube's integration tests: a fake with an in-process client, raw
//! HTTP requests against the router (to check exact bodies and status codes), and small
//! object builders.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use fakekube::FakeKube;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A fresh fake and a client over its router.
pub fn fake() -> (FakeKube, Client) {
    let f = FakeKube::new();
    let c = f.client();
    (f, c)
}

/// Create a namespace.
pub async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

/// A Deployment with one container.
pub fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(deployment_json(name, image, replicas)).expect("deployment")
}

/// The same Deployment as JSON (for apply configurations).
pub fn deployment_json(name: &str, image: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]}
            }
        }
    })
}

/// The HTTPRoute resource (Gateway API v1).
pub fn httproute_resource() -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "HTTPRoute".into(),
        plural: "httproutes".into(),
    }
}

/// Send a raw request to the router; returns the status and the JSON body (or a string
/// value for non-JSON bodies).
pub async fn raw(
    fake: &FakeKube,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    let req = b.body(Body::from(body.to_string())).expect("request");
    let res = fake.router().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

/// The error of a failed kube call as its Status.
pub fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

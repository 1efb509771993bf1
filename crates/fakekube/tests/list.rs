//! LIST: label selectors (every operator), field selectors, pagination with limit and
//! continue from a consistent snapshot, and 410 for an expired continue token.

mod common;

use axum::http::{Method, StatusCode};
use common::{api_error, fake, raw};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};

async fn seed(api: &Api<ConfigMap>) {
    let items = [
        ("a", json!({"app": "web", "tier": "front"})),
        ("b", json!({"app": "web", "tier": "back"})),
        ("c", json!({"app": "api"})),
        ("d", json!({"app": "db", "tier": "back"})),
        ("e", json!({})),
    ];
    for (name, labels) in items {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                .expect("cm");
        api.create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
}

async fn names(api: &Api<ConfigMap>, lp: &ListParams) -> Vec<String> {
    api.list(lp)
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect()
}

#[tokio::test]
async fn label_selectors() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api).await;
    let sel = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(&api, &sel("app=web")).await, ["a", "b"]);
    assert_eq!(names(&api, &sel("app==web,tier=back")).await, ["b"]);
    assert_eq!(names(&api, &sel("app!=web")).await, ["c", "d", "e"]);
    assert_eq!(names(&api, &sel("app in (api,db)")).await, ["c", "d"]);
    assert_eq!(
        names(&api, &sel("tier notin (back)")).await,
        ["a", "c", "e"]
    );
    assert_eq!(names(&api, &sel("tier")).await, ["a", "b", "d"]);
    assert_eq!(names(&api, &sel("!tier")).await, ["c", "e"]);
    let s = api_error(api.list(&sel("app in web")).await);
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
}

#[tokio::test]
async fn field_selectors() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    seed(&api).await;
    assert_eq!(
        names(&api, &ListParams::default().fields("metadata.name=c")).await,
        ["c"]
    );
    assert_eq!(
        names(
            &api,
            &ListParams::default().fields("metadata.name!=c,metadata.namespace=default")
        )
        .await,
        ["a", "b", "d", "e"]
    );
    let all: Api<ConfigMap> = Api::all(client);
    assert_eq!(
        names(
            &all,
            &ListParams::default().fields("metadata.namespace=kube-system")
        )
        .await,
        Vec::<String>::new()
    );
    let s = api_error(api.list(&ListParams::default().fields("data.x=1")).await);
    assert_eq!(s.code, 400);
    assert!(s.message.contains("field label not supported"));
}

#[tokio::test]
async fn pagination_is_a_consistent_snapshot() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api).await;
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    let list_rv = first.metadata.resource_version.clone().expect("list rv");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().expect("continue");
    // A change between pages is not seen by the rest of this list.
    let late: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "bb"}})).expect("cm");
    api.create(&PostParams::default(), &late)
        .await
        .expect("create");
    let mut seen: Vec<String> = first
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    let mut token = Some(token);
    while let Some(t) = token {
        let page = api
            .list(&ListParams::default().limit(2).continue_token(&t))
            .await
            .expect("page");
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(list_rv.as_str())
        );
        seen.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        token = page.metadata.continue_.filter(|c| !c.is_empty());
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    // A new list sees the new object.
    assert_eq!(names(&api, &ListParams::default()).await.len(), 6);
}

#[tokio::test]
async fn list_metadata_and_items() {
    let (fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api).await;
    let (code, body) = raw(
        &fake,
        Method::GET,
        "/api/v1/namespaces/default/configmaps?labelSelector=app%3Dweb",
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["kind"], "ConfigMapList");
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(
        body["metadata"]["resourceVersion"],
        fake.resource_version().to_string()
    );
    // Built-in list items carry no apiVersion/kind (as from kube-apiserver).
    assert_eq!(body["items"][0].get("kind"), None);
    assert_eq!(body["items"][0]["metadata"]["name"], "a");
}

#[tokio::test]
async fn an_expired_continue_token_is_410() {
    let (fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api).await;
    let first = api
        .list(&ListParams::default().limit(1))
        .await
        .expect("page 1");
    let token = first.metadata.continue_.expect("continue");
    // Enough newer paginated lists evict the snapshot, as compaction would.
    for _ in 0..300 {
        api.list(&ListParams::default().limit(1))
            .await
            .expect("list");
    }
    let s = api_error(
        api.list(&ListParams::default().limit(1).continue_token(&token))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
    let (code, body): (StatusCode, Value) = raw(
        &fake,
        Method::GET,
        &format!("/api/v1/namespaces/default/configmaps?limit=1&continue={token}"),
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::GONE);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["status"], "Failure");
}

#[tokio::test]
async fn metadata_only_representations() {
    let (fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    seed(&api).await;
    let m = api.get_metadata("a").await.expect("get_metadata");
    assert_eq!(
        m.types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
    assert_eq!(
        m.metadata
            .labels
            .unwrap_or_default()
            .get("app")
            .map(String::as_str),
        Some("web")
    );
    let l = api
        .list_metadata(&ListParams::default().labels("app=web"))
        .await
        .expect("list_metadata");
    assert_eq!(l.items.len(), 2);
    assert_eq!(l.types.kind, "PartialObjectMetadataList");
    let (code, body) = raw_accept(
        &fake,
        "/api/v1/namespaces/default/configmaps/a",
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        body.get("data").is_none(),
        "no data in a metadata-only object"
    );
}

async fn raw_accept(fake: &fakekube::FakeKube, uri: &str, accept: &str) -> (StatusCode, Value) {
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .uri(uri)
        .header("accept", accept)
        .body(axum::body::Body::empty())
        .expect("req");
    let res = fake.router().oneshot(req).await.expect("res");
    let code = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    (code, serde_json::from_slice(&bytes).unwrap_or_default())
}

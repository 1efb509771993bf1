//! Writes other than apply: the status subresource, merge / JSON / strategic merge patches,
//! delete with finalizers, cascading and namespaces, dry runs.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{api_error, deployment, fake, namespace, raw};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let (_fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let mut d = deployment("web", "img:1", 2);
    d.status = serde_json::from_value(json!({"replicas": 9})).ok();
    let created = api
        .create(&PostParams::default(), &d)
        .await
        .expect("create");
    assert!(created.status.is_none(), "status is dropped on create");

    // PUT /status changes only status, even if the body changes the spec.
    let mut body = created.clone();
    body.status = serde_json::from_value(json!({"replicas": 2, "readyReplicas": 1})).ok();
    body.spec.as_mut().expect("spec").replicas = Some(7);
    let after = api
        .replace_status("web", &PostParams::default(), &body)
        .await
        .expect("status put");
    assert_eq!(
        after.status.as_ref().and_then(|s| s.ready_replicas),
        Some(1)
    );
    assert_eq!(
        after.spec.as_ref().and_then(|s| s.replicas),
        Some(2),
        "spec untouched through /status"
    );
    assert_eq!(after.metadata.generation, Some(1));

    // Writes to the main resource keep the stored status.
    let mut main = after.clone();
    main.status = serde_json::from_value(json!({"replicas": 0})).ok();
    main.spec.as_mut().expect("spec").replicas = Some(3);
    let after = api
        .replace("web", &PostParams::default(), &main)
        .await
        .expect("put");
    assert_eq!(
        after.status.as_ref().and_then(|s| s.ready_replicas),
        Some(1),
        "status ignored on the main resource"
    );
    assert_eq!(after.spec.as_ref().and_then(|s| s.replicas), Some(3));

    // Merge patch and apply on /status.
    let p = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 3}})),
        )
        .await
        .expect("status patch");
    assert_eq!(p.status.as_ref().and_then(|s| s.ready_replicas), Some(3));
    let applied = api.patch_status("web", &PatchParams::apply("ctrl"), &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"availableReplicas": 3}}))).await.expect("status apply");
    assert_eq!(
        applied.status.as_ref().and_then(|s| s.available_replicas),
        Some(3)
    );
    let entries = applied.metadata.managed_fields.unwrap_or_default();
    let ctrl = entries
        .iter()
        .find(|e| e.manager.as_deref() == Some("ctrl"))
        .expect("ctrl entry");
    assert_eq!(ctrl.subresource.as_deref(), Some("status"));
    assert_eq!(ctrl.operation.as_deref(), Some("Apply"));
}

#[tokio::test]
async fn patch_types() {
    let (fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", "img:1", 1))
        .await
        .expect("create");
    // JSON merge patch: null removes.
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": null, "x": "1"}}})),
        )
        .await
        .expect("merge");
    let labels = d.metadata.labels.unwrap_or_default();
    assert!(!labels.contains_key("app") && labels.contains_key("x"));
    // JSON patch (kube's `jsonpatch` feature is off in this workspace: sent raw).
    let ops = json!([
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}
    ]);
    let uri = "/apis/apps/v1/namespaces/default/deployments/web";
    let (code, d) = raw(
        &fake,
        Method::PATCH,
        uri,
        Some("application/json-patch+json"),
        &ops.to_string(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["annotations"]["a"], "b");
    // Strategic merge patch: containers merge by name.
    let d = api.patch("web", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:1"}]}}}}))).await.expect("smp");
    let names: Vec<String> = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    assert_eq!(names, ["web", "side"]);
    // A JSON patch test failure is 422; an unknown content type 415.
    let ops = json!([{"op": "test", "path": "/spec/replicas", "value": 99}]);
    let (code, _) = raw(
        &fake,
        Method::PATCH,
        uri,
        Some("application/json-patch+json"),
        &ops.to_string(),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, _) = raw(
        &fake,
        Method::PATCH,
        "/apis/apps/v1/namespaces/default/deployments/web",
        Some("text/plain"),
        "{}",
    )
    .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A merge patch carrying a stale resourceVersion is a 409 precondition failure.
    let s = api_error(
        api.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}})),
        )
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
}

#[tokio::test]
async fn delete_waits_for_finalizers() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "f", "finalizers": ["satusky.io/cleanup"]}}),
    )
    .expect("cm");
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let mut events = api
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .expect("watch")
        .boxed();
    assert!(matches!(
        events.next().await,
        Some(Ok(WatchEvent::Added(_)))
    ));

    let answer = api
        .delete("f", &DeleteParams::default())
        .await
        .expect("delete");
    let obj = answer
        .left()
        .expect("a pending deletion answers the object");
    assert!(obj.metadata.deletion_timestamp.is_some());
    let pending = api.get("f").await.expect("still there");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(matches!(
        events.next().await,
        Some(Ok(WatchEvent::Modified(_)))
    ));
    // No new finalizers while deleting.
    let s = api_error(
        api.patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["satusky.io/cleanup", "other"]}})),
        )
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    // Removing the last finalizer finishes the deletion.
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizer");
    assert_eq!(api_error(api.get("f").await).code, 404);
    let ev = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("event");
    assert!(matches!(ev, Some(Ok(WatchEvent::Deleted(_)))));

    // Without finalizers, delete answers a Success status.
    let plain: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "p"}})).expect("cm");
    api.create(&PostParams::default(), &plain)
        .await
        .expect("create");
    let answer = api
        .delete("p", &DeleteParams::default())
        .await
        .expect("delete");
    let status = answer
        .right()
        .expect("a finished deletion answers a Status");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    assert_eq!(
        api_error(api.delete("p", &DeleteParams::default()).await).code,
        404
    );
}

#[tokio::test]
async fn delete_cascades_to_owned_objects_unless_orphaned() {
    let (fake, client) = fake();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    deploys
        .create(&PostParams::default(), &deployment("web", "img:1", 1))
        .await
        .expect("create");
    deploys
        .create(&PostParams::default(), &deployment("api", "img:1", 1))
        .await
        .expect("create");
    fake.complete_rollout("default", "web")
        .expect("rollout web");
    fake.complete_rollout("default", "api")
        .expect("rollout api");
    assert_eq!(
        rss.list(&ListParams::default())
            .await
            .expect("rs")
            .items
            .len(),
        2
    );
    deploys
        .delete("web", &DeleteParams::background())
        .await
        .expect("delete");
    let left: Vec<String> = rss
        .list(&ListParams::default())
        .await
        .expect("rs")
        .items
        .into_iter()
        .filter_map(|r| r.metadata.name)
        .collect();
    assert!(left.len() == 1 && left[0].starts_with("api-"), "{left:?}");
    deploys
        .delete("api", &DeleteParams::orphan())
        .await
        .expect("delete");
    assert_eq!(
        rss.list(&ListParams::default())
            .await
            .expect("rs")
            .items
            .len(),
        1,
        "orphaned"
    );
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_content() {
    let (_fake, client) = fake();
    namespace(&client, "acme").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "acme");
    let held: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["x/y"]}}))
            .expect("cm");
    cms.create(&PostParams::default(), &held)
        .await
        .expect("held");
    let plain: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "plain"}})).expect("cm");
    cms.create(&PostParams::default(), &plain)
        .await
        .expect("plain");
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("acme", &DeleteParams::default())
        .await
        .expect("delete ns");
    let ns = nss.get("acme").await.expect("terminating");
    assert_eq!(
        ns.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    assert_eq!(api_error(cms.get("plain").await).code, 404);
    // Nothing new may be created while it terminates.
    let s = api_error(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "n"}})).expect("cm"),
        )
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    // Releasing the last object lets the namespace go.
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release");
    assert_eq!(api_error(nss.get("acme").await).code, 404);
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let (fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let before = fake.resource_version();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "d"}})).expect("cm");
    let out = api
        .create(
            &PostParams {
                dry_run: true,
                field_manager: None,
            },
            &cm,
        )
        .await
        .expect("dry create");
    assert_eq!(out.metadata.name.as_deref(), Some("d"));
    assert_eq!(fake.resource_version(), before);
    assert_eq!(api_error(api.get("d").await).code, 404);
}

#[tokio::test]
async fn delete_collection_honours_selectors() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for (n, app) in [("a", "web"), ("b", "web"), ("c", "api")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": n, "labels": {"app": app}}}))
                .expect("cm");
        api.create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=web"),
    )
    .await
    .expect("delete collection");
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn secret_string_data_becomes_data() {
    let (_fake, client) = fake();
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "default");
    let cfg = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"TOKEN": "hunter2"}});
    let s = api
        .patch("s", &PatchParams::apply("satusky"), &Patch::Apply(&cfg))
        .await
        .expect("apply");
    let data = s.data.expect("data");
    assert_eq!(
        data.get("TOKEN").map(|b| b.0.as_slice()),
        Some(b"hunter2".as_slice())
    );
    assert!(s.string_data.is_none(), "stringData is write-only");
}

#[tokio::test]
async fn secret_data_round_trips_as_base64_and_must_be_base64() {
    let (fake, client) = fake();
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "default");
    // "hunter2" as the JSON form of []byte.
    let cfg = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"TOKEN": "aHVudGVyMg=="}});
    let s = api
        .patch("s", &PatchParams::apply("satusky"), &Patch::Apply(&cfg))
        .await
        .expect("apply");
    assert_eq!(
        s.data.expect("data").get("TOKEN").map(|b| b.0.as_slice()),
        Some(b"hunter2".as_slice())
    );
    let stored = fake.object("v1", "Secret", "default", "s").expect("stored");
    assert_eq!(
        stored["data"],
        json!({"TOKEN": "aHVudGVyMg=="}),
        "stored as sent"
    );

    // Plain text where base64 belongs is refused, naming the key and not the value.
    let bad = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"TOKEN": "hunter2!"}});
    let err = api
        .patch("s", &PatchParams::apply("satusky"), &Patch::Apply(&bad))
        .await
        .expect_err("not base64");
    let kube::Error::Api(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert!(
        status.message.contains("data[TOKEN]") && !status.message.contains("hunter2"),
        "{}",
        status.message
    );
    let stored = fake.object("v1", "Secret", "default", "s").expect("stored");
    assert_eq!(
        stored["data"],
        json!({"TOKEN": "aHVudGVyMg=="}),
        "unchanged"
    );
}

#[tokio::test]
async fn all_objects_holds_every_kind_and_namespace() {
    let (fake, client) = fake();
    namespace(&client, "team").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    cms.patch("c", &PatchParams::apply("satusky"), &Patch::Apply(&cm))
        .await
        .expect("apply");
    let all = fake.all_objects();
    let names: Vec<(String, String)> = all
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_owned(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert!(
        names.contains(&("Namespace".into(), "team".into())),
        "{names:?}"
    );
    assert!(
        names.contains(&("Namespace".into(), "default".into())),
        "{names:?}"
    );
    let c = all
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "c")
        .expect("the ConfigMap");
    assert!(
        c["metadata"]["managedFields"].is_array(),
        "stored form: {c}"
    );
}

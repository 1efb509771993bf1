//! Server-side apply: create-on-apply, merge with other managers, conflicts and force,
//! managedFields in the real format, pruning of fields a manager stopped applying, keyed
//! lists, YAML bodies and the required fieldManager.

mod common;

use axum::http::{Method, StatusCode};
use common::{api_error, deployment_json, fake, raw};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

fn managed(obj: &impl serde::Serialize) -> Vec<Value> {
    let v = serde_json::to_value(obj).expect("json");
    v["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry(obj: &impl serde::Serialize, manager: &str) -> Value {
    managed(obj)
        .into_iter()
        .find(|e| e["manager"] == manager)
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn apply_creates_and_records_managed_fields() {
    let (fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let d = api
        .patch(
            "web",
            &PatchParams::apply("satusky"),
            &Patch::Apply(deployment_json("web", "img:1", 2)),
        )
        .await
        .expect("apply");
    assert_eq!(d.metadata.generation, Some(1));
    let e = entry(&d, "satusky");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        e["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}}
                }
            }
        })
    );
    // Creating through apply answers 201, applying again 200.
    let body = deployment_json("api", "img:1", 1).to_string();
    let (code, _) = raw(
        &fake,
        Method::PATCH,
        "/apis/apps/v1/namespaces/default/deployments/api?fieldManager=x",
        Some("application/apply-patch+yaml"),
        &body,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, _) = raw(
        &fake,
        Method::PATCH,
        "/apis/apps/v1/namespaces/default/deployments/api?fieldManager=x",
        Some("application/apply-patch+yaml"),
        &body,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn two_managers_merge_and_conflict_on_differing_values() {
    let (_fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &PatchParams::apply("satusky"),
        &Patch::Apply(deployment_json("web", "img:1", 2)),
    )
    .await
    .expect("apply");

    // Another manager adds its own field: merged, both entries present.
    let hpa_like = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "annotations": {"owner": "ops"}}});
    let d = api
        .patch("web", &PatchParams::apply("ops"), &Patch::Apply(&hpa_like))
        .await
        .expect("merge");
    assert_eq!(
        d.spec.as_ref().and_then(|s| s.replicas),
        Some(2),
        "satusky's fields stay"
    );
    assert_eq!(
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("owner"))
            .map(String::as_str),
        Some("ops")
    );
    assert_eq!(
        entry(&d, "ops")["fieldsV1"],
        json!({"f:metadata": {"f:annotations": {"f:owner": {}}}})
    );

    // Same value for a field someone else owns: shared, no conflict.
    let same = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    api.patch("web", &PatchParams::apply("ops"), &Patch::Apply(&same))
        .await
        .expect("shared ownership");

    // A different value: 409 naming the field and the owner.
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let s = api_error(
        api.patch("web", &PatchParams::apply("ops"), &Patch::Apply(&scale))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"satusky\" using apps/v1: .spec.replicas"
    );
    let causes = s.details.map(|d| d.causes).unwrap_or_default();
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].field, ".spec.replicas");
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].message, "conflict with \"satusky\" using apps/v1");
    assert_eq!(
        api.get("web")
            .await
            .expect("get")
            .spec
            .and_then(|s| s.replicas),
        Some(2),
        "nothing changed"
    );

    // With force the field moves to the applier.
    let d = api
        .patch(
            "web",
            &PatchParams::apply("ops").force(),
            &Patch::Apply(&scale),
        )
        .await
        .expect("forced");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(5));
    assert!(
        entry(&d, "ops")["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_some()
    );
    assert!(
        entry(&d, "satusky")["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_none(),
        "ownership moved"
    );
    // …so satusky applying its own value now conflicts with ops.
    let s = api_error(
        api.patch(
            "web",
            &PatchParams::apply("satusky"),
            &Patch::Apply(deployment_json("web", "img:1", 2)),
        )
        .await,
    );
    assert!(
        s.message
            .contains("conflict with \"ops\" using apps/v1: .spec.replicas"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn conflicts_list_every_field_and_manager() {
    let (_fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.patch(
        "web",
        &PatchParams::apply("satusky"),
        &Patch::Apply(deployment_json("web", "img:1", 2)),
    )
    .await
    .expect("apply");
    let editor = PatchParams {
        field_manager: Some("editor".into()),
        ..PatchParams::default()
    };
    api.patch(
        "web",
        &editor,
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .expect("update");
    let cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"team": "b"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "img:2"}]}}}});
    let s = api_error(
        api.patch("web", &PatchParams::apply("other"), &Patch::Apply(&cfg))
            .await,
    );
    assert!(
        s.message.starts_with("Apply failed with 3 conflicts: "),
        "{}",
        s.message
    );
    assert!(
        s.message
            .contains("- .spec.template.spec.containers[name=\"web\"].image"),
        "{}",
        s.message
    );
    assert!(
        s.message
            .contains("conflicts with \"editor\" using apps/v1 at "),
        "update managers are named with their time: {}",
        s.message
    );
    let fields: Vec<String> = s
        .details
        .map(|d| d.causes.into_iter().map(|c| c.field).collect())
        .unwrap_or_default();
    assert!(
        fields.contains(&".metadata.labels.team".to_string())
            && fields.contains(&".spec.replicas".to_string())
    );
}

#[tokio::test]
async fn fields_no_longer_applied_are_removed_unless_owned_by_others() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let pp = PatchParams::apply("satusky");
    let v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "1"}}, "data": {"x": "1", "y": "1", "z": "1"}});
    api.patch("c", &pp, &Patch::Apply(&v1))
        .await
        .expect("apply");
    // Someone else co-owns z.
    let co = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"z": "1"}});
    api.patch("c", &PatchParams::apply("other"), &Patch::Apply(&co))
        .await
        .expect("co-own");
    let v2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "2"}});
    let c = api
        .patch("c", &pp, &Patch::Apply(&v2))
        .await
        .expect("apply v2");
    let data = c.data.clone().unwrap_or_default();
    assert_eq!(data.get("x").map(String::as_str), Some("2"));
    assert!(!data.contains_key("y"), "y was only satusky's: removed");
    assert_eq!(
        data.get("z").map(String::as_str),
        Some("1"),
        "z is still owned by other: kept"
    );
    let labels = c.metadata.labels.clone().unwrap_or_default();
    assert!(labels.contains_key("a") && !labels.contains_key("b"));
}

#[tokio::test]
async fn keyed_lists_merge_by_key_and_other_lists_are_atomic() {
    let (_fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.patch(
        "web",
        &PatchParams::apply("satusky"),
        &Patch::Apply(deployment_json("web", "img:1", 1)),
    )
    .await
    .expect("apply");
    // A sidecar injector owns its own container.
    let sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}}});
    let d = api
        .patch(
            "web",
            &PatchParams::apply("injector"),
            &Patch::Apply(&sidecar),
        )
        .await
        .expect("sidecar");
    let names = |d: &Deployment| -> Vec<String> {
        d.spec
            .as_ref()
            .map(|s| {
                s.template
                    .spec
                    .as_ref()
                    .map(|p| p.containers.iter().map(|c| c.name.clone()).collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&d), ["web", "proxy"]);
    // Re-applying satusky's config (image change) keeps the injector's container.
    let d = api
        .patch(
            "web",
            &PatchParams::apply("satusky"),
            &Patch::Apply(deployment_json("web", "img:2", 1)),
        )
        .await
        .expect("reapply");
    assert_eq!(names(&d), ["web", "proxy"]);
    // HTTPRoute hostnames are atomic (as in the Gateway API CRD): one manager's list replaces it.
    let routes: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client, "default", &common::httproute_resource());
    let r = |hosts: Value| json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"}, "spec": {"hostnames": hosts}});
    routes
        .patch(
            "r",
            &PatchParams::apply("satusky"),
            &Patch::Apply(r(json!(["a.example", "b.example"]))),
        )
        .await
        .expect("route");
    let got = routes
        .patch(
            "r",
            &PatchParams::apply("satusky"),
            &Patch::Apply(r(json!(["a.example"]))),
        )
        .await
        .expect("route");
    assert_eq!(got.data["spec"]["hostnames"], json!(["a.example"]));
    let e = entry(&got, "satusky");
    assert_eq!(e["fieldsV1"]["f:spec"], json!({"f:hostnames": {}}));
}

#[tokio::test]
async fn yaml_bodies_and_required_field_manager() {
    let (fake, _client) = fake();
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n";
    let (code, body) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/y?fieldManager=m",
        Some("application/apply-patch+yaml"),
        yaml,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(body["data"]["k"], "v");
    let (code, body) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/y",
        Some("application/apply-patch+yaml"),
        yaml,
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let (code, _) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/y?force=true",
        Some("application/merge-patch+json"),
        "{}",
    )
    .await;
    assert_eq!(
        code,
        StatusCode::UNPROCESSABLE_ENTITY,
        "force is only for apply"
    );
    let (code, _) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/y?fieldManager=m",
        Some("application/apply-patch+yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "the name must match the URL");
}

#[tokio::test]
async fn updates_are_tracked_as_update_entries() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.patch("c", &PatchParams::apply("satusky"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}))).await.expect("apply");
    let pp = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    let c = api
        .patch(
            "c",
            &pp,
            &Patch::Merge(json!({"data": {"a": "2", "b": "1"}})),
        )
        .await
        .expect("edit");
    let e = entry(&c, "kubectl-edit");
    assert_eq!(e["operation"], "Update");
    assert_eq!(e["fieldsV1"], json!({"f:data": {"f:a": {}, "f:b": {}}}));
    assert!(
        entry(&c, "satusky").is_null(),
        "the edit took satusky's only field"
    );
}

//! Core and named-group paths, namespaced and cluster-scoped, multi-version serving, the
//! namespace rules, discovery, and Status error bodies (404, 409, 410, 422).

mod common;

use axum::http::{Method, StatusCode};
use common::{api_error, deployment, fake, httproute_resource, namespace, raw};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).expect("cm")
}

#[tokio::test]
async fn core_and_group_paths_namespaced_and_cluster_scoped() {
    let (fake, client) = fake();
    namespace(&client, "acme").await;
    namespace(&client, "other").await;
    let pp = PostParams::default();

    // core/v1, namespaced
    Api::<ConfigMap>::namespaced(client.clone(), "acme")
        .create(&pp, &cm("a"))
        .await
        .expect("cm a");
    Api::<ConfigMap>::namespaced(client.clone(), "other")
        .create(&pp, &cm("b"))
        .await
        .expect("cm b");
    // apps/v1, namespaced
    let d = Api::<Deployment>::namespaced(client.clone(), "acme")
        .create(&pp, &deployment("web", "img:1", 1))
        .await
        .expect("deploy");
    assert_eq!(d.metadata.namespace.as_deref(), Some("acme"));
    // a CRD group, namespaced
    let routes: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "acme", &httproute_resource());
    let mut r = DynamicObject::new("web", &httproute_resource());
    r.data = json!({"spec": {"hostnames": ["web.example.net"]}});
    let r = routes.create(&pp, &r).await.expect("route");
    assert_eq!(r.types.as_ref().map(|t| t.kind.as_str()), Some("HTTPRoute"));
    // a CRD group, cluster-scoped
    let ci = ApiResource {
        group: "cert-manager.io".into(),
        version: "v1".into(),
        api_version: "cert-manager.io/v1".into(),
        kind: "ClusterIssuer".into(),
        plural: "clusterissuers".into(),
    };
    let issuers: Api<DynamicObject> = Api::all_with(client.clone(), &ci);
    let mut i = DynamicObject::new("letsencrypt", &ci);
    i.data = json!({"spec": {"acme": {"server": "https://acme.example"}}});
    let i = issuers.create(&pp, &i).await.expect("issuer");
    assert!(
        i.metadata.namespace.is_none(),
        "cluster-scoped objects carry no namespace"
    );

    // Reads through every path shape.
    assert_eq!(
        Api::<ConfigMap>::namespaced(client.clone(), "acme")
            .get("a")
            .await
            .expect("get")
            .data
            .and_then(|d| d.get("k").cloned())
            .as_deref(),
        Some("v")
    );
    assert!(routes.get("web").await.is_ok());
    assert!(issuers.get("letsencrypt").await.is_ok());
    let all: Vec<String> = Api::<ConfigMap>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("list all")
        .items
        .into_iter()
        .map(|c| {
            format!(
                "{}/{}",
                c.metadata.namespace.unwrap_or_default(),
                c.metadata.name.unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(all, vec!["acme/a", "other/b"]);
    let in_acme = Api::<ConfigMap>::namespaced(client.clone(), "acme")
        .list(&ListParams::default())
        .await
        .expect("list");
    assert_eq!(in_acme.items.len(), 1);

    // Namespace status subresource path (/api/v1/namespaces/{name}/status) is not a resource list.
    let (code, ns) = raw(
        &fake,
        Method::GET,
        "/api/v1/namespaces/acme/status",
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ns["status"]["phase"], "Active");
    // Unknown resource types are 404 Status bodies.
    let (code, body) = raw(
        &fake,
        Method::GET,
        "/apis/apps/v1/namespaces/acme/statefulsets",
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["kind"], "Status");
}

#[tokio::test]
async fn resources_are_served_at_every_version_of_their_group() {
    let (_fake, client) = fake();
    let v1beta1 = ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "gateway.networking.k8s.io/v1beta1".into(),
        kind: "ReferenceGrant".into(),
        plural: "referencegrants".into(),
    };
    let v1 = ApiResource {
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        ..v1beta1.clone()
    };
    let mut g = DynamicObject::new("allow", &v1beta1);
    g.data = json!({"spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "default"}], "to": [{"group": "", "kind": "Service"}]}});
    Api::<DynamicObject>::namespaced_with(client.clone(), "default", &v1beta1)
        .create(&PostParams::default(), &g)
        .await
        .expect("create v1beta1");
    let read = Api::<DynamicObject>::namespaced_with(client.clone(), "default", &v1)
        .get("allow")
        .await
        .expect("read at v1");
    assert_eq!(
        read.types.map(|t| t.api_version).as_deref(),
        Some("gateway.networking.k8s.io/v1")
    );
    assert_eq!(read.data["spec"]["to"][0]["kind"], "Service");
}

#[tokio::test]
async fn namespaced_content_needs_an_existing_namespace() {
    let (_fake, client) = fake();
    let err = api_error(
        Api::<ConfigMap>::namespaced(client.clone(), "missing")
            .create(&PostParams::default(), &cm("a"))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "namespaces \"missing\" not found");
    // New namespaces carry the metadata.name label, as kube-apiserver sets it.
    namespace(&client, "acme").await;
    let ns = Api::<Namespace>::all(client.clone())
        .get("acme")
        .await
        .expect("ns");
    assert_eq!(
        ns.metadata
            .labels
            .unwrap_or_default()
            .get("kubernetes.io/metadata.name")
            .map(String::as_str),
        Some("acme")
    );
    // The well-known namespaces exist from the start.
    let names: Vec<String> = Api::<Namespace>::all(client)
        .list(&ListParams::default())
        .await
        .expect("ns")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()) && names.contains(&"kube-system".to_string()));
}

#[tokio::test]
async fn status_bodies_for_404_409_and_422() {
    let (fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");

    // 404: exact body shape, as kube-apiserver sends it.
    let (code, body) = raw(
        &fake,
        Method::GET,
        "/apis/apps/v1/namespaces/default/deployments/nope",
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "deployments.apps \"nope\" not found", "reason": "NotFound",
            "details": {"name": "nope", "group": "apps", "kind": "deployments"}, "code": 404
        })
    );
    let s = api_error(api.get("nope").await);
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));

    // 409 AlreadyExists.
    api.create(&PostParams::default(), &deployment("web", "img:1", 1))
        .await
        .expect("create");
    let s = api_error(
        api.create(&PostParams::default(), &deployment("web", "img:1", 1))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(s.message, "deployments.apps \"web\" already exists");

    // 409 Conflict on a stale resourceVersion.
    let mut stale = api.get("web").await.expect("get");
    let mut fresh = stale.clone();
    fresh.spec.as_mut().expect("spec").replicas = Some(3);
    api.replace("web", &PostParams::default(), &fresh)
        .await
        .expect("replace");
    stale.spec.as_mut().expect("spec").replicas = Some(5);
    let s = api_error(api.replace("web", &PostParams::default(), &stale).await);
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );

    // 422 Invalid with causes.
    let (code, body) = raw(
        &fake,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["reason"], "Invalid");
    assert_eq!(body["code"], 422);
    assert_eq!(body["details"]["kind"], "ConfigMap");
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");
    assert_eq!(body["details"]["causes"][0]["reason"], "FieldValueInvalid");
    assert!(body["message"].as_str().is_some_and(|m| {
        m.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value")
    }));
    // Invalid label values are 422 too.
    let bad: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "x", "labels": {"a": "not valid!"}}}))
            .expect("cm");
    let s = api_error(
        Api::<ConfigMap>::namespaced(client, "default")
            .create(&PostParams::default(), &bad)
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn body_must_agree_with_the_url() {
    let (fake, _client) = fake();
    let (code, body) = raw(&fake, Method::POST, "/api/v1/namespaces/default/configmaps", Some("application/json"),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"kube-system"}}"#).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(body["reason"], "BadRequest");
    let (code, _) = raw(
        &fake,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        r#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"a"}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn discovery_documents() {
    let (fake, _client) = fake();
    let (code, apis) = raw(&fake, Method::GET, "/apis", None, "").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(apis["kind"], "APIGroupList");
    let (_, core) = raw(&fake, Method::GET, "/api", None, "").await;
    assert_eq!(core["versions"], json!(["v1"]));
    let (_, apps) = raw(&fake, Method::GET, "/apis/apps/v1", None, "").await;
    let deploy = apps["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|e| e["name"] == "deployments"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    assert_eq!(deploy["kind"], "Deployment");
    assert_eq!(deploy["namespaced"], true);
    let (_, gw) = raw(
        &fake,
        Method::GET,
        "/apis/gateway.networking.k8s.io",
        None,
        "",
    )
    .await;
    assert_eq!(
        gw["preferredVersion"]["groupVersion"],
        "gateway.networking.k8s.io/v1"
    );
    let (_, v) = raw(&fake, Method::GET, "/version", None, "").await;
    assert_eq!(v["major"], "1");
    // kube-rs discovery agrees.
    let d = kube::Discovery::new(fake.client())
        .run()
        .await
        .expect("discovery");
    assert!(
        d.has_group("cert-manager.io")
            && d.has_group("gateway.networking.k8s.io")
            && d.has_group("autoscaling.k8s.io")
    );
}

#[tokio::test]
async fn cert_manager_kinds_are_discovered_with_their_scope_and_status() {
    let fake = fakekube::FakeKube::new();
    let (_, acme) = raw(
        &fake,
        Method::GET,
        "/apis/acme.cert-manager.io/v1",
        None,
        "",
    )
    .await;
    let resources = acme["resources"].as_array().cloned().unwrap_or_default();
    for (plural, kind) in [("orders", "Order"), ("challenges", "Challenge")] {
        let r = resources
            .iter()
            .find(|e| e["name"] == plural)
            .unwrap_or_else(|| panic!("{plural} in {acme}"));
        assert_eq!(
            (r["kind"].as_str(), r["namespaced"].as_bool()),
            (Some(kind), Some(true))
        );
        assert!(
            resources
                .iter()
                .any(|e| e["name"] == format!("{plural}/status")),
            "{plural}/status is a subresource"
        );
    }
    let (_, cm) = raw(&fake, Method::GET, "/apis/cert-manager.io/v1", None, "").await;
    let names: Vec<&str> = cm["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for plural in ["certificates", "certificaterequests", "certificates/status"] {
        assert!(names.contains(&plural), "{plural} in {names:?}");
    }
    // kube-rs resolves every kind of the chain by group/version/kind, as the runtime does.
    let d = kube::Discovery::new(fake.client())
        .run()
        .await
        .expect("discovery");
    for (group, kind) in [
        ("cert-manager.io", "Certificate"),
        ("cert-manager.io", "CertificateRequest"),
        ("acme.cert-manager.io", "Order"),
        ("acme.cert-manager.io", "Challenge"),
    ] {
        let gvk = kube::core::GroupVersionKind::gvk(group, "v1", kind);
        let (ar, caps) = d.resolve_gvk(&gvk).unwrap_or_else(|| panic!("{kind}"));
        assert_eq!(ar.api_version, format!("{group}/v1"));
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced, "{kind}");
    }
}

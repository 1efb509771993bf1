//! The control endpoint (`/fakekube/v1/...`) and the test-support controls: Job failure
//! over HTTP, rollouts driven over HTTP, injected errors, auto mode and request counters.

mod common;

use axum::http::{Method, StatusCode};
use common::{api_error, deployment, fake, httproute_resource, raw};
use fakekube::{Auto, Fault};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn condition<'a>(conds: &'a Value, t: &str) -> &'a Value {
    conds
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn failed_jobs_over_the_control_endpoint() {
    let (fake, client) = fake();
    let jobs: Api<Job> = Api::namespaced(client, "default");
    let job: Job = serde_json::from_value(json!({"metadata": {"name": "b"}, "spec": {"template": {"spec": {"containers": [{"name": "kaniko", "image": "k"}]}}}})).expect("job");
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create");
    let (code, j) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/jobs/default/b/fail",
        None,
        r#"{"logs":"error: no Dockerfile\n","message":"no Dockerfile","exitCode":2}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(j["status"]["failed"], 1);
    assert_eq!(
        condition(&j["status"]["conditions"], "Failed")["reason"],
        "BackoffLimitExceeded"
    );
    let (code, _) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/jobs/default/missing/complete",
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn control_endpoint_drives_rollouts_and_routes() {
    let (fake, client) = fake();
    Api::<Deployment>::namespaced(client, "default")
        .create(&PostParams::default(), &deployment("web", "img:1", 2))
        .await
        .expect("create");
    let (code, d) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/deployments/default/web/progress",
        None,
        r#"{"ready":1}"#,
    )
    .await;
    assert_eq!(
        (code, d["status"]["readyReplicas"].clone()),
        (StatusCode::OK, json!(1))
    );
    let (_, pod) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/deployments/default/web/crashloop",
        None,
        r#"{"message":"boom"}"#,
    )
    .await;
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "boom"
    );
    let (_, d) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/deployments/default/web/complete",
        None,
        "",
    )
    .await;
    assert_eq!(d["status"]["availableReplicas"], 2);
    let (code, _) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/deployments/default/web/explode",
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn injected_errors_hit_the_next_matching_requests() {
    let (fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", "img:1", 1))
        .await
        .expect("create");
    fake.inject(Fault {
        path: "/apis/apps/v1/namespaces/default/deployments".into(),
        method: Some("PATCH".into()),
        count: 2,
        code: 503,
        message: Some("etcd leader changed".into()),
    });
    api.get("web").await.expect("GET is not affected");
    for _ in 0..2 {
        let s = api_error(
            api.patch(
                "web",
                &PatchParams::apply("satusky"),
                &Patch::Apply(common::deployment_json("web", "img:2", 1)),
            )
            .await,
        );
        assert_eq!(
            (s.code, s.reason.as_str(), s.message.as_str()),
            (503, "ServiceUnavailable", "etcd leader changed")
        );
    }
    api.patch(
        "web",
        &PatchParams::apply("satusky").force(),
        &Patch::Apply(common::deployment_json("web", "img:2", 1)),
    )
    .await
    .expect("third succeeds");
    // Over the control endpoint too.
    let (code, _) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/faults",
        None,
        r#"{"path":"/api/v1","code":500}"#,
    )
    .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let (code, body) = raw(&fake, Method::GET, "/api/v1/namespaces", None, "").await;
    assert_eq!(
        (code, body["reason"].clone()),
        (StatusCode::INTERNAL_SERVER_ERROR, json!("InternalError"))
    );
    let (code, _) = raw(&fake, Method::GET, "/api/v1/namespaces", None, "").await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn auto_mode_completes_rollouts_and_readies_routes() {
    let (fake, client) = fake();
    fake.set_auto(Auto {
        rollouts: true,
        routes: true,
    });
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.patch(
        "web",
        &PatchParams::apply("satusky"),
        &Patch::Apply(common::deployment_json("web", "img:1", 2)),
    )
    .await
    .expect("apply");
    let d = api.get_status("web").await.expect("get");
    let st = d.status.expect("status");
    assert_eq!(
        (st.observed_generation, st.available_replicas),
        (Some(1), Some(2))
    );
    api.patch(
        "web",
        &PatchParams::apply("satusky"),
        &Patch::Apply(common::deployment_json("web", "img:2", 2)),
    )
    .await
    .expect("apply v2");
    assert_eq!(
        api.get_status("web")
            .await
            .expect("get")
            .status
            .and_then(|s| s.observed_generation),
        Some(2)
    );
    let routes: Api<DynamicObject> = Api::namespaced_with(client, "default", &httproute_resource());
    let cfg = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"}, "spec": {"parentRefs": [{"name": "gw"}]}});
    routes
        .patch("web", &PatchParams::apply("satusky"), &Patch::Apply(&cfg))
        .await
        .expect("route");
    let r = routes.get_status("web").await.expect("route");
    assert_eq!(
        condition(&r.data["status"]["parents"][0]["conditions"], "Accepted")["status"],
        "True"
    );
    // Over HTTP: turn it off again.
    let (code, a) = raw(
        &fake,
        Method::PUT,
        "/fakekube/v1/auto",
        None,
        r#"{"rollouts":false}"#,
    )
    .await;
    assert_eq!(
        (code, a),
        (StatusCode::OK, json!({"rollouts": false, "routes": false}))
    );
}

#[tokio::test]
async fn request_counters() {
    let (fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    fake.reset_stats();
    api.patch(
        "web",
        &PatchParams::apply("satusky"),
        &Patch::Apply(common::deployment_json("web", "img:1", 1)),
    )
    .await
    .expect("apply");
    api.get("web").await.expect("get");
    api.list(&ListParams::default()).await.expect("list");
    let s = fake.stats();
    assert_eq!((s.patch, s.get, s.list, s.create, s.total), (1, 1, 1, 0, 3));
    let (_, body) = raw(&fake, Method::GET, "/fakekube/v1/stats", None, "").await;
    assert_eq!(body["patch"], 1);
}

#[tokio::test]
async fn certificate_issuance_over_the_control_endpoint() {
    let (fake, client) = fake();
    let cert_res = kube::api::ApiResource {
        group: "cert-manager.io".into(),
        version: "v1".into(),
        api_version: "cert-manager.io/v1".into(),
        kind: "Certificate".into(),
        plural: "certificates".into(),
    };
    let certs: Api<DynamicObject> = Api::namespaced_with(client, "default", &cert_res);
    let cfg = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"},
        "spec": {"secretName": "c-tls", "dnsNames": ["a.example.com"], "issuerRef": {"kind": "ClusterIssuer", "name": "le"}}});
    certs
        .patch("c", &PatchParams::apply("satusky"), &Patch::Apply(&cfg))
        .await
        .expect("certificate");
    let (code, c) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/certificates/default/c/issuance",
        None,
        r#"{"step":"failed","reason":"429 urn:ietf:params:acme:error:rateLimited"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(c["status"]["failedIssuanceAttempts"], 1);
    let (code, _) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/certificates/default/c/issuance",
        None,
        r#"{"step":"sideways"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, c) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/certificates/default/c/status",
        None,
        r#"{"ready":true}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        condition(&c["status"]["conditions"], "Ready")["status"],
        "True"
    );
    assert!(
        fake.object("v1", "Secret", "default", "c-tls").is_some(),
        "ready writes the Secret"
    );
}

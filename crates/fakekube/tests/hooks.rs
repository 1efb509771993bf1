//! Controller hooks as library calls: rollouts (progress, complete, stall; a ReplicaSet per
//! pod template with ready pods, the old one scaled to 0), pod failures,
//! HTTPRoute and Gateway status, Jobs with logs and termination messages. The control
//! endpoint and the other test controls are in `control.rs`.

mod common;

use std::time::Duration;

use common::{api_error, deployment, fake, httproute_resource};
use fakekube::hooks::jobs::JobEnd;
use fakekube::hooks::routes::{GatewayStatus, RouteStatus};
use fakekube::hooks::workload::PodFailure;
use futures_util::AsyncBufReadExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn condition<'a>(conds: &'a Value, t: &str) -> &'a Value {
    conds
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn rollout_progress_complete_and_stall() {
    let (fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", "img:1", 3))
        .await
        .expect("create");
    let d = fake
        .rollout_progress("default", "web", 1)
        .expect("progress");
    assert_eq!(d["status"]["observedGeneration"], 1);
    assert_eq!(d["status"]["readyReplicas"], 1);
    assert_eq!(d["status"]["unavailableReplicas"], 2);
    assert_eq!(
        condition(&d["status"]["conditions"], "Progressing")["reason"],
        "ReplicaSetUpdated"
    );
    assert_eq!(
        condition(&d["status"]["conditions"], "Available")["status"],
        "False"
    );

    let d = fake.complete_rollout("default", "web").expect("complete");
    for f in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        assert_eq!(d["status"][f], 3, "{f}");
    }
    assert_eq!(
        condition(&d["status"]["conditions"], "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
    assert_eq!(
        condition(&d["status"]["conditions"], "Available")["status"],
        "True"
    );
    // The status write is visible to clients, written by the controller's manager.
    let got = api.get_status("web").await.expect("get");
    assert_eq!(
        got.status.as_ref().and_then(|s| s.available_replicas),
        Some(3)
    );
    let mgrs: Vec<String> = got
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.manager)
        .collect();
    assert!(mgrs.contains(&"kube-controller-manager".to_string()));

    // A spec change makes the status stale until the controller observes it.
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("scale");
    assert_eq!(d.metadata.generation, Some(2));
    assert_eq!(d.status.and_then(|s| s.observed_generation), Some(1));
    let d = fake.stall_rollout("default", "web").expect("stall");
    let p = condition(&d["status"]["conditions"], "Progressing");
    assert_eq!(
        (p["status"].as_str(), p["reason"].as_str()),
        (Some("False"), Some("ProgressDeadlineExceeded"))
    );
    assert_eq!(d["status"]["observedGeneration"], 2);
    assert!(
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("has timed out progressing"))
    );
}

#[tokio::test]
async fn pod_failures_surface_reason_and_message() {
    let (fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", "img:1", 1))
        .await
        .expect("create");

    let pod = fake
        .crash_loop("default", "web", Some("exit code 11: boom"))
        .expect("crash loop");
    let waiting = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(waiting["reason"], "CrashLoopBackOff");
    assert_eq!(waiting["message"], "exit code 11: boom");
    // The pod is findable the way a client finds it: by the Deployment's selector.
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods");
    assert_eq!(listed.items.len(), 1);
    let owner = listed.items[0]
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert_eq!(owner[0].kind, "ReplicaSet");

    let pod = fake
        .fail_pod(
            "default",
            "web",
            PodFailure::ImagePull {
                reason: "ErrImagePull".into(),
                message: None,
            },
        )
        .expect("image pull");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ErrImagePull"
    );
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "Back-off pulling image \"img:1\""
    );

    let pod = fake
        .fail_pod(
            "default",
            "web",
            PodFailure::Unschedulable { message: None },
        )
        .expect("unschedulable");
    let sched = condition(&pod["status"]["conditions"], "PodScheduled");
    assert_eq!(
        (sched["status"].as_str(), sched["reason"].as_str()),
        (Some("False"), Some("Unschedulable"))
    );

    // Completing the rollout replaces the failing pod with a ready one.
    let failing = pod["metadata"]["name"].as_str().expect("name").to_string();
    fake.complete_rollout("default", "web").expect("complete");
    let listed = pods.list(&ListParams::default()).await.expect("pods").items;
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0].metadata.name.as_deref(), Some(failing.as_str()));
    let ready = listed[0].status.as_ref().and_then(|s| s.conditions.clone());
    assert!(
        ready
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    // Hooks on missing objects are 404s.
    assert_eq!(
        fake.complete_rollout("default", "nope")
            .map_err(|e| e.code)
            .err(),
        Some(404)
    );
}

/// The pods' names and their ReplicaSet, sorted.
async fn pods_by_replicaset(pods: &Api<Pod>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods")
        .items
        .into_iter()
        .map(|p| {
            let owner = p.metadata.owner_references.unwrap_or_default();
            (owner[0].name.clone(), p.metadata.name.unwrap_or_default())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_rollout_makes_a_replicaset_per_pod_template_with_ready_pods_and_scales_the_old_one_to_zero()
 {
    let (fake, client) = fake();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    deploys
        .create(&PostParams::default(), &deployment("web", "img:1", 2))
        .await
        .expect("create");
    fake.complete_rollout("default", "web").expect("complete");
    let first = rss.list(&ListParams::default()).await.expect("rs").items;
    assert_eq!(first.len(), 1);
    let first_name = first[0].metadata.name.clone().expect("name");
    let hash = first[0].metadata.labels.as_ref().expect("labels")["pod-template-hash"].clone();
    assert_eq!(first_name, format!("web-{hash}"));
    let v1 = pods_by_replicaset(&pods).await;
    assert_eq!(v1.len(), 2);
    assert!(
        v1.iter()
            .all(|(rs, pod)| *rs == first_name && pod.starts_with(&first_name))
    );

    // Completing again changes nothing: the same pods, no new ReplicaSet.
    fake.complete_rollout("default", "web").expect("complete");
    assert_eq!(pods_by_replicaset(&pods).await, v1);

    // An annotation on the pod template (what `kubectl rollout restart` sets) is a new
    // template: a new ReplicaSet with new pods; the old one is scaled to 0, its pods gone.
    let restart = json!({"spec": {"template": {"metadata": {"annotations":
        {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}});
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(restart.clone()),
        )
        .await
        .expect("restart");
    fake.complete_rollout("default", "web").expect("complete");
    let rs_now = rss.list(&ListParams::default()).await.expect("rs").items;
    assert_eq!(rs_now.len(), 2);
    let second = rs_now
        .iter()
        .find(|r| r.metadata.name.as_deref() != Some(first_name.as_str()))
        .expect("a new ReplicaSet");
    let second_name = second.metadata.name.clone().expect("name");
    let annotations = second.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations["deployment.kubernetes.io/revision"], "2");
    let v2 = pods_by_replicaset(&pods).await;
    assert_eq!(v2.len(), 2);
    assert!(v2.iter().all(|(rs, _)| *rs == second_name), "{v2:?}");
    let pod = pods.get(&v2[0].1).await.expect("pod");
    let pod_annotations = pod.metadata.annotations.unwrap_or_default();
    assert_eq!(
        pod_annotations["kubectl.kubernetes.io/restartedAt"], "2026-01-01T00:00:00Z",
        "pods carry their template's annotations"
    );
    let old = rss.get(&first_name).await.expect("old rs");
    assert_eq!(old.spec.and_then(|s| s.replicas), Some(0));
    assert_eq!(old.status.map(|s| s.replicas), Some(0));
    let d = deploys.get_status("web").await.expect("status");
    let status = d.status.expect("status");
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas
        ),
        (Some(2), Some(2), Some(2))
    );

    // The same template again is no new ReplicaSet; a scale keeps the ReplicaSet too.
    deploys
        .patch("web", &PatchParams::default(), &Patch::Merge(restart))
        .await
        .expect("same");
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .expect("scale");
    fake.complete_rollout("default", "web").expect("complete");
    assert_eq!(
        rss.list(&ListParams::default())
            .await
            .expect("rs")
            .items
            .len(),
        2
    );
    let scaled = pods_by_replicaset(&pods).await;
    assert_eq!(scaled.len(), 1);
    assert!(v2.contains(&scaled[0]), "a scale down keeps a running pod");
}

#[tokio::test]
async fn route_and_gateway_status() {
    let (fake, client) = fake();
    let routes: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &httproute_resource());
    let cfg = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
        "spec": {"parentRefs": [{"name": "platform", "namespace": "default", "sectionName": "https"}], "hostnames": ["web.example"]}});
    routes
        .patch("web", &PatchParams::apply("satusky"), &Patch::Apply(&cfg))
        .await
        .expect("route");
    let r = fake
        .set_route_status(
            "default",
            "web",
            &RouteStatus::rejected("NotAllowedByListeners"),
        )
        .expect("reject");
    let parent = &r["status"]["parents"][0];
    assert_eq!(parent["parentRef"]["name"], "platform");
    assert_eq!(
        parent["controllerName"],
        fakekube::hooks::GATEWAY_CONTROLLER
    );
    let acc = condition(&parent["conditions"], "Accepted");
    assert_eq!(
        (acc["status"].as_str(), acc["reason"].as_str()),
        (Some("False"), Some("NotAllowedByListeners"))
    );
    assert_eq!(acc["observedGeneration"], 1);
    let r = fake
        .set_route_status("default", "web", &RouteStatus::accepted())
        .expect("accept");
    assert_eq!(
        condition(&r["status"]["parents"][0]["conditions"], "Accepted")["status"],
        "True"
    );

    let gw_res = kube::api::ApiResource {
        kind: "Gateway".into(),
        plural: "gateways".into(),
        ..httproute_resource()
    };
    let gws: Api<DynamicObject> = Api::namespaced_with(client, "default", &gw_res);
    let gw = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "platform"},
        "spec": {"gatewayClassName": "edge", "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS"}, {"name": "http", "port": 80, "protocol": "HTTP"}]}});
    gws.patch("platform", &PatchParams::apply("ops"), &Patch::Apply(&gw))
        .await
        .expect("gateway");
    let g = fake
        .set_gateway_status(
            "default",
            "platform",
            &GatewayStatus {
                programmed: false,
                addresses: vec![],
                reason: Some("AddressNotAssigned".into()),
            },
        )
        .expect("unprogrammed");
    assert_eq!(
        condition(&g["status"]["conditions"], "Programmed")["reason"],
        "AddressNotAssigned"
    );
    let g = fake
        .set_gateway_status(
            "default",
            "platform",
            &GatewayStatus::programmed(vec!["203.0.113.7".into()]),
        )
        .expect("programmed");
    assert_eq!(
        g["status"]["addresses"],
        json!([{"type": "IPAddress", "value": "203.0.113.7"}])
    );
    let https = g["status"]["listeners"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["name"] == "https"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        https["attachedRoutes"], 1,
        "the route's sectionName attaches it to https only"
    );
    assert_eq!(
        condition(&https["conditions"], "Programmed")["status"],
        "True"
    );
}

#[tokio::test]
async fn jobs_complete_with_logs_and_a_termination_message() {
    let (fake, client) = fake();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let job: Job = serde_json::from_value(
        json!({"metadata": {"name": "build-1"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never",
        "initContainers": [{"name": "fetch", "image": "curl"}],
        "containers": [{"name": "kaniko", "image": "kaniko"}]}}}}),
    )
    .expect("job");
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create");
    let pod = fake.start_job("default", "build-1").expect("start");
    let pod_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        pod["metadata"]["labels"]["batch.kubernetes.io/job-name"],
        "build-1"
    );

    // Follow the log while the build runs.
    let mut lines = pods
        .log_stream(
            &pod_name,
            &LogParams {
                follow: true,
                container: Some("kaniko".into()),
                ..LogParams::default()
            },
        )
        .await
        .expect("log stream")
        .lines();
    fake.append_log("default", &pod_name, "kaniko", "step 1/2\n");
    let first = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::StreamExt::next(&mut lines),
    )
    .await
    .expect("line")
    .expect("open")
    .expect("ok");
    assert_eq!(first, "step 1/2");
    fake.finish_job(
        "default",
        "build-1",
        &JobEnd {
            succeeded: true,
            logs: "pushed\n",
            message: "sha256:abc",
            exit_code: 0,
        },
    )
    .expect("complete");
    let rest: Vec<String> = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::TryStreamExt::try_collect(lines),
    )
    .await
    .expect("stream ends when the pod finishes")
    .expect("ok");
    assert_eq!(rest, ["pushed"]);

    let j = jobs.get_status("build-1").await.expect("job");
    let st = j.status.expect("status");
    assert_eq!(st.succeeded, Some(1));
    assert!(
        st.conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")
    );
    let p = pods.get(&pod_name).await.expect("pod");
    let term = p
        .status
        .and_then(|s| s.container_statuses)
        .and_then(|cs| cs.into_iter().next())
        .and_then(|c| c.state)
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!(term.message.as_deref(), Some("sha256:abc"));
    assert_eq!(term.exit_code, 0);
    assert_eq!(
        pods.logs(
            &pod_name,
            &LogParams {
                container: Some("kaniko".into()),
                ..LogParams::default()
            }
        )
        .await
        .expect("logs"),
        "step 1/2\npushed\n"
    );
    // The only main container is the default (init containers do not count); an unknown
    // container is a 400, like the real server.
    assert_eq!(
        pods.logs(&pod_name, &LogParams::default())
            .await
            .expect("default container"),
        "step 1/2\npushed\n"
    );
    let s = api_error(
        pods.logs(
            &pod_name,
            &LogParams {
                container: Some("nope".into()),
                ..LogParams::default()
            },
        )
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    let tail = pods
        .logs(
            &pod_name,
            &LogParams {
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .expect("tail");
    assert_eq!(tail, "pushed\n");
}

fn cm_resource(group: &str, kind: &str, plural: &str) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: group.into(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

#[tokio::test]
async fn cert_manager_issuance_builds_the_request_order_challenge_chain() {
    use fakekube::hooks::certs::{CERTIFICATE_NAME, Issuance};
    let (fake, client) = fake();
    let certs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &cm_resource("cert-manager.io", "Certificate", "certificates"),
    );
    let cfg = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "web.shop.example.com"},
        "spec": {"secretName": "web.shop.example.com-tls", "dnsNames": ["shop.example.com"],
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "satusky-acme"}}});
    let cert = certs
        .patch(
            "web.shop.example.com",
            &PatchParams::apply("satusky"),
            &Patch::Apply(&cfg),
        )
        .await
        .expect("certificate");
    let uid = cert.metadata.uid.clone().unwrap();
    let list = |group: &'static str, kind: &'static str, plural: &'static str| {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), "default", &cm_resource(group, kind, plural));
        async move {
            let items = api.list(&ListParams::default()).await.expect("list").items;
            items
                .into_iter()
                .map(|o| serde_json::to_value(o).unwrap())
                .collect::<Vec<Value>>()
        }
    };

    // Requested: an open request owned by the Certificate, its Order pending, no Challenge.
    let c = fake
        .certificate_issuance("default", "web.shop.example.com", &Issuance::Requested)
        .expect("requested");
    let issuing = condition(&c["status"]["conditions"], "Issuing");
    assert_eq!(
        (
            issuing["status"].as_str(),
            issuing["observedGeneration"].as_i64()
        ),
        (Some("True"), Some(1))
    );
    assert!(c["status"]["nextPrivateKeySecretName"].is_string());
    let requests = list(
        "cert-manager.io",
        "CertificateRequest",
        "certificaterequests",
    )
    .await;
    assert_eq!(requests.len(), 1);
    let cr = &requests[0];
    assert_eq!(cr["metadata"]["name"], "web.shop.example.com-1");
    assert_eq!(
        cr["metadata"]["annotations"][CERTIFICATE_NAME],
        "web.shop.example.com"
    );
    assert_eq!(cr["metadata"]["ownerReferences"][0]["uid"], uid.as_str());
    assert_eq!(
        condition(&cr["status"]["conditions"], "Ready")["reason"],
        "Pending"
    );
    let orders = list("acme.cert-manager.io", "Order", "orders").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["status"]["state"], "pending");
    assert_eq!(
        orders[0]["metadata"]["ownerReferences"][0]["uid"],
        cr["metadata"]["uid"]
    );
    assert!(
        list("acme.cert-manager.io", "Challenge", "challenges")
            .await
            .is_empty()
    );

    // Challenging: one HTTP-01 Challenge per name, pending and processing, with the reason.
    let waiting =
        "Waiting for HTTP-01 challenge propagation: wrong status code '404', expected '200'";
    fake.certificate_issuance(
        "default",
        "web.shop.example.com",
        &Issuance::Challenging {
            reason: waiting.into(),
        },
    )
    .expect("challenging");
    let challenges = list("acme.cert-manager.io", "Challenge", "challenges").await;
    assert_eq!(challenges.len(), 1);
    let ch = &challenges[0];
    assert_eq!(ch["spec"]["dnsName"], "shop.example.com");
    assert_eq!(ch["spec"]["type"], "HTTP-01");
    assert_eq!(
        ch["metadata"]["ownerReferences"][0]["uid"],
        orders[0]["metadata"]["uid"]
    );
    assert_eq!(
        (
            ch["status"]["state"].as_str(),
            ch["status"]["processing"].as_bool(),
            ch["status"]["reason"].as_str()
        ),
        (Some("pending"), Some(true), Some(waiting))
    );

    // Failed: Challenge and Order invalid, the request Failed, the Certificate backs off.
    let refused = "Error accepting authorization: acme: authorization error for shop.example.com: 403 urn:ietf:params:acme:error:unauthorized: Invalid response";
    let c = fake
        .certificate_issuance(
            "default",
            "web.shop.example.com",
            &Issuance::Failed {
                reason: refused.into(),
            },
        )
        .expect("failed");
    let issuing = condition(&c["status"]["conditions"], "Issuing");
    assert_eq!(
        (issuing["status"].as_str(), issuing["reason"].as_str()),
        (Some("False"), Some("Failed"))
    );
    assert!(
        issuing["message"].as_str().unwrap().contains(refused),
        "{issuing}"
    );
    assert_eq!(c["status"]["failedIssuanceAttempts"], 1);
    assert!(c["status"]["lastFailureTime"].is_string());
    assert!(c["status"].get("nextPrivateKeySecretName").is_none());
    let ch = &list("acme.cert-manager.io", "Challenge", "challenges").await[0];
    assert_eq!(
        (
            ch["status"]["state"].as_str(),
            ch["status"]["reason"].as_str()
        ),
        (Some("invalid"), Some(refused))
    );
    let order = &list("acme.cert-manager.io", "Order", "orders").await[0];
    assert_eq!(
        (
            order["status"]["state"].as_str(),
            order["status"]["reason"].as_str()
        ),
        (Some("invalid"), Some(refused))
    );
    let cr = &list(
        "cert-manager.io",
        "CertificateRequest",
        "certificaterequests",
    )
    .await[0];
    let ready = condition(&cr["status"]["conditions"], "Ready");
    assert_eq!(ready["reason"], "Failed");
    assert!(cr["status"]["failureTime"].is_string());
    let c = fake
        .certificate_issuance(
            "default",
            "web.shop.example.com",
            &Issuance::Failed {
                reason: refused.into(),
            },
        )
        .expect("failed again");
    assert_eq!(c["status"]["failedIssuanceAttempts"], 2);

    // Issued: the Secret the Certificate names, Ready at the current generation.
    let c = fake
        .certificate_issuance("default", "web.shop.example.com", &Issuance::Issued)
        .expect("issued");
    let ready = condition(&c["status"]["conditions"], "Ready");
    assert_eq!(
        (
            ready["status"].as_str(),
            ready["observedGeneration"].as_i64()
        ),
        (Some("True"), Some(1))
    );
    assert!(c["status"]["notAfter"].is_string() && c["status"]["notBefore"].is_string());
    assert_eq!(c["status"]["revision"], 1);
    assert!(
        c["status"].get("lastFailureTime").is_none()
            && c["status"].get("failedIssuanceAttempts").is_none()
    );
    let secret = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "default")
        .get("web.shop.example.com-tls")
        .await
        .expect("the Secret cert-manager writes");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.unwrap_or_default();
    assert!(data.contains_key("tls.crt") && data.contains_key("tls.key"));
    assert_eq!(
        secret
            .metadata
            .annotations
            .unwrap_or_default()
            .get(CERTIFICATE_NAME)
            .map(String::as_str),
        Some("web.shop.example.com")
    );
    let order = &list("acme.cert-manager.io", "Order", "orders").await[0];
    assert_eq!(order["status"]["state"], "valid");
    // A status write never bumps the generation: the Ready condition stays current.
    let live = certs.get("web.shop.example.com").await.unwrap();
    assert_eq!(live.metadata.generation, Some(1));
}

/// `web` (2 replicas) mounting the claim `web-data`, with `strategy` (`None`: the default).
fn with_claim(image: &str, strategy: Option<Value>) -> Deployment {
    let mut d = common::deployment_json("web", image, 2);
    d["spec"]["template"]["spec"]["volumes"] =
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}}]);
    if let Some(strategy) = strategy {
        d["spec"]["strategy"] = strategy;
    }
    serde_json::from_value(d).expect("deployment")
}

#[tokio::test]
async fn a_one_writer_claim_stalls_a_surging_rollout_and_recreate_completes_it() {
    let (fake, client) = fake();
    let claims: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::PersistentVolumeClaim>(&()),
    );
    let claim: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "web-data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .expect("claim");
    claims
        .create(&PostParams::default(), &claim)
        .await
        .expect("create claim");
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    deploys
        .create(&PostParams::default(), &with_claim("img:1", None))
        .await
        .expect("create");
    // The first rollout: nobody holds the claim yet.
    fake.complete_rollout("default", "web").expect("complete");
    let v1 = pods_by_replicaset(&pods).await;
    assert_eq!(v1.len(), 2);

    // A rolling update (default maxSurge 25%) starts a new pod beside the old ones: it cannot
    // attach the claim, so the rollout stalls with the old pods running.
    let new_image = |image: &str, strategy: Option<Value>| {
        serde_json::to_value(with_claim(image, strategy)).expect("json")
    };
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(new_image("img:2", None)),
        )
        .await
        .expect("v2");
    let d = fake.complete_rollout("default", "web").expect("complete");
    assert_eq!(d["status"]["readyReplicas"], 0);
    assert_eq!(
        condition(&d["status"]["conditions"], "Progressing")["reason"],
        "ReplicaSetUpdated"
    );
    let now = pods_by_replicaset(&pods).await;
    assert_eq!(
        now.len(),
        3,
        "the old pods and one waiting new pod: {now:?}"
    );
    let waiting: Vec<Pod> = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods")
        .items
        .into_iter()
        .filter(|p| !v1.iter().any(|(_, n)| Some(n) == p.metadata.name.as_ref()))
        .collect();
    let state = serde_json::to_value(&waiting[0].status).expect("status");
    let waiting_state = &state["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(waiting_state["reason"], "ContainerCreating");
    assert!(
        waiting_state["message"]
            .as_str()
            .is_some_and(|m| m.contains("Multi-Attach") && m.contains("web-data")),
        "{waiting_state}"
    );

    // Recreate: the old pods go first, then the new ones start and the rollout completes.
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(new_image("img:2", Some(json!({"type": "Recreate"})))),
        )
        .await
        .expect("recreate");
    let d = fake.complete_rollout("default", "web").expect("complete");
    assert_eq!(d["status"]["readyReplicas"], 2);
    assert_eq!(
        condition(&d["status"]["conditions"], "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
    let after = pods_by_replicaset(&pods).await;
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|p| !v1.contains(p)), "{after:?} {v1:?}");

    // A rolling update that does not surge (the old pod stops first) completes too.
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(new_image(
                "img:3",
                Some(json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})),
            )),
        )
        .await
        .expect("no surge");
    let d = fake.complete_rollout("default", "web").expect("complete");
    assert_eq!(d["status"]["readyReplicas"], 2);
}

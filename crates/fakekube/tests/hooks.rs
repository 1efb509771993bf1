//! Controller hooks as library calls: rollouts (progress, complete, stall), pod failures,
//! HTTPRoute and Gateway status, Jobs with logs and termination messages. The control
//! endpoint and the other test controls are in `control.rs`.

mod common;

use std::time::Duration;

use common::{api_error, deployment, fake, httproute_resource};
use fakekube::hooks::jobs::JobEnd;
use fakekube::hooks::routes::{GatewayStatus, RouteStatus};
use fakekube::hooks::workload::PodFailure;
use futures_util::AsyncBufReadExt;
use k8s_openapi::api::apps::v1::Deployment;
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

    // Completing the rollout clears the failing pods.
    fake.complete_rollout("default", "web").expect("complete");
    assert!(
        pods.list(&ListParams::default())
            .await
            .expect("pods")
            .items
            .is_empty()
    );
    // Hooks on missing objects are 404s.
    assert_eq!(
        fake.complete_rollout("default", "nope")
            .map_err(|e| e.code)
            .err(),
        Some(404)
    );
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

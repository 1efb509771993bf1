//! A restart on Kubernetes against fakekube: the same release applied with a new
//! `restarted_at_ms` puts `satusky.io/restarted-at` on the Deployment's pod template, so the
//! deployment controller rolls a new ReplicaSet with new pods; `observe` is not ready for the
//! release until that rollout is observed complete, then ready with nothing old. Applying the
//! same stamp again changes nothing (no new generation, no new ReplicaSet, the same pods).

use fakekube::FakeKube;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use satusky_core::runtime::{DesiredWorkload, Runtime, WorkloadObservation};
use satusky_core::{AppHostnames, Overrides, parse_str};
use satusky_kube::runtime::{KubeConfig, KubeRuntime};
use serde_json::Value;

const ORG: &str = "acme";
const NS: &str = "satusky-acme";
const ZONE: &str = "apps.example.net";
const RESTARTED_AT: &str = "satusky.io/restarted-at";

fn desired(restarted_at_ms: Option<i64>) -> DesiredWorkload {
    let toml = "[app]\nname = \"web\"\nimage = \"nginx:1.27\"\nreplicas = 2\n";
    let spec = parse_str(
        toml,
        std::path::Path::new("satusky.toml"),
        &Overrides::default(),
    )
    .unwrap();
    let hostnames = AppHostnames::of_app(ORG, ZONE, &spec).unwrap();
    DesiredWorkload {
        org: ORG.into(),
        app: "web".into(),
        release: 1,
        spec,
        artifact: None,
        hostnames,
        secrets: Default::default(),
        restarted_at_ms,
    }
}

fn runtime(fake: &FakeKube) -> KubeRuntime {
    KubeRuntime::new(
        fake.client(),
        KubeConfig {
            zone: ZONE.parse().unwrap(),
            gateway: Default::default(),
            issuer: Default::default(),
            probe_addr: None,
        },
        None,
    )
}

fn deployment(fake: &FakeKube) -> Value {
    fake.object("apps/v1", "Deployment", NS, "web")
        .expect("the Deployment")
}

/// The names of the app's ReplicaSets, sorted.
fn replica_sets(fake: &FakeKube) -> Vec<String> {
    let mut names: Vec<String> = fake
        .objects("apps/v1", "ReplicaSet", Some(NS))
        .iter()
        .filter_map(|r| r["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The app's pods: (name, ReplicaSet), sorted.
async fn pods(fake: &FakeKube) -> Vec<(String, String)> {
    let api: Api<Pod> = Api::namespaced(fake.client(), NS);
    let params = ListParams::default().labels("satusky.io/org=acme,satusky.io/app=web");
    let mut out: Vec<(String, String)> = api
        .list(&params)
        .await
        .expect("pods")
        .items
        .into_iter()
        .map(|p| {
            let owner = p.metadata.owner_references.unwrap_or_default();
            (p.metadata.name.unwrap_or_default(), owner[0].name.clone())
        })
        .collect();
    out.sort();
    out
}

async fn observe(rt: &KubeRuntime) -> WorkloadObservation {
    rt.observe(ORG.into(), "web".into()).await.expect("observe")
}

/// What the engine calls ready for release 1 (`judge_workload`).
fn ready(o: &WorkloadObservation) -> bool {
    let r = o.replicas;
    o.release == Some(1)
        && o.failure.is_none()
        && o.old == 0
        && (r.updated, r.ready, r.available) == (2, 2, 2)
}

#[tokio::test]
async fn a_restart_rolls_a_new_replicaset_and_the_same_stamp_again_changes_nothing() {
    let fake = FakeKube::new();
    let rt = runtime(&fake);
    rt.apply(desired(None)).await.expect("apply");
    fake.complete_rollout(NS, "web").expect("rollout");
    assert!(ready(&observe(&rt).await));
    let before = pods(&fake).await;
    let first_rs = replica_sets(&fake);
    assert_eq!((before.len(), first_rs.len()), (2, 1), "{before:?}");
    let template = &deployment(&fake)["spec"]["template"]["metadata"];
    assert!(template["annotations"].get(RESTARTED_AT).is_none());

    // The restart: the pod template says when; until the controller has rolled it, the
    // release is not observed ready.
    let at = 1_796_000_000_123;
    rt.apply(desired(Some(at))).await.expect("restart");
    let d = deployment(&fake);
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT],
        "2026-11-30T00:53:20.123Z"
    );
    let generation = d["metadata"]["generation"].as_i64().unwrap();
    assert_eq!(generation, 2);
    let o = observe(&rt).await;
    assert!(!ready(&o), "ready before the restart rolled: {o:?}");
    assert_eq!(o.release, None, "the status is of the previous generation");

    fake.complete_rollout(NS, "web").expect("rollout");
    let o = observe(&rt).await;
    assert!(ready(&o), "{o:?}");
    let after = pods(&fake).await;
    let rs = replica_sets(&fake);
    assert_eq!(rs.len(), 2, "a new ReplicaSet for the new template: {rs:?}");
    let new_rs: Vec<&String> = rs.iter().filter(|r| !first_rs.contains(r)).collect();
    assert_eq!(after.len(), 2);
    assert!(
        after
            .iter()
            .all(|(pod, owner)| owner == new_rs[0] && !before.iter().any(|(p, _)| p == pod)),
        "every pod replaced by one of {new_rs:?}: {after:?} (before {before:?})"
    );
    let old_rs = fake
        .object("apps/v1", "ReplicaSet", NS, &first_rs[0])
        .expect("the old ReplicaSet");
    assert_eq!(old_rs["spec"]["replicas"], 0);

    // The same stamp again: nothing to roll.
    rt.apply(desired(Some(at))).await.expect("again");
    fake.complete_rollout(NS, "web").expect("rollout");
    let d = deployment(&fake);
    assert_eq!(d["metadata"]["generation"].as_i64(), Some(generation));
    assert_eq!(replica_sets(&fake), rs);
    assert_eq!(pods(&fake).await, after);
    assert!(ready(&observe(&rt).await));
}

//! Server-owned metadata: uid, creationTimestamp, a global resourceVersion that changes on
//! every write and not on a no-op, generation bumped only by spec changes.

mod common;

use common::{deployment, fake};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

fn rv(d: &Deployment) -> u64 {
    d.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("numeric resourceVersion")
}

#[tokio::test]
async fn uid_timestamp_and_resource_version_are_the_servers() {
    let (_fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let mut d = deployment("web", "img:1", 1);
    d.metadata.uid = Some("client-chosen".into());
    d.metadata.resource_version = None;
    let created = api
        .create(&PostParams::default(), &d)
        .await
        .expect("create");
    let uid = created.metadata.uid.clone().expect("uid");
    assert_ne!(uid, "client-chosen");
    assert_eq!(uid.len(), 36);
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.generation, Some(1));

    let other = api
        .create(&PostParams::default(), &deployment("api", "img:1", 1))
        .await
        .expect("create 2");
    assert!(
        rv(&other) > rv(&created),
        "resourceVersion is one global counter"
    );
    assert_ne!(other.metadata.uid, created.metadata.uid);

    // Every write changes it; the uid and creation time never change.
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
        )
        .await
        .expect("patch");
    assert!(rv(&patched) > rv(&other));
    assert_eq!(patched.metadata.uid.as_deref(), Some(uid.as_str()));
    assert_eq!(
        patched.metadata.creation_timestamp,
        created.metadata.creation_timestamp
    );
}

#[tokio::test]
async fn a_write_that_changes_nothing_keeps_the_resource_version() {
    let (fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let pp = PatchParams::apply("satusky");
    let first = api
        .patch("c", &pp, &Patch::Apply(&cm))
        .await
        .expect("apply");
    let before = fake.resource_version();
    let again = api
        .patch("c", &pp, &Patch::Apply(&cm))
        .await
        .expect("apply again");
    assert_eq!(
        again.metadata.resource_version,
        first.metadata.resource_version
    );
    assert_eq!(fake.resource_version(), before, "no write happened");
    let same = api
        .replace("c", &PostParams::default(), &again)
        .await
        .expect("replace unchanged");
    assert_eq!(
        same.metadata.resource_version,
        first.metadata.resource_version
    );
}

#[tokio::test]
async fn generation_moves_only_with_the_spec() {
    let (fake, client) = fake();
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment("web", "img:1", 1))
        .await
        .expect("create");
    let generation = |d: &Deployment| d.metadata.generation.unwrap_or_default();

    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"team": "a"}, "annotations": {"n": "1"}}}),
            ),
        )
        .await
        .expect("meta patch");
    assert_eq!(generation(&d), 1, "metadata changes do not bump generation");
    let d = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1, "observedGeneration": 1}})),
        )
        .await
        .expect("status patch");
    assert_eq!(generation(&d), 1, "status changes do not bump generation");
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("spec patch");
    assert_eq!(generation(&d), 2, "spec changes do");
    let d = api
        .patch(
            "web",
            &PatchParams::apply("satusky").force(),
            &Patch::Apply(common::deployment_json("web", "img:2", 3)),
        )
        .await
        .expect("apply");
    assert_eq!(generation(&d), 3);
    // A rollout completed by the controller reports the current generation.
    let d = fake.complete_rollout("default", "web").expect("complete");
    assert_eq!(d["status"]["observedGeneration"], 3);
    assert_eq!(d["metadata"]["generation"], 3);
    // Kinds without generation tracking (ConfigMap) have none.
    let cms: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).expect("cm");
    assert_eq!(
        cms.create(&PostParams::default(), &cm)
            .await
            .expect("cm")
            .metadata
            .generation,
        None
    );
}

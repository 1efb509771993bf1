//! The applier against fakekube, in-process, counting requests: a no-op apply sends nothing
//! (no write, no prune LIST); a render that drops an object prunes it; `forget` (heal), a
//! failed prune and an apply that failed part-way make the next apply prune again; `remove`
//! removes everything; a new applier (a restart) does the full work once. A volume claim is
//! never pruned nor removed: it is kept and reported, and deleted only by `purge_volumes`.

mod common;

use fakekube::{FakeKube, Fault, Stats};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use satusky_kube::apply::Applier;
use satusky_kube::render::labels::{APP, MANAGED_BY, MANAGER, ORG};
use satusky_kube::{Object, RenderInput, render};
use serde_json::json;

const APP_NAME: &str = "web";
const NS: &str = "satusky-acme";

/// `web`'s render with `sections` appended to its satusky.toml.
fn web(sections: &str) -> Vec<Object> {
    let app = common::parse(&format!(
        "[app]\nname = \"{APP_NAME}\"\nimage = \"registry.example.com/acme/web:1\"\n\
         port = 8080\n{sections}"
    ));
    let input = RenderInput::new(
        common::ORG,
        &app,
        1,
        common::image(&app),
        common::hostnames(&app),
    );
    render(&input).unwrap()
}

/// `web` with the given optional sections: none of them changes another object's render.
fn objects(vpa: bool, pdb: bool) -> Vec<Object> {
    let mut sections = String::from("replicas = 2\n");
    if vpa {
        sections.push_str("\n[vpa]\nmode = \"Auto\"\n");
    }
    if pdb {
        sections.push_str("\n[pdb]\nmin_available = 1\n");
    }
    web(&sections)
}

fn with_hpa() -> Vec<Object> {
    web("\n[hpa]\nmin = 2\nmax = 4\n")
}

fn without_hpa() -> Vec<Object> {
    web("")
}

async fn apply(applier: &Applier, objects: &[Object]) -> satusky_kube::apply::ApplyOutcome {
    applier
        .apply(common::ORG, APP_NAME, NS, objects)
        .await
        .unwrap()
}

/// The next `method` request to `path` answers 500.
fn fail_once(fake: &FakeKube, path: String, method: &str) {
    fake.inject(Fault {
        path,
        method: Some(method.into()),
        count: 1,
        code: 500,
        message: Some("injected".into()),
    });
}

/// Requests `f` made, by fakekube's counters.
async fn counted<T>(fake: &FakeKube, f: impl std::future::Future<Output = T>) -> (T, Stats) {
    fake.reset_stats();
    let out = f.await;
    (out, fake.stats())
}

fn writes(s: &Stats) -> u64 {
    s.patch + s.create + s.update + s.delete
}

fn exists(fake: &FakeKube, api_version: &str, kind: &str, name: &str) -> bool {
    fake.object(api_version, kind, NS, name).is_some()
}

/// A ConfigMap carrying our labels for the app, written by someone else.
async fn out_of_band_config_map(fake: &FakeKube, name: &str) {
    let api: Api<DynamicObject> = Api::namespaced_with(
        fake.client(),
        NS,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        ),
    );
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": {
            MANAGED_BY: MANAGER, ORG: common::ORG, APP: APP_NAME}},
        "data": {"k": "v"},
    }))
    .unwrap();
    api.patch(name, &PatchParams::apply("someone"), &Patch::Apply(&obj))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_no_op_apply_sends_no_request() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    let objs = with_hpa();
    let (first, s1) = counted(&fake, apply(&applier, &objs)).await;
    assert_eq!(first.applied, objs.len());
    assert!(s1.list > 0, "the first apply in a process prunes: {s1:?}");

    let before = applier.requests();
    let (second, s2) = counted(&fake, apply(&applier, &objs)).await;
    assert_eq!((second.applied, second.unchanged), (0, objs.len()));
    assert!(second.pruned.is_empty());
    assert_eq!(s2.list, 0, "no prune LIST: {s2:?}");
    assert_eq!(writes(&s2), 0, "no write: {s2:?}");
    assert_eq!(s2.total, 0, "{s2:?}");
    assert_eq!(applier.requests(), before, "the applier counted nothing");
}

#[tokio::test]
async fn a_dropped_object_is_still_pruned() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    apply(&applier, &with_hpa()).await;
    apply(&applier, &with_hpa()).await;
    assert!(exists(
        &fake,
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        APP_NAME
    ));

    let (out, s) = counted(&fake, apply(&applier, &without_hpa())).await;
    assert_eq!(out.pruned, vec!["HorizontalPodAutoscaler/web".to_string()]);
    assert!(s.list > 0 && s.delete == 1, "{s:?}");
    assert!(!exists(
        &fake,
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        APP_NAME
    ));

    // Settled again on the smaller set.
    let (_, s) = counted(&fake, apply(&applier, &without_hpa())).await;
    assert_eq!(s.total, 0, "{s:?}");
}

#[tokio::test]
async fn a_dropped_object_of_another_unchanged_render_is_pruned() {
    // Only the set changes (the PDB goes), every remaining object is unchanged: the set
    // comparison alone must trigger the prune.
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    apply(&applier, &objects(false, true)).await;
    let (out, s) = counted(&fake, apply(&applier, &objects(false, false))).await;
    assert_eq!(out.applied, 0, "nothing else changed");
    assert_eq!(out.pruned, vec!["PodDisruptionBudget/web".to_string()]);
    assert_eq!(s.delete, 1, "{s:?}");
    assert!(!exists(&fake, "policy/v1", "PodDisruptionBudget", APP_NAME));
}

#[tokio::test]
async fn after_forget_the_apply_prunes_what_others_added_with_our_labels() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    let objs = objects(false, false);
    apply(&applier, &objs).await;
    out_of_band_config_map(&fake, "web-extra").await;

    // A no-op apply does not look: nothing of ours can have been orphaned.
    let (out, s) = counted(&fake, apply(&applier, &objs)).await;
    assert!(out.pruned.is_empty());
    assert_eq!(s.total, 0, "{s:?}");
    assert!(exists(&fake, "v1", "ConfigMap", "web-extra"));

    // What heal does: forget, then apply. Everything is sent again and the prune runs.
    applier.forget(NS, APP_NAME);
    let (out, s) = counted(&fake, apply(&applier, &objs)).await;
    assert_eq!(out.applied, objs.len());
    assert_eq!(out.pruned, vec!["ConfigMap/web-extra".to_string()]);
    assert!(s.list > 0, "{s:?}");
    assert!(!exists(&fake, "v1", "ConfigMap", "web-extra"));
    assert!(exists(&fake, "apps/v1", "Deployment", APP_NAME));
}

#[tokio::test]
async fn a_failed_prune_makes_the_next_apply_prune() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    let small = objects(false, false);
    apply(&applier, &small).await;
    apply(&applier, &small).await;

    // The PDB is added and written, then the prune's first LIST fails.
    fail_once(&fake, format!("/api/v1/namespaces/{NS}/configmaps"), "GET");
    let err = applier
        .apply(common::ORG, APP_NAME, NS, &objects(false, true))
        .await;
    assert!(err.is_err(), "the prune failed: {err:?}");
    assert!(exists(&fake, "policy/v1", "PodDisruptionBudget", APP_NAME));

    // Back to the set applied and pruned before, every object unchanged: still pruned, and
    // PodDisruptionBudgets are looked at though the last successful apply had none.
    let (out, s) = counted(&fake, apply(&applier, &small)).await;
    assert_eq!(out.applied, 0);
    assert_eq!(out.pruned, vec!["PodDisruptionBudget/web".to_string()]);
    assert!(s.list > 0, "{s:?}");
    assert!(!exists(&fake, "policy/v1", "PodDisruptionBudget", APP_NAME));
}

#[tokio::test]
async fn an_apply_that_failed_part_way_makes_the_next_apply_prune() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    let small = objects(false, false);
    apply(&applier, &small).await;
    apply(&applier, &small).await;

    // VPA then PDB are added: the VPA is written, the PDB refused.
    fail_once(
        &fake,
        format!("/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets"),
        "PATCH",
    );
    let err = applier
        .apply(common::ORG, APP_NAME, NS, &objects(true, true))
        .await;
    assert!(err.is_err(), "the PDB was refused: {err:?}");
    assert!(exists(
        &fake,
        "autoscaling.k8s.io/v1",
        "VerticalPodAutoscaler",
        APP_NAME
    ));
    assert!(!exists(&fake, "policy/v1", "PodDisruptionBudget", APP_NAME));

    let (out, _) = counted(&fake, apply(&applier, &small)).await;
    assert_eq!(out.applied, 0);
    assert_eq!(out.pruned, vec!["VerticalPodAutoscaler/web".to_string()]);
    assert!(!exists(
        &fake,
        "autoscaling.k8s.io/v1",
        "VerticalPodAutoscaler",
        APP_NAME
    ));
}

#[tokio::test]
async fn remove_removes_everything_after_a_settled_apply() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    let objs = with_hpa();
    apply(&applier, &objs).await;
    apply(&applier, &objs).await;
    out_of_band_config_map(&fake, "web-extra").await;

    let removed = applier.remove(common::ORG, APP_NAME, NS).await.unwrap();
    assert_eq!(removed.len(), objs.len() + 1, "{removed:?}");
    for o in &objs {
        assert!(
            !exists(&fake, o.api_version(), o.kind(), o.name()),
            "{} {}",
            o.kind(),
            o.name()
        );
    }
    assert!(!exists(&fake, "v1", "ConfigMap", "web-extra"));

    // Deployed again: everything is sent and pruned again.
    let (out, s) = counted(&fake, apply(&applier, &objs)).await;
    assert_eq!(out.applied, objs.len());
    assert!(s.list > 0, "{s:?}");
}

#[tokio::test]
async fn a_new_applier_does_the_full_work_once() {
    let fake = FakeKube::new();
    let objs = with_hpa();
    let first = Applier::new(fake.client());
    apply(&first, &objs).await;
    out_of_band_config_map(&fake, "web-extra").await;

    // A restart: the new process's applier remembers nothing, sends everything, looks at
    // every managed kind.
    let restarted = Applier::new(fake.client());
    let (out, s) = counted(&fake, apply(&restarted, &objs)).await;
    assert_eq!(out.applied, objs.len());
    assert_eq!(s.list, satusky_kube::kinds::MANAGED.len() as u64, "{s:?}");
    assert_eq!(out.pruned, vec!["ConfigMap/web-extra".to_string()]);
    let (_, s) = counted(&fake, apply(&restarted, &objs)).await;
    assert_eq!(s.total, 0, "{s:?}");
}

#[tokio::test]
async fn forgetting_an_app_leaves_an_app_whose_name_it_prefixes_alone() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    let app = common::parse(
        "[app]\nname = \"web-api\"\nimage = \"registry.example.com/acme/web-api:1\"\nport = 8080\n",
    );
    let input = RenderInput::new(
        common::ORG,
        &app,
        1,
        common::image(&app),
        common::hostnames(&app),
    );
    let web_api = render(&input).unwrap();
    let small = objects(false, false);
    apply(&applier, &small).await;
    applier
        .apply(common::ORG, "web-api", NS, &web_api)
        .await
        .unwrap();
    applier
        .apply(common::ORG, "web-api", NS, &web_api)
        .await
        .unwrap();

    applier.forget(NS, APP_NAME);
    let (out, s) = counted(&fake, applier.apply(common::ORG, "web-api", NS, &web_api)).await;
    let out = out.unwrap();
    assert_eq!(out.applied, 0, "web-api is still known: {out:?}");
    assert_eq!((writes(&s), s.list), (0, 0), "{s:?}");
    let (out, _) = counted(&fake, apply(&applier, &small)).await;
    assert_eq!(out.applied, small.len(), "web is sent again");
}

#[tokio::test]
async fn a_volume_claim_is_kept_when_the_volume_leaves_the_spec_and_by_remove_until_purged() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    let with_volume = web("\n[volume]\nsize = \"5Gi\"\nmount = \"/data\"\n");
    apply(&applier, &with_volume).await;
    assert!(exists(&fake, "v1", "PersistentVolumeClaim", "web-data"));

    // `[volume]` leaves the spec: everything else follows the render, the claim is kept and
    // said so — again by the first apply after a restart, which looks at every kind.
    let out = apply(&applier, &web("")).await;
    assert!(out.pruned.is_empty(), "{out:?}");
    assert_eq!(
        out.retained,
        vec!["PersistentVolumeClaim/web-data".to_string()]
    );
    assert!(exists(&fake, "v1", "PersistentVolumeClaim", "web-data"));
    let restarted = Applier::new(fake.client());
    let out = apply(&restarted, &web("")).await;
    assert_eq!(
        out.retained,
        vec!["PersistentVolumeClaim/web-data".to_string()]
    );
    assert!(exists(&fake, "v1", "PersistentVolumeClaim", "web-data"));

    // Back in the spec: the same claim is applied again (adopted), not reported.
    let out = apply(&applier, &with_volume).await;
    assert!(out.retained.is_empty() && out.applied > 0, "{out:?}");

    // Destroy: the workload goes, the claim stays and is listed, with its size.
    let removed = applier.remove(common::ORG, APP_NAME, NS).await.unwrap();
    assert!(removed.iter().any(|r| r == "Deployment/web"), "{removed:?}");
    assert!(
        !removed
            .iter()
            .any(|r| r.starts_with("PersistentVolumeClaim")),
        "{removed:?}"
    );
    assert!(!exists(&fake, "apps/v1", "Deployment", "web"));
    assert!(exists(&fake, "v1", "PersistentVolumeClaim", "web-data"));
    let listed: Vec<String> = applier
        .volumes(common::ORG, APP_NAME, NS)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        listed,
        ["persistentvolumeclaim satusky-acme/web-data (5Gi)"]
    );
    // Another app's claims are not its.
    assert!(
        applier
            .volumes(common::ORG, "we", NS)
            .await
            .unwrap()
            .is_empty()
    );

    // Purged: deleted and named; nothing left to list.
    let purged = applier
        .purge_volumes(common::ORG, APP_NAME, NS)
        .await
        .unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].name, "web-data");
    assert!(!exists(&fake, "v1", "PersistentVolumeClaim", "web-data"));
    assert!(
        applier
            .volumes(common::ORG, APP_NAME, NS)
            .await
            .unwrap()
            .is_empty()
    );
}

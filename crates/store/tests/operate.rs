//! Operating an app's running release (scale, restart) on every backend: what is recorded on
//! the app, the work it starts on the active release, its event, what it refuses, and what a
//! later deploy, config release or read makes of a scaled count.

mod common;

use common::{Ctx, generated, on_each_backend, spec};
use satusky_core::engine::{Operation, Step, Work};
use satusky_store::{DeployInput, OperationRequest, ScaleAfterDeploy, Store, StoreError};
use satusky_types::{EventType, HpaSpec, ReleaseStatus};

const T0: i64 = 1_795_000_000_000;

/// acme/web deployed (v1, two replicas) and active, without pending work.
async fn running(store: &Store) {
    store.ensure_org("acme").await.unwrap();
    let mut s = spec("web");
    s.replicas = 2;
    store
        .record_deploy("acme", &s, &[generated("web-acme.test")], "deploy", T0)
        .await
        .unwrap();
    store
        .transition_releases(
            "acme",
            "web",
            &[(1, ReleaseStatus::Active)],
            Some(1),
            None,
            T0,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_scale_is_recorded_on_the_app_with_work_on_the_active_release() {
    on_each_backend(|Ctx { store, .. }| async move {
        running(&store).await;
        let rec = store
            .operate("acme", "web", OperationRequest::Scale(5), true, T0 + 1)
            .await
            .unwrap();
        assert_eq!(rec.release, 1);
        assert_eq!(rec.generation, 2, "a scale moves the generation on");
        assert_eq!(rec.replicas, (2, 5));
        assert_eq!(rec.operation, Some(Operation::Scale { from: 2, to: 5 }));
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(app.operated.replicas, Some(5));
        assert_eq!(app.target_release, Some(1));
        assert_eq!(
            app.work,
            Some(Work::operate(1, Operation::Scale { from: 2, to: 5 }))
        );
        assert_eq!(app.work.as_ref().unwrap().step, Step::Apply);
        // The release the runtime is handed runs 5; the release itself still says 2.
        let v1 = store.get_release("acme", "web", 1).await.unwrap().unwrap();
        assert_eq!(v1.spec.replicas, 2);
        assert_eq!(v1.desired(&app.view()).unwrap().spec.replicas, 5);
        assert_eq!(store.list_releases("acme", "web").await.unwrap().len(), 1);
        let events = store.events_after("acme", "web", 0, 100).await.unwrap();
        let op = events
            .iter()
            .find(|e| e.kind == EventType::Operation)
            .expect("an operation event");
        assert_eq!(op.seq, rec.event_seq);
        assert_eq!(op.data["operation"], "scale");
        assert_eq!(
            (op.data["from"].as_u64(), op.data["to"].as_u64()),
            (Some(2), Some(5))
        );

        // The same count again: nothing recorded, nothing started.
        store.set_work("acme", "web", None).await.unwrap();
        let same = store
            .operate("acme", "web", OperationRequest::Scale(5), true, T0 + 2)
            .await
            .unwrap();
        assert_eq!(same.operation, None);
        assert_eq!(same.generation, 2);
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert!(app.work.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_restart_stamps_the_app_and_replaces_an_operation_in_flight() {
    on_each_backend(|Ctx { store, .. }| async move {
        running(&store).await;
        store
            .operate("acme", "web", OperationRequest::Scale(3), true, T0 + 1)
            .await
            .unwrap();
        // A scale still rolling out: a restart takes its place (same release, newer
        // generation — the scale's driver is refused its next write).
        let rec = store
            .operate("acme", "web", OperationRequest::Restart, true, T0 + 2)
            .await
            .unwrap();
        assert_eq!((rec.generation, rec.replicas), (3, (3, 3)));
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(app.operated.restarted_at_ms, Some(T0 + 2));
        assert_eq!(app.operated.replicas, Some(3), "the scale stays");
        assert_eq!(app.work, Some(Work::operate(1, Operation::Restart)));
        assert!(
            !store.advance_work("acme", "web", 1, 2, None).await.unwrap(),
            "the scale's driver (generation 2) is overtaken"
        );
        let v1 = store.get_release("acme", "web", 1).await.unwrap().unwrap();
        assert_eq!(
            v1.desired(&app.view()).unwrap().restarted_at_ms,
            Some(T0 + 2)
        );

        // Without a runtime the request is recorded, and no work starts.
        store.set_work("acme", "web", None).await.unwrap();
        store
            .operate("acme", "web", OperationRequest::Scale(4), false, T0 + 3)
            .await
            .unwrap();
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!((app.operated.replicas, app.work), (Some(4), None));
    })
    .await;
}

#[tokio::test]
async fn what_an_operation_refuses_changes_nothing() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let missing = store
            .operate("acme", "web", OperationRequest::Restart, true, T0)
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );

        // Deployed, never active: nothing runs.
        store
            .record_deploy("acme", &spec("web"), &[], "deploy", T0)
            .await
            .unwrap();
        let idle = store
            .operate("acme", "web", OperationRequest::Scale(2), true, T0)
            .await;
        assert!(
            matches!(idle, Err(StoreError::NotRunning { .. })),
            "{idle:?}"
        );

        // v1 active, v2 being deployed: refused, naming v2.
        store
            .transition_releases(
                "acme",
                "web",
                &[(1, ReleaseStatus::Active)],
                Some(1),
                None,
                T0,
            )
            .await
            .unwrap();
        let input = DeployInput {
            spec: &spec("web"),
            hostnames: &[],
            source: "deploy",
            context: None,
            start_work: true,
            sets_replicas: true,
            template: None,
        };
        store
            .record_deploy_with("acme", &input, T0 + 1)
            .await
            .unwrap();
        let busy = store
            .operate("acme", "web", OperationRequest::Restart, true, T0 + 2)
            .await;
        assert!(
            matches!(busy, Err(StoreError::DeployInFlight { release: 2 })),
            "{busy:?}"
        );

        // An app that scales itself, and a count over the limit.
        let mut auto = spec("auto");
        auto.hpa = Some(HpaSpec {
            min: 2,
            max: 6,
            cpu_target: Some(70),
            memory_target: None,
        });
        store
            .record_deploy("acme", &auto, &[], "deploy", T0)
            .await
            .unwrap();
        store
            .transition_releases(
                "acme",
                "auto",
                &[(1, ReleaseStatus::Active)],
                Some(1),
                None,
                T0,
            )
            .await
            .unwrap();
        let hpa = store
            .operate("acme", "auto", OperationRequest::Scale(3), true, T0)
            .await;
        let Err(StoreError::ScaleRefused(refusal)) = hpa else {
            panic!("{hpa:?}")
        };
        assert!(refusal.to_string().contains("[hpa]"), "{refusal}");
        store.set_work("acme", "web", None).await.unwrap();
        let over = store
            .operate("acme", "web", OperationRequest::Scale(1001), true, T0)
            .await;
        assert!(matches!(over, Err(StoreError::ScaleRefused(_))), "{over:?}");
        for app in ["web", "auto"] {
            let rec = store.get_app("acme", app).await.unwrap().unwrap();
            assert_eq!(rec.operated.replicas, None, "{app} was not scaled");
            assert_eq!(
                rec.operated.restarted_at_ms, None,
                "{app} was not restarted"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_deploy_keeps_a_scaled_count_unless_its_file_sets_replicas() {
    on_each_backend(|Ctx { store, .. }| async move {
        running(&store).await;
        store
            .operate("acme", "web", OperationRequest::Scale(4), false, T0 + 1)
            .await
            .unwrap();
        let deploy = |sets_replicas: bool, replicas: u32| {
            let store = store.clone();
            async move {
                let mut s = spec("web");
                s.replicas = replicas;
                let input = DeployInput {
                    spec: &s,
                    hostnames: &[],
                    source: "deploy",
                    context: None,
                    start_work: false,
                    sets_replicas,
                    template: None,
                };
                store
                    .record_deploy_with("acme", &input, T0 + 5)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(deploy(false, 1).await.scale, ScaleAfterDeploy::Kept(4));
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(app.operated.replicas, Some(4));
        assert_eq!(
            deploy(true, 2).await.scale,
            ScaleAfterDeploy::Replaced { scaled: 4, now: 2 }
        );
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(app.operated.replicas, None, "the file's count wins");
        assert_eq!(deploy(true, 2).await.scale, ScaleAfterDeploy::NotScaled);
    })
    .await;
}

//! What the lifecycle engine persists: superseding on deploy, release transitions with their
//! events, status and pending work, and the replica ledger — on every backend.

mod common;

use common::{Ctx, alias, generated, on_each_backend, redirect, spec};
use satusky_core::engine::{StatusDoc, Step, Work};
use satusky_core::ledger::{LedgerEntry, ProcessKind};
use satusky_core::{DesiredError, HostnameError};
use satusky_store::DeployInput;
use satusky_types::{
    EventType, Phase, Plane, PlaneState, Reason, ReleaseStatus, ReplicaCounts, WorkloadPlane,
};
use serde_json::json;

const T0: i64 = 1_795_000_000_000;

/// A status document for `release` whose build is ready and whose workload is `workload`.
fn doc(release: u64, workload: PlaneState) -> StatusDoc {
    StatusDoc {
        release: Some(release),
        generation: None,
        build: Plane::new(PlaneState::Ready, Reason::Built, "built"),
        workload: WorkloadPlane {
            plane: Plane::new(workload, Reason::Progressing, "rolling out"),
            replicas: ReplicaCounts::default(),
        },
        endpoints: Vec::new(),
    }
}

#[tokio::test]
async fn a_newer_deploy_supersedes_pending_releases_with_events() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let s = spec("web");
        let input = DeployInput {
            spec: &s,
            hostnames: &[],
            source: "deploy",
            context: Some("sha256:abc"),
            start_work: true,
            sets_replicas: true,
            template: None,
        };
        store.record_deploy_with("acme", &input, T0).await.unwrap();
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(
            app.work,
            Some(Work::new(1)),
            "work written with the deploy, naming its release"
        );
        let v1 = store.get_release("acme", "web", 1).await.unwrap().unwrap();
        assert_eq!(v1.context.as_deref(), Some("sha256:abc"));

        store
            .record_deploy("acme", &s, &[], "deploy", T0 + 1)
            .await
            .unwrap();
        let rel = store.list_releases("acme", "web").await.unwrap();
        let statuses: Vec<_> = rel.iter().map(|r| (r.version, r.status)).collect();
        assert_eq!(
            statuses,
            vec![(2, ReleaseStatus::Pending), (1, ReleaseStatus::Superseded)]
        );
        let events = store.events_after("acme", "web", 0, 100).await.unwrap();
        let superseded: Vec<_> = events
            .iter()
            .filter(|e| e.kind == EventType::Release && e.data["status"] == "superseded")
            .collect();
        assert_eq!(superseded.len(), 1);
        assert_eq!(superseded[0].data["version"], 1);
        assert_eq!(superseded[0].data["superseded_by"], 2);
    })
    .await;
}

#[tokio::test]
async fn a_stored_release_is_validated_again_into_the_desired_workload() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let hosts = [
            generated("web-acme.apps.test"),
            redirect("www.example.com", "https://shop.example.com"),
            alias("shop.example.com"),
        ];
        store
            .record_deploy("acme", &spec("web"), &hosts, "deploy", T0)
            .await
            .unwrap();
        let v1 = store.get_release("acme", "web", 1).await.unwrap().unwrap();
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        let desired = v1.desired(&app.view()).unwrap();
        assert_eq!(
            (desired.org.as_str(), desired.app.as_str()),
            ("acme", "web")
        );
        assert_eq!(desired.release, 1);
        assert_eq!(desired.spec.spec(), &spec("web"));
        assert_eq!(desired.artifact, None);
        // Only the generated hostname is routed: the custom domains wait for their proof.
        assert_eq!(desired.hostnames.as_slice(), &hosts[..1]);
        assert_eq!(
            app.hostnames.len(),
            3,
            "all three are stored: {:?}",
            app.hostnames
        );

        // The store keeps what it is given; what no longer passes the checks is refused when
        // it is read for a runtime.
        let mut broken = spec("web");
        broken.port = 0;
        store
            .record_deploy("acme", &broken, &hosts, "deploy", T0 + 1)
            .await
            .unwrap();
        let v2 = store.get_release("acme", "web", 2).await.unwrap().unwrap();
        let err = v2.desired(&app.view()).unwrap_err();
        assert!(
            matches!(&err, DesiredError::Spec(e) if e.0[0].field == "app.port"),
            "{err:?}"
        );
        store
            .record_deploy("acme", &spec("web"), &[alias("shop")], "deploy", T0 + 2)
            .await
            .unwrap();
        let v3 = store.get_release("acme", "web", 3).await.unwrap().unwrap();
        // A routed hostname that no longer passes the hostname rules.
        let mut view = app.view();
        view.domains.truncate(1);
        view.domains[0].hostname = "shop".into();
        assert!(matches!(
            v3.desired(&view),
            Err(DesiredError::Hostnames(HostnameError::Invalid { host, .. })) if host == "shop"
        ));
    })
    .await;
}

#[tokio::test]
async fn transitions_activate_fail_and_record_events() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let s = spec("web");
        store
            .record_deploy("acme", &s, &[], "deploy", T0)
            .await
            .unwrap();
        store
            .transition_releases(
                "acme",
                "web",
                &[(1, ReleaseStatus::Active)],
                Some(1),
                None,
                T0 + 5,
            )
            .await
            .unwrap();
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(app.active_release, Some(1));

        store
            .record_deploy("acme", &s, &[], "deploy", T0 + 10)
            .await
            .unwrap();
        let failure =
            json!({"dimension": "workload", "reason": "CrashLoopBackOff", "message": "exit 1"});
        store
            .transition_releases(
                "acme",
                "web",
                &[(2, ReleaseStatus::Failed)],
                None,
                Some(&failure),
                T0 + 20,
            )
            .await
            .unwrap();
        let v2 = store.get_release("acme", "web", 2).await.unwrap().unwrap();
        assert_eq!(v2.status, ReleaseStatus::Failed);
        assert_eq!(v2.failure, Some(failure.clone()));
        let v1 = store.get_release("acme", "web", 1).await.unwrap().unwrap();
        assert_eq!(
            v1.status,
            ReleaseStatus::Active,
            "the previous active release is untouched"
        );
        assert_eq!(
            store
                .get_app("acme", "web")
                .await
                .unwrap()
                .unwrap()
                .active_release,
            Some(1)
        );

        let last = store
            .events_after("acme", "web", 0, 100)
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(last.kind, EventType::Release);
        assert_eq!(last.data["status"], "failed");
        assert_eq!(last.data["failure"], failure);

        let missing = store
            .transition_releases("acme", "web", &[(9, ReleaseStatus::Active)], None, None, T0)
            .await;
        assert!(missing.is_err(), "an unknown release is an error");
        store
            .set_release_artifact("acme", "web", 2, "sha256:feed")
            .await
            .unwrap();
        assert_eq!(
            store
                .get_release("acme", "web", 2)
                .await
                .unwrap()
                .unwrap()
                .artifact
                .as_deref(),
            Some("sha256:feed")
        );
    })
    .await;
}

#[tokio::test]
async fn status_work_and_ledger_persist() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        store
            .record_deploy("acme", &spec("web"), &[], "deploy", T0)
            .await
            .unwrap();
        store
            .record_deploy("acme", &spec("api"), &[], "deploy", T0)
            .await
            .unwrap();
        let status = doc(1, PlaneState::InProgress);
        store
            .save_status(
                "acme",
                "web",
                &status,
                &[(EventType::Phase, json!({"phase": "rolling_out"}))],
                1,
                T0 + 1,
            )
            .await
            .unwrap();
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(app.phase, Phase::RollingOut, "the document's phase");
        // Stamped with the generation it was saved at (a reader waiting for G knows when
        // the planes describe its request).
        let stamped = StatusDoc {
            generation: Some(1),
            ..status.clone()
        };
        assert_eq!(app.status, Some(stamped));
        let ev = store.events_after("acme", "web", 0, 100).await.unwrap();
        assert_eq!(ev.last().unwrap().data["phase"], "rolling_out");
        let wrote = |app: &'static str, v: u64| {
            let store = store.clone();
            async move {
                store
                    .save_status("acme", app, &doc(v, PlaneState::Ready), &[], 1, T0)
                    .await
                    .unwrap()
            }
        };
        assert!(!wrote("nope", 1).await);
        // A status for a release that is no longer the target is not written.
        assert!(!wrote("web", 7).await);
        // Nor one computed at a generation the app has moved past (a scale or restart kept
        // the release but started newer work).
        assert!(
            !store
                .save_status("acme", "web", &doc(1, PlaneState::Ready), &[], 0, T0)
                .await
                .unwrap()
        );
        assert_eq!(
            store.get_app("acme", "web").await.unwrap().unwrap().phase,
            Phase::RollingOut
        );

        store
            .set_work("acme", "api", Some(&Work::new(1)))
            .await
            .unwrap();
        assert_eq!(
            store.apps_with_work().await.unwrap(),
            vec![("acme".to_string(), "api".to_string())]
        );
        assert!(
            !store.advance_work("acme", "api", 2, 1, None).await.unwrap(),
            "v2 is not the target"
        );
        assert!(
            store
                .advance_work("acme", "api", 1, 1, Some(&Work::new(1).at(Step::Apply)))
                .await
                .unwrap()
        );
        assert!(
            !store.advance_work("acme", "api", 2, 1, None).await.unwrap(),
            "v2 is not the target"
        );
        let next = Work::new(1).at(Step::Apply);
        assert!(
            store
                .advance_work("acme", "api", 1, 1, Some(&next))
                .await
                .unwrap()
        );
        store.set_work("acme", "api", None).await.unwrap();
        assert!(store.apps_with_work().await.unwrap().is_empty());
        assert_eq!(store.all_apps().await.unwrap().len(), 2);

        let e = LedgerEntry {
            pid: 4242,
            start_ticks: 99,
            org: "acme".into(),
            app: "web".into(),
            release: 1,
            port: 40000,
            kind: ProcessKind::Replica,
        };
        store.ledger_record(&e, T0).await.unwrap();
        let build = LedgerEntry {
            pid: 7,
            port: 0,
            kind: ProcessKind::Build,
            ..e.clone()
        };
        store.ledger_record(&build, T0).await.unwrap();
        assert_eq!(
            store.ledger_all().await.unwrap(),
            vec![build, e.clone()],
            "a build's group is kept with its kind"
        );
        store.ledger_forget(7).await.unwrap();
        assert_eq!(store.ledger_all().await.unwrap(), vec![e]);
    })
    .await;
}

#[tokio::test]
async fn rollback_copies_the_snapshot_pins_and_the_next_deploy_unpins() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let mut s = spec("web");
        s.replicas = 1;
        let hosts = [common::generated("web-acme.test")];
        let input = DeployInput {
            spec: &s,
            hostnames: &hosts,
            source: "deploy",
            context: Some("sha256:c1"),
            start_work: true,
            sets_replicas: true,
            template: None,
        };
        store.record_deploy_with("acme", &input, T0).await.unwrap();
        store
            .set_release_artifact("acme", "web", 1, "sha256:a1")
            .await
            .unwrap();
        store
            .transition_releases(
                "acme",
                "web",
                &[(1, ReleaseStatus::Active)],
                Some(1),
                None,
                T0 + 1,
            )
            .await
            .unwrap();
        let mut s2 = s.clone();
        s2.replicas = 3;
        store
            .record_deploy("acme", &s2, &hosts, "deploy", T0 + 2)
            .await
            .unwrap();
        store
            .transition_releases(
                "acme",
                "web",
                &[(1, ReleaseStatus::Superseded), (2, ReleaseStatus::Active)],
                Some(2),
                None,
                T0 + 3,
            )
            .await
            .unwrap();
        assert_eq!(store.previous_active("acme", "web").await.unwrap(), Some(1));

        let rb = store
            .record_rollback("acme", "web", 1, true, T0 + 4)
            .await
            .unwrap();
        assert_eq!((rb.release, rb.from, rb.generation), (3, 1, 3));
        assert_eq!(
            rb.artifact.as_deref(),
            Some("sha256:a1"),
            "never rebuilt: the snapshot's artifact"
        );
        let v3 = store.get_release("acme", "web", 3).await.unwrap().unwrap();
        assert_eq!(v3.source, "rollback(from=v1)");
        assert_eq!(v3.spec, s, "v1's spec, not the current one");
        assert_eq!(v3.context.as_deref(), Some("sha256:c1"));
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(app.spec, s);
        assert_eq!(app.target_release, Some(3));
        assert_eq!(app.work, Some(Work::new(3)));
        assert!(
            store
                .record_rollback("acme", "web", 42, false, T0)
                .await
                .is_err(),
            "unknown release"
        );
        assert!(
            store
                .record_rollback("acme", "nope", 1, false, T0)
                .await
                .is_err(),
            "unknown app"
        );

        let next = store
            .record_deploy("acme", &s2, &hosts, "deploy", T0 + 5)
            .await
            .unwrap();
        assert_eq!(next.unpinned, Some(3), "the next deploy unpins and says so");
        let again = store
            .record_deploy("acme", &s2, &hosts, "deploy", T0 + 6)
            .await
            .unwrap();
        assert_eq!(again.unpinned, None);

        // A rollback whose release fails leaves no pin behind.
        let rb = store
            .record_rollback("acme", "web", 1, false, T0 + 7)
            .await
            .unwrap();
        store
            .transition_releases(
                "acme",
                "web",
                &[(rb.release, ReleaseStatus::Failed)],
                None,
                None,
                T0 + 8,
            )
            .await
            .unwrap();
        let after = store
            .record_deploy("acme", &s2, &hosts, "deploy", T0 + 9)
            .await
            .unwrap();
        assert_eq!(after.unpinned, None, "a failed rollback pinned nothing");
    })
    .await;
}

#[tokio::test]
async fn drift_findings_open_refresh_heal_and_reopen() {
    use satusky_store::{FindingChange, Observed};
    use satusky_types::DriftOwner;
    on_each_backend(|Ctx { store, .. }| async move {
        let o = Observed {
            hostname: "web-acme.test",
            plane: "route",
            expected: "served",
            observed: "missing",
            owner: DriftOwner::Platform,
            remediation: None,
        };
        assert_eq!(
            store.observe_finding("acme", "web", &o, T0).await.unwrap(),
            FindingChange::Opened
        );
        assert_eq!(
            store
                .observe_finding("acme", "web", &o, T0 + 10)
                .await
                .unwrap(),
            FindingChange::Refreshed
        );
        let f = store.list_findings("acme", "web").await.unwrap();
        assert_eq!(
            (f[0].first_seen_ms, f[0].last_seen_ms, f[0].healed_at_ms),
            (T0, T0 + 10, None)
        );
        assert_eq!(
            store.open_findings_by_plane().await.unwrap(),
            vec![("route".to_string(), 1)]
        );
        assert!(
            store
                .heal_finding("acme", "web", "web-acme.test", "route", T0 + 20)
                .await
                .unwrap()
        );
        assert!(
            !store
                .heal_finding("acme", "web", "web-acme.test", "route", T0 + 21)
                .await
                .unwrap()
        );
        assert!(store.open_findings_by_plane().await.unwrap().is_empty());
        assert_eq!(
            store.list_findings("acme", "web").await.unwrap()[0]
                .to_wire()
                .healed_at
                .as_deref(),
            Some("2026-11-18T11:06:40.020Z")
        );
        assert_eq!(
            store
                .observe_finding("acme", "web", &o, T0 + 30)
                .await
                .unwrap(),
            FindingChange::Opened,
            "drift came back"
        );
        let f = store.list_findings("acme", "web").await.unwrap();
        assert_eq!((f[0].first_seen_ms, f[0].healed_at_ms), (T0 + 30, None));
    })
    .await;
}

#[tokio::test]
async fn an_app_created_again_continues_the_event_sequence_and_starts_without_findings() {
    use satusky_store::Observed;
    use satusky_types::DriftOwner;
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let hosts = [common::generated("web-acme.test")];
        store
            .record_deploy("acme", &spec("web"), &hosts, "deploy", T0)
            .await
            .unwrap();
        let first_life = store.events_after("acme", "web", 0, 100).await.unwrap();
        let last = first_life.last().unwrap().seq;
        let o = Observed {
            hostname: "web-acme.test",
            plane: "dns",
            expected: "A 127.0.0.1",
            observed: "A 10.9.9.9",
            owner: DriftOwner::Platform,
            remediation: None,
        };
        store.observe_finding("acme", "web", &o, T0).await.unwrap();

        store.delete_app("acme", "web").await.unwrap().unwrap();
        store
            .record_deploy("acme", &spec("web"), &hosts, "deploy", T0 + 1)
            .await
            .unwrap();
        // A follower still at `since=last` sees every event of the new app.
        let second_life = store.events_after("acme", "web", last, 100).await.unwrap();
        assert_eq!(
            second_life.first().map(|e| e.seq),
            Some(last + 1),
            "{second_life:?}"
        );
        assert!(
            store
                .events_after("acme", "web", 0, 100)
                .await
                .unwrap()
                .len()
                == second_life.len(),
            "the old app's events are gone"
        );
        assert!(
            store.list_findings("acme", "web").await.unwrap().is_empty(),
            "the old app's drift findings are gone"
        );
        // Deleted twice, created a third time: still moving forward.
        let last = second_life.last().unwrap().seq;
        store.delete_app("acme", "web").await.unwrap().unwrap();
        store
            .record_deploy("acme", &spec("web"), &hosts, "deploy", T0 + 2)
            .await
            .unwrap();
        let third = store.events_after("acme", "web", 0, 100).await.unwrap();
        assert_eq!(third.first().map(|e| e.seq), Some(last + 1));
    })
    .await;
}

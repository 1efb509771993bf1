//! The engine's executor against a real store (SQLite in a temporary directory) and the
//! testkit's scripted `FakeRuntime` / `FakeProber`: what the step function decides is saved —
//! status document, events, release statuses, artifact, work — and the runtime is asked for
//! exactly the actions decided, also when the control plane restarts mid-rollout.

use std::sync::Arc;
use std::time::Duration;

use satusky_core::engine::Step;
use satusky_core::runtime::{BuildFailure, BuildOutput};
use satusky_server::{Engine, EngineConfig, EventHub};
use satusky_store::{DeployInput, Store};
use satusky_testkit::fake::{Call, FakeProber, FakeRuntime, observed};
use satusky_testkit::spec;
use satusky_types::{EventType, Phase, ReleaseStatus};

const ORG: &str = "acme";
const ZONE: &str = "apps.test";

async fn store(dir: &tempfile::TempDir) -> Store {
    let store = Store::open_sqlite_file(&dir.path().join("satusky.db"))
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    store.ensure_org(ORG).await.expect("org");
    store
}

fn engine(store: &Store, runtime: &Arc<FakeRuntime>) -> Engine {
    Engine::new(
        store.clone(),
        runtime.clone(),
        Some(FakeProber::new()),
        EventHub::new(),
        EngineConfig {
            probe_interval: Duration::from_secs(3600),
            dns_zone: ZONE.parse().expect("a zone"),
            build_timeout: Duration::from_secs(600),
        },
    )
}

/// Accept a deploy of `app` with an uploaded context, as the API does.
async fn deploy(store: &Store, app: &str) -> u64 {
    let spec = spec::app(app);
    let hostnames = [spec::generated(ORG, app, ZONE)];
    let input = DeployInput {
        spec: &spec,
        hostnames: &hostnames,
        source: "deploy",
        context: Some("sha256:0123"),
        start_work: true,
        sets_replicas: true,
        template: None,
    };
    store
        .record_deploy_with(ORG, &input, satusky_core::time::now_ms())
        .await
        .expect("deploy")
        .release
}

/// Wait until `app` has no pending work.
async fn settled(store: &Store, app: &str) -> satusky_store::AppRecord {
    for _ in 0..200 {
        let rec = store.get_app(ORG, app).await.unwrap().unwrap();
        if rec.work.is_none() {
            return rec;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the work on {app} did not finish");
}

async fn events(store: &Store, app: &str, kind: EventType) -> Vec<serde_json::Value> {
    store
        .events_after(ORG, app, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.data)
        .collect()
}

#[tokio::test]
async fn a_deploy_is_driven_to_ready_and_every_decision_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let runtime = FakeRuntime::new();
    runtime
        .on_build(
            Ok(BuildOutput {
                artifact: "sha256:art".into(),
                reused: false,
            }),
            &["step 1/2", "step 2/2"],
        )
        .on_observe(Ok(observed(1, 1, 0)))
        .on_observe(Ok(observed(1, 1, 1)));
    let engine = engine(&store, &runtime);
    engine.start().await;
    let v = deploy(&store, "web").await;
    engine.kick(ORG, "web");
    let rec = settled(&store, "web").await;

    assert_eq!(rec.phase, Phase::Ready);
    assert_eq!(rec.active_release, Some(v));
    let release = store.get_release(ORG, "web", v).await.unwrap().unwrap();
    assert_eq!(release.status, ReleaseStatus::Active);
    assert_eq!(release.artifact.as_deref(), Some("sha256:art"));
    let view = rec.view();
    let doc = view.status.expect("a status document");
    assert_eq!(doc.build.message, "built sha256:art");
    assert_eq!(doc.workload.plane.message, "1/1 ready");
    assert!(doc.endpoints.iter().all(|e| e.is_ready()));

    let phases: Vec<_> = events(&store, "web", EventType::Phase)
        .await
        .iter()
        .map(|d| d["phase"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(phases, ["accepted", "building", "rolling_out", "ready"]);
    let log: Vec<_> = events(&store, "web", EventType::BuildLog)
        .await
        .iter()
        .map(|d| d["line"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(log, ["step 1/2", "step 2/2"]);

    let calls = runtime.calls();
    assert!(matches!(&calls[0], Call::Build(r) if r.release == v && r.context == "sha256:0123"));
    assert!(matches!(&calls[1], Call::Apply(d) if d.artifact.as_deref() == Some("sha256:art")));
    assert_eq!(runtime.count(|c| matches!(c, Call::Observe)), 2);
    assert_eq!(runtime.count(|c| matches!(c, Call::Routes(_))), 1);
}

#[tokio::test]
async fn a_failed_build_fails_the_release_and_nothing_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let runtime = FakeRuntime::new();
    runtime.on_build(
        Err(BuildFailure {
            message: "exit status 1".into(),
            log_tail: vec!["cannot find crate".into()],
            timed_out: false,
        }),
        &["cannot find crate"],
    );
    let engine = engine(&store, &runtime);
    engine.start().await;
    let v = deploy(&store, "web").await;
    engine.kick(ORG, "web");
    let rec = settled(&store, "web").await;

    assert_eq!(rec.phase, Phase::Failed);
    let release = store.get_release(ORG, "web", v).await.unwrap().unwrap();
    assert_eq!(release.status, ReleaseStatus::Failed);
    let failure = release.failure.expect("a failure record");
    assert_eq!(failure["dimension"], "build");
    assert_eq!(failure["message"], "exit status 1\ncannot find crate");
    assert_eq!(runtime.count(|c| matches!(c, Call::Apply(_))), 0);
}

/// Wait until `app`'s work is at `step`.
async fn at_step(store: &Store, app: &str, step: Step) {
    for _ in 0..200 {
        let rec = store.get_app(ORG, app).await.unwrap().unwrap();
        if rec.view().work.is_some_and(|w| w.step == step) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the work on {app} never reached {step:?}");
}

#[test]
fn a_restart_mid_rollout_restores_the_active_release_then_applies_the_new_one_again() {
    let dir = tempfile::tempdir().unwrap();

    // v1 live, then v2 built and mid-rollout (the runtime still reports v1) when the control
    // plane dies: its runtime and every task of it are dropped.
    let first = FakeRuntime::new();
    first.on_observe(Ok(observed(1, 1, 1)));
    let died = tokio::runtime::Runtime::new().unwrap();
    let v2 = died.block_on(async {
        let store = store(&dir).await;
        let engine = engine(&store, &first);
        engine.start().await;
        deploy(&store, "web").await;
        engine.kick(ORG, "web");
        settled(&store, "web").await;
        let v2 = deploy(&store, "web").await;
        engine.kick(ORG, "web");
        at_step(&store, "web", Step::Rollout).await;
        v2
    });
    died.shutdown_background();

    // The new process restores v1 first, then applies v2 again and observes it.
    let second = FakeRuntime::new();
    second
        .on_observe(Ok(observed(1, 1, 1)))
        .on_observe(Ok(observed(v2, 1, 1)));
    let restarted = tokio::runtime::Runtime::new().unwrap();
    restarted.block_on(async {
        let store = store(&dir).await;
        let engine = engine(&store, &second);
        engine.start().await;
        let rec = settled(&store, "web").await;

        let applies: Vec<u64> = second
            .calls()
            .iter()
            .filter_map(|c| match c {
                Call::Apply(d) => Some(d.release),
                _ => None,
            })
            .collect();
        assert_eq!(applies, [1, v2], "restore v1, then resume v2 at its apply");
        assert_eq!(
            second.count(|c| matches!(c, Call::Build(_))),
            0,
            "v2 was built already"
        );
        assert_eq!(rec.active_release, Some(v2));
        assert_eq!(rec.phase, Phase::Ready);
        let releases = store.list_releases(ORG, "web").await.unwrap();
        let statuses: Vec<_> = releases.iter().map(|r| (r.version, r.status)).collect();
        assert_eq!(
            statuses,
            [(v2, ReleaseStatus::Active), (1, ReleaseStatus::Superseded)]
        );
    });
}

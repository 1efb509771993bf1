//! An app stays observed after its deploy (issue 12, acceptance 1, local runtime): real
//! replicas of the test server that crash a few seconds after becoming ready, or whose health
//! path turns to 500, move the active release's workload plane (`failed` with
//! `CrashLoopBackOff` and the last output, or `ReadinessFailing` with the status) and the
//! phase within 5 s, with events — and back to `ready` by themselves once the app recovers
//! (a file the test server checks). No timer drives it: the supervisor reports each change.

mod drift_common;

use std::time::{Duration, Instant};

use drift_common::{Api, ORG, eventually};
use satusky_types::EventType;
use serde_json::Value;

struct Env {
    _dir: tempfile::TempDir,
    stack: satusky_stack::LocalStack,
    api: Api,
    store: satusky_store::Store,
    fixed: std::path::PathBuf,
}

async fn start() -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (store, token, _) = drift_common::store(dir.path()).await;
    let stack = drift_common::local_stack(&dir.path().join("state"), store.clone()).await;
    stack.engine.start().await;
    let api = Api {
        router: satusky_server::router(stack.state.clone()),
        token,
    };
    let fixed = dir.path().join("fixed");
    Env {
        _dir: dir,
        stack,
        api,
        store,
        fixed,
    }
}

/// The workload plane of `app`'s status.
async fn workload(api: &Api, app: &str) -> (Value, Value) {
    let s = api.status(app).await;
    (s["workload"].clone(), s["phase"].clone())
}

/// Wait until the workload plane has `state` and `reason`; the plane and how long it took.
async fn wait_plane(
    api: &Api,
    app: &str,
    state: &str,
    reason: &str,
    within: Duration,
) -> (Value, Duration) {
    let t0 = Instant::now();
    loop {
        let s = api.status(app).await;
        let p = &s["workload"];
        if p["state"] == state && p["reason"] == reason {
            return (p.clone(), t0.elapsed());
        }
        assert!(
            t0.elapsed() < within,
            "{app}'s workload plane is not {state} {reason} after {within:?}: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `plane` events of `app`'s workload and its `phase` events, as (state|phase, reason).
async fn workload_events(store: &satusky_store::Store, app: &str) -> Vec<String> {
    store
        .events_after(ORG, app, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventType::Plane if e.data["plane"] == "workload" => Some(format!(
                "workload {} {}",
                e.data["state"].as_str().unwrap_or(""),
                e.data["reason"].as_str().unwrap_or("")
            )),
            EventType::Phase => Some(format!("phase {}", e.data["phase"].as_str().unwrap_or(""))),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_crashes_after_its_deploy_is_seen_failing_and_seen_recovering() {
    let env = start().await;
    let fixed = env.fixed.display().to_string();
    let spec = drift_common::test_app_spec(
        "crashy",
        &["--crash-after-ms", "4000", "--unless-file", &fixed],
    );
    let v1 = env.api.deploy_spec("crashy", spec).await;
    env.api.wait_ready("crashy", v1).await;

    // It crashes ~4 s after start: the workload plane fails within 5 s, quoting its output.
    let (plane, took) = wait_plane(
        &env.api,
        "crashy",
        "failed",
        "CrashLoopBackOff",
        Duration::from_secs(9),
    )
    .await;
    let message = plane["message"].as_str().unwrap();
    assert!(
        message.contains("crashing as asked"),
        "the last output is quoted: {message}"
    );
    assert!(message.contains("exited"), "{message}");
    assert!(
        plane["remediation"].as_str().is_some_and(|r| !r.is_empty()),
        "{plane:#}"
    );
    assert_eq!(
        workload(&env.api, "crashy").await.1,
        "failed",
        "no replica serves"
    );
    let s = env.api.status("crashy").await;
    assert_eq!(s["active_release"], v1, "it stays the active release");
    eprintln!("crash seen after {took:?} of waiting");

    // Fixed (the next start behaves): ready again by itself, once up for the stable window.
    std::fs::write(&env.fixed, b"").unwrap();
    wait_plane(
        &env.api,
        "crashy",
        "ready",
        "RolloutComplete",
        Duration::from_secs(40),
    )
    .await;
    eventually("phase ready again", Duration::from_secs(20), || async {
        (workload(&env.api, "crashy").await.1 == "ready").then_some(())
    })
    .await;
    let events = workload_events(&env.store, "crashy").await;
    let after_deploy: Vec<&String> = events.iter().skip_while(|e| *e != "phase ready").collect();
    for want in [
        "workload failed CrashLoopBackOff",
        "phase failed",
        "workload ready RolloutComplete",
        "phase ready",
    ] {
        assert!(
            after_deploy.iter().any(|e| *e == want),
            "event `{want}` after the deploy: {events:#?}"
        );
    }
    env.stack.runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_path_that_turns_bad_after_the_deploy_fails_the_workload_until_it_recovers() {
    let env = start().await;
    let fixed = env.fixed.display().to_string();
    let spec = drift_common::test_app_spec(
        "sour",
        &["--fail-health-after-ms", "4000", "--unless-file", &fixed],
    );
    let v1 = env.api.deploy_spec("sour", spec).await;
    env.api.wait_ready("sour", v1).await;

    let (plane, took) = wait_plane(
        &env.api,
        "sour",
        "failed",
        "ReadinessFailing",
        Duration::from_secs(12),
    )
    .await;
    let message = plane["message"].as_str().unwrap();
    assert!(message.contains("500"), "the status is quoted: {message}");
    assert!(
        message.contains("health turned bad"),
        "the body is quoted: {message}"
    );
    assert!(
        plane["remediation"].as_str().is_some_and(|r| !r.is_empty()),
        "{plane:#}"
    );
    assert_eq!(workload(&env.api, "sour").await.1, "failed");
    eprintln!("bad health seen after {took:?} of waiting");

    std::fs::write(&env.fixed, b"").unwrap();
    wait_plane(
        &env.api,
        "sour",
        "ready",
        "RolloutComplete",
        Duration::from_secs(10),
    )
    .await;
    env.stack.runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_of_two_killed_after_the_deploy_degrades_the_app_until_it_is_back() {
    let env = start().await;
    let mut spec = drift_common::test_app_spec("pair", &[]);
    spec["replicas"] = serde_json::json!(2);
    let v1 = env.api.deploy_spec("pair", spec).await;
    env.api.wait_ready("pair", v1).await;

    let pid = env
        .stack
        .runtime
        .replicas(ORG, "pair")
        .iter()
        .find_map(|r| r.pid)
        .expect("a running replica");
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let (mut plane, took) = wait_plane(
        &env.api,
        "pair",
        "in_progress",
        "ReplicasUnavailable",
        Duration::from_secs(5),
    )
    .await;
    // The cause shows within the same 5 s. (Known gap: on a loaded machine the first report
    // can come after the supervisor already restarted the replica, and says "the runtime
    // gives no cause" until the exit is reported.)
    let t0 = Instant::now();
    while !plane["message"]
        .as_str()
        .is_some_and(|m| m.contains("was killed by signal 9"))
        && t0.elapsed() + took < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        plane = env.api.status("pair").await["workload"].clone();
    }
    let message = plane["message"].as_str().unwrap();
    assert!(
        message.starts_with("v1 serves on 1/2 replicas"),
        "{message}"
    );
    assert!(message.contains("was killed by signal 9"), "{message}");
    assert!(
        plane["remediation"].as_str().is_some_and(|r| !r.is_empty()),
        "{plane:#}"
    );
    assert_eq!(workload(&env.api, "pair").await.1, "degraded");
    eprintln!("the kill seen after {took:?}");

    // Restarted at once and stable for the window: ready again by itself.
    wait_plane(
        &env.api,
        "pair",
        "ready",
        "RolloutComplete",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(workload(&env.api, "pair").await.1, "ready");
    env.stack.runtime.shutdown().await;
}

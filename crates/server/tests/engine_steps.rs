//! The engine's step function (`satusky_core::engine::next`) transition by transition,
//! synchronously, against the testkit's scripted `FakeRuntime` / `FakeProber`: each case
//! asserts the status document the step saves, the events it produces, how the release and
//! the work move, and what the executor is told to do next.

use std::time::Duration;

use satusky_core::engine::{
    Action, ENDPOINT_RECHECK, ENDPOINT_SETTLE, OBSERVE_EVERY, Operation, RETRY_AFTER,
    ReleaseChange, Step, WorkChange, recheck, resume_after_restart,
};
use satusky_core::runtime::{BuildFailure, BuildOutput, ProbedEndpoint, RuntimeError};
use satusky_testkit::fake::{Call, all_ready, observed};
use satusky_testkit::sim::{Sim, T0, validated};
use satusky_testkit::spec;
use satusky_types::{EventType, Phase, Plane, PlaneState, Reason, ReleaseStatus};

const CONTEXT: &str = "sha256:0123";
/// The generated hostname of acme/web in the sim's zone.
const HOST: &str = "web-acme.apps.test";

fn sim() -> Sim {
    Sim::deploy("acme", "web", spec::app("web"), Some(CONTEXT))
}

/// A sim whose v1 has been built and applied: the next step observes the rollout.
fn at_rollout() -> Sim {
    let mut s = sim();
    for _ in 0..4 {
        s.step(); // build, built, apply, applied
    }
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Rollout));
    s
}

/// A sim whose v1 is active: the next step probes its endpoints.
fn at_endpoints() -> Sim {
    let mut s = at_rollout();
    s.runtime.on_observe(Ok(observed(1, 1, 1)));
    s.step(); // observe
    s.step(); // ready → activate
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Endpoints));
    s
}

/// The events of one decision, one line each: `PLANE STATE REASON` (endpoint planes as
/// `HOST/PLANE`), `rollout READY/DESIRED`, `phase PHASE`.
fn events(d: &satusky_core::engine::Decision) -> Vec<String> {
    d.events
        .iter()
        .map(|(kind, v)| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            match kind {
                EventType::Plane => {
                    let plane = match v["hostname"].as_str() {
                        Some(h) => format!("{}/{}", h.split('.').next().unwrap_or(h), s("plane")),
                        None => s("plane"),
                    };
                    format!("{plane} {} {}", s("state"), s("reason"))
                }
                EventType::Rollout => format!("rollout {}/{}", v["ready"], v["desired"]),
                EventType::Phase => format!("phase {}", s("phase")),
                other => format!("{other:?}"),
            }
        })
        .collect()
}

fn doc(s: &Sim) -> &satusky_core::engine::StatusDoc {
    s.app.status.as_ref().expect("a status document")
}

/// The `plane` events of `plane` (`build`, `workload`, `http`, …) as (state, reason).
fn plane_events(s: &Sim, plane: &str) -> Vec<(String, String)> {
    s.events_of(EventType::Plane)
        .into_iter()
        .filter(|v| v["plane"] == plane)
        .map(|v| {
            (
                v["state"].as_str().unwrap_or_default().to_string(),
                v["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn phases(s: &Sim) -> Vec<String> {
    s.events_of(EventType::Phase)
        .into_iter()
        .map(|v| v["phase"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn failed_build(message: &str, tail: &[&str], timed_out: bool) -> BuildFailure {
    BuildFailure {
        message: message.to_string(),
        log_tail: tail.iter().map(|l| l.to_string()).collect(),
        timed_out,
    }
}

// -- build

#[test]
fn a_build_starts_with_the_building_plane_and_the_whole_timeout() {
    let mut s = sim();
    let mut with_command = spec::app("web");
    with_command.build.command = Some("make".into());
    s.releases[0].view.spec = validated(with_command);
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "build in_progress Building",
            "workload pending RolloutPending",
            "rollout 0/1",
            "web-acme/metadata ready Stored",
            "web-acme/route pending Waiting",
            "web-acme/dns pending Waiting",
            "web-acme/tls pending Waiting",
            "web-acme/http pending Waiting",
            "phase building"
        ]
    );
    let Action::Build(req) = &d.action else {
        panic!("expected a build, got {:?}", d.action);
    };
    assert_eq!(req.context, CONTEXT);
    assert_eq!(req.release, 1);
    assert_eq!(req.timeout, Some(Duration::from_secs(30 * 60)));
    assert_eq!(doc(&s).build.state, PlaneState::InProgress);
    assert_eq!(doc(&s).build.message, "running `make`");
    assert_eq!(
        d.work,
        WorkChange::Set(satusky_core::engine::Work {
            build_started_ms: Some(T0),
            ..satusky_core::engine::Work::new(1)
        })
    );
    assert_eq!(
        plane_events(&s, "build"),
        [("in_progress".into(), "Building".into())]
    );
    assert_eq!(phases(&s), ["building"]);
}

#[test]
fn a_build_without_a_command_says_it_unpacks_the_context() {
    let mut s = sim();
    let d = s.decide();
    assert_eq!(events(&d)[0], "build in_progress Building");
    assert_eq!(
        doc(&s).build.message,
        "unpacking the context (no build command)"
    );
}

#[test]
fn a_finished_build_records_the_artifact_and_moves_to_apply() {
    let mut s = sim();
    s.runtime.on_build(
        Ok(BuildOutput {
            artifact: "sha256:art".into(),
            reused: false,
        }),
        &["compiling", "done"],
    );
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "build ready Built",
            "workload pending RolloutPending",
            "phase rolling_out"
        ]
    );
    assert_eq!(
        d.release,
        ReleaseChange::Artifact {
            version: 1,
            artifact: "sha256:art".into()
        }
    );
    assert_eq!(d.action, Action::Continue);
    assert_eq!(s.release(1).view.artifact.as_deref(), Some("sha256:art"));
    assert_eq!(doc(&s).build.state, PlaneState::Ready);
    assert_eq!(doc(&s).build.message, "built sha256:art");
    assert_eq!(doc(&s).workload.plane.reason, Reason::RolloutPending);
    assert_eq!(doc(&s).workload.plane.message, "starting the rollout");
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Apply));
    assert_eq!(*s.build_log.lock().unwrap(), ["compiling", "done"]);
    assert_eq!(phases(&s), ["building", "rolling_out"]);
}

#[test]
fn a_reused_build_says_so() {
    let mut s = sim();
    s.runtime.on_build(
        Ok(BuildOutput {
            artifact: "sha256:old".into(),
            reused: true,
        }),
        &[],
    );
    s.step();
    let d = s.decide();
    assert_eq!(doc(&s).build.message, "reused sha256:old");
    assert_eq!(
        events(&d),
        [
            "build ready Built",
            "workload pending RolloutPending",
            "phase rolling_out"
        ]
    );
}

#[test]
fn a_failed_build_fails_the_release_with_the_log_tail_and_a_fix() {
    let mut s = sim();
    s.runtime.on_build(
        Err(failed_build("exit status 2", &["error[E0425]: x"], false)),
        &[],
    );
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "build failed BuildFailed",
            "workload not_applicable NotApplicable",
            "phase failed"
        ]
    );
    assert_eq!(d.action, Action::Stop);
    assert_eq!(d.work, WorkChange::Done);
    let build = &doc(&s).build;
    assert_eq!(
        (build.state, build.reason),
        (PlaneState::Failed, Reason::BuildFailed)
    );
    assert_eq!(build.message, "exit status 2\nerror[E0425]: x");
    assert!(
        build
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("fix the build")
    );
    assert_eq!(doc(&s).workload.plane.state, PlaneState::NotApplicable);
    assert_eq!(doc(&s).workload.plane.reason, Reason::NotApplicable);
    assert_eq!(
        doc(&s).workload.plane.message,
        "not started: the build failed"
    );
    let r = s.release(1);
    assert_eq!(r.status, ReleaseStatus::Failed);
    assert_eq!(r.failure.as_ref().unwrap()["dimension"], "build");
    assert_eq!(r.failure.as_ref().unwrap()["reason"], "BuildFailed");
    assert!(s.app.work.is_none());
    assert_eq!(phases(&s), ["building", "failed"]);
}

#[test]
fn a_build_the_runtime_stopped_at_its_timeout_names_the_limit_and_the_setting() {
    let mut s = sim();
    s.runtime
        .on_build(Err(failed_build("", &["still compiling"], true)), &[]);
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "build failed BuildTimeout",
            "workload not_applicable NotApplicable",
            "phase failed"
        ]
    );
    let build = &doc(&s).build;
    assert_eq!(build.reason, Reason::BuildTimeout);
    assert!(build.message.contains("30m"), "{}", build.message);
    assert!(build.message.ends_with("still compiling"));
    assert!(
        build
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("build_timeout")
    );
    assert_eq!(s.release(1).status, ReleaseStatus::Failed);
}

#[test]
fn a_build_resumed_after_a_restart_gets_only_the_time_left() {
    let mut s = sim();
    s.decide(); // started at T0, then the control plane died
    s.restart();
    s.advance(Duration::from_secs(10 * 60));
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    let Action::Build(req) = d.action else {
        panic!("expected a build");
    };
    assert_eq!(req.timeout, Some(Duration::from_secs(20 * 60)));
    assert_eq!(d.work, WorkChange::Keep, "the first start is kept");
}

#[test]
fn a_build_resumed_past_its_timeout_fails_without_building() {
    let mut s = sim();
    s.decide();
    s.restart();
    s.advance(Duration::from_secs(31 * 60));
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "build failed BuildTimeout",
            "workload not_applicable NotApplicable",
            "phase failed"
        ]
    );
    assert_eq!(d.action, Action::Stop);
    assert_eq!(doc(&s).build.reason, Reason::BuildTimeout);
    assert_eq!(s.release(1).status, ReleaseStatus::Failed);
    assert_eq!(s.runtime.count(|c| matches!(c, Call::Build(_))), 0);
}

#[test]
fn a_rollback_reuses_its_snapshot_artifact_and_is_never_rebuilt() {
    let mut s = at_endpoints();
    s.run(10);
    let v2 = s.redeploy(spec::app("web"), None, Some("sha256:v1art"));
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "build ready Built",
            "workload pending RolloutPending",
            "rollout 0/1",
            "web-acme/route pending Waiting",
            "web-acme/dns pending Waiting",
            "web-acme/tls pending Waiting",
            "web-acme/http pending Waiting",
            "phase rolling_out"
        ]
    );
    assert_eq!(d.action, Action::Continue);
    assert_eq!(
        doc(&s).build.message,
        "reusing sha256:v1art (rollback(from=v1); not rebuilt)"
    );
    assert_eq!(
        s.app.work.as_ref().map(|w| (w.release, w.step)),
        Some((v2, Step::Apply))
    );
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    let Action::Apply(desired) = d.action else {
        panic!("expected an apply");
    };
    assert_eq!(desired.artifact.as_deref(), Some("sha256:v1art"));
    assert_eq!(
        s.runtime.count(|c| matches!(c, Call::Build(_))),
        1,
        "only v1 was built"
    );
}

#[test]
fn an_image_without_a_context_skips_the_build() {
    let mut spec = spec::app("web");
    spec.image = Some("registry.test/web:1".into());
    let mut s = Sim::deploy("acme", "web", spec, None);
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "build not_applicable ImageProvided",
            "workload pending RolloutPending",
            "rollout 0/1",
            "web-acme/metadata ready Stored",
            "web-acme/route pending Waiting",
            "web-acme/dns pending Waiting",
            "web-acme/tls pending Waiting",
            "web-acme/http pending Waiting",
            "phase rolling_out"
        ]
    );
    assert_eq!(d.action, Action::Continue);
    assert_eq!(doc(&s).build.reason, Reason::ImageProvided);
    assert_eq!(doc(&s).build.state, PlaneState::NotApplicable);
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Apply));
}

#[test]
fn nothing_to_build_or_run_fails_with_the_fix() {
    let mut s = Sim::deploy("acme", "web", spec::app("web"), None);
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "build failed BuildFailed",
            "workload pending RolloutPending",
            "rollout 0/1",
            "web-acme/metadata ready Stored",
            "web-acme/route pending Waiting",
            "web-acme/dns pending Waiting",
            "web-acme/tls pending Waiting",
            "web-acme/http pending Waiting",
            "phase failed"
        ]
    );
    assert_eq!(d.action, Action::Stop);
    let build = &doc(&s).build;
    assert_eq!(build.reason, Reason::BuildFailed);
    assert!(build.message.starts_with("nothing to build or run"));
    assert!(
        build
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("1ctl deploy")
    );
    assert_eq!(s.release(1).status, ReleaseStatus::Failed);
}

// -- apply

#[test]
fn apply_stamps_the_rollout_start_and_sends_the_release() {
    let mut s = sim();
    s.step();
    s.step();
    s.advance(Duration::from_secs(5));
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    let Action::Apply(desired) = &d.action else {
        panic!("expected an apply");
    };
    assert_eq!(desired.release, 1);
    assert_eq!(desired.artifact.as_deref(), Some("artifact-v1"));
    assert_eq!(desired.hostnames.as_slice(), s.app.hostnames.as_slice());
    assert_eq!(
        s.app.work.as_ref().and_then(|w| w.rollout_started_ms),
        Some(T0 + 5_000)
    );
    assert!(d.status.is_none() && d.events.is_empty());
}

#[test]
fn an_accepted_apply_moves_to_the_rollout() {
    let mut s = sim();
    s.step();
    s.step();
    s.step();
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert_eq!(d.action, Action::Continue);
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Rollout));
    assert!(d.status.is_none());
}

#[test]
fn a_refused_apply_is_retried_and_says_why() {
    let mut s = sim();
    s.runtime.on_apply(Err(RuntimeError::unavailable(
        "cannot reach the API server",
    )
    .with_source(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connection refused",
    ))));
    s.step();
    s.step();
    s.step();
    let d = s.decide();
    assert_eq!(events(&d), ["workload pending RolloutPending"]);
    assert_eq!(d.action, Action::Retry { after: RETRY_AFTER });
    let w = &doc(&s).workload.plane;
    assert_eq!(
        (w.state, w.reason),
        (PlaneState::Pending, Reason::RolloutPending)
    );
    assert_eq!(
        w.message,
        "the runtime refused the apply: cannot reach the API server: connection refused; retrying"
    );
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Apply));
    assert_eq!(s.release(1).status, ReleaseStatus::Pending);
    // The retry applies again, and keeps the first start for the progress deadline.
    let started = s.app.work.as_ref().and_then(|w| w.rollout_started_ms);
    s.perform(&d);
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert!(matches!(d.action, Action::Apply(_)));
    assert_eq!(
        s.app.work.as_ref().and_then(|w| w.rollout_started_ms),
        started
    );
}

#[test]
fn a_permanent_apply_error_fails_the_release_with_its_reason() {
    let mut s = sim();
    s.runtime.on_apply(Err(RuntimeError::failed(
        Reason::ErrImagePull,
        "image registry.test/web:9 not found",
    )));
    s.step();
    s.step();
    s.step();
    let d = s.decide();
    assert_eq!(events(&d), ["workload failed ErrImagePull", "phase failed"]);
    assert_eq!(d.action, Action::Stop);
    let w = &doc(&s).workload.plane;
    assert_eq!(
        (w.state, w.reason),
        (PlaneState::Failed, Reason::ErrImagePull)
    );
    assert_eq!(w.message, "image registry.test/web:9 not found");
    assert_eq!(
        s.release(1).failure.as_ref().unwrap()["dimension"],
        "workload"
    );
    assert_eq!(phases(&s).last().map(String::as_str), Some("failed"));
}

#[test]
fn a_rollback_whose_artifact_is_gone_fails_and_the_active_release_keeps_serving() {
    let mut s = at_endpoints();
    s.run(10);
    s.redeploy(spec::app("web"), None, Some("sha256:gone"));
    s.runtime.on_apply(Err(RuntimeError::failed(
        Reason::ErrImagePull,
        "artifact sha256:gone is no longer stored",
    )));
    let decisions = s.run(10);
    assert_eq!(decisions.last().map(|d| &d.action), Some(&Action::Stop));
    assert_eq!(s.release(2).status, ReleaseStatus::Failed);
    assert_eq!(s.release(1).status, ReleaseStatus::Active);
    assert_eq!(s.app.active_release, Some(1));
}

// -- rollout

#[test]
fn a_rollout_starts_by_observing_at_once() {
    let mut s = at_rollout();
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert_eq!(
        d.action,
        Action::Observe {
            after: Duration::ZERO
        }
    );
}

#[test]
fn a_status_of_the_previous_release_never_counts() {
    let mut s = at_rollout();
    s.runtime.on_observe(Ok(observed(0, 1, 1)));
    s.step();
    let d = s.decide();
    assert_eq!(events(&d), ["workload in_progress StaleObservation"]);
    assert_eq!(
        d.action,
        Action::Observe {
            after: OBSERVE_EVERY
        }
    );
    let w = &doc(&s).workload.plane;
    assert_eq!(
        (w.state, w.reason),
        (PlaneState::InProgress, Reason::StaleObservation)
    );
    assert_eq!(w.message, "the runtime still reports v0; waiting for v1");
}

#[test]
fn a_progressing_rollout_reports_its_replicas() {
    let mut s = at_rollout();
    let mut three = spec::app("web");
    three.replicas = 3;
    s.releases[0].view.spec = validated(three);
    s.runtime.on_observe(Ok(observed(1, 3, 1)));
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        ["workload in_progress Progressing", "rollout 1/3"]
    );
    let w = &doc(&s).workload;
    assert_eq!(w.plane.reason, Reason::Progressing);
    assert_eq!(w.plane.message, "1/3 ready, 1 updated");
    assert_eq!((w.replicas.desired, w.replicas.ready), (3, 1));
    let rollout = s.events_of(EventType::Rollout);
    assert_eq!(rollout.last().unwrap()["ready"], 1);
    assert_eq!(rollout.last().unwrap()["desired"], 3);
}

#[test]
fn old_replicas_still_running_keep_the_rollout_in_progress() {
    let mut s = at_rollout();
    let mut obs = observed(1, 1, 1);
    obs.old = 1;
    s.runtime.on_observe(Ok(obs));
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        ["workload in_progress Progressing", "rollout 1/1"]
    );
    assert_eq!(
        d.action,
        Action::Observe {
            after: OBSERVE_EVERY
        }
    );
    assert_eq!(
        doc(&s).workload.plane.message,
        "1/1 ready, 1 updated, 1 old still running"
    );
}

#[test]
fn a_complete_rollout_activates_the_release_and_moves_to_the_endpoints() {
    let mut s = at_rollout();
    s.runtime.on_observe(Ok(observed(1, 1, 1)));
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        ["workload ready RolloutComplete", "rollout 1/1"]
    );
    assert_eq!(d.release, ReleaseChange::Activate);
    assert_eq!(d.action, Action::Continue);
    let w = &doc(&s).workload.plane;
    assert_eq!(
        (w.state, w.reason),
        (PlaneState::Ready, Reason::RolloutComplete)
    );
    assert_eq!(w.message, "1/1 ready");
    assert_eq!(s.release(1).status, ReleaseStatus::Active);
    assert_eq!(s.app.active_release, Some(1));
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Endpoints));
}

#[test]
fn the_runtime_desired_count_wins_under_an_hpa() {
    let mut s = at_rollout();
    s.runtime.on_observe(Ok(observed(1, 4, 4)));
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        ["workload ready RolloutComplete", "rollout 4/4"]
    );
    assert_eq!(d.release, ReleaseChange::Activate);
    assert_eq!(doc(&s).workload.plane.message, "4/4 ready");
    assert_eq!(doc(&s).workload.replicas.desired, 4);
}

#[test]
fn a_crash_loop_fails_the_rollout_with_the_runtime_reason() {
    let mut s = at_rollout();
    let mut obs = observed(1, 1, 0);
    obs.failure = Some((Reason::CrashLoopBackOff, "exited 1 five times".into()));
    s.runtime.on_observe(Ok(obs));
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        ["workload failed CrashLoopBackOff", "phase failed"]
    );
    assert_eq!(d.action, Action::Stop);
    assert!(matches!(
        d.release,
        ReleaseChange::Fail {
            dimension: "workload",
            ..
        }
    ));
    let w = &doc(&s).workload.plane;
    assert_eq!(
        (w.state, w.reason),
        (PlaneState::Failed, Reason::CrashLoopBackOff)
    );
    assert_eq!(w.message, "exited 1 five times");
    assert_eq!(s.release(1).status, ReleaseStatus::Failed);
    assert_eq!(s.app.active_release, None);
}

#[test]
fn a_rollout_past_its_progress_deadline_fails() {
    let mut s = at_rollout();
    s.runtime.on_observe(Ok(observed(1, 2, 1)));
    s.advance(Duration::from_secs(601));
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "workload failed ProgressDeadlineExceeded",
            "rollout 1/2",
            "phase failed"
        ]
    );
    assert_eq!(d.action, Action::Stop);
    let w = &doc(&s).workload.plane;
    assert_eq!(w.reason, Reason::ProgressDeadlineExceeded);
    assert!(w.message.contains("(600s): 1/1 ready") || w.message.contains("progress deadline"));
}

#[test]
fn an_observe_error_is_retried_without_touching_the_status() {
    let mut s = at_rollout();
    s.runtime
        .on_observe(Err(RuntimeError::unavailable("connection reset")));
    s.step();
    let before = s.app.status.clone();
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert_eq!(d.action, Action::Retry { after: RETRY_AFTER });
    assert!(d.status.is_none() && d.events.is_empty());
    assert_eq!(s.app.status, before);
}

// -- endpoints

#[test]
fn the_endpoint_check_starts_at_once_and_stamps_its_start() {
    let mut s = at_endpoints();
    let now = s.now;
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert_eq!(
        d.action,
        Action::Probe {
            after: Duration::ZERO,
            serving: 1
        }
    );
    assert_eq!(
        s.app.work.as_ref().and_then(|w| w.endpoints_started_ms),
        Some(now)
    );
}

#[test]
fn ready_endpoints_finish_the_work_live() {
    let mut s = at_endpoints();
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "web-acme/route ready Accepted",
            "web-acme/dns ready ResolvesToEdge",
            "web-acme/tls ready CertificateValid",
            "web-acme/http ready ExpectedStatus",
            "phase ready"
        ]
    );
    assert_eq!(d.action, Action::Stop);
    assert_eq!(d.work, WorkChange::Done);
    assert!(doc(&s).endpoints.iter().all(|e| e.is_ready()));
    assert_eq!(s.app.phase, Phase::Ready);
    assert_eq!(phases(&s).last().map(String::as_str), Some("ready"));
    assert!(s.app.work.is_none());
    // The prober was told which release must answer.
    let seen = s.prober.as_ref().unwrap().seen();
    assert_eq!(seen[0][0].expect_release.as_deref(), Some("acme/web@v1"));
    assert!(seen[0][0].platform_owned);
}

fn http_failed() -> ProbedEndpoint {
    ProbedEndpoint {
        http: Plane::new(PlaneState::Failed, Reason::BadGateway, "502 from the edge"),
        ..all_ready(HOST)
    }
}

#[test]
fn a_failing_endpoint_is_rechecked_until_it_settles_then_reported_degraded() {
    let mut s = at_endpoints();
    let prober = s.prober.clone().unwrap();
    for _ in 0..40 {
        prober.on_probe(vec![http_failed()]);
    }
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "web-acme/route ready Accepted",
            "web-acme/dns ready ResolvesToEdge",
            "web-acme/tls ready CertificateValid",
            "web-acme/http failed BadGateway",
            "phase degraded"
        ]
    );
    assert_eq!(
        d.action,
        Action::Probe {
            after: ENDPOINT_RECHECK,
            serving: 1
        }
    );
    assert_eq!(s.app.phase, Phase::Degraded);
    let decisions = s.run(100);
    assert_eq!(decisions.last().map(|d| &d.action), Some(&Action::Stop));
    assert!(s.now - T0 >= ENDPOINT_SETTLE.as_millis() as i64);
    assert_eq!(s.app.phase, Phase::Degraded);
    assert_eq!(plane_events(&s, "http").last().unwrap().1, "BadGateway");
    assert!(
        s.app.work.is_none(),
        "the sweep keeps checking; the work is done"
    );
}

#[test]
fn endpoints_that_come_up_while_settling_end_ready() {
    let mut s = at_endpoints();
    let prober = s.prober.clone().unwrap();
    prober
        .on_probe(vec![http_failed()])
        .on_probe(vec![http_failed()]);
    s.run(20);
    assert_eq!(s.app.phase, Phase::Ready);
    let http = plane_events(&s, "http");
    assert_eq!(http.first().unwrap().1, "Waiting");
    assert_eq!(http.last().unwrap().1, "ExpectedStatus");
}

#[test]
fn routes_the_runtime_cannot_report_are_unknown_with_the_cause() {
    let mut s = at_endpoints();
    s.runtime
        .on_routes(Err(RuntimeError::unavailable("cannot list HTTPRoutes")
            .with_source(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the API server timed out",
            ))));
    s.step();
    let d = s.decide();
    let route = &doc(&s).endpoints[0].route;
    assert_eq!(
        (route.state, route.reason),
        (PlaneState::Unknown, Reason::NotChecked)
    );
    assert_eq!(
        route.message,
        "the runtime could not report routes: cannot list HTTPRoutes: the API server timed out"
    );
    assert_eq!(
        events(&d),
        [
            "web-acme/route unknown NotChecked",
            "web-acme/dns ready ResolvesToEdge",
            "web-acme/tls ready CertificateValid",
            "web-acme/http ready ExpectedStatus",
        ]
    );
}

#[test]
fn without_a_prober_the_probed_planes_are_unknown() {
    let mut s = at_endpoints();
    s.prober = None;
    s.step();
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "web-acme/route ready Accepted",
            "web-acme/dns unknown NotChecked",
            "web-acme/tls unknown NotChecked",
            "web-acme/http unknown NotChecked",
        ]
    );
    let e = &doc(&s).endpoints[0];
    for p in [&e.dns, &e.tls, &e.http] {
        assert_eq!(p.state, PlaneState::Unknown);
        assert_eq!(p.message, "no prober is configured");
    }
}

// -- superseded, missing, invalid, restart

#[test]
fn a_stored_release_that_no_longer_validates_fails_with_the_fix() {
    let mut s = sim();
    let d = satusky_core::engine::unusable_release(
        &s.app,
        1,
        "the stored spec no longer validates: cpu: …",
        s.now,
    );
    assert_eq!(
        (d.action.clone(), d.work.clone()),
        (Action::Stop, WorkChange::Done)
    );
    let w = &d.status.as_ref().unwrap().workload.plane;
    assert_eq!(
        (w.state, w.reason),
        (PlaneState::Failed, Reason::InvalidSpec)
    );
    assert!(
        w.remediation
            .as_deref()
            .unwrap_or_default()
            .contains("1ctl deploy")
    );
    assert!(matches!(
        d.release,
        ReleaseChange::Fail {
            dimension: "workload",
            ..
        }
    ));
    assert!(
        d.events
            .iter()
            .any(|(k, v)| *k == EventType::Phase && v["phase"] == "failed")
    );
    // Work that moved on to another release is left alone.
    s.redeploy(spec::app("web"), Some(CONTEXT), None);
    let d = satusky_core::engine::unusable_release(&s.app, 1, "x", s.now);
    assert_eq!((d.action, d.work), (Action::Stop, WorkChange::Keep));
}

#[test]
fn a_deploy_during_a_build_takes_over_and_the_old_artifact_stays_with_its_release() {
    let mut s = sim();
    s.step(); // v1's build runs …
    let v2 = s.redeploy(spec::app("web"), Some("sha256:4567"), None);
    let d = s.decide(); // … and finishes after v2 was accepted
    assert_eq!(d.action, Action::Continue);
    assert!(d.status.is_none());
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert_eq!(
        d.release,
        ReleaseChange::Artifact {
            version: 1,
            artifact: "artifact-v1".into()
        }
    );
    assert_eq!(s.release(1).status, ReleaseStatus::Superseded);
    let d = s.decide();
    assert_eq!(
        events(&d),
        [
            "web-acme/route pending Waiting",
            "web-acme/dns pending Waiting",
            "web-acme/tls pending Waiting",
            "web-acme/http pending Waiting"
        ]
    );
    let Action::Build(req) = d.action else {
        panic!("v2 builds next");
    };
    assert_eq!((req.release, req.context.as_str()), (v2, "sha256:4567"));
}

#[test]
fn an_observation_overtaken_by_a_deploy_is_not_applied() {
    let mut s = at_rollout();
    s.runtime.on_observe(Ok(observed(1, 1, 1)));
    s.step(); // observed v1 ready …
    s.redeploy(spec::app("web"), Some("sha256:4567"), None);
    let d = s.decide(); // … but v2 is the target now
    assert!(matches!(d.action, Action::Build(_)));
    // v1's ready observation wrote nothing: the workload plane still waits for a build.
    assert!(!events(&d).iter().any(|e| e.contains("RolloutComplete")));
    assert_eq!(doc(&s).workload.plane.reason, Reason::RolloutPending);
    assert_eq!(s.release(1).status, ReleaseStatus::Superseded);
    assert_eq!(s.app.active_release, None);
    assert_eq!(doc(&s).release, Some(2));
}

#[test]
fn work_that_names_a_missing_release_is_dropped() {
    let mut s = sim();
    s.releases.clear();
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert_eq!((d.action, d.work), (Action::Stop, WorkChange::Done));
    assert!(s.app.work.is_none());
    assert!(s.events.is_empty());
}

#[test]
fn no_work_means_nothing_to_do() {
    let mut s = at_endpoints();
    s.run(10);
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert_eq!((d.action, d.work), (Action::Stop, WorkChange::Keep));
}

#[test]
fn a_restart_during_the_rollout_applies_again_and_keeps_the_deadline() {
    let mut s = at_rollout();
    let started = s.app.work.as_ref().and_then(|w| w.rollout_started_ms);
    s.restart();
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Apply));
    let d = s.decide();
    assert!(events(&d).is_empty(), "{:?}", events(&d));
    assert!(matches!(d.action, Action::Apply(_)));
    assert_eq!(
        s.app.work.as_ref().and_then(|w| w.rollout_started_ms),
        started
    );
    s.runtime.on_observe(Ok(observed(1, 1, 1)));
    s.run(20);
    assert_eq!(s.app.phase, Phase::Ready);
    assert_eq!(s.runtime.count(|c| matches!(c, Call::Apply(_))), 2);
}

#[test]
fn a_restart_past_the_progress_deadline_fails_on_the_first_look() {
    let mut s = at_rollout();
    s.restart();
    s.advance(Duration::from_secs(700));
    s.runtime.on_observe(Ok(observed(1, 1, 0)));
    s.run(10);
    assert_eq!(
        doc(&s).workload.plane.reason,
        Reason::ProgressDeadlineExceeded
    );
    assert_eq!(s.release(1).status, ReleaseStatus::Failed);
}

#[test]
fn a_restart_during_the_endpoint_check_starts_its_settle_time_again() {
    let mut s = at_endpoints();
    s.step();
    assert!(
        s.app
            .work
            .as_ref()
            .and_then(|w| w.endpoints_started_ms)
            .is_some()
    );
    s.restart();
    let w = s.app.work.clone().unwrap();
    assert_eq!((w.step, w.endpoints_started_ms), (Step::Apply, None));
}

#[test]
fn a_restart_during_build_or_apply_resumes_that_step() {
    let mut s = sim();
    s.decide();
    assert_eq!(resume_after_restart(s.app.work.as_ref().unwrap()), None);
    s.step();
    s.step();
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Apply));
    assert_eq!(resume_after_restart(s.app.work.as_ref().unwrap()), None);
}

// -- the whole deploy, and the sweep

#[test]
fn a_deploy_runs_build_apply_rollout_endpoints_in_order() {
    let mut s = sim();
    s.runtime
        .on_observe(Ok(observed(1, 1, 0)))
        .on_observe(Ok(observed(1, 1, 1)));
    let decisions = s.run(30);
    let kinds: Vec<&str> = decisions
        .iter()
        .map(|d| match d.action {
            Action::Build(_) => "build",
            Action::Apply(_) => "apply",
            Action::Observe { .. } => "observe",
            Action::Probe { .. } => "probe",
            Action::Retry { .. } => "retry",
            Action::Continue => "continue",
            Action::Stop => "stop",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "build", "continue", "apply", "continue", "observe", "observe", "continue", "probe",
            "stop"
        ]
    );
    assert_eq!(phases(&s), ["building", "rolling_out", "ready"]);
    assert_eq!(s.release(1).status, ReleaseStatus::Active);
    let workload: Vec<&str> = s
        .events_of(EventType::Plane)
        .into_iter()
        .filter(|v| v["plane"] == "workload")
        .filter_map(|v| v["message"].as_str())
        .collect();
    assert_eq!(
        workload,
        [
            "waiting for the build",
            "starting the rollout",
            "0/1 ready, 0 updated",
            "1/1 ready"
        ]
    );
}

#[test]
fn the_sweep_rechecks_only_an_app_at_rest_with_an_active_release() {
    let mut s = at_endpoints();
    assert!(recheck(&s.app).is_none(), "work pending");
    s.run(10);
    let (serving, doc) = recheck(&s.app).expect("at rest");
    assert_eq!(serving, 1);
    assert_eq!(doc.release, Some(1));
    s.redeploy(spec::app("web"), Some("sha256:4567"), None);
    assert!(recheck(&s.app).is_none(), "a deploy is in progress");
}

#[test]
fn an_unchanged_recheck_writes_no_event() {
    let mut s = at_endpoints();
    s.run(10);
    let (_, old) = recheck(&s.app).unwrap();
    let mut again = old.clone();
    again.endpoints = satusky_core::engine::endpoint_reports(
        &s.app,
        old,
        &Ok(vec![satusky_testkit::fake::ready(Reason::Accepted)]),
        Some(&[all_ready(HOST)]),
        s.now + 60_000,
    );
    assert!(satusky_core::engine::status_events(&s.app, &again).is_empty());
}

// -- operations (scale, restart): the active release, never a new or a failed one

/// A sim whose v1 is active and settled (no work).
fn settled() -> Sim {
    let mut s = at_endpoints();
    s.run(20);
    assert!(s.app.work.is_none());
    assert_eq!(s.release(1).status, ReleaseStatus::Active);
    s
}

#[test]
fn a_scale_applies_the_active_release_with_the_new_count_and_never_activates_it_again() {
    let mut s = settled();
    s.operate(Operation::Scale { from: 1, to: 3 });
    let d = s.decide();
    assert_eq!(
        events(&d),
        ["workload in_progress Progressing", "phase rolling_out"]
    );
    assert_eq!(
        doc(&s).workload.plane.message,
        "scaling from 1 to 3 replicas"
    );
    assert_eq!(doc(&s).generation, None, "the store stamps the generation");
    let Action::Apply(desired) = &d.action else {
        panic!("{:?}", d.action)
    };
    assert_eq!((desired.release, desired.spec.replicas), (1, 3));
    s.perform(&d);
    s.step(); // applied → rollout
    s.runtime.on_observe(Ok(observed(1, 3, 3)));
    s.step(); // observe
    let d = s.decide();
    assert_eq!(d.release, ReleaseChange::None, "v1 is active already");
    assert_eq!(s.app.work.as_ref().map(|w| w.step), Some(Step::Endpoints));
    s.run(20);
    assert!(s.app.work.is_none());
    assert_eq!(doc(&s).workload.replicas.ready, 3);
    assert_eq!(s.release(1).status, ReleaseStatus::Active);
}

#[test]
fn a_restart_that_does_not_come_up_leaves_the_release_active_and_says_why() {
    let mut s = settled();
    s.operate(Operation::Restart);
    let d = s.step();
    let Action::Apply(desired) = &d.action else {
        panic!("{:?}", d.action)
    };
    assert_eq!(
        desired.restarted_at_ms,
        Some(s.now),
        "the runtime is told to restart"
    );
    assert!(doc(&s).workload.plane.message.starts_with("restarting"));
    s.step(); // applied → rollout
    let mut crashing = observed(1, 1, 0);
    crashing.failure = Some((Reason::CrashLoopBackOff, "exited with status 3".into()));
    s.runtime.on_observe(Ok(crashing));
    let decisions = s.run(10);
    let last = decisions.last().unwrap();
    assert_eq!(last.action, Action::Stop);
    assert!(
        decisions
            .iter()
            .all(|d| !matches!(d.release, ReleaseChange::Fail { .. })),
        "an operation never fails the release"
    );
    assert_eq!(s.release(1).status, ReleaseStatus::Active);
    assert_eq!(s.app.active_release, Some(1));
    assert_eq!(
        (doc(&s).workload.plane.state, doc(&s).workload.plane.reason),
        (PlaneState::Failed, Reason::CrashLoopBackOff)
    );
    assert!(s.app.work.is_none());
}

#[test]
fn an_apply_done_for_a_scale_never_counts_for_a_restart_asked_meanwhile() {
    let mut s = settled();
    s.operate(Operation::Scale { from: 1, to: 2 });
    let d = s.decide();
    s.perform(&d); // the scale's apply ran…
    s.operate(Operation::Restart); // …and a restart was asked before its outcome was saved
    let d = s.decide();
    let Action::Apply(desired) = &d.action else {
        panic!("the restart must be applied itself: {:?}", d.action)
    };
    assert!(desired.restarted_at_ms.is_some());
    assert_eq!(desired.spec.replicas, 2, "the scale stays");
}

// -- exposure

/// acme/web deployed with `expose = "tcp"` (an image: nothing to build).
fn tcp_sim() -> Sim {
    let mut tcp = spec::app("web");
    tcp.expose = satusky_types::Expose::Tcp;
    tcp.image = Some("redis:7".into());
    Sim::deploy("acme", "web", tcp, None)
}

#[test]
fn a_tcp_app_routes_nothing_and_its_endpoint_planes_are_not_public_from_the_start() {
    let mut s = tcp_sim();
    let d = s.step();
    let planes: Vec<String> = events(&d)
        .into_iter()
        .filter(|e| e.starts_with("web-acme/"))
        .collect();
    assert_eq!(
        planes,
        [
            "web-acme/metadata not_applicable NotPublic",
            "web-acme/route not_applicable NotPublic",
            "web-acme/dns not_applicable NotPublic",
            "web-acme/tls not_applicable NotPublic",
            "web-acme/http not_applicable NotPublic",
        ]
    );
    assert_eq!(
        doc(&s).endpoints[0].http.message,
        "expose = \"tcp\": a TCP service with no public hostname (nothing is routed, resolved, \
         certified or served); reach it inside the org at its internal_address"
    );
    let d = s.step(); // nothing to build: apply
    let Action::Apply(desired) = d.action else {
        panic!("an image is applied next: {:?}", d.action)
    };
    assert!(
        desired.hostnames.is_empty(),
        "no hostname is handed to the runtime: {:?}",
        desired.hostnames
    );
}

#[test]
fn a_tcp_app_is_ready_once_its_workload_is_and_nothing_is_probed() {
    let mut s = tcp_sim();
    s.runtime.on_observe(Ok(observed(1, 1, 1)));
    s.run(20);
    assert_eq!(s.app.phase, Phase::Ready);
    assert_eq!(s.releases[0].status, ReleaseStatus::Active);
    assert!(
        s.runtime
            .calls()
            .iter()
            .all(|c| !matches!(c, Call::Routes(_) | Call::Probe(_))),
        "{:?}",
        s.runtime.calls()
    );
    let e = &doc(&s).endpoints[0];
    assert!(
        e.planes()
            .iter()
            .all(|(_, p)| p.reason == Reason::NotPublic)
    );
    assert!(s.app.routed_hostnames().is_empty());
    assert_eq!(
        s.prober.as_ref().map(|p| p.seen().len()),
        Some(0),
        "the prober is never asked"
    );
}

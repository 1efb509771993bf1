//! Unit tests of [`super::verdict`]: every exit code of SPEC §5 and the waiting cases.

use satusky_types::{
    EndpointReport, HostnameKind, Phase, Plane, PlaneState, ReadinessReport, Reason, ReleaseInfo,
    ReleaseStatus, ReplicaCounts, WorkloadPlane,
};

use super::*;
use crate::cli::WaitFor::{Build, Endpoint, Workload};

use PlaneState::{Failed, InProgress, NotApplicable, Pending, Ready, Unknown};

fn plane(state: PlaneState) -> Plane {
    Plane::new(state, Reason::NotChecked, "")
}

fn endpoint(states: [PlaneState; 5]) -> EndpointReport {
    EndpointReport {
        hostname: "api-acme.apps.test".into(),
        kind: HostnameKind::Generated,
        metadata: plane(states[0]),
        route: plane(states[1]),
        dns: plane(states[2]),
        tls: plane(states[3]),
        http: plane(states[4]),
    }
}

fn report(target: Option<u64>, build: PlaneState, workload: PlaneState) -> ReadinessReport {
    ReadinessReport {
        app: "api".into(),
        org: "acme".into(),
        generation: 3,
        observed_generation: None,
        active_release: None,
        target_release: target,
        internal_address: None,
        phase: Phase::RollingOut,
        build: plane(build),
        workload: WorkloadPlane {
            plane: plane(workload),
            replicas: ReplicaCounts::default(),
        },
        endpoints: vec![endpoint([Ready; 5])],
    }
}

fn release(version: u64, status: ReleaseStatus, image: Option<&str>) -> ReleaseInfo {
    ReleaseInfo {
        version,
        status,
        image: image.map(str::to_string),
        source: "deploy".into(),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        generation: 3,
        secrets: Default::default(),
    }
}

const OURS: u64 = 5;

#[test]
fn everything_ready_is_zero_for_every_wait_for() {
    let r = report(Some(OURS), Ready, Ready);
    for w in [Build, Workload, Endpoint] {
        assert_eq!(verdict(&r, OURS, &[], w, false, false), Some(0), "{w:?}");
        assert_eq!(
            verdict(&r, OURS, &[], w, true, false),
            Some(0),
            "{w:?} at the deadline"
        );
    }
}

#[test]
fn build_dimension() {
    // A given image: the build is not applicable, which satisfies --wait-for build.
    let r = report(Some(OURS), NotApplicable, Pending);
    assert_eq!(verdict(&r, OURS, &[], Build, false, false), Some(0));
    let r = report(Some(OURS), InProgress, Pending);
    assert_eq!(verdict(&r, OURS, &[], Build, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Build, true, false), Some(13));
    let r = report(Some(OURS), Failed, Pending);
    for w in [Build, Workload, Endpoint] {
        assert_eq!(verdict(&r, OURS, &[], w, false, false), Some(10), "{w:?}");
    }
}

#[test]
fn workload_dimension() {
    let r = report(Some(OURS), Ready, InProgress);
    assert_eq!(verdict(&r, OURS, &[], Workload, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Workload, true, false), Some(13));
    assert_eq!(verdict(&r, OURS, &[], Endpoint, true, false), Some(13));
    // But --wait-for build is already satisfied.
    assert_eq!(verdict(&r, OURS, &[], Build, false, false), Some(0));

    let r = report(Some(OURS), Ready, Failed);
    assert_eq!(verdict(&r, OURS, &[], Workload, false, false), Some(11));
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, false), Some(11));
    // The workload's failure (e.g. ProgressDeadlineExceeded) wins over our timeout.
    assert_eq!(verdict(&r, OURS, &[], Endpoint, true, false), Some(11));

    let r = report(Some(OURS), Ready, Unknown);
    assert_eq!(verdict(&r, OURS, &[], Workload, false, false), None);
}

#[test]
fn workload_ready_with_the_build_unsettled_waits() {
    // A workload still serving the previous image must not count for this release.
    let r = report(Some(OURS), InProgress, Ready);
    assert_eq!(verdict(&r, OURS, &[], Workload, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Workload, true, false), Some(13));
}

#[test]
fn endpoint_dimension_waits_until_the_deadline() {
    let mut r = report(Some(OURS), Ready, Ready);
    r.endpoints = vec![endpoint([Ready, Ready, Ready, Ready, Failed])];
    assert_eq!(
        verdict(&r, OURS, &[], Endpoint, false, false),
        None,
        "failed plane may settle"
    );
    assert_eq!(verdict(&r, OURS, &[], Endpoint, true, false), Some(12));
    assert_eq!(verdict(&r, OURS, &[], Workload, false, false), Some(0));

    r.endpoints = vec![endpoint([Ready, Ready, Pending, Unknown, Unknown])];
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, true, false), Some(12));
}

#[test]
fn every_hostname_counts_and_not_applicable_is_fine() {
    let mut r = report(Some(OURS), Ready, Ready);
    let redirect = endpoint([Ready, Ready, Ready, Ready, NotApplicable]);
    let broken = endpoint([Pending, Ready, Ready, Ready, Ready]);
    r.endpoints = vec![endpoint([Ready; 5]), redirect.clone()];
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, false), Some(0));
    r.endpoints = vec![endpoint([Ready; 5]), redirect, broken];
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, true, false), Some(12));
}

#[test]
fn superseded_release_is_fourteen() {
    let r = report(Some(OURS + 1), InProgress, Pending);
    let releases = [
        release(OURS + 1, ReleaseStatus::Pending, None),
        release(OURS, ReleaseStatus::Superseded, None),
    ];
    for w in [Build, Workload, Endpoint] {
        assert_eq!(
            verdict(&r, OURS, &releases, w, false, false),
            Some(14),
            "{w:?}"
        );
    }
    // Even if the report is still about us, the release list is authoritative.
    let r = report(Some(OURS), Ready, InProgress);
    assert_eq!(
        verdict(&r, OURS, &releases[1..], Endpoint, false, false),
        Some(14)
    );
}

#[test]
fn overtaken_while_pending_is_fourteen_even_before_the_server_says_so() {
    let r = report(Some(OURS + 1), InProgress, Pending);
    let releases = [release(OURS, ReleaseStatus::Pending, None)];
    assert_eq!(
        verdict(&r, OURS, &releases, Endpoint, false, false),
        Some(14)
    );
}

#[test]
fn overtaken_after_becoming_active() {
    let r = report(Some(OURS + 1), InProgress, Ready);
    let releases = [release(OURS, ReleaseStatus::Active, Some("img@sha256:1"))];
    assert_eq!(
        verdict(&r, OURS, &releases, Workload, false, false),
        Some(0)
    );
    assert_eq!(verdict(&r, OURS, &releases, Build, false, false), Some(0));
    assert_eq!(
        verdict(&r, OURS, &releases, Endpoint, false, false),
        Some(14)
    );
}

#[test]
fn failed_release_seen_only_in_the_release_list() {
    let r = report(Some(OURS + 1), InProgress, Pending);
    let no_image = [release(OURS, ReleaseStatus::Failed, None)];
    assert_eq!(
        verdict(&r, OURS, &no_image, Endpoint, false, false),
        Some(10)
    );
    let with_image = [release(OURS, ReleaseStatus::Failed, Some("img"))];
    assert_eq!(
        verdict(&r, OURS, &with_image, Endpoint, false, false),
        Some(11)
    );
    // About us, a failed release without failed planes: decided by the image.
    let r = report(Some(OURS), Ready, InProgress);
    assert_eq!(
        verdict(&r, OURS, &with_image, Endpoint, false, false),
        Some(11)
    );
}

#[test]
fn a_report_from_before_our_deploy_is_not_judged() {
    let r = report(Some(OURS - 1), Ready, Ready);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, true, false), Some(13));
    let r = report(None, Failed, Failed);
    assert_eq!(verdict(&r, OURS, &[], Build, false, false), None);
    // Unknown newer target and our release not listed: keep waiting.
    let r = report(Some(OURS + 1), Ready, Ready);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, true, false), Some(13));
}

#[test]
fn releases_are_asked_only_when_the_report_is_about_another_release() {
    assert!(!needs_releases(&report(Some(OURS), Ready, Ready), OURS));
    assert!(needs_releases(&report(Some(OURS + 1), Ready, Ready), OURS));
    assert!(needs_releases(&report(None, Ready, Ready), OURS));
}

#[test]
fn explanations_name_the_failing_thing() {
    let mut r = report(Some(OURS), Ready, Ready);
    r.endpoints[0].dns = Plane::new(Failed, Reason::NxDomain, "no such name")
        .with_remediation("create A api-acme.apps.test 203.0.113.7");
    let text = explain(12, &r, OURS).unwrap_or_default();
    assert!(text.contains("api-acme.apps.test dns is not"), "{text}");
    assert!(text.contains("apply the fix above"), "{text}");
    let d = details(12, &r, &[]);
    assert!(
        d.iter().any(|l| l.contains("dns failed (NxDomain)")),
        "{d:?}"
    );
    assert!(d.iter().any(|l| l.contains("fix: create A")), "{d:?}");
    // The reason is said once, above the error line.
    assert!(!text.contains("NxDomain"), "{text}");
    assert_eq!(explain(0, &r, OURS), None);
    for code in [10, 11, 13, 14] {
        let text = explain(code, &r, OURS).unwrap_or_default();
        assert!(!text.is_empty() && !text.contains('\n'), "{code}: {text}");
    }
}

#[test]
fn an_endpoint_failed_for_good_ends_the_wait_with_twelve() {
    let mut r = report(Some(OURS), Ready, Ready);
    r.endpoints = vec![endpoint([Ready, Ready, Failed, Unknown, Unknown])];
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, false), None);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, true), Some(12));
    // --wait-for workload does not care about endpoints.
    assert_eq!(verdict(&r, OURS, &[], Workload, false, true), Some(0));
    // Not before the workload is ready: then it is still a rollout.
    let r = report(Some(OURS), Ready, InProgress);
    assert_eq!(verdict(&r, OURS, &[], Endpoint, false, true), None);
}

#[test]
fn details_show_the_log_tail_the_crash_and_the_fixes() {
    let tail = vec!["error[E0425]: cannot find value".to_string()];
    let r = report(Some(OURS), Failed, Pending);
    let d = details(10, &r, &tail);
    assert_eq!(d[0], "build failed (NotChecked)");
    assert_eq!(d[1], "build log (last 1 lines):");
    assert!(d[2].contains("E0425"), "{d:?}");
    assert_eq!(details(10, &r, &[]), vec!["build failed (NotChecked)"]);

    let mut r = report(Some(OURS), Ready, Failed);
    r.workload.plane = Plane::new(
        Failed,
        Reason::CrashLoopBackOff,
        "exited with status 1\npanic: PORT not set\n",
    );
    let d = details(11, &r, &[]);
    assert_eq!(
        d,
        vec![
            "workload failed (CrashLoopBackOff): exited with status 1",
            "  │ panic: PORT not set",
        ]
    );
    let line = explain(11, &r, OURS).unwrap_or_default();
    assert_eq!(
        line,
        "release v5 of api failed at its workload (the cause is above): change the app or its satusky.toml, then deploy again"
    );

    let mut r = report(Some(OURS), Ready, Ready);
    r.endpoints[0].http = plane(Pending);
    r.endpoints[0].dns = Plane::new(Failed, Reason::WrongTarget, "A 10.0.0.9")
        .with_remediation("create A api-acme.apps.test 127.0.0.1");
    let d = details(12, &r, &[]);
    assert_eq!(
        d,
        vec![
            "api-acme.apps.test  dns failed (WrongTarget): A 10.0.0.9".to_string(),
            "    fix: create A api-acme.apps.test 127.0.0.1".to_string(),
            "api-acme.apps.test  http pending (NotChecked)".to_string(),
        ]
    );
    // The error line names the failed plane before the pending one.
    let line = explain(12, &r, OURS).unwrap_or_default();
    assert!(
        line.contains("api-acme.apps.test dns is not (and 1 more plane)"),
        "{line}"
    );
    assert!(line.contains("apply the fix above"), "{line}");
}

/// What stderr ends with: the details, then the `error:` line, as `1ctl` prints them.
fn verdict_block(code: u8, r: &ReadinessReport, build_tail: &[String]) -> String {
    let mut lines = details(code, r, build_tail);
    if let Some(why) = explain(code, r, OURS) {
        lines.push(format!("error: {why}"));
    }
    lines.join("\n")
}

/// No text of the block appears twice: not the state and reason, not a message line, not
/// the fix (issue 12: `failed: failed (CrashLoopBackOff) … last output: fix the app`).
fn assert_said_once(block: &str, texts: &[&str]) {
    for t in texts {
        assert_eq!(block.matches(t).count(), 1, "{t:?} once in:\n{block}");
    }
}

#[test]
fn a_crash_loop_is_said_once_with_its_output_and_fix() {
    let mut r = report(Some(OURS), Ready, Failed);
    r.workload.plane = Plane::new(
        Failed,
        Reason::CrashLoopBackOff,
        "replica 0 of v5 exited with status 1 (5 exits without becoming ready); restarting with backoff; last output:\nlistening on 0.0.0.0:8080\nfix the app",
    )
    .with_remediation("make the app stay up: run it locally with PORT=8080, then `1ctl deploy`");
    let block = verdict_block(11, &r, &[]);
    assert_said_once(
        &block,
        &[
            "failed (CrashLoopBackOff)",
            "exited with status 1",
            "last output",
            "fix the app",
            "fix: make the app stay up",
        ],
    );
    assert!(!block.contains("failed: failed"), "{block}");
    insta::assert_snapshot!("workload_crash_loop", block);

    // Without a remediation from the control plane, the error line says what to do.
    r.workload.plane.remediation = None;
    let block = verdict_block(11, &r, &[]);
    assert_said_once(&block, &["failed (CrashLoopBackOff)", "fix the app"]);
    insta::assert_snapshot!("workload_crash_loop_no_fix", block);
}

#[test]
fn a_failed_build_is_said_once_with_its_log_and_fix() {
    let mut r = report(Some(OURS), Failed, Pending);
    r.build = Plane::new(
        Failed,
        Reason::BuildFailed,
        "build command exited with status 101\nerror[E0425]: cannot find value `x`",
    )
    .with_remediation("fix the build command or the code; the log above shows why it failed");
    let tail = vec![
        "   Compiling hello v0.1.0".to_string(),
        "error[E0425]: cannot find value `x`".to_string(),
    ];
    let block = verdict_block(10, &r, &tail);
    assert_said_once(
        &block,
        &[
            "failed (BuildFailed)",
            "status 101",
            "E0425",
            "fix: fix the build",
        ],
    );
    insta::assert_snapshot!("build_failed_with_log", block);
    // No log seen on the event stream: the message's own tail.
    insta::assert_snapshot!("build_failed_without_log", verdict_block(10, &r, &[]));
}

#[test]
fn a_degraded_endpoint_is_said_once_with_its_fix() {
    let mut r = report(Some(OURS), Ready, Ready);
    r.endpoints[0].dns = Plane::new(Failed, Reason::WrongTarget, "A 10.0.0.9")
        .with_remediation("create A api-acme.apps.test 127.0.0.1");
    r.endpoints[0].http = plane(Pending);
    let block = verdict_block(12, &r, &[]);
    assert_said_once(
        &block,
        &["failed (WrongTarget)", "A 10.0.0.9", "fix: create A"],
    );
    insta::assert_snapshot!("degraded_endpoint", block);
}

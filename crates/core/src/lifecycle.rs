//! The lifecycle's decisions as pure functions (SPEC §3, §4): how a workload observation is
//! judged (kstatus rules), which phase an app is in, how release statuses move, and how a
//! plane's `since` survives re-checks. The server's engine does the I/O and calls these; the
//! clock is an argument so every rule is testable.

use satusky_types::{EndpointReport, Phase, Plane, PlaneState, Reason, ReleaseStatus};

use crate::runtime::WorkloadObservation;
use crate::time::rfc3339_ms;

/// The verdict on a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadVerdict {
    Progressing {
        reason: Reason,
        message: String,
    },
    /// Ready: `RolloutComplete` (every desired replica), or `Static` (a static site's files
    /// in place, served by the edge).
    Ready {
        reason: Reason,
        message: String,
    },
    Failed {
        reason: Reason,
        message: String,
    },
}

impl WorkloadVerdict {
    /// The workload plane for this verdict (a failure, and a readiness check failing while
    /// the rollout waits, carry the fix).
    pub fn plane(&self) -> Plane {
        match self {
            WorkloadVerdict::Progressing { reason, message } => with_fix(
                Plane::new(PlaneState::InProgress, *reason, message.clone()),
                *reason == Reason::ReadinessFailing,
            ),
            WorkloadVerdict::Ready { reason, message } => {
                Plane::new(PlaneState::Ready, *reason, message.clone())
            }
            WorkloadVerdict::Failed { reason, message } => with_fix(
                Plane::new(PlaneState::Failed, *reason, message.clone()),
                true,
            ),
        }
    }
}

fn with_fix(plane: Plane, wanted: bool) -> Plane {
    match workload_remediation(plane.reason).filter(|_| wanted) {
        Some(fix) => plane.with_remediation(fix),
        None => plane,
    }
}

/// Workload reasons of a plane that is fine or only waiting: they carry no fix.
pub const NEEDS_NO_FIX: &[Reason] = &[
    Reason::Progressing,
    Reason::RolloutComplete,
    Reason::RolloutPending,
    Reason::StaleObservation,
    Reason::Waiting,
    Reason::NoRuntime,
    Reason::NotYetObserved,
];

/// The fix for a workload plane that is failed, or not ready while the app is degraded: the
/// next thing to change and the command that applies it. `None` for reasons that need none.
pub fn workload_remediation(reason: Reason) -> Option<&'static str> {
    Some(match reason {
        Reason::CrashLoopBackOff => {
            "the app exits: fix what its last output shows, then `1ctl deploy` (or `1ctl rollback` to the previous release)"
        }
        Reason::ReadinessFailing => {
            "make the app answer `[checks] path` with `[checks] expect` on 127.0.0.1:$PORT within `[checks] timeout`, then `1ctl deploy`"
        }
        Reason::ReplicasUnavailable => {
            "the release still serves on its ready replicas; fix what the message shows, then `1ctl deploy` (or `1ctl rollback`)"
        }
        Reason::ProgressDeadlineExceeded => {
            "make the replicas pass their readiness check (`[checks] path` answering `[checks] expect` on $PORT within `[checks] timeout`; the message says what the check saw), then `1ctl deploy`; if the app is only slow to start, raise `[deploy] progress_deadline`"
        }
        Reason::ImagePullBackOff | Reason::ErrImagePull => {
            "check `[app] image` (name, tag) and the registry's credentials, then `1ctl deploy`"
        }
        Reason::Unschedulable => {
            "lower `[resources]` or `replicas` in satusky.toml, or add capacity to the cluster, then `1ctl deploy`"
        }
        Reason::ImageRequiresContainerRuntime => {
            "give [app] a command (and [build] command) to run it here, or deploy it to Kubernetes"
        }
        Reason::NoCommand => {
            "add command = [\"./your-server\"] to [app] in satusky.toml (it must listen on $PORT), then `1ctl deploy`"
        }
        Reason::InvalidSpec => {
            "deploy again: `1ctl deploy` checks satusky.toml and names the field"
        }
        _ if NEEDS_NO_FIX.contains(&reason) => return None,
        _ => {
            "fix what the message shows, then `1ctl deploy` (or `1ctl rollback` to the previous release)"
        }
    })
}

/// The workload plane of an app's ACTIVE release, observed at rest (after its rollout): all
/// desired replicas ready (and none just back from an exit) is `ready`; some serving is
/// `in_progress` `ReplicasUnavailable` with why the others are not (the app is `degraded`);
/// none serving is `failed` with the cause's own reason (`CrashLoopBackOff` for exits,
/// `ReadinessFailing` for a failing check, or the runtime's failure). Every non-ready plane
/// carries its fix. `None` when the observation is not of `release`.
pub fn judge_active(obs: &WorkloadObservation, release: u64) -> Option<Plane> {
    if obs.release != Some(release) {
        return None;
    }
    if let (Some(files), None) = (&obs.static_files, &obs.failure) {
        return Some(Plane::new(
            PlaneState::Ready,
            Reason::Static,
            format!("served by the edge: {files}"),
        ));
    }
    let r = obs.replicas;
    let desired = r.desired;
    let serving = r.ready.saturating_sub(obs.recovering);
    if serving >= desired && obs.failure.is_none() {
        return Some(Plane::new(
            PlaneState::Ready,
            Reason::RolloutComplete,
            format!("{}/{desired} ready", r.ready.min(desired)),
        ));
    }
    let (reason, cause) = obs
        .failure
        .clone()
        .or_else(|| obs.exited.clone().map(|m| (Reason::CrashLoopBackOff, m)))
        .or_else(|| obs.waiting.clone().map(|m| (Reason::ReadinessFailing, m)))
        .unwrap_or((
            Reason::ReplicasUnavailable,
            "the runtime gives no cause".to_string(),
        ));
    let recovering = if obs.recovering > 0 {
        format!(" ({} back from an exit, not yet trusted)", obs.recovering)
    } else {
        String::new()
    };
    let (state, reason) = if serving > 0 {
        (PlaneState::InProgress, Reason::ReplicasUnavailable)
    } else {
        (PlaneState::Failed, reason)
    };
    let message = format!("v{release} serves on {serving}/{desired} replicas{recovering}: {cause}");
    Some(with_fix(Plane::new(state, reason, message), true))
}

/// Judge the rollout of `release` (kstatus rules): a status written for another release never
/// counts; a failure reported by the runtime fails it; all desired replicas updated, ready and
/// available makes it ready; past the progress deadline it fails.
pub fn judge_workload(
    obs: &WorkloadObservation,
    release: u64,
    desired: u32,
    rollout_started_ms: i64,
    progress_deadline_s: u64,
    now_ms: i64,
) -> WorkloadVerdict {
    let elapsed_ms = now_ms.saturating_sub(rollout_started_ms);
    let deadline_ms = i64::try_from(progress_deadline_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let past_deadline = elapsed_ms > deadline_ms;
    if obs.release != Some(release) {
        if past_deadline {
            return WorkloadVerdict::Failed {
                reason: Reason::ProgressDeadlineExceeded,
                message: format!(
                    "the rollout of v{release} did not start within the progress deadline ({progress_deadline_s}s)"
                ),
            };
        }
        let seen = obs
            .release
            .map(|v| format!("v{v}"))
            .unwrap_or_else(|| "nothing".to_string());
        return WorkloadVerdict::Progressing {
            reason: Reason::StaleObservation,
            message: format!("the runtime still reports {seen}; waiting for v{release}"),
        };
    }
    if let Some((reason, message)) = &obs.failure {
        return WorkloadVerdict::Failed {
            reason: *reason,
            message: message.clone(),
        };
    }
    if let Some(files) = &obs.static_files {
        return WorkloadVerdict::Ready {
            reason: Reason::Static,
            message: format!("served by the edge: {files}"),
        };
    }
    let r = obs.replicas;
    if r.updated >= desired && r.ready >= desired && r.available >= desired && obs.old == 0 {
        return WorkloadVerdict::Ready {
            reason: Reason::RolloutComplete,
            message: format!("{}/{desired} ready", r.ready.min(desired)),
        };
    }
    if past_deadline {
        let cause = obs
            .waiting
            .as_deref()
            .map(|c| format!("; {c}"))
            .unwrap_or_default();
        return WorkloadVerdict::Failed {
            reason: Reason::ProgressDeadlineExceeded,
            message: format!(
                "the rollout did not complete within the progress deadline ({progress_deadline_s}s): {}/{desired} ready{cause}",
                r.ready
            ),
        };
    }
    let old = if obs.old > 0 {
        format!(", {} old still running", obs.old)
    } else {
        String::new()
    };
    match &obs.waiting {
        // Replicas run, and the readiness check says why they are not ready.
        Some(cause) => WorkloadVerdict::Progressing {
            reason: Reason::ReadinessFailing,
            message: format!(
                "{}/{desired} ready, {} updated{old}: {cause}",
                r.ready, r.updated
            ),
        },
        None => WorkloadVerdict::Progressing {
            reason: Reason::Progressing,
            message: format!("{}/{desired} ready, {} updated{old}", r.ready, r.updated),
        },
    }
}

/// How long a build first started at `first_started_ms` may still run under a timeout of
/// `limit`, at `now_ms`; `None` once the deadline has passed. The deadline counts from the
/// build's first start, so a build resumed after a control-plane restart only gets what is
/// left, and one resumed past its deadline gets nothing.
pub fn build_time_left(
    first_started_ms: i64,
    limit: std::time::Duration,
    now_ms: i64,
) -> Option<std::time::Duration> {
    let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
    let used_ms = now_ms.saturating_sub(first_started_ms).max(0);
    let left_ms = limit_ms.saturating_sub(used_ms);
    (left_ms > 0).then(|| std::time::Duration::from_millis(left_ms.unsigned_abs()))
}

/// The build plane of a build stopped at its timeout `limit`: the message names the limit and
/// the setting that changes it, then the log's tail.
pub fn build_timeout_plane(limit: std::time::Duration, log_tail: &[String]) -> Plane {
    let mut message = format!(
        "the build did not finish within the build timeout of {} (counted from its first start, \
         also across control-plane restarts) and was stopped",
        humantime::format_duration(limit)
    );
    if !log_tail.is_empty() {
        message.push('\n');
        message.push_str(&log_tail.join("\n"));
    }
    Plane::new(PlaneState::Failed, Reason::BuildTimeout, message).with_remediation(
        "make the build faster, or raise `build_timeout` in the server's server.toml \
         (or SATUSKY_BUILD_TIMEOUT / --build-timeout), then deploy again",
    )
}

/// The app's phase from its dimensions (SPEC §4). A workload serving on only some replicas
/// (`ReplicasUnavailable`, seen at rest) makes it `degraded`, one serving on none `failed`;
/// with the workload ready, a failed endpoint plane makes it `degraded`; planes still pending or unchecked keep it `rolling_out`:
/// "degraded" is a verdict, not a guess.
pub fn phase(build: &Plane, workload: &Plane, endpoints: &[EndpointReport]) -> Phase {
    match build.state {
        PlaneState::Failed => return Phase::Failed,
        PlaneState::InProgress => return Phase::Building,
        PlaneState::Pending => return Phase::Accepted,
        _ => {}
    }
    match workload.state {
        PlaneState::Failed => return Phase::Failed,
        PlaneState::Ready => {}
        // The active release serves on some replicas only.
        PlaneState::InProgress if workload.reason == Reason::ReplicasUnavailable => {
            return Phase::Degraded;
        }
        _ => return Phase::RollingOut,
    }
    let planes = || {
        endpoints
            .iter()
            .flat_map(|e| e.planes().map(|(_, p)| p.state))
    };
    if planes().any(|s| s == PlaneState::Failed) {
        Phase::Degraded
    } else if planes().all(PlaneState::is_satisfied) {
        Phase::Ready
    } else {
        // Checks still pending or in progress: no verdict yet.
        Phase::RollingOut
    }
}

/// Status changes when release `new` is created: older pending releases are overtaken.
pub fn on_new_release(releases: &[(u64, ReleaseStatus)], new: u64) -> Vec<(u64, ReleaseStatus)> {
    releases
        .iter()
        .filter(|(v, s)| *v < new && *s == ReleaseStatus::Pending)
        .map(|(v, _)| (*v, ReleaseStatus::Superseded))
        .collect()
}

/// Status changes when the workload of `ready` became ready: it becomes active, the previously
/// active release and older pending ones are superseded.
pub fn on_release_ready(
    releases: &[(u64, ReleaseStatus)],
    ready: u64,
) -> Vec<(u64, ReleaseStatus)> {
    let mut out = Vec::new();
    for (v, s) in releases {
        if *v == ready {
            if *s != ReleaseStatus::Active {
                out.push((*v, ReleaseStatus::Active));
            }
        } else if *s == ReleaseStatus::Active || (*s == ReleaseStatus::Pending && *v < ready) {
            out.push((*v, ReleaseStatus::Superseded));
        }
    }
    out
}

/// Carry `since` over from the previous plane when the state did not change, stamp
/// `checked_at`; a changed state starts a new `since`.
pub fn merge_plane(prev: Option<&Plane>, mut next: Plane, now_ms: i64) -> Plane {
    let now = rfc3339_ms(now_ms);
    next.since = match prev {
        Some(p) if p.state == next.state && p.since.is_some() => p.since.clone(),
        _ => Some(now.clone()),
    };
    next.checked_at = Some(now);
    next
}

/// True when only `checked_at` differs: such a re-check needs no event.
pub fn same_plane(a: &Plane, b: &Plane) -> bool {
    a.state == b.state
        && a.reason == b.reason
        && a.message == b.message
        && a.remediation == b.remediation
}

#[cfg(test)]
mod tests {
    use super::*;
    use satusky_types::{HostnameKind, ReplicaCounts};

    #[test]
    fn a_readiness_cause_shows_while_waiting_and_in_the_deadline_failure() {
        let mut o = obs(Some(3), 0, 2);
        o.waiting = Some("the readiness check GET /healthz answered 500, not 2xx".into());
        let v = judge_workload(&o, 3, 2, 0, 600, 1_000);
        assert_eq!(
            v,
            WorkloadVerdict::Progressing {
                reason: Reason::ReadinessFailing,
                message:
                    "0/2 ready, 2 updated: the readiness check GET /healthz answered 500, not 2xx"
                        .into(),
            }
        );
        let v = judge_workload(&o, 3, 2, 0, 600, 601_000);
        let WorkloadVerdict::Failed { reason, message } = v else {
            panic!("past the deadline: {v:?}");
        };
        assert_eq!(reason, Reason::ProgressDeadlineExceeded);
        assert!(
            message.ends_with("0/2 ready; the readiness check GET /healthz answered 500, not 2xx"),
            "{message}"
        );
    }

    #[test]
    fn the_active_release_is_judged_ready_degraded_or_failed_with_its_cause_and_fix() {
        let phase_of = |p: &Plane| phase(&Plane::new(PlaneState::Ready, Reason::Built, ""), p, &[]);
        // All desired replicas ready: ready.
        let p = judge_active(&obs(Some(4), 2, 2), 4).unwrap();
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Ready, Reason::RolloutComplete)
        );
        assert_eq!(phase_of(&p), Phase::Ready);
        // Another release observed: not this judgement's business.
        assert_eq!(judge_active(&obs(Some(3), 2, 2), 4), None);
        // A static site at rest: its files, not replica counts.
        let mut site = obs(Some(4), 0, 0);
        site.static_files = Some("2 files from public".into());
        let p = judge_active(&site, 4).unwrap();
        assert_eq!((p.state, p.reason), (PlaneState::Ready, Reason::Static));

        // One of two serves, the other exited: in progress, the app degraded, with the cause.
        let mut o = obs(Some(4), 1, 2);
        o.exited =
            Some("replica 1 of v4 exited with status 3 after 2.0 s; last output:\nboom".into());
        let p = judge_active(&o, 4).unwrap();
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::InProgress, Reason::ReplicasUnavailable)
        );
        assert!(
            p.message
                .starts_with("v4 serves on 1/2 replicas: replica 1 of v4 exited"),
            "{}",
            p.message
        );
        assert!(
            p.remediation.as_deref().is_some_and(|r| r.contains("1ctl")),
            "{p:?}"
        );
        assert_eq!(phase_of(&p), Phase::Degraded);

        // Both back from an exit but not yet trusted: none serves, so it failed, as a crash loop.
        let mut o = obs(Some(4), 2, 2);
        o.exited =
            Some("replica 0 of v4 exited with status 3 after 2.0 s; it printed nothing".into());
        o.recovering = 2;
        let p = judge_active(&o, 4).unwrap();
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Failed, Reason::CrashLoopBackOff)
        );
        assert!(
            p.message.contains("0/2 replicas (2 back from an exit"),
            "{}",
            p.message
        );
        assert!(p.remediation.is_some());
        assert_eq!(phase_of(&p), Phase::Failed);

        // None ready, the check says why: failed ReadinessFailing with the check's words.
        let mut o = obs(Some(4), 0, 2);
        o.waiting = Some("the readiness check GET /healthz answered 500, not 2xx".into());
        let p = judge_active(&o, 4).unwrap();
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Failed, Reason::ReadinessFailing)
        );
        assert!(
            p.message.ends_with("answered 500, not 2xx"),
            "{}",
            p.message
        );
        assert!(
            p.remediation
                .as_deref()
                .is_some_and(|r| r.contains("[checks] path"))
        );
    }

    #[test]
    fn every_failed_workload_verdict_carries_a_fix() {
        for reason in Reason::ALL {
            let plane = WorkloadVerdict::Failed {
                reason: *reason,
                message: "m".into(),
            }
            .plane();
            let needs = !NEEDS_NO_FIX.contains(reason);
            assert_eq!(plane.remediation.is_some(), needs, "{reason:?}");
        }
    }

    fn obs(release: Option<u64>, ready: u32, updated: u32) -> WorkloadObservation {
        WorkloadObservation {
            release,
            replicas: ReplicaCounts {
                desired: 2,
                updated,
                ready,
                available: ready,
            },
            failure: None,
            old: 0,
            waiting: None,
            exited: None,
            recovering: 0,
            static_files: None,
        }
    }

    #[test]
    fn old_replicas_still_running_keep_the_rollout_in_progress() {
        // Mid-rollout: 2 updated, 2 ready — but one of the ready is an old pod.
        let mut o = obs(Some(2), 2, 2);
        o.old = 1;
        let v = judge_workload(&o, 2, 2, 0, 600, 1_000);
        assert!(
            matches!(&v, WorkloadVerdict::Progressing { message, .. } if message.contains("1 old")),
            "{v:?}"
        );
        o.old = 0;
        assert!(matches!(
            judge_workload(&o, 2, 2, 0, 600, 1_000),
            WorkloadVerdict::Ready { .. }
        ));
    }

    #[test]
    fn stale_observation_never_counts_even_if_all_ready() {
        let v = judge_workload(&obs(Some(1), 2, 2), 2, 2, 0, 600, 1_000);
        assert!(matches!(
            v,
            WorkloadVerdict::Progressing {
                reason: Reason::StaleObservation,
                ..
            }
        ));
        let v = judge_workload(&obs(None, 0, 0), 2, 2, 0, 600, 1_000);
        assert!(matches!(
            v,
            WorkloadVerdict::Progressing {
                reason: Reason::StaleObservation,
                ..
            }
        ));
    }

    #[test]
    fn ready_when_all_replicas_updated_ready_available() {
        let v = judge_workload(&obs(Some(2), 2, 2), 2, 2, 0, 600, 1_000);
        assert_eq!(
            v,
            WorkloadVerdict::Ready {
                reason: Reason::RolloutComplete,
                message: "2/2 ready".into()
            }
        );
        // A static site: its files in place is ready, whatever the replica counts say.
        let mut site = obs(Some(2), 0, 0);
        site.static_files = Some("3 files from ./public".into());
        let v = judge_workload(&site, 2, 1, 0, 600, 1_000);
        assert_eq!(v.plane().reason, Reason::Static);
        assert_eq!(
            v.plane().message,
            "served by the edge: 3 files from ./public"
        );
        // …but only for its own release.
        let v = judge_workload(&site, 3, 1, 0, 600, 1_000);
        assert!(matches!(v, WorkloadVerdict::Progressing { .. }));
        let v = judge_workload(&obs(Some(2), 2, 1), 2, 2, 0, 600, 1_000);
        assert!(matches!(
            v,
            WorkloadVerdict::Progressing {
                reason: Reason::Progressing,
                ..
            }
        ));
    }

    #[test]
    fn failure_wins_and_deadline_fails() {
        let mut o = obs(Some(3), 0, 2);
        o.failure = Some((Reason::CrashLoopBackOff, "exit 1".into()));
        assert_eq!(
            judge_workload(&o, 3, 2, 0, 600, 1_000),
            WorkloadVerdict::Failed {
                reason: Reason::CrashLoopBackOff,
                message: "exit 1".into()
            }
        );
        let v = judge_workload(&obs(Some(3), 1, 2), 3, 2, 0, 10, 10_001);
        assert!(matches!(
            v,
            WorkloadVerdict::Failed {
                reason: Reason::ProgressDeadlineExceeded,
                ..
            }
        ));
        let v = judge_workload(&obs(Some(3), 1, 2), 3, 2, 0, 10, 10_000);
        assert!(
            matches!(v, WorkloadVerdict::Progressing { .. }),
            "not past the deadline yet"
        );
        let v = judge_workload(&obs(Some(2), 2, 2), 3, 2, 0, 10, 20_000);
        assert!(matches!(
            v,
            WorkloadVerdict::Failed {
                reason: Reason::ProgressDeadlineExceeded,
                ..
            }
        ));
    }

    fn endpoint(states: [PlaneState; 5]) -> EndpointReport {
        let p = |s| Plane::new(s, Reason::NotChecked, "");
        EndpointReport {
            hostname: "a.example".into(),
            kind: HostnameKind::Generated,
            metadata: p(states[0]),
            route: p(states[1]),
            dns: p(states[2]),
            tls: p(states[3]),
            http: p(states[4]),
        }
    }

    #[test]
    fn phases() {
        use PlaneState::*;
        let p = |s| Plane::new(s, Reason::NotChecked, "");
        assert_eq!(phase(&p(Pending), &p(Pending), &[]), Phase::Accepted);
        assert_eq!(phase(&p(InProgress), &p(Pending), &[]), Phase::Building);
        assert_eq!(phase(&p(Failed), &p(Ready), &[]), Phase::Failed);
        assert_eq!(phase(&p(Ready), &p(InProgress), &[]), Phase::RollingOut);
        assert_eq!(phase(&p(NotApplicable), &p(Failed), &[]), Phase::Failed);
        let ready = endpoint([Ready, Ready, Ready, Ready, Ready]);
        assert_eq!(
            phase(&p(Ready), &p(Ready), std::slice::from_ref(&ready)),
            Phase::Ready
        );
        let unchecked = endpoint([Ready, Ready, Unknown, Unknown, Unknown]);
        assert_eq!(
            phase(&p(Ready), &p(Ready), &[ready.clone(), unchecked]),
            Phase::RollingOut
        );
        let waiting = endpoint([Ready, Pending, Pending, InProgress, Pending]);
        assert_eq!(
            phase(&p(Ready), &p(Ready), &[ready.clone(), waiting]),
            Phase::RollingOut
        );
        let bad = endpoint([Ready, Ready, Failed, Pending, Unknown]);
        assert_eq!(phase(&p(Ready), &p(Ready), &[ready, bad]), Phase::Degraded);
    }

    #[test]
    fn release_rules() {
        use ReleaseStatus::*;
        let rs = [(1, Active), (2, Pending), (3, Pending)];
        assert_eq!(
            on_new_release(&rs, 4),
            vec![(2, Superseded), (3, Superseded)]
        );
        assert_eq!(
            on_release_ready(&rs, 3),
            vec![(1, Superseded), (2, Superseded), (3, Active)]
        );
        // A later pending release is not touched by an earlier one becoming ready.
        assert_eq!(
            on_release_ready(&[(1, Active), (2, Pending), (3, Pending)], 2),
            vec![(1, Superseded), (2, Active)]
        );
        assert_eq!(on_release_ready(&[(1, Active)], 1), vec![]);
    }

    #[test]
    fn since_survives_unchanged_state() {
        let first = merge_plane(
            None,
            Plane::new(PlaneState::Ready, Reason::Stored, ""),
            1_000,
        );
        assert_eq!(first.since.as_deref(), Some("1970-01-01T00:00:01.000Z"));
        let again = merge_plane(
            Some(&first),
            Plane::new(PlaneState::Ready, Reason::Stored, ""),
            5_000,
        );
        assert_eq!(again.since, first.since);
        assert_eq!(
            again.checked_at.as_deref(),
            Some("1970-01-01T00:00:05.000Z")
        );
        let changed = merge_plane(
            Some(&again),
            Plane::new(PlaneState::Failed, Reason::Timeout, ""),
            9_000,
        );
        assert_eq!(changed.since.as_deref(), Some("1970-01-01T00:00:09.000Z"));
        assert!(same_plane(&first, &again));
        assert!(!same_plane(&again, &changed));
    }

    #[test]
    fn a_build_gets_only_what_is_left_of_its_timeout() {
        use std::time::Duration;
        let limit = Duration::from_secs(60);
        assert_eq!(build_time_left(1_000, limit, 1_000), Some(limit));
        // Resumed 45 s after its first start: 15 s left.
        assert_eq!(
            build_time_left(1_000, limit, 46_000),
            Some(Duration::from_secs(15))
        );
        // At or past the deadline: nothing left, fail at once.
        assert_eq!(build_time_left(1_000, limit, 61_000), None);
        assert_eq!(build_time_left(1_000, limit, 10_000_000), None);
        // A clock that went backwards never grants more than the limit.
        assert_eq!(build_time_left(50_000, limit, 1_000), Some(limit));
    }

    #[test]
    fn a_timed_out_build_names_the_limit_and_the_setting() {
        let p = build_timeout_plane(
            std::time::Duration::from_secs(90),
            &["compiling".to_string(), "still compiling".to_string()],
        );
        assert_eq!(p.state, PlaneState::Failed);
        assert_eq!(p.reason, Reason::BuildTimeout);
        assert!(
            p.message
                .starts_with("the build did not finish within the build timeout of 1m 30s"),
            "{}",
            p.message
        );
        assert!(
            p.message.ends_with("\ncompiling\nstill compiling"),
            "{}",
            p.message
        );
        assert!(p.remediation.unwrap().contains("build_timeout"));
    }
}

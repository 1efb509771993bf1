//! When `deploy` stops waiting for an endpoint plane that failed for good (exit 12 before
//! `--timeout`). Pure: the caller passes the time elapsed since the deploy started.
//!
//! The rule. Once the workload of our release is ready, an endpoint plane counts as
//! *failed for good* when
//! 1. it is `failed` with a reason that waiting does not fix ([`permanent`]): the DNS record
//!    points elsewhere (`WrongTarget`), a custom domain has no record (`NxDomain`,
//!    `NoAnswer` — for the platform's generated hostname those may be propagation, so they
//!    wait), the hostname belongs to another app (`HostnameTaken`), the certificate is for
//!    another name, from an untrusted issuer or out of its validity (`NotValidForName`,
//!    `UnknownIssuer`, `Expired`, `NotYetValid`), the hostname serves another release or app
//!    (`ForeignRelease`), a redirect goes elsewhere (`WrongRedirect`); and
//! 2. it has *settled*: it stayed failed with that same reason for [`SETTLE`], or the engine
//!    re-probed it (its `checked_at` moved on), it still failed with that same reason, and
//!    at least [`REPROBE_FLOOR`] passed (the engine probes in bursts right after a rollout).
//!
//! Anything else that is not ready (502s, timeouts, refused connections, routes being
//! programmed, ownership pending) is left until `--timeout`, which bounds everything. The
//! clock starts when we first see the workload ready: a failure left over from before the
//! rollout has to hold against the new workload too.

use std::collections::HashMap;
use std::time::Duration;

use satusky_types::{HostnameKind, PlaneState, ReadinessReport, Reason};

/// How long a permanent-looking failure must persist before giving up on it: longer than
/// the engine takes to re-probe right after a rollout, far shorter than `--timeout`.
pub const SETTLE: Duration = Duration::from_secs(15);
/// The least time a failure confirmed by a re-probe must have been seen for.
pub const REPROBE_FLOOR: Duration = Duration::from_secs(5);

/// Whether a plane failed with `reason` on a hostname of `kind` will not fix itself.
pub fn permanent(kind: HostnameKind, reason: Reason) -> bool {
    match reason {
        Reason::WrongTarget
        | Reason::HostnameTaken
        | Reason::NotValidForName
        | Reason::UnknownIssuer
        | Reason::Expired
        | Reason::NotYetValid
        | Reason::ForeignRelease
        | Reason::WrongRedirect
        // Another org took the hostname; an issuance that failed is retried only after a
        // backoff longer than a deploy waits.
        | Reason::OwnershipLost
        | Reason::IssuanceFailed => true,
        // The user must create the record; the platform zone's own names may still be
        // propagating.
        Reason::NxDomain | Reason::NoAnswer => kind != HostnameKind::Generated,
        _ => false,
    }
}

#[derive(Debug, Clone)]
struct Seen {
    reason: Reason,
    first: Duration,
    checked_at: Option<String>,
    reprobed: bool,
}

/// Tracks permanent-looking endpoint failures across polls.
#[derive(Debug, Clone, Default)]
pub struct Settle {
    seen: HashMap<(String, &'static str), Seen>,
}

impl Settle {
    /// Records one report read at `elapsed`; true when some endpoint plane of our release
    /// has failed for good (see the module rule).
    pub fn observe(&mut self, report: &ReadinessReport, ours: u64, elapsed: Duration) -> bool {
        let workload_ready = report.target_release == Some(ours)
            && report.workload.plane.state == PlaneState::Ready
            && report.build.state.is_satisfied();
        if !workload_ready {
            self.seen.clear();
            return false;
        }
        let mut now = HashMap::new();
        for e in &report.endpoints {
            for (name, p) in e.planes() {
                if p.state != PlaneState::Failed || !permanent(e.kind, p.reason) {
                    continue;
                }
                let key = (e.hostname.clone(), name);
                let seen = match self.seen.remove(&key) {
                    Some(mut s) if s.reason == p.reason => {
                        s.reprobed |= p.checked_at.is_some() && p.checked_at != s.checked_at;
                        s
                    }
                    _ => Seen {
                        reason: p.reason,
                        first: elapsed,
                        checked_at: p.checked_at.clone(),
                        reprobed: false,
                    },
                };
                now.insert(key, seen);
            }
        }
        self.seen = now;
        self.seen.values().any(|s| {
            let held = elapsed.saturating_sub(s.first);
            held >= SETTLE || (s.reprobed && held >= REPROBE_FLOOR)
        })
    }
}

#[cfg(test)]
mod tests {
    use satusky_types::{EndpointReport, Phase, Plane, ReplicaCounts, WorkloadPlane};

    use super::*;

    const OURS: u64 = 3;

    fn report(kind: HostnameKind, dns: Plane, workload: PlaneState) -> ReadinessReport {
        let ready = Plane::new(PlaneState::Ready, Reason::NotChecked, "");
        ReadinessReport {
            app: "web".into(),
            org: "acme".into(),
            generation: 1,
            observed_generation: None,
            active_release: Some(OURS),
            target_release: Some(OURS),
            internal_address: None,
            phase: Phase::Degraded,
            build: Plane::new(PlaneState::Ready, Reason::Built, ""),
            workload: WorkloadPlane {
                plane: Plane::new(workload, Reason::RolloutComplete, ""),
                replicas: ReplicaCounts::default(),
            },
            endpoints: vec![EndpointReport {
                hostname: "api.example.com".into(),
                kind,
                metadata: ready.clone(),
                route: ready.clone(),
                dns,
                tls: ready.clone(),
                http: ready,
            }],
        }
    }

    fn failed(reason: Reason, checked_at: &str) -> Plane {
        let mut p = Plane::new(PlaneState::Failed, reason, "");
        p.checked_at = Some(checked_at.into());
        p
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_permanent_failure_settles_after_the_period() {
        let mut s = Settle::default();
        let r = report(
            HostnameKind::Alias,
            failed(Reason::WrongTarget, "t1"),
            PlaneState::Ready,
        );
        assert!(!s.observe(&r, OURS, secs(2)));
        assert!(!s.observe(&r, OURS, secs(10)));
        assert!(s.observe(&r, OURS, secs(17)));
    }

    #[test]
    fn a_reprobe_that_fails_the_same_way_settles_early() {
        let mut s = Settle::default();
        let first = report(
            HostnameKind::Alias,
            failed(Reason::NxDomain, "t1"),
            PlaneState::Ready,
        );
        let again = report(
            HostnameKind::Alias,
            failed(Reason::NxDomain, "t2"),
            PlaneState::Ready,
        );
        assert!(!s.observe(&first, OURS, secs(1)));
        assert!(!s.observe(&first, OURS, secs(2)), "same probe read twice");
        assert!(!s.observe(&again, OURS, secs(3)), "re-probed, but too soon");
        assert!(s.observe(&again, OURS, secs(6)));
    }

    #[test]
    fn a_changed_reason_restarts_the_clock() {
        let mut s = Settle::default();
        let a = report(
            HostnameKind::Alias,
            failed(Reason::NxDomain, "t1"),
            PlaneState::Ready,
        );
        let b = report(
            HostnameKind::Alias,
            failed(Reason::WrongTarget, "t2"),
            PlaneState::Ready,
        );
        assert!(!s.observe(&a, OURS, secs(1)));
        assert!(!s.observe(&b, OURS, secs(14)), "new reason, new clock");
        assert!(!s.observe(&b, OURS, secs(20)));
        assert!(s.observe(&b, OURS, secs(29)));
    }

    #[test]
    fn transient_failures_and_generated_names_wait() {
        let mut s = Settle::default();
        let bad_gateway = report(
            HostnameKind::Alias,
            failed(Reason::BadGateway, "t1"),
            PlaneState::Ready,
        );
        assert!(!s.observe(&bad_gateway, OURS, secs(1)));
        assert!(!s.observe(&bad_gateway, OURS, secs(100)));
        let generated = report(
            HostnameKind::Generated,
            failed(Reason::NxDomain, "t1"),
            PlaneState::Ready,
        );
        assert!(!s.observe(&generated, OURS, secs(1)));
        assert!(!s.observe(&generated, OURS, secs(100)));
        assert!(permanent(HostnameKind::Generated, Reason::WrongTarget));
        assert!(permanent(HostnameKind::Redirect, Reason::NxDomain));
        assert!(!permanent(HostnameKind::Alias, Reason::Timeout));
        assert!(permanent(HostnameKind::Alias, Reason::IssuanceFailed));
        assert!(!permanent(HostnameKind::Alias, Reason::ChallengePending));
    }

    #[test]
    fn the_clock_starts_with_the_workload_ready() {
        let mut s = Settle::default();
        let rolling = report(
            HostnameKind::Alias,
            failed(Reason::WrongTarget, "t1"),
            PlaneState::InProgress,
        );
        let ready = report(
            HostnameKind::Alias,
            failed(Reason::WrongTarget, "t1"),
            PlaneState::Ready,
        );
        assert!(!s.observe(&rolling, OURS, secs(1)));
        assert!(!s.observe(&rolling, OURS, secs(30)));
        assert!(
            !s.observe(&ready, OURS, secs(31)),
            "left over from before the rollout"
        );
        assert!(s.observe(&ready, OURS, secs(47)));
        // Another release's report is not ours to judge.
        let mut other = ready.clone();
        other.target_release = Some(OURS + 1);
        assert!(!s.observe(&other, OURS, secs(100)));
    }
}

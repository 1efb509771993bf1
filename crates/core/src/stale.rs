//! What the status says right after the control plane (re)started: a plane stored as `ready`
//! but last checked before this process started is a claim nobody has confirmed since — the
//! local runtime's replicas died with the old process, a certificate may have been replaced.
//! Such a plane is shown as `unknown` with reason `NotYetObserved` (its old `checked_at` kept)
//! until the engine observes it again and saves a fresh one. Never a stale `ready`.
//!
//! Planes in other states keep theirs: `in_progress`/`pending` say work is under way (the
//! engine resumes it), `failed` is the verdict that failed its release, `not_applicable` is
//! not an observation. A finished build (`ready` with an artifact) is a record of the
//! release, not live state, and stays as it is.
//!
//! Pure: a function of the stored document and this process's start time.

use satusky_types::{EndpointReport, Phase, Plane, PlaneState, Reason};

use crate::lifecycle::phase;
use crate::time::{parse_rfc3339_ms, rfc3339_ms};

/// Marks the planes of a status as a process started at `started_ms` may show them, and
/// returns the phase to show with them (`stored_phase` when nothing was stale).
pub fn as_of_start(
    build: &Plane,
    workload: &mut Plane,
    endpoints: &mut [EndpointReport],
    stored_phase: Phase,
    started_ms: i64,
) -> Phase {
    let mut changed = unobserved(workload, started_ms);
    for e in endpoints.iter_mut() {
        for p in [
            &mut e.metadata,
            &mut e.route,
            &mut e.dns,
            &mut e.tls,
            &mut e.http,
        ] {
            changed |= unobserved(p, started_ms);
        }
    }
    if changed {
        phase(build, workload, endpoints)
    } else {
        stored_phase
    }
}

/// Turn a `ready` plane last checked before `started_ms` into `unknown`/`NotYetObserved`.
/// `true` when it changed.
fn unobserved(p: &mut Plane, started_ms: i64) -> bool {
    if p.state != PlaneState::Ready {
        return false;
    }
    let Some(checked) = p.checked_at.as_deref().and_then(parse_rfc3339_ms) else {
        return false;
    };
    if checked >= started_ms {
        return false;
    }
    let was = if p.message.is_empty() {
        format!("ready ({})", p.reason)
    } else {
        format!("ready ({}: {})", p.reason, p.message)
    };
    *p = Plane {
        state: PlaneState::Unknown,
        reason: Reason::NotYetObserved,
        message: format!(
            "not observed since the control plane started; when last checked it was {was}"
        ),
        since: Some(rfc3339_ms(started_ms)),
        checked_at: p.checked_at.take(),
        remediation: None,
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::merge_plane;
    use satusky_types::{HostnameKind, ReplicaCounts, WorkloadPlane};

    /// The stored status document's parts, as the server keeps them.
    #[derive(Debug, Clone, PartialEq)]
    struct StatusDoc {
        release: Option<u64>,
        build: Plane,
        workload: WorkloadPlane,
        endpoints: Vec<EndpointReport>,
    }

    fn as_of_start(mut doc: StatusDoc, stored: Phase, started_ms: i64) -> (StatusDoc, Phase) {
        let ph = super::as_of_start(
            &doc.build,
            &mut doc.workload.plane,
            &mut doc.endpoints,
            stored,
            started_ms,
        );
        (doc, ph)
    }

    const BEFORE: i64 = 1_000_000;
    const START: i64 = 2_000_000;
    const AFTER: i64 = 3_000_000;

    fn plane(state: PlaneState, reason: Reason, at: i64) -> Plane {
        merge_plane(None, Plane::new(state, reason, "msg"), at)
    }

    fn doc(at: i64) -> StatusDoc {
        let ready = |r| plane(PlaneState::Ready, r, at);
        StatusDoc {
            release: Some(1),
            build: ready(Reason::Built),
            workload: WorkloadPlane {
                plane: ready(Reason::RolloutComplete),
                replicas: ReplicaCounts {
                    desired: 2,
                    updated: 2,
                    ready: 2,
                    available: 2,
                },
            },
            endpoints: vec![EndpointReport {
                hostname: "web-acme.satusky.localhost".into(),
                kind: HostnameKind::Generated,
                metadata: ready(Reason::Stored),
                route: ready(Reason::Accepted),
                dns: ready(Reason::ResolvesToEdge),
                tls: ready(Reason::CertificateValid),
                http: ready(Reason::ExpectedStatus),
            }],
        }
    }

    #[test]
    fn ready_planes_checked_before_the_start_are_unknown_until_observed() {
        let old = doc(BEFORE);
        let (shown, ph) = as_of_start(old.clone(), Phase::Ready, START);
        assert_eq!(ph, Phase::RollingOut, "no longer claimed ready");
        let endpoint = shown.endpoints[0].planes().map(|(_, p)| p);
        for p in std::iter::once(&shown.workload.plane).chain(endpoint) {
            assert_eq!(p.state, PlaneState::Unknown, "{p:?}");
            assert_eq!(p.reason, Reason::NotYetObserved);
            assert_eq!(
                p.checked_at, old.workload.plane.checked_at,
                "old checked_at kept"
            );
            assert!(
                p.message.contains("when last checked it was ready"),
                "{}",
                p.message
            );
        }
        // The finished build is a record of the release, not live state.
        assert_eq!(shown.build, old.build);
    }

    #[test]
    fn planes_observed_since_the_start_are_shown_as_they_are() {
        let fresh = doc(AFTER);
        let (shown, ph) = as_of_start(fresh.clone(), Phase::Ready, START);
        assert_eq!(shown, fresh);
        assert_eq!(ph, Phase::Ready);
    }

    #[test]
    fn only_stale_ready_planes_change() {
        let mut d = doc(BEFORE);
        d.workload.plane = plane(PlaneState::InProgress, Reason::Progressing, BEFORE);
        d.endpoints[0].http = plane(PlaneState::Failed, Reason::BadGateway, BEFORE);
        d.endpoints[0].dns = plane(PlaneState::Ready, Reason::ResolvesToEdge, AFTER);
        let (shown, _) = as_of_start(d.clone(), Phase::RollingOut, START);
        assert_eq!(shown.workload.plane, d.workload.plane, "in progress stays");
        assert_eq!(
            shown.endpoints[0].http, d.endpoints[0].http,
            "a failure stays"
        );
        assert_eq!(shown.endpoints[0].dns, d.endpoints[0].dns, "fresh stays");
        assert_eq!(shown.endpoints[0].tls.state, PlaneState::Unknown);
    }

    #[test]
    fn a_plane_never_checked_is_left_alone() {
        let mut d = doc(BEFORE);
        d.endpoints[0].route = Plane::new(PlaneState::Ready, Reason::Accepted, "");
        let (shown, _) = as_of_start(d.clone(), Phase::Ready, START);
        assert_eq!(shown.endpoints[0].route, d.endpoints[0].route);
    }
}

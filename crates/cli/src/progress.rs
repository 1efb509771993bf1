//! Progress lines of `deploy` and `app status --watch`: one line per dimension or plane
//! whose state or reason changed since the previous report. Pure: the caller prints.

use std::collections::BTreeMap;

use satusky_types::{Plane, ReadinessReport};

/// What was last shown, per dimension key (`phase`, `build`, `workload`, `HOST plane`).
#[derive(Debug, Default)]
pub struct Progress {
    seen: BTreeMap<String, String>,
}

impl Progress {
    /// The lines describing what changed in `report` (all of it the first time).
    pub fn changes(&mut self, report: &ReadinessReport) -> Vec<String> {
        let mut lines = Vec::new();
        let mut check = |key: String, fingerprint: String, text: String| {
            if self.seen.get(&key) != Some(&fingerprint) {
                self.seen.insert(key, fingerprint);
                lines.push(text);
            }
        };
        let phase = report.phase.as_str().to_string();
        check("phase".into(), phase.clone(), format!("phase: {phase}"));
        check(
            "build".into(),
            fingerprint(&report.build),
            format!("build: {}", describe(&report.build, None)),
        );
        let w = &report.workload;
        let counts = format!("{}/{} ready", w.replicas.ready, w.replicas.desired);
        check(
            "workload".into(),
            format!("{} {counts}", fingerprint(&w.plane)),
            format!("workload: {}", describe(&w.plane, Some(&counts))),
        );
        for e in &report.endpoints {
            for (name, plane) in e.planes() {
                check(
                    format!("{} {name}", e.hostname),
                    fingerprint(plane),
                    format!("{} {name}: {}", e.hostname, describe(plane, None)),
                );
            }
        }
        lines
    }
}

fn fingerprint(p: &Plane) -> String {
    format!("{} {}", p.state, p.reason)
}

/// `ready (Built): sha256:…` with an optional extra (replica counts) and remediation.
fn describe(p: &Plane, extra: Option<&str>) -> String {
    let mut s = format!("{} ({})", p.state, p.reason);
    let message = match (extra, p.message.is_empty()) {
        (Some(x), true) => x.to_string(),
        (Some(x), false) if p.message.contains(x) => p.message.clone(),
        (Some(x), false) => format!("{}, {x}", p.message),
        (None, _) => p.message.clone(),
    };
    if !message.is_empty() {
        s.push_str(": ");
        s.push_str(&message);
    }
    if let Some(fix) = &p.remediation {
        s.push_str(" — fix: ");
        s.push_str(fix);
    }
    s
}

#[cfg(test)]
mod tests {
    use satusky_types::{
        EndpointReport, HostnameKind, Phase, PlaneState, Reason, ReplicaCounts, WorkloadPlane,
    };

    use super::*;

    fn report() -> ReadinessReport {
        let p = Plane::unknown();
        ReadinessReport {
            app: "api".into(),
            org: "acme".into(),
            generation: 1,
            active_release: None,
            target_release: Some(1),
            phase: Phase::Building,
            build: Plane::new(PlaneState::InProgress, Reason::Building, ""),
            workload: WorkloadPlane {
                plane: Plane::new(PlaneState::Pending, Reason::Waiting, ""),
                replicas: ReplicaCounts::default(),
            },
            endpoints: vec![EndpointReport {
                hostname: "api-acme.test".into(),
                kind: HostnameKind::Generated,
                metadata: p.clone(),
                route: p.clone(),
                dns: p.clone(),
                tls: p.clone(),
                http: p,
            }],
        }
    }

    #[test]
    fn first_report_shows_everything_then_only_changes() {
        let mut progress = Progress::default();
        let mut r = report();
        assert_eq!(progress.changes(&r).len(), 3 + 5);
        assert!(progress.changes(&r).is_empty());

        r.build = Plane::new(PlaneState::Ready, Reason::Built, "sha256:abc");
        r.endpoints[0].dns = Plane::new(PlaneState::Failed, Reason::NxDomain, "")
            .with_remediation("create A api-acme.test 1.2.3.4");
        let lines = progress.changes(&r);
        assert_eq!(
            lines,
            vec![
                "build: ready (Built): sha256:abc".to_string(),
                "api-acme.test dns: failed (NxDomain) — fix: create A api-acme.test 1.2.3.4"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn replica_counts_are_progress() {
        let mut progress = Progress::default();
        let mut r = report();
        r.workload.plane = Plane::new(PlaneState::InProgress, Reason::Progressing, "");
        r.workload.replicas.desired = 2;
        progress.changes(&r);
        r.workload.replicas.ready = 1;
        assert_eq!(
            progress.changes(&r),
            vec!["workload: in_progress (Progressing): 1/2 ready".to_string()]
        );
    }
}

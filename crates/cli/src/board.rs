//! What a deploy's progress display shows: the phase, the build, the workload (with replica
//! counts) and every plane of every hostname, fed by readiness reports and by events alike.
//!
//! [`Board::report`] and [`Board::update`] return the [`Change`]s worth a line (a state or
//! reason changed, or the replica counts did); the board itself always keeps the latest
//! message too, for the live display. Pure: the caller prints.

use satusky_types::{PlaneState, ReadinessReport, ReplicaCounts};

use crate::events::{Update, first_line, plane_text};

/// The names of an endpoint's planes, in report order.
pub const PLANES: [&str; 5] = ["metadata", "route", "dns", "tls", "http"];

/// One dimension or plane as last heard of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub state: PlaneState,
    pub reason: String,
    pub message: String,
    pub remediation: Option<String>,
}

impl View {
    fn from_plane(p: &satusky_types::Plane) -> Self {
        View {
            state: p.state,
            reason: p.reason.to_string(),
            message: p.message.clone(),
            remediation: p.remediation.clone(),
        }
    }

    /// `ready Built  sha256:…`.
    pub fn text(&self) -> String {
        plane_text(self.state, &self.reason, &self.message)
    }
}

/// Something that changed, worth one progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Phase(String),
    Build(View),
    Workload(View),
    Replicas(ReplicaCounts),
    Plane {
        host: String,
        plane: String,
        view: View,
    },
}

impl Change {
    /// The progress line of `deploy` when stderr is not a terminal.
    pub fn line(&self) -> String {
        match self {
            Change::Phase(p) => format!("phase: {p}"),
            Change::Build(v) => format!("build: {}", v.text()),
            Change::Workload(v) => format!("workload: {}", v.text()),
            Change::Replicas(c) => format!("workload: {}/{} ready", c.ready, c.desired),
            Change::Plane { host, plane, view } => {
                let mut s = format!("{host}  {plane} {}", view.text());
                if let (PlaneState::Failed, Some(fix)) = (view.state, &view.remediation) {
                    s.push_str(" — fix: ");
                    s.push_str(first_line(fix));
                }
                s
            }
        }
    }
}

/// The hostnames' planes, in the order the hostnames were first heard of.
pub type Hosts = Vec<(String, [Option<View>; 5])>;

/// The latest known state of everything the deploy display shows.
#[derive(Debug, Clone, Default)]
pub struct Board {
    pub phase: Option<String>,
    pub build: Option<View>,
    pub workload: Option<View>,
    /// The last replica counts heard of (a report's or a `rollout` event's).
    pub replicas: Option<ReplicaCounts>,
    /// The workload plane was heard of after the counts (a `plane` event carries none): the
    /// counts are older than the plane and are not shown beside it ([`Board::workload_counts`]).
    counts_older: bool,
    pub hosts: Hosts,
}

impl Board {
    /// The replica counts to show beside the workload plane: only counts at least as new as
    /// the plane, so the two never contradict each other (`0/2 ready` beside a plane
    /// `ready RolloutComplete 2/2 ready`); none before any replica is desired.
    pub fn workload_counts(&self) -> Option<ReplicaCounts> {
        self.replicas
            .filter(|c| c.desired > 0 && !self.counts_older)
    }

    /// Takes in a whole readiness report: its workload plane and counts are one snapshot.
    pub fn report(&mut self, r: &ReadinessReport) -> Vec<Change> {
        let mut out = Vec::new();
        self.set_phase(r.phase.as_str(), &mut out);
        self.set_dimension("build", View::from_plane(&r.build), &mut out);
        self.set_dimension("workload", View::from_plane(&r.workload.plane), &mut out);
        self.set_replicas(r.workload.replicas, &mut out);
        for e in &r.endpoints {
            for (name, p) in e.planes() {
                self.set_plane(&e.hostname, name, View::from_plane(p), &mut out);
            }
        }
        out
    }

    /// Takes in one event (release and log events change nothing here).
    pub fn update(&mut self, u: &Update) -> Vec<Change> {
        let mut out = Vec::new();
        match u {
            Update::Phase { phase, .. } => self.set_phase(phase, &mut out),
            Update::Rollout { counts, .. } => self.set_replicas(*counts, &mut out),
            Update::Plane(p) => {
                let view = View {
                    state: p.state,
                    reason: p.reason.clone(),
                    message: p.message.clone(),
                    remediation: p.remediation.clone(),
                };
                match &p.hostname {
                    Some(host) => self.set_plane(host, &p.plane, view, &mut out),
                    None => {
                        if p.plane == "workload" {
                            self.counts_older = true;
                        }
                        self.set_dimension(&p.plane, view, &mut out)
                    }
                }
            }
            Update::BuildLog { .. }
            | Update::Release { .. }
            | Update::Drift { .. }
            | Update::Domain { .. }
            | Update::Operation { .. } => {}
        }
        out
    }

    fn set_phase(&mut self, phase: &str, out: &mut Vec<Change>) {
        if self.phase.as_deref() != Some(phase) {
            self.phase = Some(phase.to_string());
            out.push(Change::Phase(phase.to_string()));
        }
    }

    fn set_dimension(&mut self, name: &str, view: View, out: &mut Vec<Change>) {
        let slot = match name {
            "build" => &mut self.build,
            "workload" => &mut self.workload,
            _ => return,
        };
        if replace(slot, view.clone()) {
            out.push(if name == "build" {
                Change::Build(view)
            } else {
                Change::Workload(view)
            });
        }
    }

    fn set_replicas(&mut self, counts: ReplicaCounts, out: &mut Vec<Change>) {
        self.counts_older = false;
        if self.replicas == Some(counts) {
            return;
        }
        // What the last counts said, if anything was said of them (counts of a release not
        // started yet are not said).
        let shown = self
            .replicas
            .filter(|c| c.updated > 0 || c.ready > 0)
            .map(|c| (c.ready, c.desired));
        self.replicas = Some(counts);
        // Nothing to say before anything is desired or started (a release waiting for its
        // build has no replicas yet), when only updated/available moved, or when the
        // workload's own message already says it.
        let text = format!("{}/{} ready", counts.ready, counts.desired);
        let said = self
            .workload
            .as_ref()
            .is_some_and(|w| w.message.contains(&text));
        let started = counts.updated > 0 || counts.ready > 0;
        if counts.desired > 0 && started && shown != Some((counts.ready, counts.desired)) && !said {
            out.push(Change::Replicas(counts));
        }
    }

    fn set_plane(&mut self, host: &str, plane: &str, view: View, out: &mut Vec<Change>) {
        let Some(i) = PLANES.iter().position(|p| *p == plane) else {
            return;
        };
        let idx = match self.hosts.iter().position(|(h, _)| h == host) {
            Some(idx) => idx,
            None => {
                self.hosts.push((host.to_string(), Default::default()));
                self.hosts.len() - 1
            }
        };
        let slot = &mut self.hosts[idx].1[i];
        // A plane not checked yet is worth no line until it moves.
        let silent = slot.is_none() && view.state == PlaneState::Unknown;
        if replace(slot, view.clone()) && !silent {
            out.push(Change::Plane {
                host: host.to_string(),
                plane: plane.to_string(),
                view,
            });
        }
    }
}

/// Stores `view`; true when its state or reason differ from what was there.
fn replace(slot: &mut Option<View>, view: View) -> bool {
    let changed = slot
        .as_ref()
        .is_none_or(|old| old.state != view.state || old.reason != view.reason);
    *slot = Some(view);
    changed
}

#[cfg(test)]
mod tests {
    use satusky_types::{EndpointReport, HostnameKind, Phase, Plane, Reason, WorkloadPlane};

    use super::*;
    use crate::events::PlaneChange;

    fn report() -> ReadinessReport {
        let p = Plane::unknown();
        ReadinessReport {
            app: "api".into(),
            org: "acme".into(),
            generation: 1,
            observed_generation: None,
            active_release: None,
            target_release: Some(1),
            internal_address: None,
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

    fn lines(changes: &[Change]) -> Vec<String> {
        changes.iter().map(Change::line).collect()
    }

    #[test]
    fn first_report_shows_everything_then_only_changes() {
        let mut board = Board::default();
        let mut r = report();
        // Phase, build and workload; the hostname's planes are not checked yet.
        assert_eq!(board.report(&r).len(), 3);
        assert_eq!(board.hosts.len(), 1);
        assert!(board.report(&r).is_empty());

        r.build = Plane::new(PlaneState::Ready, Reason::Built, "sha256:abc");
        r.endpoints[0].dns = Plane::new(PlaneState::Failed, Reason::NxDomain, "no such name")
            .with_remediation("create A api-acme.test 1.2.3.4");
        assert_eq!(
            lines(&board.report(&r)),
            vec![
                "build: ready Built  sha256:abc",
                "api-acme.test  dns failed NxDomain  no such name — fix: create A api-acme.test 1.2.3.4",
            ]
        );
        // A new message alone is no line, but the board keeps it.
        r.build.message = "sha256:def".into();
        assert!(board.report(&r).is_empty());
        assert_eq!(
            board.build.as_ref().map(|b| b.message.as_str()),
            Some("sha256:def")
        );
    }

    #[test]
    fn replica_counts_are_progress() {
        let mut board = Board::default();
        let mut counts = ReplicaCounts {
            desired: 2,
            ..Default::default()
        };
        let rollout = |c| Update::Rollout {
            release: Some(1),
            counts: c,
        };
        // Desired but nothing started yet (the build runs): no line.
        assert!(board.update(&rollout(counts)).is_empty());
        counts.updated = 1;
        assert_eq!(
            lines(&board.update(&rollout(counts))),
            vec!["workload: 0/2 ready"]
        );
        counts.updated = 2;
        assert!(board.update(&rollout(counts)).is_empty());
        counts.ready = 1;
        assert_eq!(
            lines(&board.update(&rollout(counts))),
            vec!["workload: 1/2 ready"]
        );
        // Said already by the workload's message: no second line.
        board.workload = Some(View {
            state: PlaneState::InProgress,
            reason: "Progressing".into(),
            message: "2/2 ready, 2 updated".into(),
            remediation: None,
        });
        counts.ready = 2;
        assert!(board.update(&rollout(counts)).is_empty());
    }

    #[test]
    fn events_and_reports_feed_the_same_board() {
        let mut board = Board::default();
        board.report(&report());
        let dns = Update::Plane(PlaneChange {
            hostname: Some("api-acme.test".into()),
            plane: "dns".into(),
            state: PlaneState::Ready,
            reason: "ResolvesToEdge".into(),
            message: "A 127.0.0.1".into(),
            remediation: None,
        });
        assert_eq!(
            lines(&board.update(&dns)),
            vec!["api-acme.test  dns ready ResolvesToEdge  A 127.0.0.1"]
        );
        assert!(board.update(&dns).is_empty());
        let build = Update::Plane(PlaneChange {
            hostname: None,
            plane: "build".into(),
            state: PlaneState::Failed,
            reason: "BuildFailed".into(),
            message: "exit status 101".into(),
            remediation: None,
        });
        assert_eq!(
            lines(&board.update(&build)),
            vec!["build: failed BuildFailed  exit status 101"]
        );
        let new_host = Update::Plane(PlaneChange {
            hostname: Some("www.example.com".into()),
            plane: "http".into(),
            state: PlaneState::Pending,
            reason: "Waiting".into(),
            message: String::new(),
            remediation: None,
        });
        board.update(&new_host);
        assert_eq!(board.hosts.len(), 2);
        assert_eq!(board.hosts[1].0, "www.example.com");
    }
}

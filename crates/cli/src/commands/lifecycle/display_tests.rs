//! Unit tests of [`super`]: the lines of the live and the plain display.

use super::*;

fn view(state: PlaneState, reason: &str, message: &str) -> View {
    View {
        state,
        reason: reason.into(),
        message: message.into(),
        remediation: None,
    }
}

#[test]
fn dimension_lines() {
    let v = view(PlaneState::Ready, "Built", "sha256:abc");
    assert_eq!(
        dimension_line("build", Some(&v), None),
        (Mark::Done, "build     ready Built  sha256:abc".to_string())
    );
    let v = view(PlaneState::InProgress, "Progressing", "");
    assert_eq!(
        dimension_line("workload", Some(&v), Some("1/2 ready".into())),
        (
            Mark::Busy,
            "workload  1/2 ready in_progress Progressing".to_string()
        )
    );
    let v = view(PlaneState::Ready, "RolloutComplete", "2/2 ready");
    assert_eq!(
        dimension_line("workload", Some(&v), Some("2/2 ready".into())).1,
        "workload  ready RolloutComplete  2/2 ready",
        "the counts once"
    );
    assert_eq!(dimension_line("build", None, None).0, Mark::Busy);
    assert_eq!(phase_line(Some("degraded")).0, Mark::Failed);
}

#[test]
fn host_lines_summarise_the_planes() {
    let ready = Some(view(PlaneState::Ready, "x", ""));
    let planes = [
        ready.clone(),
        ready.clone(),
        ready.clone(),
        Some(view(PlaneState::InProgress, "Waiting", "")),
        None,
    ];
    assert_eq!(
        host_line("web-acme.satusky.localhost", &planes),
        (
            Mark::Busy,
            "web-acme.satusky.localhost  metadata ✓  route ✓  dns ✓  tls …  http ·".to_string()
        )
    );
    let planes = [
        ready.clone(),
        ready.clone(),
        Some(view(PlaneState::Failed, "WrongTarget", "A 10.0.0.1")),
        ready.clone(),
        Some(view(PlaneState::NotApplicable, "NotApplicable", "")),
    ];
    let (mark, text) = host_line("api.example.com", &planes);
    assert_eq!(mark, Mark::Failed);
    assert!(text.contains("dns ✗ WrongTarget"), "{text}");
    let all = [
        ready.clone(),
        ready.clone(),
        ready.clone(),
        ready.clone(),
        ready,
    ];
    assert_eq!(host_line("h", &all).0, Mark::Done);
}

/// The live display as text, one frame after each input.
fn frames(inputs: &[(&str, Input)]) -> String {
    let mut board = Board::default();
    let mut out = Vec::new();
    for (what, input) in inputs {
        match input {
            Input::Report(r) => board.report(r),
            Input::Event(u) => board.update(u),
        };
        out.push(format!("after {what}:"));
        for (mark, text) in board_lines(&board) {
            let m = match mark {
                Mark::Busy => "…",
                Mark::Done => "✓",
                Mark::Failed => "✗",
            };
            out.push(format!("  {m} {text}"));
        }
    }
    out.join("\n")
}

enum Input {
    Report(Box<satusky_types::ReadinessReport>),
    Event(Update),
}

fn rollout(ready: u32) -> Input {
    Input::Event(Update::Rollout {
        release: Some(1),
        counts: satusky_types::ReplicaCounts {
            desired: 2,
            updated: 2,
            ready,
            available: ready,
        },
    })
}

fn workload(state: PlaneState, reason: &str, message: &str) -> Input {
    Input::Event(Update::Plane(crate::events::PlaneChange {
        hostname: None,
        plane: "workload".into(),
        state,
        reason: reason.into(),
        message: message.into(),
        remediation: None,
    }))
}

#[test]
fn the_replica_counts_never_contradict_the_workload_plane() {
    use satusky_types::{
        EndpointReport, HostnameKind, Phase, Plane, ReadinessReport, Reason, ReplicaCounts,
        WorkloadPlane,
    };
    let unknown = Plane::unknown();
    let report = ReadinessReport {
        app: "web".into(),
        org: "acme".into(),
        generation: 1,
        observed_generation: None,
        active_release: None,
        target_release: Some(1),
        internal_address: None,
        phase: Phase::RollingOut,
        build: Plane::new(PlaneState::Ready, Reason::Built, "sha256:abc"),
        workload: WorkloadPlane {
            plane: Plane::new(PlaneState::InProgress, Reason::Progressing, ""),
            replicas: ReplicaCounts {
                desired: 2,
                ..Default::default()
            },
        },
        endpoints: vec![EndpointReport {
            hostname: "web-acme.satusky.localhost".into(),
            kind: HostnameKind::Generated,
            metadata: unknown.clone(),
            route: unknown.clone(),
            dns: unknown.clone(),
            tls: unknown.clone(),
            http: unknown,
        }],
    };
    let text = frames(&[
        ("the first report", Input::Report(Box::new(report))),
        (
            "a plane event newer than the counts",
            workload(PlaneState::Ready, "RolloutComplete", "2/2 ready"),
        ),
        ("the counts catching up", rollout(2)),
        (
            "a replica failing its check",
            workload(
                PlaneState::InProgress,
                "ReadinessFailing",
                "replica 1: GET /healthz answered 500",
            ),
        ),
        ("the counts of that moment", rollout(1)),
    ]);
    for line in text.lines() {
        assert!(
            !(line.contains("0/2 ready") && line.contains("2/2 ready")),
            "{text}"
        );
    }
    insta::assert_snapshot!("live_display_frames", text);
}

#[test]
fn a_failed_dimension_is_left_to_the_verdict_that_says_it() {
    let failed = Change::Workload(view(
        PlaneState::Failed,
        "CrashLoopBackOff",
        "exited with status 1",
    ));
    let phase = Change::Phase("failed".into());
    // Exit 11: the details under the progress say the failure; no progress line for it.
    let mut p = Plain::default();
    assert_eq!(p.lines(&[failed.clone(), phase.clone()]), ["phase: failed"]);
    assert!(p.finish(exit::WORKLOAD_FAILED).is_empty());
    // Another verdict (a newer release took over): the line comes at the end.
    let mut p = Plain::default();
    p.lines(std::slice::from_ref(&failed));
    assert_eq!(
        p.finish(exit::SUPERSEDED),
        ["workload: failed CrashLoopBackOff  exited with status 1"]
    );
    // The workload moved on before the end: the failure is printed, then the new state.
    let mut p = Plain::default();
    p.lines(std::slice::from_ref(&failed));
    let again = Change::Workload(view(PlaneState::InProgress, "Progressing", ""));
    assert_eq!(
        p.lines(&[again]),
        [
            "workload: failed CrashLoopBackOff  exited with status 1",
            "workload: in_progress Progressing",
        ]
    );
    assert!(p.finish(exit::WORKLOAD_FAILED).is_empty());
    // A failed build is held for exit 10 alike; other changes pass straight through.
    let build = Change::Build(view(PlaneState::Failed, "BuildFailed", "exit 101"));
    let mut p = Plain::default();
    assert!(p.lines(&[build]).is_empty());
    assert!(p.finish(exit::BUILD_FAILED).is_empty());
}

#[test]
fn a_hidden_live_display_takes_updates() {
    // Drawing is indicatif's business; this checks the bookkeeping only.
    let mut d = Display::new(true);
    if let Some(live) = &d.live {
        live.multi
            .set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut board = Board::default();
    board.hosts.push(("h".into(), Default::default()));
    if let Some(live) = &mut d.live {
        live.redraw(&board);
        assert_eq!(live.hosts.len(), 1);
        live.redraw(&board);
        assert_eq!(live.hosts.len(), 1);
    }
    d.note("a note");
    d.finish(exit::OK);
}

#[test]
fn a_host_that_is_not_public_is_said_once_not_per_plane() {
    let not_public = view(
        PlaneState::NotApplicable,
        "NotPublic",
        "expose = \"tcp\": a TCP service with no public hostname",
    );
    let changes: Vec<Change> = ["metadata", "route", "dns", "tls", "http"]
        .iter()
        .map(|plane| Change::Plane {
            host: "cache-dev.satusky.localhost".into(),
            plane: (*plane).into(),
            view: not_public.clone(),
        })
        .collect();
    let lines = Plain::default().lines(&changes);
    assert_eq!(
        lines,
        [
            "cache-dev.satusky.localhost  metadata not_applicable NotPublic  expose = \"tcp\": a TCP service with no public hostname"
        ]
    );
}

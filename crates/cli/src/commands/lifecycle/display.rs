//! The progress display of `deploy` and `app rollback`, on stderr: on a terminal, an indicatif
//! multi-progress with one line per dimension (phase, build, workload) and per hostname, updated
//! in place, with build-log lines and notes printed above; otherwise plain lines, one per change
//! ([`crate::board::Change::line`]).
//!
//! Both are fed the same way ([`Display::report`], [`Display::event`]) and keep a
//! [`Board`]. What a line says is computed by pure functions ([`dimension_line`],
//! [`host_line`], [`Plain`]) that the tests read; indicatif only draws.
//!
//! A plain line saying the build or the workload failed is held back until the end: when the
//! verdict is that failure (10, 11), the lines under the progress say it in full
//! ([`crate::verdict::details`]), so it is not said twice; otherwise it is printed then.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use satusky_types::{PlaneState, ReadinessReport};

use crate::board::{Board, Change, PLANES, View};
use crate::events::Update;
use crate::exit;
use crate::output;

/// Spinner speed: smooth enough to look alive, cheap enough not to matter.
const TICK: Duration = Duration::from_millis(120);
/// Width of the dimension names, so their states line up.
const NAME_WIDTH: usize = 9;

/// How a line looks: its leading mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Still moving: a spinner.
    Busy,
    Done,
    Failed,
}

/// The progress display.
pub struct Display {
    board: Board,
    live: Option<Live>,
    plain: Plain,
}

impl Display {
    /// A live display when `live` (stderr is a terminal), plain lines otherwise.
    pub fn new(live: bool) -> Self {
        Display {
            board: Board::default(),
            live: live.then(Live::new),
            plain: Plain::default(),
        }
    }

    /// Takes in a polled readiness report.
    pub fn report(&mut self, r: &ReadinessReport) {
        let changes = self.board.report(r);
        self.show(&changes);
    }

    /// Takes in an event admitted by the feed.
    pub fn event(&mut self, u: &Update) {
        match u {
            Update::BuildLog { line, .. } => self.note(&format!("build │ {line}")),
            Update::Release { .. } => self.note(&u.line()),
            _ => {
                let changes = self.board.update(u);
                self.show(&changes);
            }
        }
    }

    /// A line of its own (above the live lines on a terminal).
    pub fn note(&mut self, text: &str) {
        match &self.live {
            Some(live) => live.println(text),
            None => output::note(text),
        }
    }

    /// Stops the spinners and leaves the last state on screen; plain lines still held are
    /// printed unless the verdict `code` is the failure they say.
    pub fn finish(&mut self, code: u8) {
        match &mut self.live {
            Some(live) => {
                live.redraw(&self.board);
                live.finish();
            }
            None => self.plain.finish(code).iter().for_each(|l| output::note(l)),
        }
    }

    fn show(&mut self, changes: &[Change]) {
        match &mut self.live {
            Some(live) => {
                if !changes.is_empty() {
                    live.redraw(&self.board);
                }
            }
            None => self
                .plain
                .lines(changes)
                .iter()
                .for_each(|l| output::note(l)),
        }
    }
}

/// The plain display's lines: one per change, except that a failed build or workload is held
/// back (the verdict's details say it in full) until that dimension changes again or the
/// wait ends.
#[derive(Debug, Default)]
pub struct Plain {
    held: Vec<Change>,
}

impl Plain {
    /// The lines to print now for `changes`.
    pub fn lines(&mut self, changes: &[Change]) -> Vec<String> {
        let mut out = Vec::new();
        for c in changes {
            let (dimension, failed) = match c {
                Change::Build(v) => (Some(exit::BUILD_FAILED), v.state == PlaneState::Failed),
                Change::Workload(v) => (Some(exit::WORKLOAD_FAILED), v.state == PlaneState::Failed),
                _ => (None, false),
            };
            // The dimension moved on: what was held is history worth its line.
            if let Some(code) = dimension
                && let Some(i) = self.held.iter().position(|h| held_code(h) == code)
            {
                out.push(self.held.remove(i).line());
            }
            if failed {
                self.held.push(c.clone());
            } else {
                out.push(c.line());
            }
        }
        out
    }

    /// The held lines the verdict `code` does not say itself.
    pub fn finish(&mut self, code: u8) -> Vec<String> {
        self.held
            .drain(..)
            .filter(|h| held_code(h) != code)
            .map(|h| h.line())
            .collect()
    }
}

/// The exit code whose details say a held change in full.
fn held_code(c: &Change) -> u8 {
    match c {
        Change::Build(_) => exit::BUILD_FAILED,
        _ => exit::WORKLOAD_FAILED,
    }
}

/// The phase line.
pub fn phase_line(phase: Option<&str>) -> (Mark, String) {
    let mark = match phase {
        Some("ready") => Mark::Done,
        Some("failed" | "degraded") => Mark::Failed,
        _ => Mark::Busy,
    };
    (
        mark,
        format!("{:NAME_WIDTH$} {}", "phase", phase.unwrap_or("accepted")),
    )
}

/// Every line of the live display, top to bottom: phase, build, workload (with the replica
/// counts of the same snapshot as its plane, [`Board::workload_counts`]), then one per
/// hostname in the order they were first heard of.
pub fn board_lines(board: &Board) -> Vec<(Mark, String)> {
    let counts = board
        .workload_counts()
        .map(|c| format!("{}/{} ready", c.ready, c.desired));
    let mut out = vec![
        phase_line(board.phase.as_deref()),
        dimension_line("build", board.build.as_ref(), None),
        dimension_line("workload", board.workload.as_ref(), counts),
    ];
    out.extend(
        board
            .hosts
            .iter()
            .map(|(host, planes)| host_line(host, planes)),
    );
    out
}

/// A dimension's line: `build     ready Built  sha256:…`, with `extra` (replica counts)
/// after the name unless the message already holds it.
pub fn dimension_line(name: &str, view: Option<&View>, extra: Option<String>) -> (Mark, String) {
    let mut s = format!("{name:NAME_WIDTH$}");
    // The counts, unless the message already says them.
    if let Some(extra) = extra.filter(|x| view.is_none_or(|v| !v.message.contains(x))) {
        s.push(' ');
        s.push_str(&extra);
    }
    match view {
        Some(v) => {
            s.push(' ');
            s.push_str(&v.text());
            (mark(v.state), s)
        }
        None => {
            s.push_str(" waiting");
            (Mark::Busy, s)
        }
    }
}

/// A hostname's line: `HOST  metadata ✓  route ✓  dns ✓  tls …  http ✗ BadGateway`.
pub fn host_line(host: &str, planes: &[Option<View>; 5]) -> (Mark, String) {
    let mut s = host.to_string();
    let mut marks = Vec::new();
    for (name, view) in PLANES.iter().zip(planes) {
        let (symbol, m) = match view.as_ref().map(|v| v.state) {
            Some(PlaneState::Ready) => ("✓", Mark::Done),
            Some(PlaneState::NotApplicable) => ("–", Mark::Done),
            Some(PlaneState::Failed) => ("✗", Mark::Failed),
            Some(PlaneState::InProgress) => ("…", Mark::Busy),
            Some(PlaneState::Pending | PlaneState::Unknown) | None => ("·", Mark::Busy),
        };
        marks.push(m);
        s.push_str(&format!("  {name} {symbol}"));
        if let Some(v) = view.as_ref().filter(|v| v.state == PlaneState::Failed) {
            s.push(' ');
            s.push_str(&v.reason);
        }
    }
    let mark = if marks.contains(&Mark::Failed) {
        Mark::Failed
    } else if marks.iter().all(|m| *m == Mark::Done) {
        Mark::Done
    } else {
        Mark::Busy
    };
    (mark, s)
}

fn mark(state: PlaneState) -> Mark {
    match state {
        PlaneState::Ready | PlaneState::NotApplicable => Mark::Done,
        PlaneState::Failed => Mark::Failed,
        PlaneState::Pending | PlaneState::InProgress | PlaneState::Unknown => Mark::Busy,
    }
}

/// The indicatif side: one spinner per line.
struct Live {
    multi: MultiProgress,
    phase: Line,
    build: Line,
    workload: Line,
    hosts: Vec<(String, Line)>,
}

struct Line {
    bar: ProgressBar,
    mark: Option<Mark>,
}

impl Live {
    fn new() -> Self {
        let multi = MultiProgress::new();
        let line = |multi: &MultiProgress| Line {
            bar: multi.add(ProgressBar::new_spinner()),
            mark: None,
        };
        let live = Live {
            phase: line(&multi),
            build: line(&multi),
            workload: line(&multi),
            hosts: Vec::new(),
            multi,
        };
        live.phase.bar.enable_steady_tick(TICK);
        live
    }

    fn println(&self, text: &str) {
        // Fails only when stderr is gone; then there is nobody to tell.
        let _ = self.multi.println(text);
    }

    fn redraw(&mut self, board: &Board) {
        let mut lines = board_lines(board).into_iter();
        let mut next = || lines.next().unwrap_or((Mark::Busy, String::new()));
        self.phase.set(next());
        self.build.set(next());
        self.workload.set(next());
        for (host, _) in &board.hosts {
            let idx = match self.hosts.iter().position(|(h, _)| h == host) {
                Some(idx) => idx,
                None => {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    self.hosts.push((host.clone(), Line { bar, mark: None }));
                    self.hosts.len() - 1
                }
            };
            self.hosts[idx].1.set(next());
        }
    }

    fn finish(&mut self) {
        let lines = [&self.phase, &self.build, &self.workload]
            .into_iter()
            .chain(self.hosts.iter().map(|(_, l)| l));
        for line in lines {
            line.bar.disable_steady_tick();
            if line.mark == Some(Mark::Busy) {
                line.bar.set_style(style("·"));
            }
            line.bar.abandon();
        }
    }
}

impl Line {
    fn set(&mut self, (mark, text): (Mark, String)) {
        if self.mark != Some(mark) {
            self.bar.set_style(match mark {
                Mark::Busy => spinner(),
                Mark::Done => style("✓"),
                Mark::Failed => style("✗"),
            });
            if mark == Mark::Busy {
                self.bar.enable_steady_tick(TICK);
            } else {
                self.bar.disable_steady_tick();
            }
            self.mark = Some(mark);
        }
        self.bar.set_message(text);
    }
}

fn spinner() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .tick_strings(&["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", "·"])
}

fn style(mark: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{mark} {{wide_msg}}"))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

#[cfg(test)]
mod tests {
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
            active_release: None,
            target_release: Some(1),
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
}

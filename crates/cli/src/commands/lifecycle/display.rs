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
            // A hostname that is not public (expose = tcp/none) says so once, on its metadata
            // plane's line, not five times.
            if let Change::Plane { plane, view, .. } = c
                && view.reason == "NotPublic"
                && plane != "metadata"
            {
                continue;
            }
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
#[path = "display_tests.rs"]
mod tests;

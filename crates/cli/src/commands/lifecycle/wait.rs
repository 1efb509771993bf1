//! Waiting for a release's verdict (SPEC §5): poll `GET …/status` about once a second — the
//! one source of truth, judged by [`crate::verdict::verdict`] with the settle rule of
//! [`crate::settle`] — while the event stream shows what happens as it happens.
//!
//! The stream never decides anything: it starts at sequence 0 (events of older releases are
//! skipped by the [`Feed`]), reconnects from its last sequence on its own, and whether it
//! works, breaks or is refused never changes the exit code. It only makes the next poll come
//! sooner: an event of our release that can move the verdict (phase, rollout, plane, release)
//! brings the poll forward to [`NUDGE_DELAY`] from now, never closer than [`NUDGE_GAP`] to
//! the previous poll — so a release that is ready after 300 ms is reported after ~0.4 s, not
//! at the next one-second tick. When the stream is gone, or has been down for
//! [`STREAM_GRACE`], the polled reports feed the display instead, so progress never goes
//! silent.

use std::time::{Duration, Instant};

use satusky_types::{ReadinessReport, ReleaseInfo};

use crate::cli::WaitFor;
use crate::client::Client;
use crate::events::stream::{self, Msg, Stream};
use crate::events::{Feed, Update};
use crate::exit::{self, CliError};
use crate::settle::Settle;
use crate::verdict::{needs_releases, verdict};

use super::display::Display;

/// How often the readiness report is polled: fast enough to feel live, slow enough that a
/// few waiting CI jobs do not load the API.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// An event that can move the verdict brings the next poll forward to this long after it: a
/// burst of events (a rollout's replica counts, several planes) then costs one poll.
const NUDGE_DELAY: Duration = Duration::from_millis(25);
/// The least time from one poll's answer to the next poll, however many events come: bounds the load a chatty
/// release puts on the API to 10 reads a second per waiting client.
const NUDGE_GAP: Duration = Duration::from_millis(100);
/// After the verdict, how long to let the stream catch up (the build log's last lines)…
const DRAIN_MAX: Duration = Duration::from_secs(1);
/// …stopping early once it has been quiet this long. The verdict's own events were written
/// with the status it read, so they are already on the wire: only a short lull is needed.
const DRAIN_IDLE: Duration = Duration::from_millis(100);
/// How long the polled reports leave the display to a stream that is (re)connecting: its
/// replay tells the same story in more detail, and mixing both makes states flap.
const STREAM_GRACE: Duration = Duration::from_secs(2);

/// The app whose release is followed.
pub struct Target<'a> {
    pub client: &'a Client,
    pub org: &'a str,
    pub app: &'a str,
}

impl Target<'_> {
    pub async fn status(&self) -> Result<ReadinessReport, CliError> {
        self.client
            .get(&["v1", "orgs", self.org, "apps", self.app, "status"])
            .await
    }

    async fn releases(&self) -> Result<Vec<ReleaseInfo>, CliError> {
        self.client
            .get(&["v1", "orgs", self.org, "apps", self.app, "releases"])
            .await
    }
}

/// For a scale or restart of the active release: the report describes it once its
/// `observed_generation` reaches `generation`; its events start after `events_after`.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub generation: u64,
    pub events_after: u64,
}

impl Gate {
    /// Whether `report` describes the gated request yet.
    fn reached(self, report: &ReadinessReport) -> bool {
        report
            .observed_generation
            .is_some_and(|g| g >= self.generation)
    }
}

/// How the wait ended.
pub struct Outcome {
    pub code: u8,
    /// The last report read (the verdict's).
    pub report: ReadinessReport,
    /// The last build-log lines of our release that the stream delivered.
    pub build_tail: Vec<String>,
}

/// Waits until a verdict or `timeout`.
pub async fn wait(
    target: &Target<'_>,
    release: u64,
    gate: Option<Gate>,
    wait_for: WaitFor,
    timeout: Duration,
    display: &mut Display,
) -> Result<Outcome, CliError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut stream = stream::follow(
        target.client.clone(),
        target.org.to_string(),
        target.app.to_string(),
        gate.map_or(0, |g| g.events_after),
    );
    let mut events = Events {
        feed: Feed::new(release, Some(release)),
        open: true,
        connected: false,
        down_since: start,
        lost_noted: false,
        unshown: None,
    };
    let mut settle = Settle::default();
    let mut last: Option<ReadinessReport> = None;
    let mut warned = false;
    let mut poll = Box::pin(poll_after(target, release, Duration::ZERO));
    // When the pending poll reads (a past instant: it is reading now, not to be replaced), and
    // when the last one finished.
    let mut next_poll = start;
    let mut last_poll = start;
    loop {
        tokio::select! {
            msg = stream.rx.recv(), if events.open => {
                if events.take(msg, display) {
                    let soon = (Instant::now() + NUDGE_DELAY).max(last_poll + NUDGE_GAP);
                    if soon < next_poll {
                        next_poll = soon;
                        poll.set(poll_after(target, release, soon.saturating_duration_since(Instant::now())));
                    }
                }
            }
            polled = &mut poll => {
                let now = Instant::now();
                last_poll = now;
                let timed_out = now >= deadline;
                match polled {
                    Ok((report, releases)) => {
                        events.polled(&report, display);
                        let for_good = settle.observe(&report, release, now - start);
                        // A report from before the gated request says nothing about it yet.
                        let code = match gate {
                            Some(g) if !g.reached(&report) => timed_out.then_some(exit::TIMED_OUT),
                            _ => verdict(&report, release, &releases, wait_for, timed_out, for_good),
                        };
                        if let Some(code) = code {
                            return Ok(events.close(&mut stream, display, code, report).await);
                        }
                        last = Some(report);
                        warned = false;
                    }
                    Err(e) if transient(&e) => {
                        if !warned {
                            display.note(&format!("warning: {e} (retrying)"));
                            warned = true;
                        }
                        if timed_out {
                            let Some(report) = last else { return Err(e) };
                            let code = verdict(&report, release, &[], wait_for, true, false)
                                .unwrap_or(exit::TIMED_OUT);
                            return Ok(events.close(&mut stream, display, code, report).await);
                        }
                    }
                    Err(e) => return Err(e),
                }
                // Sleep at most until the deadline, so the last poll happens right at it.
                let left = deadline.saturating_duration_since(Instant::now());
                let delay = POLL_INTERVAL.min(left);
                next_poll = Instant::now() + delay;
                poll.set(poll_after(target, release, delay));
            }
        }
    }
}

/// The display side of the event stream.
struct Events {
    feed: Feed,
    /// The stream task still runs.
    open: bool,
    /// A connection is up: events, not polls, feed the display.
    connected: bool,
    /// Since when no connection is up.
    down_since: Instant,
    /// The current loss was already mentioned.
    lost_noted: bool,
    /// The last polled report, held back during [`STREAM_GRACE`].
    unshown: Option<ReadinessReport>,
}

impl Events {
    /// A polled report: shown when the stream is gone or has been down for a while.
    fn polled(&mut self, report: &ReadinessReport, display: &mut Display) {
        if !self.open || (!self.connected && self.down_since.elapsed() >= STREAM_GRACE) {
            self.unshown = None;
            display.report(report);
        } else if !self.connected {
            self.unshown = Some(report.clone());
        }
    }

    /// The stream will not come back: the polls take over the display now.
    fn closed(&mut self, display: &mut Display) {
        self.open = false;
        self.connected = false;
        if let Some(report) = self.unshown.take() {
            display.report(&report);
        }
    }

    /// Shows what `msg` says; `true` when it is an event of our release that can move the
    /// verdict (worth polling for now).
    fn take(&mut self, msg: Option<Msg>, display: &mut Display) -> bool {
        match msg {
            Some(Msg::Connected { .. }) => {
                self.connected = true;
                self.lost_noted = false;
                self.unshown = None;
            }
            Some(Msg::Event(e)) => {
                if let Some(u) = Update::parse(&e).filter(|u| self.feed.admit(u)) {
                    display.event(&u);
                    return !matches!(u, Update::BuildLog { .. } | Update::Drift { .. });
                }
            }
            Some(Msg::Lost(why)) => {
                if self.connected && !self.lost_noted {
                    display.note(&format!(
                        "event stream lost ({why}): reconnecting; the verdict does not depend on it"
                    ));
                    self.lost_noted = true;
                }
                if self.connected {
                    self.down_since = Instant::now();
                }
                self.connected = false;
            }
            Some(Msg::Gone(e)) => {
                display.note(&format!("no live events ({e}): showing the polled status"));
                self.closed(display);
            }
            None => self.closed(display),
        }
        false
    }

    /// Lets the stream catch up a moment, shows the final report and ends the display.
    async fn close(
        &mut self,
        stream: &mut Stream,
        display: &mut Display,
        code: u8,
        report: ReadinessReport,
    ) -> Outcome {
        if self.connected {
            let until = tokio::time::Instant::now() + DRAIN_MAX;
            loop {
                let idle = tokio::time::Instant::now() + DRAIN_IDLE;
                match tokio::time::timeout_at(idle.min(until), stream.rx.recv()).await {
                    Ok(Some(msg @ Msg::Event(_))) => {
                        self.take(Some(msg), display);
                    }
                    _ => break,
                }
            }
        }
        display.report(&report);
        display.finish(code);
        Outcome {
            code,
            report,
            build_tail: self.feed.tail(),
        }
    }
}

/// Errors worth retrying while waiting: the control plane restarting or failing briefly.
fn transient(e: &CliError) -> bool {
    matches!(e, CliError::Unreachable(_) | CliError::Unexpected(_))
}

/// After `delay`, one status read (and the release list when the report is about another
/// release).
async fn poll_after(
    target: &Target<'_>,
    release: u64,
    delay: Duration,
) -> Result<(ReadinessReport, Vec<ReleaseInfo>), CliError> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let report = target.status().await?;
    let releases = if needs_releases(&report, release) {
        target.releases().await?
    } else {
        Vec::new()
    };
    Ok((report, releases))
}

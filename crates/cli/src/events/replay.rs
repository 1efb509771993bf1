//! Telling replayed events from live ones in `app status --watch`: the stream replays the
//! app's history before following it, and the server names, on the handshake, the seq of the
//! last event written before the watch began. [`Replay`] says where the marker lines go: a
//! [`EARLIER`] line before the first replayed event shown, and a [`NOW`] line once the
//! replay is over (only when history was shown: with none, every line is live anyway).
//!
//! A server that does not name the seq gets no markers (nothing to tell them apart by).
//! Pure: the caller prints.

/// Printed before the first replayed event shown.
pub const EARLIER: &str = "— earlier events (before this watch) —";
/// Printed where the replayed events end and live ones begin.
pub const NOW: &str = "— now: live events —";

/// Where the replay ends, and which markers were printed.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    state: State,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// No connection yet.
    #[default]
    Unknown,
    /// Events up to `until` are history; `shown`: the [`EARLIER`] line was printed.
    Replaying { until: u64, shown: bool },
    /// Every event from now on is live (or the server did not say: no markers).
    Live,
}

impl Replay {
    /// A connection opened; `last_seq` is the header's value. Only the first connection
    /// counts: events written between a loss and a reconnect happened during the watch.
    pub fn connected(&mut self, last_seq: Option<u64>) {
        if self.state != State::Unknown {
            return;
        }
        self.state = match last_seq {
            Some(until) if until > 0 => State::Replaying {
                until,
                shown: false,
            },
            _ => State::Live,
        };
    }

    /// The marker to print before event `seq`, which is about to be shown.
    pub fn before_shown(&mut self, seq: u64) -> Option<&'static str> {
        self.passed(seq).or_else(|| match &mut self.state {
            State::Replaying { shown, .. } if !*shown => {
                *shown = true;
                Some(EARLIER)
            }
            _ => None,
        })
    }

    /// The marker to print after event `seq` was handled (shown or skipped): [`NOW`] once
    /// the last replayed event went by.
    pub fn after(&mut self, seq: u64) -> Option<&'static str> {
        match self.state {
            State::Replaying { until, .. } if seq >= until => self.end(),
            _ => None,
        }
    }

    /// An event past the history arrived before the last replayed one was seen (seqs are
    /// contiguous, so only if the server skipped some): the replay is over.
    fn passed(&mut self, seq: u64) -> Option<&'static str> {
        match self.state {
            State::Replaying { until, .. } if seq > until => self.end(),
            _ => None,
        }
    }

    fn end(&mut self) -> Option<&'static str> {
        let shown = matches!(self.state, State::Replaying { shown: true, .. });
        self.state = State::Live;
        shown.then_some(NOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines printed for events `1..=last` (shown when `show(seq)`), markers included.
    fn lines(
        replay: &mut Replay,
        seqs: std::ops::RangeInclusive<u64>,
        show: fn(u64) -> bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for seq in seqs {
            if show(seq) {
                out.extend(replay.before_shown(seq).map(str::to_string));
                out.push(format!("event {seq}"));
            }
            out.extend(replay.after(seq).map(str::to_string));
        }
        out
    }

    #[test]
    fn history_is_marked_and_the_live_part_begins_after_it() {
        let mut r = Replay::default();
        r.connected(Some(3));
        assert_eq!(
            lines(&mut r, 1..=5, |_| true),
            [
                EARLIER, "event 1", "event 2", "event 3", NOW, "event 4", "event 5"
            ]
        );
        // A reconnect does not move the boundary.
        r.connected(Some(9));
        assert_eq!(lines(&mut r, 6..=7, |_| true), ["event 6", "event 7"]);
    }

    #[test]
    fn hidden_history_needs_no_markers() {
        // The history is there but none of it is shown (an older release's events).
        let mut r = Replay::default();
        r.connected(Some(2));
        assert_eq!(lines(&mut r, 1..=3, |s| s > 2), ["event 3"]);
        // Only part of it shown: the markers still frame it.
        let mut r = Replay::default();
        r.connected(Some(3));
        assert_eq!(
            lines(&mut r, 1..=4, |s| s != 3),
            [EARLIER, "event 1", "event 2", NOW, "event 4"]
        );
    }

    #[test]
    fn no_history_or_no_header_means_no_markers() {
        let mut r = Replay::default();
        r.connected(Some(0));
        assert_eq!(lines(&mut r, 1..=2, |_| true), ["event 1", "event 2"]);
        let mut r = Replay::default();
        r.connected(None);
        assert_eq!(lines(&mut r, 1..=2, |_| true), ["event 1", "event 2"]);
    }

    #[test]
    fn a_gap_past_the_history_still_ends_it() {
        let mut r = Replay::default();
        r.connected(Some(3));
        let mut out = Vec::new();
        for seq in [1, 5] {
            out.extend(r.before_shown(seq));
            out.push("e");
            out.extend(r.after(seq));
        }
        assert_eq!(out, [EARLIER, "e", NOW, "e"]);
    }
}

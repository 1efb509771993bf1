//! Which build log lines are kept as `build_log` events: a build may print without limit (a
//! 1 GB `yes`), but the events table, the event stream and the server's memory must not grow
//! with it. [`LogGate`] decides per line — at most [`MAX_LINES_PER_SECOND`] a second, at most
//! [`MAX_LINES`] lines or [`MAX_BYTES`] bytes per build — and counts what it drops, so the
//! caller writes ONE marker line per gap ([`dropped_marker`]) saying how many were dropped.
//!
//! Pure: the caller passes the time (milliseconds since the build started) and does the I/O.
//! The failure report's log tail is kept by the runtime from every line, so it still shows the
//! end of the output whatever was dropped here.

/// Lines kept per second: a compiler printing a few hundred lines a second is kept whole; a
/// runaway loop is thinned to what a reader can follow.
pub const MAX_LINES_PER_SECOND: u32 = 2_000;
/// Lines kept per build: a verbose cold `cargo build` prints a few thousand.
pub const MAX_LINES: u64 = 20_000;
/// Bytes of lines kept per build (as events they are stored and replayed to every follower).
pub const MAX_BYTES: u64 = 5 * 1024 * 1024;
/// Longest line kept; longer ones are cut (a minified blob must not become one huge event).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// The rate window.
const WINDOW_MS: u64 = 1_000;

/// The limits of one build's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    pub per_second: u32,
    pub lines: u64,
    pub bytes: u64,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            per_second: MAX_LINES_PER_SECOND,
            lines: MAX_LINES,
            bytes: MAX_BYTES,
        }
    }
}

/// What to do with one offered line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep it; when `dropped_before > 0`, first write a marker saying that many lines were
    /// dropped just before it.
    Keep { dropped_before: u64 },
    /// Drop it (it is counted in the current gap).
    Drop,
}

/// The keep/drop decision for one build's log. Every kept line and every marker counts toward
/// [`LogLimits::lines`], so a build writes at most `lines + 1` events (the `+ 1` is the last
/// gap's marker, from [`LogGate::finish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogGate {
    limits: LogLimits,
    window_start_ms: u64,
    in_window: u32,
    kept_lines: u64,
    kept_bytes: u64,
    /// Lines dropped since the last kept line.
    gap: u64,
    dropped: u64,
    /// The per-build cap was reached: everything else is dropped.
    full: bool,
}

impl LogGate {
    pub fn new(limits: LogLimits) -> Self {
        LogGate {
            limits,
            window_start_ms: 0,
            in_window: 0,
            kept_lines: 0,
            kept_bytes: 0,
            gap: 0,
            dropped: 0,
            full: false,
        }
    }

    /// Decide on a line of `bytes` bytes offered at `now_ms` (since the build started).
    pub fn offer(&mut self, bytes: usize, now_ms: u64) -> Verdict {
        if now_ms.saturating_sub(self.window_start_ms) >= WINDOW_MS {
            self.window_start_ms = now_ms;
            self.in_window = 0;
        }
        let bytes = bytes as u64;
        // A gap's marker takes a line of the budget too.
        let lines_needed = if self.gap > 0 { 2 } else { 1 };
        if !self.full
            && (self.kept_lines + lines_needed > self.limits.lines
                || self.kept_bytes.saturating_add(bytes) > self.limits.bytes)
        {
            self.full = true;
        }
        if self.full || self.in_window >= self.limits.per_second {
            self.note_dropped();
            return Verdict::Drop;
        }
        self.in_window += 1;
        self.kept_lines += lines_needed;
        self.kept_bytes += bytes;
        let dropped_before = std::mem::take(&mut self.gap);
        Verdict::Keep { dropped_before }
    }

    /// Count one line as dropped: a kept line the caller could not deliver (its queue was
    /// full) goes here, after restoring the gate to its state before [`LogGate::offer`].
    pub fn note_dropped(&mut self) {
        self.gap += 1;
        self.dropped += 1;
    }

    /// The build ended: the size of the last gap, if any (write one marker for it). Later
    /// offers are all dropped.
    pub fn finish(&mut self) -> Option<u64> {
        self.full = true;
        let gap = std::mem::take(&mut self.gap);
        (gap > 0).then_some(gap)
    }

    /// Lines dropped in all.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The marker line written in place of `n` dropped lines.
pub fn dropped_marker(n: u64, limits: &LogLimits) -> String {
    let lines = if n == 1 { "line" } else { "lines" };
    format!(
        "[satusky: {n} build log {lines} dropped here: the log keeps at most {} lines a second and {} lines or {} MiB per build]",
        limits.per_second,
        limits.lines,
        limits.bytes / (1024 * 1024)
    )
}

/// `line` cut to at most `max` bytes, at a character boundary.
pub fn cut_line(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> LogLimits {
        LogLimits {
            per_second: 3,
            lines: 10,
            bytes: 1_000,
        }
    }

    #[test]
    fn lines_within_the_rate_are_kept_and_the_excess_is_one_gap() {
        let mut g = LogGate::new(small());
        let verdicts: Vec<_> = (0..5).map(|_| g.offer(10, 100)).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Keep { dropped_before: 0 },
                Verdict::Keep { dropped_before: 0 },
                Verdict::Keep { dropped_before: 0 },
                Verdict::Drop,
                Verdict::Drop,
            ]
        );
        // The next second: the first kept line carries the gap (one marker for two lines).
        assert_eq!(g.offer(10, 1_100), Verdict::Keep { dropped_before: 2 });
        assert_eq!(g.offer(10, 1_100), Verdict::Keep { dropped_before: 0 });
        assert_eq!(g.dropped(), 2);
        assert_eq!(g.finish(), None, "no gap at the end");
    }

    #[test]
    fn the_line_cap_counts_markers_and_ends_with_one_last_marker() {
        let mut g = LogGate::new(small());
        let (mut events, mut markers) = (0u64, 0u64);
        for i in 0..10_000u64 {
            // A burst at 0 ms, then one line every millisecond from 5 s on.
            let now = if i < 5 { 0 } else { 5_000 + i };
            if let Verdict::Keep { dropped_before } = g.offer(10, now) {
                events += 1;
                if dropped_before > 0 {
                    events += 1;
                    markers += dropped_before;
                }
            }
        }
        let last = g.finish().expect("the rest was dropped");
        events += 1;
        markers += last;
        assert_eq!(events, small().lines + 1, "the cap, plus the last marker");
        assert_eq!(markers, g.dropped(), "every dropped line is in a marker");
        assert_eq!(g.dropped(), 10_000 - 8, "8 lines and 2 markers were kept");
        assert_eq!(g.offer(1, 99_999), Verdict::Drop, "nothing after finish");
    }

    #[test]
    fn the_byte_cap_stops_the_log() {
        let mut g = LogGate::new(small());
        assert_eq!(g.offer(600, 0), Verdict::Keep { dropped_before: 0 });
        assert_eq!(g.offer(600, 0), Verdict::Drop, "would pass 1000 bytes");
        // Once full, even a small line is dropped: the log ends with one marker.
        assert_eq!(g.offer(1, 5_000), Verdict::Drop);
        assert_eq!(g.finish(), Some(2));
    }

    #[test]
    fn an_undelivered_line_rejoins_the_gap() {
        let mut g = LogGate::new(small());
        let before = g;
        assert_eq!(g.offer(10, 0), Verdict::Keep { dropped_before: 0 });
        // The queue was full: restore and count it as dropped.
        g = before;
        g.note_dropped();
        assert_eq!(g.offer(10, 0), Verdict::Keep { dropped_before: 1 });
        assert_eq!(g.dropped(), 1);
    }

    #[test]
    fn the_marker_says_how_many_and_why() {
        let m = dropped_marker(1_234, &LogLimits::default());
        assert_eq!(
            m,
            "[satusky: 1234 build log lines dropped here: the log keeps at most 2000 lines a second and 20000 lines or 5 MiB per build]"
        );
        assert!(dropped_marker(1, &LogLimits::default()).contains("1 build log line dropped"));
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        assert_eq!(cut_line("abc", 5), "abc");
        assert_eq!(cut_line("abcdef", 4), "abcd");
        // 'é' is two bytes: cutting inside it steps back.
        assert_eq!(cut_line("aé", 2), "a");
    }
}

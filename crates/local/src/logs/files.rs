//! One app's log files: `current.jsonl` and `previous.jsonl` in the app's log directory, one
//! [`LogLine`] as JSON per line. Appending rotates when `current` would pass half the app's
//! cap (`current` becomes `previous`, replacing it: the oldest half is dropped), so both
//! together stay under the cap. Reading scans from the newest line back and stops as soon as
//! it has enough. Blocking: callers run it on a blocking thread.
//!
//! Owns the files' layout and the pure decisions (rotation, cutting, filtering); not the
//! queue or the tasks ([`super`]).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use satusky_core::runtime::LogQuery;
use satusky_core::time::{parse_rfc3339_ms, rfc3339_ms};
use satusky_types::{LogLine, LogStream};

use super::LogError;

pub(super) const CURRENT: &str = "current.jsonl";
pub(super) const PREVIOUS: &str = "previous.jsonl";

/// A captured line waiting in the queue (no seq yet: the writer numbers lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub at_ms: i64,
    pub release: u64,
    pub replica: u32,
    pub stream: LogStream,
    pub line: String,
    /// Lines dropped (queue full) just before this one: a marker line precedes it.
    pub dropped_before: u64,
}

/// The line cut at [`crate::build::MAX_LINE_BYTES`], marked with how much was cut.
pub(crate) fn cut_marked(mut line: String, cut: usize) -> String {
    if cut > 0 {
        line.push_str(&format!("… [satusky: {cut} bytes cut]"));
    }
    line
}

/// The marker line written in place of `n` dropped lines.
pub(crate) fn dropped_marker(n: u64) -> String {
    format!("[satusky] {n} lines dropped (the app wrote faster than its log is kept)")
}

/// Whether `current` must become `previous` before a line of `adding` bytes is appended.
/// A file never rotates empty (a single line bigger than `half` still gets written).
pub(crate) fn should_rotate(current_len: u64, adding: u64, half: u64) -> bool {
    current_len > 0 && current_len.saturating_add(adding) > half
}

/// Whether `l` passes the query's release, replica and time filters (`after_seq` is the
/// scan's stop condition, see [`scan_newest`]).
pub(crate) fn matches(l: &LogLine, q: &LogQuery) -> bool {
    q.release.is_none_or(|r| l.release == r)
        && q.replica.as_ref().is_none_or(|r| &l.replica == r)
        && q.since_ms
            .is_none_or(|s| parse_rfc3339_ms(&l.at).is_some_and(|at| at >= s))
        && q.after_seq.is_none_or(|a| l.seq > a)
}

/// How many lines a query returns at most.
pub(crate) fn wanted(q: &LogQuery) -> usize {
    q.tail.unwrap_or(LogQuery::MAX_TAIL).min(LogQuery::MAX_TAIL) as usize
}

/// Scan `text` (JSON lines, oldest first) from its end, pushing matching lines newest first
/// into `out` until it holds `want`. Returns whether the scan is over (enough lines, or
/// `after_seq` reached: older lines cannot match). Lines that do not parse (a torn last
/// write) are skipped.
pub(crate) fn scan_newest(text: &str, q: &LogQuery, want: usize, out: &mut Vec<LogLine>) -> bool {
    for raw in text.lines().rev() {
        if out.len() >= want {
            return true;
        }
        let Ok(l) = serde_json::from_str::<LogLine>(raw) else {
            continue;
        };
        if q.after_seq.is_some_and(|a| l.seq <= a) {
            return true;
        }
        if matches(&l, q) {
            out.push(l);
        }
    }
    out.len() >= want
}

/// Scan `text` (JSON lines, oldest first) from its end, counting in `counted` the lines that
/// match `q`; once `want` were counted, the seq of the next older line (any line): where a
/// forward read of those `want` lines starts after. Reaching `after_seq` answers it (fewer
/// lines match after it). `None`: the text ran out first.
pub(crate) fn scan_tail_start(
    text: &str,
    q: &LogQuery,
    want: usize,
    counted: &mut usize,
) -> Option<u64> {
    for raw in text.lines().rev() {
        let Ok(l) = serde_json::from_str::<LogLine>(raw) else {
            continue;
        };
        if *counted >= want {
            return Some(l.seq);
        }
        if let Some(a) = q.after_seq.filter(|a| l.seq <= *a) {
            return Some(a);
        }
        if matches(&l, q) {
            *counted += 1;
        }
    }
    None
}

/// The last seq in `text`, if any line parses.
fn last_seq(text: &str) -> Option<u64> {
    text.lines()
        .rev()
        .find_map(|raw| serde_json::from_str::<LogLine>(raw).ok())
        .map(|l| l.seq)
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LogError {
    let path = path.display().to_string();
    move |source| LogError::Io {
        action,
        path,
        source,
    }
}

/// The text of `path`; empty when it does not exist.
fn read_text(path: &Path) -> Result<String, LogError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Create `dir` (and missing parents) private to the control plane: `0700`.
pub(crate) fn private_dir(dir: &Path) -> Result<(), LogError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create", dir))
}

/// One app's files, behind the app's lock.
pub(crate) struct Files {
    dir: PathBuf,
    half: u64,
    current: Option<(BufWriter<File>, u64)>,
    /// The last seq written; `None` until read from the files.
    last_seq: Option<u64>,
    /// The app was removed: nothing is written any more.
    removed: bool,
}

impl Files {
    pub(crate) fn new(dir: PathBuf, cap: u64) -> Self {
        Files {
            dir,
            half: (cap / 2).max(1),
            current: None,
            last_seq: None,
            removed: false,
        }
    }

    /// The last seq written, read from the files the first time (seq continues across
    /// restarts of the control plane).
    pub(crate) fn last_seq(&mut self) -> Result<u64, LogError> {
        if let Some(s) = self.last_seq {
            return Ok(s);
        }
        let seq = match last_seq(&read_text(&self.dir.join(CURRENT))?) {
            Some(s) => s,
            None => last_seq(&read_text(&self.dir.join(PREVIOUS))?).unwrap_or(0),
        };
        self.last_seq = Some(seq);
        Ok(seq)
    }

    /// Number, write and flush a batch of captured lines.
    pub(crate) fn append(&mut self, batch: Vec<Entry>) -> Result<(), LogError> {
        if self.removed {
            return Ok(());
        }
        let mut seq = self.last_seq()?;
        let mut result = Ok(());
        for e in batch {
            let at = rfc3339_ms(e.at_ms);
            let line = |seq: u64, text: String| LogLine {
                seq,
                at: at.clone(),
                release: e.release,
                replica: e.replica.to_string(),
                stream: e.stream,
                line: text,
            };
            if e.dropped_before > 0 {
                seq += 1;
                let marker = line(seq, dropped_marker(e.dropped_before));
                result = result.and(self.write_line(&marker));
            }
            seq += 1;
            let l = line(seq, e.line);
            result = result.and(self.write_line(&l));
            self.last_seq = Some(seq);
        }
        if let Some((w, _)) = self.current.as_mut() {
            result = result.and(w.flush().map_err(io("write", &self.dir.join(CURRENT))));
        }
        result
    }

    fn write_line(&mut self, l: &LogLine) -> Result<(), LogError> {
        let mut bytes = serde_json::to_vec(l).map_err(LogError::Encode)?;
        bytes.push(b'\n');
        let len = self.current_len()?;
        if should_rotate(len, bytes.len() as u64, self.half) {
            self.rotate()?;
        }
        let path = self.dir.join(CURRENT);
        let (w, len) = self.open()?;
        w.write_all(&bytes).map_err(io("write", &path))?;
        *len += bytes.len() as u64;
        Ok(())
    }

    fn current_len(&mut self) -> Result<u64, LogError> {
        Ok(*self.open()?.1)
    }

    fn open(&mut self) -> Result<(&mut BufWriter<File>, &mut u64), LogError> {
        if self.current.is_none() {
            private_dir(&self.dir)?;
            let path = self.dir.join(CURRENT);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(io("open", &path))?;
            let len = f.metadata().map_err(io("read", &path))?.len();
            self.current = Some((BufWriter::with_capacity(64 * 1024, f), len));
        }
        let (w, len) = self.current.as_mut().expect("opened above");
        Ok((w, len))
    }

    /// `current` becomes `previous` (the old `previous` is gone); a new `current` is opened
    /// on the next write.
    fn rotate(&mut self) -> Result<(), LogError> {
        let (cur, prev) = (self.dir.join(CURRENT), self.dir.join(PREVIOUS));
        if let Some((mut w, _)) = self.current.take() {
            w.flush().map_err(io("write", &cur))?;
        }
        std::fs::rename(&cur, &prev).map_err(io("rotate", &cur))
    }

    /// The lines matching `q`: the newest `tail`, oldest first.
    pub(crate) fn read(&mut self, q: &LogQuery) -> Result<Vec<LogLine>, LogError> {
        let want = wanted(q);
        let mut out = Vec::new();
        if want == 0 {
            return Ok(out);
        }
        if let Some((w, _)) = self.current.as_mut() {
            w.flush().map_err(io("write", &self.dir.join(CURRENT)))?;
        }
        for name in [CURRENT, PREVIOUS] {
            let text = read_text(&self.dir.join(name))?;
            if scan_newest(&text, q, want, &mut out) {
                break;
            }
        }
        out.reverse();
        Ok(out)
    }

    /// The oldest `tail` lines matching `q` after its `after_seq`, oldest first: a
    /// follower's next page ([`super::page`]: only what the page needs is read).
    pub(crate) fn page(&mut self, q: &LogQuery) -> Result<Vec<LogLine>, LogError> {
        let want = wanted(q);
        let mut out = Vec::new();
        self.flush()?;
        for name in [PREVIOUS, CURRENT] {
            if super::page::read_forward(&self.dir.join(name), q, want, &mut out)? {
                break;
            }
        }
        Ok(out)
    }

    /// Where the newest `tail` lines matching `q` begin: the seq to read pages after
    /// (`None`: from the oldest line kept).
    pub(crate) fn tail_start(&mut self, q: &LogQuery) -> Result<Option<u64>, LogError> {
        let want = wanted(q);
        let mut counted = 0;
        self.flush()?;
        for name in [CURRENT, PREVIOUS] {
            let text = read_text(&self.dir.join(name))?;
            if let Some(seq) = scan_tail_start(&text, q, want, &mut counted) {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    fn flush(&mut self) -> Result<(), LogError> {
        match self.current.as_mut() {
            Some((w, _)) => w.flush().map_err(io("write", &self.dir.join(CURRENT))),
            None => Ok(()),
        }
    }

    /// Delete the app's files; nothing is written afterwards.
    pub(crate) fn remove(&mut self) -> Result<(), LogError> {
        self.removed = true;
        self.current = None;
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &self.dir)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, release: u64, replica: &str, at_ms: i64) -> LogLine {
        LogLine {
            seq,
            at: rfc3339_ms(at_ms),
            release,
            replica: replica.into(),
            stream: LogStream::Stdout,
            line: format!("l{seq}"),
        }
    }

    fn text(lines: &[LogLine]) -> String {
        lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect()
    }

    fn seqs(v: &[LogLine]) -> Vec<u64> {
        v.iter().map(|l| l.seq).collect()
    }

    #[test]
    fn rotation_waits_for_the_half_and_never_for_an_empty_file() {
        assert!(!should_rotate(0, 100, 10), "an empty file takes any line");
        assert!(!should_rotate(5, 5, 10));
        assert!(should_rotate(5, 6, 10));
        assert!(should_rotate(u64::MAX, 1, 10));
    }

    #[test]
    fn cut_lines_say_how_much_was_cut() {
        assert_eq!(cut_marked("abc".into(), 0), "abc");
        assert_eq!(cut_marked("abc".into(), 42), "abc… [satusky: 42 bytes cut]");
        assert!(dropped_marker(7).starts_with("[satusky] 7 lines dropped"));
    }

    #[test]
    fn scanning_filters_and_keeps_the_newest() {
        let all: Vec<LogLine> = (1..=10)
            .map(|s| line(s, 1 + s % 2, &(s % 3).to_string(), 1_000 * s as i64))
            .collect();
        let t = text(&all) + "{torn";
        let read = |q: LogQuery| {
            let mut out = Vec::new();
            scan_newest(&t, &q, wanted(&q), &mut out);
            out.reverse();
            seqs(&out)
        };
        assert_eq!(read(LogQuery::default()), (1..=10).collect::<Vec<_>>());
        let tail = |n| LogQuery {
            tail: Some(n),
            ..LogQuery::default()
        };
        assert_eq!(read(tail(3)), vec![8, 9, 10]);
        assert_eq!(read(tail(0)), Vec::<u64>::new());
        let q = LogQuery {
            release: Some(2),
            ..tail(2)
        };
        assert_eq!(read(q), vec![7, 9]);
        let q = LogQuery {
            replica: Some("0".into()),
            ..LogQuery::default()
        };
        assert_eq!(read(q), vec![3, 6, 9]);
        let q = LogQuery {
            after_seq: Some(8),
            ..LogQuery::default()
        };
        assert_eq!(read(q), vec![9, 10]);
        let q = LogQuery {
            since_ms: Some(6_500),
            ..LogQuery::default()
        };
        assert_eq!(read(q), vec![7, 8, 9, 10]);
        let start = |q: LogQuery| {
            let mut counted = 0;
            scan_tail_start(&t, &q, wanted(&q), &mut counted)
        };
        assert_eq!(start(tail(3)), Some(7), "lines 8, 9, 10 begin after 7");
        assert_eq!(start(tail(10)), None, "the whole text: from the start");
        let q = LogQuery {
            release: Some(2),
            ..tail(2)
        };
        assert_eq!(start(q), Some(6), "7 and 9 are release 2's newest");
        let q = LogQuery {
            after_seq: Some(8),
            ..tail(5)
        };
        assert_eq!(start(q), Some(8), "fewer than 5 after 8");
        assert_eq!(last_seq(&t), Some(10));
        assert_eq!(last_seq(""), None);
    }

    #[test]
    fn files_rotate_under_the_cap_and_continue_the_seq() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("acme").join("web");
        let cap = 4_000;
        let mut f = Files::new(app.clone(), cap);
        let entry = |i: u64| Entry {
            at_ms: 1_000,
            release: 1,
            replica: 0,
            stream: LogStream::Stderr,
            line: format!("line {i}"),
            dropped_before: if i == 5 { 3 } else { 0 },
        };
        for chunk in 0..20 {
            f.append((0..10).map(|i| entry(chunk * 10 + i)).collect())
                .unwrap();
        }
        let size = |n: &str| std::fs::metadata(app.join(n)).unwrap().len();
        assert!(size(CURRENT) + size(PREVIOUS) <= cap);
        let all = f.read(&LogQuery::default()).unwrap();
        assert_eq!(all.last().unwrap().seq, 201, "200 lines and one marker");
        assert!(all.first().unwrap().seq > 1, "the oldest were dropped");
        // Paging forward crosses from `previous` into `current` without a gap.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let q = LogQuery {
                tail: Some(7),
                after_seq: after,
                ..LogQuery::default()
            };
            let page = f.page(&q).unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            paged.extend(page);
        }
        assert_eq!(paged, all, "pages of 7 hold every line once, in order");
        let q = LogQuery {
            tail: Some(5),
            ..LogQuery::default()
        };
        let start = f.tail_start(&q).unwrap();
        assert_eq!(start, Some(196), "the newest 5 are 197..=201");
        let mode = |p: &Path| {
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
                & 0o777
        };
        assert_eq!(mode(&app.join(CURRENT)), 0o600);
        assert_eq!(mode(&app), 0o700);

        let mut again = Files::new(app.clone(), cap);
        again.append(vec![entry(1000)]).unwrap();
        let last = again.read(&LogQuery::default()).unwrap();
        assert_eq!(last.last().unwrap().seq, 202);

        let mut small = Files::new(dir.path().join("m"), 1 << 20);
        small.append(vec![entry(5)]).unwrap();
        let l = small.read(&LogQuery::default()).unwrap();
        assert_eq!(l.len(), 2);
        assert!(l[0].line.starts_with("[satusky] 3 lines dropped"), "{l:?}");
        assert_eq!(l[1].line, "line 5");

        again.remove().unwrap();
        assert!(!app.exists());
        again.append(vec![entry(1)]).unwrap();
        assert!(!app.exists(), "nothing is written after removal");
    }
}

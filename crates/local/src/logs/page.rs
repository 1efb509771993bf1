//! Reading one app's log forward from a seq — a follower's next page — without reading the
//! files whole. Lines are stored in seq order (`previous` then `current`) and each starts
//! with its seq (`{"seq":N,…`, the first field of a [`LogLine`]), so the first line after a
//! seq is found by a binary search over byte offsets that reads a few bytes per step; lines
//! are then read one at a time until the page is full. A caught-up follower's read costs a
//! handful of small reads whatever the size of the log.
//!
//! Blocking; the caller holds the app's files locked and flushed ([`super::files::Files`]).
//! Owns no state.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use satusky_core::runtime::LogQuery;
use satusky_types::LogLine;

use super::LogError;
use super::files::matches;

/// Below this many bytes the search stops and the remaining lines are skipped one by one.
const LINEAR_BYTES: u64 = 16 * 1024;
/// Bytes read at a time while looking for the start of a line.
const CHUNK: usize = 8 * 1024;
/// Bytes read to learn a line's seq (`{"seq":` and up to 20 digits).
const HEAD: usize = 32;

/// The seq a stored line starts with, read without parsing the rest of it.
pub(crate) fn leading_seq(bytes: &[u8]) -> Option<u64> {
    let rest = bytes.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The first line start at or after `pos` (`len` when there is none).
fn line_start_from(file: &File, pos: u64, len: u64) -> std::io::Result<u64> {
    if pos == 0 {
        return Ok(0);
    }
    let mut at = pos - 1;
    let mut buf = vec![0; CHUNK];
    while at < len {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|b| *b == b'\n') {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
    Ok(len)
}

/// A line start at or before the first line whose seq is above `after` (the caller skips the
/// lines in between). A line whose seq cannot be read ends the search where it is.
fn search_after(file: &File, len: u64, after: u64) -> std::io::Result<u64> {
    let (mut lo, mut hi) = (0, len);
    while hi - lo > LINEAR_BYTES {
        let mid = lo + (hi - lo) / 2;
        let start = line_start_from(file, mid, len)?;
        if start >= hi {
            break;
        }
        let mut head = [0; HEAD];
        let n = file.read_at(&mut head, start)?;
        match leading_seq(&head[..n]) {
            Some(seq) if seq > after => hi = start,
            Some(_) => lo = start,
            None => break,
        }
    }
    Ok(lo)
}

/// Appends to `out` the lines of `path` that match `q` (after `q.after_seq`), oldest first,
/// until it holds `want`; returns whether it does. A missing file holds no lines; lines that
/// do not parse (a torn last write) are skipped.
pub(crate) fn read_forward(
    path: &Path,
    q: &LogQuery,
    want: usize,
    out: &mut Vec<LogLine>,
) -> Result<bool, LogError> {
    let io = |action: &'static str| {
        let path = path.display().to_string();
        move |source| LogError::Io {
            action,
            path,
            source,
        }
    };
    if out.len() >= want {
        return Ok(true);
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io("open")(e)),
    };
    let len = file.metadata().map_err(io("read"))?.len();
    let start = match q.after_seq {
        Some(after) => search_after(&file, len, after).map_err(io("read"))?,
        None => 0,
    };
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(start)).map_err(io("read"))?;
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw).map_err(io("read"))? == 0 {
            return Ok(false);
        }
        let old = leading_seq(&raw)
            .zip(q.after_seq)
            .is_some_and(|(s, a)| s <= a);
        if old {
            continue;
        }
        let Ok(l) = serde_json::from_slice::<LogLine>(raw.trim_ascii_end()) else {
            continue;
        };
        if matches(&l, q) {
            out.push(l);
            if out.len() >= want {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use satusky_types::LogStream;
    use std::io::Write;

    fn write(path: &Path, seqs: impl Iterator<Item = u64>, pad: usize) {
        let mut f = File::create(path).unwrap();
        for seq in seqs {
            let l = LogLine {
                seq,
                at: "2026-12-07T13:00:00.000Z".into(),
                release: 1 + seq % 2,
                replica: "0".into(),
                stream: LogStream::Stdout,
                line: format!("l{seq} {}", "x".repeat(pad)),
            };
            writeln!(f, "{}", serde_json::to_string(&l).unwrap()).unwrap();
        }
    }

    fn page(path: &Path, after: Option<u64>, want: usize, release: Option<u64>) -> Vec<u64> {
        let q = LogQuery {
            after_seq: after,
            release,
            ..LogQuery::default()
        };
        let mut out = Vec::new();
        read_forward(path, &q, want, &mut out).unwrap();
        out.iter().map(|l| l.seq).collect()
    }

    #[test]
    fn the_seq_is_read_from_the_line_s_start() {
        assert_eq!(leading_seq(br#"{"seq":42,"at":"x"}"#), Some(42));
        assert_eq!(leading_seq(br#"{"seq":"#), None);
        assert_eq!(leading_seq(br#"{"at":"x","seq":1}"#), None);
        assert_eq!(leading_seq(b"{\"seq\":99999999999999999999999}"), None);
    }

    #[test]
    fn a_page_starts_right_after_the_seq_whatever_the_file_s_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("current.jsonl");
        // ~3 MB: the search runs many steps, over lines of uneven length.
        write(&path, 1..=20_000, 150);
        assert_eq!(page(&path, None, 3, None), vec![1, 2, 3]);
        assert_eq!(page(&path, Some(0), 2, None), vec![1, 2]);
        for after in [1, 777, 10_000, 19_997] {
            let got = page(&path, Some(after), 3, None);
            assert_eq!(got, vec![after + 1, after + 2, after + 3], "after {after}");
        }
        assert_eq!(page(&path, Some(19_999), 5, None), vec![20_000]);
        assert!(page(&path, Some(20_000), 5, None).is_empty());
        assert!(page(&path, Some(u64::MAX), 5, None).is_empty());
        assert_eq!(page(&path, Some(100), 3, Some(2)), vec![101, 103, 105]);
        let missing = dir.path().join("previous.jsonl");
        assert!(page(&missing, Some(5), 3, None).is_empty());
    }

    #[test]
    fn a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("current.jsonl");
        write(&path, 1..=3, 0);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"seq":4,"at":"#).unwrap();
        assert_eq!(page(&path, Some(1), 10, None), vec![2, 3]);
    }
}

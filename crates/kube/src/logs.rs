//! An app's logs on Kubernetes: the pods' container logs, read through the API server (the
//! kubelet keeps them), merged across pods in time order.
//!
//! Every read lists the app's pods again (labels `satusky.io/org` + `satusky.io/app`, as the
//! Deployment selects them; build pods carry no app label and are never read), so a pod a
//! rollout created since the last read is simply there, and a follower that polls with
//! `after_seq` picks it up. Each container's log is read with `timestamps=true`,
//! `tailLines` (the query's tail), `sinceSeconds` (from `since_ms` or the `after_seq`
//! cursor, rounded out to whole seconds, then filtered exactly) and a `limitBytes` bound;
//! a container that has restarted (`restartCount > 0`) has its `previous=true` log read as
//! well, so a crashed run's last lines stay reachable while the pod exists (the kubelet
//! keeps one previous run; a deleted pod's logs are gone).
//!
//! - `at` is the kubelet's RFC 3339 stamp of the line (shown to the millisecond).
//! - `seq` is the stamp in microseconds since the epoch × 1000 plus the line's index among
//!   lines of the same microsecond (0–999), so it increases with time and `after_seq`
//!   filters by time: a follower resumes after the last line it has seen. Lines stamped
//!   within the same microsecond as a line already seen but arriving later can be missed
//!   (at worst the tail of one microsecond).
//! - `replica` is the pod's name; `release` is the pod's `satusky.io/release` annotation or,
//!   as rendered pods carry none, its ReplicaSet's (the deployment controller copies the
//!   Deployment's annotations to the ReplicaSet of the current template); 0 when unknown.
//! - `stream` is always stdout: the log API does not separate stdout from stderr.
//! - Bounds: at most [`MAX_PODS`] pods (the newest), each container read at most `tail`
//!   lines and [`LIMIT_BYTES`] bytes (the kubelet cuts at the limit from the start of the
//!   tail, so an incomplete last line is dropped), lines cut at [`MAX_LINE_BYTES`] with a
//!   marker; at most `min(tail, LogQuery::MAX_TAIL)` newest lines returned, oldest first.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams, LogParams};
use satusky_core::ForeignError;
use satusky_core::runtime::{LogQuery, RuntimeError};
use satusky_types::{LogLine, LogStream};

use crate::render::labels::{APP, ORG, RELEASE};

/// The most pods one read looks at (the newest by creation).
pub const MAX_PODS: usize = 50;
/// The most bytes read from one container log (current or previous).
pub const LIMIT_BYTES: i64 = 4 * 1024 * 1024;
/// Longest line returned; a longer one is cut and ends with a marker.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Container logs read at once.
const CONCURRENT_READS: usize = 8;

/// One line as read from a pod, before merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLine {
    /// Microseconds since the epoch.
    pub at_us: i64,
    pub line: String,
}

/// Split a `timestamps=true` log body into stamped lines. A line whose stamp does not parse
/// takes the previous line's stamp (0 for the first). With `cut` (the body reached its
/// byte limit) an unfinished last line is dropped.
pub fn parse_body(body: &str, cut: bool) -> Vec<PodLine> {
    let mut lines = Vec::new();
    let mut last = 0;
    let mut pieces: Vec<&str> = body.split_inclusive('\n').collect();
    if cut && pieces.last().is_some_and(|p| !p.ends_with('\n')) {
        pieces.pop();
    }
    for piece in pieces {
        let piece = piece.strip_suffix('\n').unwrap_or(piece);
        let piece = piece.strip_suffix('\r').unwrap_or(piece);
        let (at_us, text) = match piece.split_once(' ') {
            Some((stamp, rest)) => match parse_rfc3339_us(stamp) {
                Some(at) => (at, rest),
                None => (last, piece),
            },
            None => match parse_rfc3339_us(piece) {
                Some(at) => (at, ""),
                None => (last, piece),
            },
        };
        last = at_us;
        lines.push(PodLine {
            at_us,
            line: cap_line(text),
        });
    }
    lines
}

fn cap_line(text: &str) -> String {
    if text.len() <= MAX_LINE_BYTES {
        return text.to_owned();
    }
    let mut at = MAX_LINE_BYTES;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    format!("{} [satusky: {} bytes cut]", &text[..at], text.len() - at)
}

/// Microseconds since the epoch of an RFC 3339 time (`Z` or `±hh:mm`, any fraction).
pub fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if end == 0 {
            return None;
        }
        let digits = &r[..end.min(6)];
        micros = digits.parse::<i64>().ok()? * 10_i64.pow(6 - digits.len() as u32);
        rest = &r[end..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        z if z.len() == 6 && matches!(z.as_bytes()[0], b'+' | b'-') && z.as_bytes()[3] == b':' => {
            let o = num_of(&z[1..3])? * 3600 + num_of(&z[4..6])? * 60;
            if z.starts_with('-') { -o } else { o }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset;
    Some(secs * 1_000_000 + micros)
}

fn num_of(s: &str) -> Option<i64> {
    s.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| s.parse().ok())?
}

// Howard Hinnant's days-from-civil.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The lines of one container run, with where they came from.
#[derive(Debug, Clone)]
pub struct RunLines {
    pub pod: String,
    pub release: u64,
    /// Order among one pod's runs: previous runs before the current one.
    pub run: u8,
    pub lines: Vec<PodLine>,
}

/// Merge runs in time order, give each line its seq (µs × 1000 + index within the µs),
/// apply the query's `after_seq` and `since_ms` and keep the newest `tail` lines.
pub fn merge(runs: Vec<RunLines>, query: &LogQuery) -> Vec<LogLine> {
    let mut all: Vec<(i64, &str, u8, usize, &RunLines)> = Vec::new();
    for run in &runs {
        for (i, l) in run.lines.iter().enumerate() {
            all.push((l.at_us, run.pod.as_str(), run.run, i, run));
        }
    }
    all.sort_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));
    let tail = query
        .tail
        .unwrap_or(LogQuery::MAX_TAIL)
        .min(LogQuery::MAX_TAIL) as usize;
    let since_us = query.since_ms.map(|ms| ms.saturating_mul(1000));
    let mut out = Vec::new();
    let mut prev_us = i64::MIN;
    let mut index: u64 = 0;
    for (at_us, pod, _, i, run) in all {
        if at_us == prev_us {
            index = (index + 1).min(999);
        } else {
            index = 0;
            prev_us = at_us;
        }
        let seq = u64::try_from(at_us).unwrap_or(0) * 1000 + index;
        if query.after_seq.is_some_and(|after| seq <= after)
            || since_us.is_some_and(|since| at_us < since)
        {
            continue;
        }
        out.push(LogLine {
            seq,
            at: satusky_core::time::rfc3339_ms(at_us.div_euclid(1000)),
            release: run.release,
            replica: pod.to_owned(),
            stream: LogStream::Stdout,
            line: run.lines[i].line.clone(),
        });
    }
    let skip = out.len().saturating_sub(tail);
    out.drain(..skip);
    out
}

/// `sinceSeconds` covering every line at or after `since_us` (rounded out, at least 1).
fn since_seconds(now_ms: i64, since_us: i64) -> i64 {
    let ago_ms = now_ms.saturating_sub(since_us.div_euclid(1000));
    (ago_ms.div_euclid(1000) + 2).max(1)
}

/// The release a pod runs: its own annotation, else its ReplicaSet's.
fn pod_release(pod: &Pod, replica_sets: &BTreeMap<String, u64>) -> u64 {
    let own = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RELEASE))
        .and_then(|v| v.parse().ok());
    own.or_else(|| {
        pod.metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|o| o.kind == "ReplicaSet")
            .find_map(|o| replica_sets.get(&o.name).copied())
    })
    .unwrap_or(0)
}

fn api_err(what: &str, e: kube::Error) -> RuntimeError {
    RuntimeError::unavailable(what).with_source(ForeignError::new(&e))
}

/// A read that found nothing to read: the pod is gone (404) or the container has not
/// started or has no previous run (400).
fn nothing_to_read(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 400 || s.code == 404)
}

/// The app's log lines in namespace `ns`, as the module docs describe.
pub async fn read(
    client: Client,
    ns: &str,
    org: &str,
    app: &str,
    query: &LogQuery,
) -> Result<Vec<LogLine>, RuntimeError> {
    let selector = format!("{ORG}={org},{APP}={app}");
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| api_err("Kubernetes API (listing the app's pods)", e))?
        .items;
    list.retain(|p| {
        query
            .replica
            .as_ref()
            .is_none_or(|r| p.metadata.name.as_ref() == Some(r))
    });
    // Newest first, then keep the newest MAX_PODS.
    list.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
    });
    list.truncate(MAX_PODS);
    let needs_rs = list.iter().any(|p| {
        p.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(RELEASE))
    });
    let mut replica_sets = BTreeMap::new();
    if needs_rs && !list.is_empty() {
        let rs_api: Api<ReplicaSet> = Api::namespaced(client, ns);
        let rs = rs_api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| api_err("Kubernetes API (listing the app's ReplicaSets)", e))?;
        for r in rs.items {
            let release = r
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(RELEASE))
                .and_then(|v| v.parse().ok());
            if let (Some(name), Some(release)) = (r.metadata.name, release) {
                replica_sets.insert(name, release);
            }
        }
    }
    let tail = query
        .tail
        .unwrap_or(LogQuery::MAX_TAIL)
        .min(LogQuery::MAX_TAIL);
    let cursor_us = [
        query.since_ms.map(|ms| ms.saturating_mul(1000)),
        query
            .after_seq
            .map(|s| i64::try_from(s / 1000).unwrap_or(i64::MAX)),
    ]
    .into_iter()
    .flatten()
    .max();
    let since = cursor_us.map(|us| since_seconds(satusky_core::time::now_ms(), us));

    // Every container run to read: (pod, release, container, previous).
    let mut reads = Vec::new();
    for pod in &list {
        let Some(name) = pod.metadata.name.clone() else {
            continue;
        };
        let release = pod_release(pod, &replica_sets);
        if query.release.is_some_and(|r| r != release) {
            continue;
        }
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref());
        for container in pod.spec.iter().flat_map(|s| s.containers.iter()) {
            let restarted = statuses
                .into_iter()
                .flatten()
                .any(|s| s.name == container.name && s.restart_count > 0);
            if restarted {
                reads.push((name.clone(), release, container.name.clone(), true));
            }
            reads.push((name.clone(), release, container.name.clone(), false));
        }
    }
    let results: Vec<Result<Option<RunLines>, RuntimeError>> = stream::iter(reads)
        .map(|(pod, release, container, previous)| {
            let pods = pods.clone();
            async move {
                let params = LogParams {
                    container: Some(container),
                    timestamps: true,
                    tail_lines: Some(i64::from(tail)),
                    since_seconds: since,
                    limit_bytes: Some(LIMIT_BYTES),
                    previous,
                    ..LogParams::default()
                };
                match pods.logs(&pod, &params).await {
                    Ok(body) => {
                        let cut = body.len() as i64 >= LIMIT_BYTES;
                        Ok(Some(RunLines {
                            lines: parse_body(&body, cut),
                            pod,
                            release,
                            run: u8::from(!previous),
                        }))
                    }
                    Err(e) if nothing_to_read(&e) => {
                        tracing::debug!(pod, previous, error = %e, "no log to read");
                        Ok(None)
                    }
                    Err(e) => Err(api_err("Kubernetes API (reading a pod's log)", e)),
                }
            }
        })
        .buffer_unordered(CONCURRENT_READS)
        .collect()
        .await;
    let mut runs = Vec::new();
    for r in results {
        runs.extend(r?);
    }
    Ok(merge(runs, query))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_to_microseconds() {
        assert_eq!(
            parse_rfc3339_us("2026-12-07T13:45:01.123456789Z"),
            Some(1_796_651_101_123_456)
        );
        assert_eq!(
            parse_rfc3339_us("2026-12-07T14:45:01.5+01:00"),
            Some(1_796_651_101_500_000)
        );
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_us("hello"), None);
        assert_eq!(parse_rfc3339_us("2026-13-07T13:45:01Z"), None);
    }

    #[test]
    fn bodies_split_into_stamped_lines() {
        let body = "1970-01-01T00:00:01Z one\n1970-01-01T00:00:02.000001Z two \r\nnot stamped\n1970-01-01T00:00:03Z cut";
        let lines = parse_body(body, true);
        assert_eq!(
            lines,
            vec![
                PodLine {
                    at_us: 1_000_000,
                    line: "one".into()
                },
                PodLine {
                    at_us: 2_000_001,
                    line: "two ".into()
                },
                PodLine {
                    at_us: 2_000_001,
                    line: "not stamped".into()
                },
            ]
        );
        assert_eq!(parse_body(body, false).len(), 4);
        let long = format!("1970-01-01T00:00:01Z {}\n", "x".repeat(MAX_LINE_BYTES + 5));
        assert!(
            parse_body(&long, false)[0]
                .line
                .ends_with("[satusky: 5 bytes cut]")
        );
    }

    fn run(pod: &str, run_order: u8, stamps: &[i64]) -> RunLines {
        RunLines {
            pod: pod.into(),
            release: 1,
            run: run_order,
            lines: stamps
                .iter()
                .map(|s| PodLine {
                    at_us: *s,
                    line: format!("{pod}@{s}"),
                })
                .collect(),
        }
    }

    #[test]
    fn merge_orders_by_time_and_breaks_ties_by_index() {
        let runs = vec![run("b", 1, &[5, 7]), run("a", 1, &[5, 6])];
        let lines = merge(runs, &LogQuery::default());
        let got: Vec<(u64, &str)> = lines.iter().map(|l| (l.seq, l.line.as_str())).collect();
        assert_eq!(
            got,
            vec![(5000, "a@5"), (5001, "b@5"), (6000, "a@6"), (7000, "b@7")]
        );
        let after = LogQuery {
            after_seq: Some(5001),
            tail: Some(1),
            ..LogQuery::default()
        };
        let lines = merge(vec![run("b", 1, &[5, 7]), run("a", 1, &[5, 6])], &after);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].line, "b@7");
    }

    #[test]
    fn since_seconds_rounds_out() {
        assert_eq!(since_seconds(10_000, 9_000_000), 3);
        assert_eq!(since_seconds(10_000, 20_000_000), 1);
    }
}

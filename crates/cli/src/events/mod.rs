//! Lifecycle events (SPEC §6) as `1ctl` reads them: the typed view of an event's `data`
//! ([`Update`], shapes documented on `satusky_types::EventType`), which events belong to
//! the deploy being followed ([`Feed`]) and the one-line texts of `app status --watch`.
//!
//! Everything here is pure and for display only: no verdict is ever taken from an event
//! (SPEC §5 — the polled readiness report decides). The WebSocket lives in [`stream`].

pub mod replay;
pub mod stream;

use std::collections::VecDeque;

use satusky_types::{Event, EventType, PlaneState, ReplicaCounts};
use serde_json::Value;

/// How many build-log lines are kept to print when a build fails.
pub const BUILD_TAIL: usize = 20;

/// One plane of one hostname (or the build / workload dimension when `hostname` is
/// `None`) changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaneChange {
    pub hostname: Option<String>,
    /// `build`, `workload`, `metadata`, `route`, `dns`, `tls` or `http`.
    pub plane: String,
    pub state: PlaneState,
    pub reason: String,
    pub message: String,
    pub remediation: Option<String>,
}

/// Why a release failed (`release` events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub dimension: String,
    pub reason: String,
    pub message: String,
}

/// An event's `data`, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    Phase {
        phase: String,
        release: Option<u64>,
    },
    BuildLog {
        release: Option<u64>,
        line: String,
    },
    Rollout {
        release: Option<u64>,
        counts: ReplicaCounts,
    },
    Plane(PlaneChange),
    Release {
        version: u64,
        status: String,
        failure: Option<Failure>,
    },
    Drift {
        hostname: Option<String>,
        plane: Option<String>,
    },
    /// A domain added, removed, kept, verified or lost.
    Domain {
        hostname: String,
        change: String,
        message: String,
    },
    /// The running release was scaled or restarted.
    Operation {
        release: Option<u64>,
        operation: String,
        message: String,
    },
}

impl Update {
    /// Reads an event's `data`; `None` when it lacks what its type needs (an event from a
    /// newer server, say), which the caller skips.
    pub fn parse(e: &Event) -> Option<Update> {
        let d = &e.data;
        Some(match e.kind {
            EventType::Phase => Update::Phase {
                phase: text(d, "phase")?,
                release: d.get("release").and_then(Value::as_u64),
            },
            EventType::BuildLog => Update::BuildLog {
                release: d.get("release").and_then(Value::as_u64),
                line: text(d, "line")?,
            },
            EventType::Rollout => Update::Rollout {
                release: d.get("release").and_then(Value::as_u64),
                counts: ReplicaCounts {
                    desired: count(d, "desired"),
                    updated: count(d, "updated"),
                    ready: count(d, "ready"),
                    available: count(d, "available"),
                },
            },
            EventType::Plane => Update::Plane(PlaneChange {
                hostname: text(d, "hostname"),
                plane: text(d, "plane")?,
                state: serde_json::from_value(d.get("state")?.clone()).ok()?,
                reason: text(d, "reason").unwrap_or_default(),
                message: text(d, "message").unwrap_or_default(),
                remediation: text(d, "remediation"),
            }),
            EventType::Release => Update::Release {
                version: d.get("version").and_then(Value::as_u64)?,
                status: text(d, "status")?,
                failure: d.get("failure").filter(|f| f.is_object()).map(|f| Failure {
                    dimension: text(f, "dimension").unwrap_or_default(),
                    reason: text(f, "reason").unwrap_or_default(),
                    message: text(f, "message").unwrap_or_default(),
                }),
            },
            EventType::Drift => Update::Drift {
                hostname: text(d, "hostname"),
                plane: text(d, "plane"),
            },
            EventType::Domain => Update::Domain {
                hostname: text(d, "hostname")?,
                change: text(d, "change")?,
                message: text(d, "message").unwrap_or_default(),
            },
            EventType::Operation => Update::Operation {
                release: d.get("release").and_then(Value::as_u64),
                operation: text(d, "operation")?,
                message: text(d, "message").unwrap_or_default(),
            },
        })
    }

    /// The release the event is explicitly about, when its data says.
    pub fn release(&self) -> Option<u64> {
        match self {
            Update::Phase { release, .. }
            | Update::BuildLog { release, .. }
            | Update::Rollout { release, .. }
            | Update::Operation { release, .. } => *release,
            Update::Release { version, .. } => Some(*version),
            Update::Plane(_) | Update::Drift { .. } | Update::Domain { .. } => None,
        }
    }

    /// The `app status --watch` line (without the time).
    pub fn line(&self) -> String {
        match self {
            Update::Phase { phase, .. } => format!("phase {phase}"),
            Update::BuildLog { line, .. } => format!("build │ {line}"),
            Update::Rollout { counts, .. } => format!(
                "rollout {}/{} ready ({} updated, {} available)",
                counts.ready, counts.desired, counts.updated, counts.available
            ),
            Update::Plane(p) => {
                let what = match &p.hostname {
                    Some(h) => format!("{h} {}", p.plane),
                    None => p.plane.clone(),
                };
                let mut s = format!(
                    "plane {what} {}",
                    plane_text(p.state, &p.reason, &p.message)
                );
                if let Some(fix) = &p.remediation {
                    s.push_str(" — fix: ");
                    s.push_str(fix);
                }
                s
            }
            Update::Release {
                version,
                status,
                failure,
            } => {
                let mut s = format!("release v{version} {status}");
                if let Some(f) = failure {
                    s.push_str(&format!(
                        ": {} {} {}",
                        f.dimension,
                        f.reason,
                        first_line(&f.message)
                    ));
                }
                s.trim_end().to_string()
            }
            Update::Drift { hostname, plane } => format!(
                "drift {} {}",
                hostname.as_deref().unwrap_or("-"),
                plane.as_deref().unwrap_or("-")
            ),
            Update::Domain {
                hostname,
                change,
                message,
            } => format!("domain {hostname} {change}: {message}"),
            Update::Operation {
                operation, message, ..
            } => format!("{operation}: {message}"),
        }
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn count(v: &Value, key: &str) -> u32 {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// `ready ResolvesToEdge  A 127.0.0.1` (only the first line of a long message).
pub fn plane_text(state: PlaneState, reason: &str, message: &str) -> String {
    let message = first_line(message);
    let mut s = format!("{state} {reason}");
    if !message.is_empty() {
        s.push_str("  ");
        s.push_str(message);
    }
    s.trim_end().to_string()
}

/// The first non-blank line of a (possibly multi-line) message.
pub fn first_line(message: &str) -> &str {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// `12:00:01` from an RFC 3339 timestamp (the text after `T`, up to the seconds).
pub fn clock(at: &str) -> &str {
    at.split_once('T')
        .and_then(|(_, t)| t.get(..8))
        .unwrap_or(at)
}

/// Which events to show. Replay starts at the app's first event, so older releases' events
/// are skipped: an event naming a release below `from` is dropped, and events naming no
/// release (planes, drift) are shown only once one naming `from` or later was seen.
#[derive(Debug, Clone)]
pub struct Feed {
    from: u64,
    logs_of: Option<u64>,
    started: bool,
    tail: VecDeque<String>,
}

impl Feed {
    /// Events of release `from` onwards; build logs of `logs_of` only (all when `None`).
    pub fn new(from: u64, logs_of: Option<u64>) -> Self {
        Feed {
            from,
            logs_of,
            started: false,
            tail: VecDeque::new(),
        }
    }

    /// Whether to show `update`; keeps the last [`BUILD_TAIL`] build-log lines shown.
    pub fn admit(&mut self, update: &Update) -> bool {
        match update.release() {
            Some(r) if r < self.from => return false,
            Some(_) => self.started = true,
            None if !self.started => return false,
            None => {}
        }
        if let Update::BuildLog { release, line } = update {
            if self.logs_of.is_some() && *release != self.logs_of {
                return false;
            }
            if self.tail.len() == BUILD_TAIL {
                self.tail.pop_front();
            }
            self.tail.push_back(line.clone());
        }
        true
    }

    /// The last build-log lines admitted, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(seq: u64, kind: EventType, data: Value) -> Event {
        Event {
            seq,
            at: "2026-01-01T12:00:01.250Z".into(),
            kind,
            app: "web".into(),
            data,
        }
    }

    fn parse(kind: EventType, data: Value) -> Update {
        Update::parse(&event(1, kind, data)).expect("parses")
    }

    #[test]
    fn every_documented_shape_parses() {
        assert_eq!(
            parse(
                EventType::Phase,
                json!({"phase": "rolling_out", "generation": 3, "release": 2})
            ),
            Update::Phase {
                phase: "rolling_out".into(),
                release: Some(2)
            }
        );
        let log = parse(
            EventType::BuildLog,
            json!({"release": 2, "line": "Compiling hello"}),
        );
        assert_eq!(log.line(), "build │ Compiling hello");
        let r = parse(
            EventType::Rollout,
            json!({"release": 2, "desired": 2, "updated": 2, "ready": 1, "available": 1}),
        );
        assert_eq!(r.line(), "rollout 1/2 ready (2 updated, 1 available)");
        let p = parse(
            EventType::Plane,
            json!({"hostname": "web-acme.satusky.localhost", "plane": "dns", "state": "ready",
                   "reason": "ResolvesToEdge", "message": "A 127.0.0.1"}),
        );
        assert_eq!(
            p.line(),
            "plane web-acme.satusky.localhost dns ready ResolvesToEdge  A 127.0.0.1"
        );
        let w = parse(
            EventType::Plane,
            json!({"hostname": null, "plane": "workload", "state": "failed",
                   "reason": "CrashLoopBackOff", "message": "exited 1\nlast lines…"}),
        );
        assert_eq!(w.line(), "plane workload failed CrashLoopBackOff  exited 1");
        let rel = parse(
            EventType::Release,
            json!({"version": 2, "status": "failed",
                   "failure": {"dimension": "build", "reason": "BuildFailed", "message": "exit 101"}}),
        );
        assert_eq!(rel.line(), "release v2 failed: build BuildFailed exit 101");
        assert_eq!(rel.release(), Some(2));
    }

    #[test]
    fn malformed_data_is_skipped_not_fatal() {
        assert_eq!(
            Update::parse(&event(
                1,
                EventType::Plane,
                json!({"plane": "dns", "state": "weird"})
            )),
            None
        );
        assert_eq!(
            Update::parse(&event(1, EventType::BuildLog, json!({}))),
            None
        );
    }

    #[test]
    fn older_releases_are_skipped_during_replay() {
        let mut feed = Feed::new(3, Some(3));
        let plane = parse(
            EventType::Plane,
            json!({"hostname": "h", "plane": "dns", "state": "ready", "reason": "ResolvesToEdge"}),
        );
        let log = |release: u64, line: &str| Update::BuildLog {
            release: Some(release),
            line: line.into(),
        };
        // v2's history: its logs and the planes probed for it.
        assert!(!feed.admit(&log(2, "old")));
        assert!(!feed.admit(&plane), "no release of ours seen yet");
        // v3 starts.
        assert!(feed.admit(&Update::Release {
            version: 3,
            status: "pending".into(),
            failure: None
        }));
        assert!(feed.admit(&log(3, "new")));
        assert!(feed.admit(&plane));
        assert!(
            !feed.admit(&log(2, "late")),
            "an older release stays hidden"
        );
        // A newer release's events show (the deploy was overtaken), its logs do not.
        assert!(feed.admit(&Update::Phase {
            phase: "building".into(),
            release: Some(4)
        }));
        assert!(!feed.admit(&log(4, "theirs")));
        assert_eq!(feed.tail(), vec!["new".to_string()]);
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let mut feed = Feed::new(1, None);
        for i in 0..30 {
            feed.admit(&Update::BuildLog {
                release: Some(1),
                line: format!("line {i}"),
            });
        }
        let tail = feed.tail();
        assert_eq!(tail.len(), BUILD_TAIL);
        assert_eq!(tail[0], "line 10");
        assert_eq!(tail[BUILD_TAIL - 1], "line 29");
    }

    #[test]
    fn clock_and_first_line() {
        assert_eq!(clock("2026-01-01T12:00:01.250Z"), "12:00:01");
        assert_eq!(clock("garbage"), "garbage");
        assert_eq!(first_line("\n  two\nthree"), "two");
        assert_eq!(
            plane_text(PlaneState::Pending, "Waiting", ""),
            "pending Waiting"
        );
    }
}

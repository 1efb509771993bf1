//! WATCH and log streaming: chunked HTTP bodies fed by a task per stream.
//!
//! A watch subscribes to the store's change signal *before* it reads the snapshot or the
//! history, so no change between the two is lost. Without a `resourceVersion` (or with
//! `"0"`) it starts with synthetic `ADDED` events for the current objects; with one, it
//! replays the history after it — and when that history has been compacted it sends one
//! `ERROR` event carrying a 410 `Expired` Status in a 200 response, exactly as
//! kube-apiserver's watch cache does (clients then re-list). Label and field selectors are
//! applied per event, turning a modification that enters (leaves) the selection into `ADDED`
//! (`DELETED`). `allowWatchBookmarks` yields periodic `BOOKMARK`s and one at the
//! `timeoutSeconds` close; `sendInitialEvents=true` ends the initial events with the
//! `k8s.io/initial-events-end` bookmark. Pod logs stream the same way with `follow=true`
//! until the pod has finished.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::meta;
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{self, Event, EventKind, LogEntry, Store};

/// How often bookmarks are sent when allowed (kube-apiserver: about once a minute).
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);
/// Watch duration when the client sets no `timeoutSeconds` (kube-apiserver: 30–60 min).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// Buffered chunks per stream before the producer waits for the client.
const CHANNEL: usize = 256;

/// Parsed watch options.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// `resourceVersion` to start after; `None` (unset or `"0"`) starts with the current state.
    pub rv: Option<u64>,
    /// `sendInitialEvents=true`.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// How to send objects: as themselves, one-row Tables (kubectl) or metadata only.
    pub repr: crate::table::Repr,
}

struct Filter {
    rt: &'static ResourceType,
    version: String,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    repr: crate::table::Repr,
}

impl Filter {
    fn selects(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        let object = match self.repr {
            crate::table::Repr::Table => crate::table::single(self.rt, obj, true),
            crate::table::Repr::Partial => crate::table::partial(obj),
            crate::table::Repr::Full => store::at_version(obj, self.rt, &self.version),
        };
        let ev = json!({"type": kind, "object": object});
        let mut buf = serde_json::to_vec(&ev).unwrap_or_default();
        buf.push(b'\n');
        Bytes::from(buf)
    }

    fn render(&self, e: &Event) -> Option<Bytes> {
        if e.rt.group != self.rt.group || e.rt.plural != self.rt.plural {
            return None;
        }
        if self.ns.as_deref().is_some_and(|ns| ns != e.ns) {
            return None;
        }
        let now = self.selects(&e.object);
        let kind = match e.kind {
            EventKind::Added => now.then_some("ADDED"),
            EventKind::Deleted => now.then_some("DELETED"),
            EventKind::Modified => {
                let before = e.prev.as_deref().is_some_and(|p| self.selects(p));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        }?;
        Some(self.line(kind, &e.object))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut md = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(&self.version), "metadata": md});
        let mut buf =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        buf.push(b'\n');
        Bytes::from(buf)
    }
}

fn error_line(err: &ApiError) -> Bytes {
    let mut buf = serde_json::to_vec(&json!({"type": "ERROR", "object": err.to_status()}))
        .unwrap_or_default();
    buf.push(b'\n');
    Bytes::from(buf)
}

fn body_from(rx: mpsc::Receiver<Bytes>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }))
}

/// Start a watch; the returned body streams events until the timeout or the client leaves.
pub fn watch(
    store: Arc<Store>,
    rt: &'static ResourceType,
    version: &str,
    ns: Option<&str>,
    o: WatchOptions,
) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL);
    let f = Filter {
        rt,
        version: version.to_string(),
        ns: ns.map(str::to_string),
        labels: o.labels.clone(),
        fields: o.fields.clone(),
        repr: o.repr,
    };
    tokio::spawn(async move {
        let mut changed = store.subscribe();
        let (initial, mut last) = {
            let g = store.lock();
            match o.rv {
                None => {
                    let objs: Vec<Arc<Value>> = g
                        .objects(f.rt, f.ns.as_deref())
                        .into_iter()
                        .filter(|obj| f.selects(obj))
                        .collect();
                    (Ok(objs), g.rv)
                }
                Some(rv) if rv < g.compacted => (
                    Err(ApiError::expired(format!(
                        "too old resource version: {rv} ({})",
                        g.compacted + 1
                    ))),
                    rv,
                ),
                Some(rv) => (Ok(Vec::new()), rv),
            }
        };
        match initial {
            Err(e) => {
                let _ = tx.send(error_line(&e)).await;
                return;
            }
            Ok(objs) => {
                for obj in objs {
                    if tx.send(f.line("ADDED", &obj)).await.is_err() {
                        return;
                    }
                }
            }
        }
        if o.send_initial_events && o.bookmarks && tx.send(f.bookmark(last, true)).await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + o.timeout;
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + BOOKMARK_INTERVAL,
            BOOKMARK_INTERVAL,
        );
        loop {
            // Catch up first: a resumed watch starts with the history after its
            // resourceVersion, and every wake-up reads whatever was committed since.
            let evs = store.lock().events_after(last);
            match evs {
                Err(compacted) => {
                    let e = ApiError::expired(format!(
                        "too old resource version: {last} ({})",
                        compacted + 1
                    ));
                    let _ = tx.send(error_line(&e)).await;
                    return;
                }
                Ok(evs) => {
                    for e in evs {
                        last = e.rv;
                        if let Some(line) = f.render(&e)
                            && tx.send(line).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep_until(deadline) => {
                    if o.bookmarks {
                        let _ = tx.send(f.bookmark(last, false)).await;
                    }
                    return;
                }
                _ = tick.tick(), if o.bookmarks => {
                    if tx.send(f.bookmark(last, false)).await.is_err() {
                        return;
                    }
                }
                r = changed.changed() => {
                    if r.is_err() {
                        return;
                    }
                }
            }
        }
    });
    body_from(rx)
}

/// Log request options.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `container`.
    pub container: Option<String>,
    /// `follow=true`.
    pub follow: bool,
    /// `tailLines`.
    pub tail_lines: Option<usize>,
    /// `limitBytes`: the most bytes sent, a follow included.
    pub limit_bytes: Option<usize>,
    /// `previous=true`: the run before the container's last restart (never followed: it
    /// has ended).
    pub previous: bool,
    /// `sinceSeconds`: only lines stamped at most this long before the request.
    pub since_seconds: Option<i64>,
    /// `sinceTime` (RFC 3339): only lines stamped at or after it.
    pub since_time: Option<String>,
    /// `timestamps=true`: each line prefixed with its RFC 3339 nanosecond stamp and a space.
    pub timestamps: bool,
}

/// The text of `entries` as the request asks for it, before `tailLines` and `limitBytes`:
/// lines before `cutoff` (epoch ns) left out, stamps added. Stable as lines are appended,
/// so a follower sends what lies past the length it has sent.
fn render(entries: &[LogEntry], cutoff: Option<i128>, timestamps: bool) -> String {
    let mut out = String::new();
    for e in entries.iter().filter(|e| cutoff.is_none_or(|c| e.at >= c)) {
        if timestamps {
            out.push_str(&meta::rfc3339_nanos(e.at));
            out.push(' ');
        }
        out.push_str(&e.text);
    }
    out
}

/// Cut `s` to at most `limit` bytes on a character boundary.
fn cut(s: &mut String, limit: usize) {
    if s.len() > limit {
        let mut at = limit;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
}

fn container_names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| meta::str_at(c, &["name"]).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn finished(pod: Option<&Value>) -> bool {
    pod.is_none_or(|p| {
        matches!(
            meta::str_at(p, &["status", "phase"]),
            Some("Succeeded" | "Failed")
        )
    })
}

fn tail(text: &str, o: &LogOptions) -> String {
    let mut s = match o.tail_lines {
        Some(n) => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            lines[lines.len().saturating_sub(n)..].concat()
        }
        None => text.to_string(),
    };
    if let Some(limit) = o.limit_bytes {
        cut(&mut s, limit);
    }
    s
}

/// GET `pods/{name}/log`: the container's log, streamed when following.
pub fn logs(
    store: Arc<Store>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    o: LogOptions,
) -> Result<Body, ApiError> {
    let (container, entries) = {
        let g = store.lock();
        let pod = g
            .get(rt, ns, name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        let main = container_names(&pod, "containers");
        let init = container_names(&pod, "initContainers");
        let container = match &o.container {
            Some(c) if main.contains(c) || init.contains(c) => c.clone(),
            Some(c) => {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            None if main.len() == 1 => main[0].clone(),
            None => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}] or one of the init containers: [{}]",
                    main.join(" "),
                    init.join(" ")
                )));
            }
        };
        let entries = g
            .log_entries(ns, name, &container, o.previous)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                ))
            })?;
        (container, entries)
    };
    let cutoff = match (&o.since_time, o.since_seconds) {
        (Some(t), _) => Some(
            meta::parse_rfc3339_nanos(t)
                .ok_or_else(|| ApiError::bad_request(format!("invalid sinceTime {t:?}")))?,
        ),
        (None, Some(secs)) => Some(meta::now_nanos() - i128::from(secs) * 1_000_000_000),
        (None, None) => None,
    };
    let text = render(&entries, cutoff, o.timestamps);
    let first = tail(&text, &o);
    if !o.follow || o.previous {
        return Ok(Body::from(first));
    }
    let mut budget = o.limit_bytes.map(|l| l.saturating_sub(first.len()));
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL);
    let (ns, name) = (ns.to_string(), name.to_string());
    tokio::spawn(async move {
        let mut changed = store.subscribe();
        let mut sent = text.len();
        if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        loop {
            if budget == Some(0) {
                // limitBytes reached: the log ends here.
                return;
            }
            let (mut more, done) = {
                let g = store.lock();
                let entries = g
                    .log_entries(&ns, &name, &container, false)
                    .unwrap_or_default();
                let all = render(&entries, cutoff, o.timestamps);
                let more = all.get(sent..).unwrap_or("").to_string();
                (more, finished(g.get(rt, &ns, &name).as_deref()))
            };
            if !more.is_empty() {
                sent += more.len();
                if let Some(b) = budget.as_mut() {
                    cut(&mut more, *b);
                    *b -= more.len();
                }
                if tx.send(Bytes::from(more)).await.is_err() {
                    return;
                }
                continue;
            }
            if done {
                return;
            }
            tokio::select! {
                _ = tx.closed() => return,
                r = changed.changed() => if r.is_err() { return },
            }
        }
    });
    Ok(body_from(rx))
}

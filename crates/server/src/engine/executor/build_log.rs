//! A build's log on its way to the store: the runtime's [`LogSink`] decides per line with a
//! [`LogGate`] (rate and per-build caps) and hands kept lines to a BOUNDED queue with
//! `try_send` — a full queue drops the line (counted, so its gap gets a marker) rather than
//! slowing the build or growing memory. A writer task stores the queue as batched `build_log`
//! events, each gap as one marker line before the next kept line.
//!
//! Owns the queue and the writer; what to keep is [`satusky_core::build_log`]'s decision.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use satusky_core::build_log::{
    LogGate, LogLimits, MAX_LINE_BYTES, Verdict, cut_line, dropped_marker,
};
use satusky_core::runtime::LogSink;
use satusky_core::time::now_ms;
use satusky_types::EventType;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::error_chain;
use crate::handle::Handle;

/// Build log lines written per batch (one transaction each).
const LOG_BATCH: usize = 200;
/// Lines queued between the build and the store writer: two seconds at the gate's rate, so a
/// slow store write does not drop lines; the queue's bytes are bounded by the gate's
/// per-build byte cap.
const LOG_QUEUE: usize = 4_096;
/// After the build, how long the queued lines may take to be stored.
const WRITER_DRAIN: Duration = Duration::from_secs(10);

/// One queued line (none: a gap's marker alone), with the size of the gap before it.
struct Item {
    dropped_before: u64,
    line: Option<String>,
}

/// The writer side of one build's log.
pub(super) struct BuildLog {
    gate: Arc<Mutex<LogGate>>,
    tx: mpsc::Sender<Item>,
    writer: JoinHandle<()>,
}

impl BuildLog {
    /// Start the writer for release `version` of `org/app`; the sink goes to the runtime.
    pub(super) fn start(handle: &Handle, org: &str, app: &str, version: u64) -> (LogSink, Self) {
        let gate = Arc::new(Mutex::new(LogGate::new(LogLimits::default())));
        let (tx, rx) = mpsc::channel::<Item>(LOG_QUEUE);
        let started = Instant::now();
        let sink: LogSink = {
            let (gate, tx) = (Arc::clone(&gate), tx.clone());
            Arc::new(move |line: &str| {
                let line = cut_line(line, MAX_LINE_BYTES);
                let now = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let mut g = gate.lock().unwrap_or_else(|e| e.into_inner());
                let before = *g;
                if let Verdict::Keep { dropped_before } = g.offer(line.len(), now) {
                    let item = Item {
                        dropped_before,
                        line: Some(line.to_string()),
                    };
                    if tx.try_send(item).is_err() {
                        // The writer is behind: drop the line, and count it in the gap.
                        *g = before;
                        g.note_dropped();
                    }
                }
            })
        };
        let (store, hub) = (handle.store.clone(), handle.hub.clone());
        let (org, app) = (org.to_string(), app.to_string());
        let writer = tokio::spawn(async move {
            let mut rx = rx;
            let mut batch = Vec::new();
            while let Some(item) = rx.recv().await {
                push(&mut batch, version, item);
                while batch.len() < LOG_BATCH {
                    match rx.try_recv() {
                        Ok(item) => push(&mut batch, version, item),
                        Err(_) => break,
                    }
                }
                if let Err(e) = store.append_events(&org, &app, &batch, now_ms()).await {
                    tracing::warn!(%org, %app, error = %error_chain(&e), "cannot write build log");
                }
                batch.clear();
                hub.notify(&org, &app);
            }
        });
        (sink, BuildLog { gate, tx, writer })
    }

    /// The build ended: write the last gap's marker, wait until every queued line is stored.
    /// Returns how many lines were dropped in all.
    pub(super) async fn finish(self) -> u64 {
        let (last_gap, dropped) = {
            let mut g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            (g.finish(), g.dropped())
        };
        if let Some(n) = last_gap {
            let marker = Item {
                dropped_before: n,
                line: None,
            };
            let _ = tokio::time::timeout(WRITER_DRAIN, self.tx.send(marker)).await;
        }
        drop(self.tx);
        // The writer ends once every sender is gone; a sink the runtime still holds (a
        // process it left behind keeping a pipe open) must not hold the deploy.
        let abort = self.writer.abort_handle();
        if tokio::time::timeout(WRITER_DRAIN, self.writer)
            .await
            .is_err()
        {
            tracing::warn!("the build log writer did not finish; the rest of the log is dropped");
            abort.abort();
        }
        dropped
    }
}

/// The events of one item: its gap's marker (if any), then the line (a bare marker has none).
fn push(batch: &mut Vec<(EventType, Value)>, version: u64, item: Item) {
    if item.dropped_before > 0 {
        let marker = dropped_marker(item.dropped_before, &LogLimits::default());
        batch.push((
            EventType::BuildLog,
            json!({"release": version, "line": marker, "dropped": item.dropped_before}),
        ));
    }
    if let Some(line) = item.line {
        batch.push((
            EventType::BuildLog,
            json!({"release": version, "line": line}),
        ));
    }
}

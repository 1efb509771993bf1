//! Each app's runtime log on the local runtime (issue 15): every replica's stdout and stderr
//! lines, numbered per app (`seq`), timestamped, tagged with release, replica and stream, kept
//! in `STATE_DIR/logs/ORG/APP/{previous,current}.jsonl` ([`files`]) under a per-app cap
//! ([`LogLimits::per_app_bytes`], oldest dropped). The files outlive the replicas (a crash
//! loop's output stays readable) and the control plane (seq continues from the files).
//! Directories are `0700`, files `0600`: only the control plane reads them.
//!
//! Capture never waits on the disk: the supervisor's pipe readers hand each line to
//! [`AppLog::push`], which puts it in a bounded queue ([`LogLimits::queue_lines`]) or, when
//! the queue is full, drops it and counts it; the next line that gets in is preceded by a
//! `[satusky] N lines dropped …` marker. One writer task per app drains the queue in batches
//! and writes each batch on a blocking thread, flushing after every batch (so a line is
//! readable as soon as its batch is written: no timer). Followers wait on
//! [`LogStore::notify`] and read forward with [`LogStore::page`] ([`page`]: a binary search
//! for where they are, then only the page's lines). Lines longer than
//! [`crate::build::MAX_LINE_BYTES`] are cut and end with `… [satusky: N bytes cut]`.
//!
//! Owns the log files and the capture queues; it must not decide what runs or touch the
//! supervisor's in-memory crash tail.

mod files;
mod page;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use satusky_core::runtime::LogQuery;
use satusky_types::{LogLine, LogStream};
use tokio::sync::{mpsc, watch};

use files::{Entry, Files, cut_marked};

/// The most bytes one app's log keeps on disk (both files together).
pub const PER_APP_BYTES: u64 = 10 * 1024 * 1024;
/// The most lines waiting to be written per app before new ones are dropped.
pub const QUEUE_LINES: usize = 10_000;
/// The most lines the writer takes from the queue per write.
const BATCH_LINES: usize = 4_096;

/// How much the log keeps, per app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Both files together stay under this ([`PER_APP_BYTES`] by default).
    pub per_app_bytes: u64,
    /// Lines waiting for the disk ([`QUEUE_LINES`] by default); beyond them lines are dropped.
    pub queue_lines: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            per_app_bytes: PER_APP_BYTES,
            queue_lines: QUEUE_LINES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("could not {action} the log file {path}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not encode a log line")]
    Encode(#[source] serde_json::Error),
    #[error("{org}/{app} is not a name a log directory can have")]
    BadName { org: String, app: String },
    #[error("the log writer stopped")]
    Task(#[source] tokio::task::JoinError),
}

/// One app's capture queue and files. Shared by its replicas' pipe readers.
pub struct AppLog {
    tx: mpsc::Sender<Entry>,
    dropped: AtomicU64,
    files: Arc<Mutex<Files>>,
    seq: watch::Receiver<u64>,
}

impl AppLog {
    /// Queue a line a replica wrote (`cut`: bytes cut off its end). Never waits: when the
    /// queue is full the line is dropped and counted.
    pub fn push(&self, release: u64, replica: u32, stream: LogStream, line: String, cut: usize) {
        let dropped_before = self.dropped.swap(0, Ordering::Relaxed);
        let entry = Entry {
            at_ms: satusky_core::time::now_ms(),
            release,
            replica,
            stream,
            line: cut_marked(line, cut),
            dropped_before,
        };
        if self.tx.try_send(entry).is_err() {
            self.dropped
                .fetch_add(dropped_before + 1, Ordering::Relaxed);
        }
    }
}

fn lock(files: &Mutex<Files>) -> std::sync::MutexGuard<'_, Files> {
    files.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every app's log under one directory (`STATE_DIR/logs`). Cheap to clone.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    dir: PathBuf,
    limits: LogLimits,
    apps: Mutex<HashMap<(String, String), Arc<AppLog>>>,
}

/// Whether `name` is a single plain path segment.
fn plain(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

impl LogStore {
    /// Logs under `dir` (created `0700`). Blocking (one directory).
    pub fn open(dir: PathBuf, limits: LogLimits) -> Result<LogStore, LogError> {
        files::private_dir(&dir)?;
        Ok(LogStore {
            inner: Arc::new(StoreInner {
                dir,
                limits,
                apps: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn limits(&self) -> LogLimits {
        self.inner.limits
    }

    fn app_dir(&self, org: &str, app: &str) -> Result<PathBuf, LogError> {
        if !plain(org) || !plain(app) {
            return Err(LogError::BadName {
                org: org.into(),
                app: app.into(),
            });
        }
        Ok(self.inner.dir.join(org).join(app))
    }

    /// The app's log, its writer started on first use. Needs a tokio runtime.
    pub fn app(&self, org: &str, app: &str) -> Result<Arc<AppLog>, LogError> {
        let key = (org.to_string(), app.to_string());
        let mut apps = self.inner.apps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = apps.get(&key) {
            return Ok(Arc::clone(a));
        }
        let files = Files::new(self.app_dir(org, app)?, self.inner.limits.per_app_bytes);
        let files = Arc::new(Mutex::new(files));
        let (tx, rx) = mpsc::channel(self.inner.limits.queue_lines.max(1));
        let (seq_tx, seq) = watch::channel(0);
        tokio::spawn(write_loop(rx, Arc::clone(&files), seq_tx, key.clone()));
        let log = Arc::new(AppLog {
            tx,
            dropped: AtomicU64::new(0),
            files,
            seq,
        });
        apps.insert(key, Arc::clone(&log));
        Ok(log)
    }

    /// The app's lines matching `query`: the newest `min(tail, MAX_TAIL)`, oldest first.
    /// Lines still in the queue are not included; the writer writes them within one batch.
    pub async fn read(
        &self,
        org: &str,
        app: &str,
        query: LogQuery,
    ) -> Result<Vec<LogLine>, LogError> {
        self.on_files(org, app, move |f| f.read(&query)).await
    }

    /// Runs `read` on the app's files off the async threads (file reads block).
    async fn on_files<T: Send + 'static>(
        &self,
        org: &str,
        app: &str,
        read: impl FnOnce(&mut Files) -> Result<T, LogError> + Send + 'static,
    ) -> Result<T, LogError> {
        let files = Arc::clone(&self.app(org, app)?.files);
        tokio::task::spawn_blocking(move || read(&mut lock(&files)))
            .await
            .map_err(LogError::Task)?
    }

    /// The oldest `query.tail` lines matching `query` after its `after_seq`, oldest first: a
    /// follower's next page, read without reading the files whole.
    pub async fn page(
        &self,
        org: &str,
        app: &str,
        query: LogQuery,
    ) -> Result<Vec<LogLine>, LogError> {
        self.on_files(org, app, move |f| f.page(&query)).await
    }

    /// Where the newest `query.tail` lines matching `query` begin: the seq to read
    /// [`LogStore::page`]s after (`None`: from the oldest line kept).
    pub async fn tail_start(
        &self,
        org: &str,
        app: &str,
        query: LogQuery,
    ) -> Result<Option<u64>, LogError> {
        self.on_files(org, app, move |f| f.tail_start(&query)).await
    }

    /// For a follower: changes whenever lines of the app were written, to the last seq
    /// written (`0` until the first write since the control plane started). Read the new
    /// lines with [`LogStore::read`] and `after_seq`; no change is missed, but several
    /// writes may show as one.
    pub fn notify(&self, org: &str, app: &str) -> Result<watch::Receiver<u64>, LogError> {
        Ok(self.app(org, app)?.seq.clone())
    }

    /// Delete the app's log (the app is removed). Replicas still holding its [`AppLog`]
    /// write nothing more; a later replica of the same name starts a new log.
    pub async fn remove(&self, org: &str, app: &str) -> Result<(), LogError> {
        let dir = self.app_dir(org, app)?;
        let key = (org.to_string(), app.to_string());
        let known = self
            .inner
            .apps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let cap = self.inner.limits.per_app_bytes;
        let files = known.map_or_else(
            || Arc::new(Mutex::new(Files::new(dir, cap))),
            |a| Arc::clone(&a.files),
        );
        tokio::task::spawn_blocking(move || lock(&files).remove())
            .await
            .map_err(LogError::Task)?
    }
}

/// Drain one app's queue into its files until every sender is gone.
async fn write_loop(
    mut rx: mpsc::Receiver<Entry>,
    files: Arc<Mutex<Files>>,
    seq: watch::Sender<u64>,
    (org, app): (String, String),
) {
    let mut failing = false;
    let mut batch = Vec::with_capacity(BATCH_LINES);
    while rx.recv_many(&mut batch, BATCH_LINES).await > 0 {
        let lines = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LINES));
        let files = Arc::clone(&files);
        let written = tokio::task::spawn_blocking(move || {
            let mut f = lock(&files);
            let r = f.append(lines);
            (r, f.last_seq().unwrap_or(0))
        })
        .await;
        let (result, last) = match written {
            Ok(w) => w,
            Err(e) => (Err(LogError::Task(e)), *seq.borrow()),
        };
        seq.send_if_modified(|s| std::mem::replace(s, last) != last);
        match result {
            Ok(()) => failing = false,
            // Once per failing stretch: a full disk must not flood the control plane's log.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(%org, %app, error = %satusky_core::error_chain(&e),
                    "could not write the app's log; its lines are lost until this recovers");
            }
            Err(_) => {}
        }
    }
}

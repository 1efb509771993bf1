//! Core's [`LogFollower`] on the local runtime: woken by the app's log writer (its watch of
//! the last seq written, [`LogStore::notify`]), paging forward through the app's log files
//! ([`LogStore::page`]). Owns nothing but the follower's handles.

use satusky_core::runtime::{BoxFuture, LogFollower, LogQuery, RuntimeError};
use satusky_types::LogLine;
use tokio::sync::watch;

use super::log_error;
use crate::logs::LogStore;

pub(super) struct LocalLogFollower {
    logs: LogStore,
    org: String,
    app: String,
    written: watch::Receiver<u64>,
}

/// A follower of `org/app`'s log; `None` when the names cannot have a log.
pub(super) fn follower(logs: &LogStore, org: &str, app: &str) -> Option<LocalLogFollower> {
    let mut written = logs.notify(org, app).ok()?;
    // Only writes after this point wake it: the caller's first read sees the earlier ones.
    written.mark_unchanged();
    Some(LocalLogFollower {
        logs: logs.clone(),
        org: org.to_string(),
        app: app.to_string(),
        written,
    })
}

impl LogFollower for LocalLogFollower {
    fn changed(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.written.changed().await.is_ok() })
    }

    fn page(&self, query: LogQuery) -> BoxFuture<'_, Result<Vec<LogLine>, RuntimeError>> {
        Box::pin(async move {
            let page = self.logs.page(&self.org, &self.app, query).await;
            page.map_err(log_error)
        })
    }

    fn tail_start(&self, query: LogQuery) -> BoxFuture<'_, Result<Option<u64>, RuntimeError>> {
        Box::pin(async move {
            let start = self.logs.tail_start(&self.org, &self.app, query).await;
            start.map_err(log_error)
        })
    }
}

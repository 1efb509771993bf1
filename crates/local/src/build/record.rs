//! A running build in the process ledger: recorded right after its command starts (pid, kernel
//! start time, kind `build`), forgotten when it ends, so a control plane killed mid-build reaps
//! the build's process group on its next start instead of leaving it running forever.
//!
//! Owns only the ledger entry of a build; starting and killing the process is the builder's.

use std::sync::Arc;

use satusky_core::ledger::LedgerError;
use satusky_core::runtime::BuildRequest;

use crate::ledger::{Ledger, LedgerEntry, ProcessKind, process_start_ticks};

/// A build's entry in the ledger. Forget it with [`Recorded::forget`]; if the build future is
/// dropped first, the entry is forgotten from a spawned task.
pub(super) struct Recorded {
    ledger: Arc<dyn Ledger>,
    pid: u32,
    forgotten: bool,
}

/// Record the build of `req` led by `pid`. `Ok(None)` without a ledger; `Err` when the
/// ledger refused, and then the build must not run.
pub(super) async fn record(
    ledger: Option<&Arc<dyn Ledger>>,
    req: &BuildRequest,
    pid: u32,
) -> Result<Option<Recorded>, LedgerError> {
    let Some(ledger) = ledger else {
        return Ok(None);
    };
    let entry = LedgerEntry {
        pid,
        start_ticks: process_start_ticks(pid).unwrap_or(0),
        org: req.org.clone(),
        app: req.app.clone(),
        release: req.release,
        port: 0,
        kind: ProcessKind::Build,
    };
    ledger.record(entry).await?;
    Ok(Some(Recorded {
        ledger: Arc::clone(ledger),
        pid,
        forgotten: false,
    }))
}

impl Recorded {
    /// The build ended (its group is gone): drop its entry.
    pub(super) async fn forget(mut self) {
        self.forgotten = true;
        if let Err(e) = self.ledger.forget(self.pid).await {
            // Harmless: the next start finds no process with this pid and start time.
            tracing::warn!(pid = self.pid, error = %satusky_core::error_chain(&e), "could not forget a build in the process ledger");
        }
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        if self.forgotten {
            return;
        }
        let (ledger, pid) = (Arc::clone(&self.ledger), self.pid);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = ledger.forget(pid).await;
            });
        }
    }
}

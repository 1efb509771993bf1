//! Shared by the local runtime's process tests: a guard that leaves no replica running.

use std::sync::Arc;

use satusky_local::ledger::{Ledger, MemoryLedger, signal_group};

/// Kills every process the ledger still lists when a test ends, even by panicking, so a
/// failed assertion leaves no replica running.
pub struct KillOnDrop(pub Arc<MemoryLedger>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        use futures_util::FutureExt;
        let entries = self.0.all().now_or_never().and_then(Result::ok);
        for e in entries.unwrap_or_default() {
            signal_group(e.pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

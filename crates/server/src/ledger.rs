//! The local runtime's process ledger, kept in the store (GUIDE §6): pid + start time of every
//! replica and build, so a control plane restarted after a crash reaps exactly what it left
//! behind.

use satusky_core::runtime::BoxFuture;
use satusky_core::time::now_ms;
use satusky_local::ledger::{Ledger, LedgerEntry, ProcessKind};
use satusky_store::{ReplicaEntry, Store};

use crate::error::error_chain;

pub struct StoreLedger {
    store: Store,
}

impl StoreLedger {
    pub fn new(store: Store) -> Self {
        StoreLedger { store }
    }
}

impl Ledger for StoreLedger {
    fn record(&self, e: LedgerEntry) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let entry = ReplicaEntry {
                pid: e.pid,
                start_ticks: e.start_ticks,
                org: e.org,
                app: e.app,
                release: e.release,
                port: e.port,
                kind: e.kind.as_str().to_string(),
            };
            self.store
                .ledger_record(&entry, now_ms())
                .await
                .map_err(|e| error_chain(&e))
        })
    }

    fn forget(&self, pid: u32) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.store
                .ledger_forget(pid)
                .await
                .map_err(|e| error_chain(&e))
        })
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<LedgerEntry>, String>> {
        Box::pin(async move {
            let entries = self.store.ledger_all().await.map_err(|e| error_chain(&e))?;
            Ok(entries
                .into_iter()
                .map(|e| LedgerEntry {
                    pid: e.pid,
                    start_ticks: e.start_ticks,
                    org: e.org,
                    app: e.app,
                    release: e.release,
                    port: e.port,
                    kind: ProcessKind::parse(&e.kind),
                })
                .collect())
        })
    }
}

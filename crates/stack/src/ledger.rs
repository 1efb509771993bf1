//! The local runtime's process ledger, kept in the store (GUIDE §6): pid + start time of every
//! replica and build, so a control plane restarted after a crash reaps exactly what it left
//! behind. The entry type is `satusky_core::ledger::LedgerEntry` on both sides; this only
//! adapts the store's calls to the seam.

use satusky_core::ledger::{Ledger, LedgerEntry, LedgerError};
use satusky_core::runtime::BoxFuture;
use satusky_core::time::now_ms;
use satusky_store::Store;

pub struct StoreLedger {
    store: Store,
}

impl StoreLedger {
    pub fn new(store: Store) -> Self {
        StoreLedger { store }
    }
}

impl Ledger for StoreLedger {
    fn record(&self, e: LedgerEntry) -> BoxFuture<'_, Result<(), LedgerError>> {
        Box::pin(async move {
            self.store
                .ledger_record(&e, now_ms())
                .await
                .map_err(LedgerError::new)
        })
    }

    fn forget(&self, pid: u32) -> BoxFuture<'_, Result<(), LedgerError>> {
        Box::pin(async move {
            self.store
                .ledger_forget(pid)
                .await
                .map_err(LedgerError::new)
        })
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<LedgerEntry>, LedgerError>> {
        Box::pin(async move { self.store.ledger_all().await.map_err(LedgerError::new) })
    }
}

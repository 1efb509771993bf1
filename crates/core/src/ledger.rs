//! The ledger of child processes as data and as a seam (GUIDE §6): every replica the local
//! supervisor starts and every build command its builder runs is recorded with its pid and
//! kernel start time, so a control plane that crashed can reap exactly what it left behind.
//! One [`LedgerEntry`] type: the local runtime writes it, the store keeps it, nothing copies
//! it field by field. The reaping itself is the local runtime's (`satusky_local::ledger`).

use crate::runtime::BoxFuture;

/// What a ledger entry's process group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessKind {
    /// A replica of a release (it has a port).
    Replica,
    /// A release's `[build] command` (port 0).
    Build,
}

impl ProcessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Replica => "replica",
            ProcessKind::Build => "build",
        }
    }

    /// The kind stored as `s`; anything unknown is a replica (both are reaped alike).
    pub fn parse(s: &str) -> ProcessKind {
        match s {
            "build" => ProcessKind::Build,
            _ => ProcessKind::Replica,
        }
    }
}

/// One running child process (a replica or a build), the leader of its own process group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub pid: u32,
    /// `/proc/PID/stat` field 22 (start time in clock ticks since boot): with the pid, it
    /// identifies the process even after the pid is recycled.
    pub start_ticks: u64,
    pub org: String,
    pub app: String,
    pub release: u64,
    /// The replica's port; 0 for a build.
    pub port: u16,
    pub kind: ProcessKind,
}

/// A ledger could not record, forget or list entries; the source says why.
#[derive(Debug, thiserror::Error)]
#[error("the process ledger failed")]
pub struct LedgerError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl LedgerError {
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        LedgerError(Box::new(source))
    }
}

/// Durable record of the processes the supervisor and the builder started.
pub trait Ledger: Send + Sync + 'static {
    fn record(&self, e: LedgerEntry) -> BoxFuture<'_, Result<(), LedgerError>>;
    fn forget(&self, pid: u32) -> BoxFuture<'_, Result<(), LedgerError>>;
    fn all(&self) -> BoxFuture<'_, Result<Vec<LedgerEntry>, LedgerError>>;
}

//! The ledger of child processes (GUIDE §6): every replica the supervisor starts and every
//! build command the builder runs is recorded with its pid and kernel start time, so a control
//! plane that crashed can, on start-up, [`reap`] what it left behind without ever killing a
//! recycled pid. Also the `/proc` helpers for process groups.
//!
//! Owns the [`Ledger`] seam (the server implements it over the store; [`MemoryLedger`] is for
//! tests) and the reaping rule. It must not start processes or know about releases beyond
//! what an entry records.

use std::sync::Mutex;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use satusky_core::runtime::BoxFuture;

pub use satusky_core::ledger::{Ledger, LedgerEntry, LedgerError, ProcessKind};

/// An in-memory ledger (tests, and runs without a store).
#[derive(Debug, Default)]
pub struct MemoryLedger {
    entries: Mutex<Vec<LedgerEntry>>,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<LedgerEntry>) -> T) -> T {
        let mut g = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }
}

impl Ledger for MemoryLedger {
    fn record(&self, e: LedgerEntry) -> BoxFuture<'_, Result<(), LedgerError>> {
        self.with(|v| {
            v.retain(|x| x.pid != e.pid);
            v.push(e);
        });
        Box::pin(async { Ok(()) })
    }

    fn forget(&self, pid: u32) -> BoxFuture<'_, Result<(), LedgerError>> {
        self.with(|v| v.retain(|x| x.pid != pid));
        Box::pin(async { Ok(()) })
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<LedgerEntry>, LedgerError>> {
        let v = self.with(|v| v.clone());
        Box::pin(async { Ok(v) })
    }
}

/// The fields of `/proc/PID/stat` after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The kernel start time of `pid` (field 22 of `/proc/PID/stat`), if the process exists.
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

/// True when `pid` exists and is not a zombie.
pub fn process_running(pid: u32) -> bool {
    stat_fields(pid)
        .and_then(|f| f.first().cloned())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Live (non-zombie) processes whose process group is `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            stat_fields(*pid).is_some_and(|f| {
                let state = f.first().map(String::as_str);
                // field 5 (pgrp) is index 2 after the name
                f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
                    && state != Some("Z")
                    && state != Some("X")
            })
        })
        .collect()
}

/// Send `sig` to process group `pgid`. Refuses pgids 0 and 1 (our own group, init), which a
/// bad ledger entry must never reach.
pub fn signal_group(pgid: u32, sig: Signal) -> bool {
    match i32::try_from(pgid) {
        Ok(p) if p > 1 => killpg(Pid::from_raw(p), sig).is_ok(),
        _ => false,
    }
}

/// SIGKILL one process (a leader that may have left its group). Same refusals as
/// [`signal_group`].
fn kill_leader(pid: u32) -> bool {
    match i32::try_from(pid) {
        Ok(p) if p > 1 => kill(Pid::from_raw(p), Signal::SIGKILL).is_ok(),
        _ => false,
    }
}

/// SIGKILL what is left of group `pgid` after its leader was reaped. Safe against pid reuse:
/// while a group has members the kernel does not hand its number out as a new pid, so a
/// group found here is still the one we started.
pub fn kill_group_leftovers(pgid: u32) -> usize {
    let members = group_members(pgid);
    if members.is_empty() {
        return 0;
    }
    signal_group(pgid, Signal::SIGKILL);
    members.len()
}

/// Kill what a crashed predecessor left: for each entry whose pid is alive with the same start
/// time, SIGKILL its process group; when the leader is gone but its group still has members,
/// kill those (the group number cannot have been reused while they live). A pid now used by
/// another process (different start time) is left alone. Every entry is forgotten. Returns
/// how many groups were killed.
pub async fn reap(ledger: &dyn Ledger) -> usize {
    let entries = match ledger.all().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %satusky_core::error_chain(&e), "could not read the process ledger; nothing reaped");
            return 0;
        }
    };
    let mut killed = 0;
    for e in entries {
        let kill = match process_start_ticks(e.pid) {
            Some(ticks) => ticks == e.start_ticks,
            None => !group_members(e.pid).is_empty(),
        };
        // The group first, then the leader itself in case it moved to another group.
        let hit = kill && {
            let group = signal_group(e.pid, Signal::SIGKILL);
            let leader = kill_leader(e.pid);
            group || leader
        };
        if hit {
            tracing::info!(pid = e.pid, org = %e.org, app = %e.app, release = e.release,
                kind = e.kind.as_str(), "killed a process group left by a previous run");
            killed += 1;
        } else if !kill {
            tracing::debug!(
                pid = e.pid,
                "ledger entry no longer matches a process of ours; forgetting it"
            );
        }
        if let Err(err) = ledger.forget(e.pid).await {
            tracing::warn!(pid = e.pid, error = %satusky_core::error_chain(&err), "could not forget a ledger entry");
        }
    }
    killed
}

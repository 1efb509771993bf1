//! Replicas as supervised child processes (SPEC §8 "Local", GUIDE §6). Each replica runs in
//! its own process group, in a fresh copy of its artifact, with its own `PORT`; it is recorded
//! in the [`Ledger`] while it runs, probed for readiness, restarted with backoff when it exits,
//! and reported in `CrashLoopBackOff` when it keeps failing. Stopping is SIGTERM to the group,
//! a grace period, then SIGKILL; every child is waited for.
//!
//! Each working directory belongs to the replica's user (see [`crate::isolation`]): `0700`,
//! owned by the app user when `satusky` runs as root.
//!
//! Working directories are full copies, not hard links: a hard-linked file shares its inode
//! with the artifact, so a replica writing it (or `chmod`-ing it first) would change the
//! artifact for every later replica. `std::fs::copy` uses `copy_file_range`, which is cheap
//! (and reflinks on filesystems that can).
//!
//! A replica's environment is the pass-through variables, the app's `[env]`, its secrets'
//! values, then what the platform sets (`PORT`, `SATUSKY_RELEASE`, `SATUSKY_APP`,
//! `SATUSKY_ORG`, and `SATUSKY_VOLUME` for an app with `[volume]`). Secret values live only in memory and in the child's environment: nothing
//! here writes them to disk, and no log line or tracing field carries an environment value.
//!
//! Owns replica processes and their logs. It must not touch routes, DNS or releases' meaning:
//! [`crate::runtime`] decides what runs.

mod listening;
mod process;
mod readiness;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use satusky_core::changes::WorkloadChanges;
use satusky_core::secrets::Secrets;
use satusky_types::{ChecksSpec, Expose};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::isolation::Isolation;
use crate::ledger::Ledger;
use crate::logs::{AppLog, LogStore};

/// After SIGTERM, how long a replica may take to finish in-flight work before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// First restart delay; doubled after each exit (a crashing app must not spin the CPU).
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// Longest restart delay: a fixed app comes back within 10 s.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A process that ran this long before exiting restarts from the initial delay again.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);
/// Readiness probe interval until the first success: short, rollouts wait on it.
pub const READY_POLL: Duration = Duration::from_millis(250);
/// Readiness re-check interval once ready: cheap enough to run forever.
pub const READY_RECHECK: Duration = Duration::from_secs(2);
/// The shortest re-check interval an operator may set: no faster than the probes of a replica
/// that is not ready yet ([`READY_POLL`]).
pub const READY_RECHECK_MIN: Duration = READY_POLL;
/// Consecutive failed re-checks before a ready replica counts as not ready (one slow answer
/// must not pull it out of the route).
pub const READY_FAILURES_TO_UNREADY: u32 = 3;
/// Exits without ever becoming ready that make a crash loop: the app cannot start.
pub const CRASH_EXITS_NEVER_READY: u32 = 3;
/// Exits within [`CRASH_WINDOW`] that make a crash loop even if it was ready in between.
pub const CRASH_EXITS_IN_WINDOW: usize = 5;
/// The window of [`CRASH_EXITS_IN_WINDOW`]: long enough to catch an app that dies every
/// minute after passing its checks, short enough that a rare crash never counts as a loop.
pub const CRASH_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How long a replica that exited must stay ready before its exit is forgotten.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Output lines kept per replica (for `logs` and crash reports).
pub const LOG_LINES: usize = 200;
/// Output lines quoted in a `CrashLoopBackOff` message.
pub const CRASH_LOG_LINES: usize = 10;

/// The tunables above, overridable by tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub stop_grace: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub ready_poll: Duration,
    pub ready_recheck: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            stop_grace: STOP_GRACE,
            backoff_initial: BACKOFF_INITIAL,
            backoff_max: BACKOFF_MAX,
            ready_poll: READY_POLL,
            ready_recheck: READY_RECHECK,
        }
    }
}

/// What to run for one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSpec {
    pub org: String,
    pub app: String,
    pub release: u64,
    /// 0-based index within the release.
    pub index: u32,
    /// Program and arguments (`[app] command`); a relative program with a `/` is resolved in
    /// the working directory.
    pub command: Vec<String>,
    /// The app's `[env]`.
    pub env: BTreeMap<String, String>,
    /// The app's secrets, set in the replica's environment over `[env]`. Held in memory only:
    /// never written to a file or logged (their `Debug` is redacted).
    pub secrets: Secrets,
    /// Artifact directory copied as the working directory (`None`: an empty one).
    pub artifact: Option<PathBuf>,
    pub checks: ChecksSpec,
    /// The app's persistent directory (`[volume]`), set as `SATUSKY_VOLUME`.
    pub volume: Option<PathBuf>,
    /// How the replica is checked for readiness: HTTP (`checks`), a TCP connect, or running.
    pub expose: Expose,
}

/// A replica as seen now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub id: u64,
    pub release: u64,
    pub index: u32,
    pub port: u16,
    /// Set while the process runs.
    pub pid: Option<u32>,
    pub ready: bool,
    /// How many times the process exited (or failed to start).
    pub exits: u32,
    /// Set when the replica is in `CrashLoopBackOff`: the exit and the last output lines.
    pub crash_loop: Option<String>,
    /// What the last readiness check saw while the replica is not ready (the health path's
    /// status, nothing listening on its port, no answer within `[checks] timeout`…).
    pub waiting: Option<String>,
    /// How the process last exited (with its last output lines), kept until it has been ready
    /// again for [`STABLE_AFTER`]: a replica that keeps crashing shortly after becoming ready
    /// is reported as crashing, not as flapping between ready and not.
    pub last_exit: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("the app has no command to run")]
    NoCommand,
    #[error("the control plane is stopping; no replica starts")]
    ShuttingDown,
    #[error("could not find a free port on 127.0.0.1")]
    NoPort(#[source] std::io::Error),
    #[error("could not prepare the working directory {path}")]
    WorkDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

struct Replica {
    spec: ReplicaSpec,
    /// Told whenever the status changes.
    changes: Arc<WorkloadChanges>,
    port: u16,
    workdir: PathBuf,
    isolation: Isolation,
    status: watch::Sender<ReplicaStatus>,
    logs: Mutex<VecDeque<String>>,
    /// The app's kept log (every line, to disk), when the supervisor has a [`LogStore`].
    log: Option<Arc<AppLog>>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Replica {
    /// Change the status; when that changed anything, mark the app in the supervisor's
    /// [`WorkloadChanges`] (the runtime re-reads it: no one polls).
    fn update(&self, edit: impl FnOnce(&mut ReplicaStatus)) {
        let changed = self.status.send_if_modified(|s| {
            let before = s.clone();
            edit(s);
            *s != before
        });
        if changed {
            self.changes.mark(&self.spec.org, &self.spec.app);
        }
    }
}

struct Inner {
    run_dir: PathBuf,
    changes: Arc<WorkloadChanges>,
    ledger: Arc<dyn Ledger>,
    timings: Timings,
    isolation: Isolation,
    logs: Option<LogStore>,
    replicas: Mutex<BTreeMap<u64, Arc<Replica>>>,
    next_id: AtomicU64,
    /// Set by [`Supervisor::shutdown_all`]: no replica starts after it.
    closed: std::sync::atomic::AtomicBool,
}

/// The process supervisor. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Supervisor {
    pub fn new(run_dir: PathBuf, ledger: Arc<dyn Ledger>) -> Self {
        Self::with_timings(run_dir, ledger, Timings::default())
    }

    pub fn with_timings(run_dir: PathBuf, ledger: Arc<dyn Ledger>, timings: Timings) -> Self {
        Self::isolated(run_dir, ledger, timings, Isolation::SameUser)
    }

    /// Replicas run as `isolation` says, each in a working dir of its own.
    pub fn isolated(
        run_dir: PathBuf,
        ledger: Arc<dyn Ledger>,
        timings: Timings,
        isolation: Isolation,
    ) -> Self {
        Self::with_logs(run_dir, ledger, timings, isolation, None)
    }

    /// [`Supervisor::isolated`], also keeping every line replicas write in `logs`.
    pub fn with_logs(
        run_dir: PathBuf,
        ledger: Arc<dyn Ledger>,
        timings: Timings,
        isolation: Isolation,
        logs: Option<LogStore>,
    ) -> Self {
        Supervisor {
            inner: Arc::new(Inner {
                run_dir,
                ledger,
                timings,
                isolation,
                logs,
                replicas: Mutex::new(BTreeMap::new()),
                changes: Arc::new(WorkloadChanges::new()),
                closed: std::sync::atomic::AtomicBool::new(false),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The apps whose replicas changed (a process started or exited, readiness flipped, the
    /// readiness cause changed) since the consumer last looked.
    pub fn changes(&self) -> Arc<WorkloadChanges> {
        Arc::clone(&self.inner.changes)
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Replica>>> {
        self.inner
            .replicas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Prepare a working directory and a port, then run and supervise the replica until
    /// [`Supervisor::stop`]. Returns its id.
    pub async fn start(&self, spec: ReplicaSpec) -> Result<u64, SupervisorError> {
        if spec.command.first().is_none_or(|p| p.is_empty()) {
            return Err(SupervisorError::NoCommand);
        }
        let port = free_port().map_err(SupervisorError::NoPort)?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let workdir = self.inner.run_dir.join(format!(
            "{}-{}-v{}-r{}-{}",
            spec.org,
            spec.app,
            spec.release,
            spec.index,
            crate::build::unique()
        ));
        let (src, dst, iso) = (
            spec.artifact.clone(),
            workdir.clone(),
            self.inner.isolation.clone(),
        );
        let prepared = tokio::task::spawn_blocking(move || {
            match src {
                Some(src) => crate::build::copy_tree(&src, &dst),
                None => std::fs::create_dir_all(&dst),
            }
            .and_then(|()| iso.hand_over(&dst))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Err(source) = prepared {
            crate::build::remove_later(workdir.clone()).await;
            return Err(SupervisorError::WorkDir {
                path: workdir.display().to_string(),
                source,
            });
        }
        let status = ReplicaStatus {
            id,
            release: spec.release,
            index: spec.index,
            port,
            pid: None,
            ready: false,
            exits: 0,
            crash_loop: None,
            waiting: None,
            last_exit: None,
        };
        let log = match self
            .inner
            .logs
            .as_ref()
            .map(|l| l.app(&spec.org, &spec.app))
        {
            Some(Ok(log)) => Some(log),
            Some(Err(e)) => {
                tracing::warn!(org = %spec.org, app = %spec.app, error = %satusky_core::error_chain(&e),
                    "the replica's output is not kept");
                None
            }
            None => None,
        };
        let replica = Arc::new(Replica {
            spec,
            log,
            changes: Arc::clone(&self.inner.changes),
            port,
            workdir,
            isolation: self.inner.isolation.clone(),
            status: watch::Sender::new(status),
            logs: Mutex::new(VecDeque::new()),
            stop: watch::Sender::new(false),
            task: Mutex::new(None),
        });
        {
            // Checked under the map's lock: a replica either is in the map when the shutdown
            // collects them, or is refused here.
            let mut map = self.map();
            if self.inner.closed.load(Ordering::SeqCst) {
                drop(map);
                crate::build::remove_later(replica.workdir.clone()).await;
                return Err(SupervisorError::ShuttingDown);
            }
            map.insert(id, Arc::clone(&replica));
        }
        let task = tokio::spawn(process::supervise(
            Arc::clone(&replica),
            Arc::clone(&self.inner.ledger),
            self.inner.timings,
        ));
        *replica.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(id)
    }

    /// Stop a replica (SIGTERM, grace, SIGKILL; waited; forgotten in the ledger) and drop it.
    pub async fn stop(&self, id: u64) {
        let Some(replica) = self.map().get(&id).cloned() else {
            return;
        };
        replica.stop.send_replace(true);
        let task = replica
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.map().remove(&id);
    }

    /// Stop several replicas at once.
    pub async fn stop_many(&self, ids: Vec<u64>) {
        futures_util::future::join_all(ids.into_iter().map(|id| self.stop(id))).await;
    }

    /// Stop every replica (Ctrl-C of `satusky dev`, shutdown of the runtime).
    /// Replicas asked for afterwards are refused (a deploy still starting replicas while the
    /// control plane stops must not leave processes behind).
    pub async fn shutdown_all(&self) {
        let ids: Vec<u64> = {
            let map = self.map();
            self.inner.closed.store(true, Ordering::SeqCst);
            map.keys().copied().collect()
        };
        self.stop_many(ids).await;
    }

    pub fn status(&self, id: u64) -> Option<ReplicaStatus> {
        self.map().get(&id).map(|r| r.status.borrow().clone())
    }

    /// The replicas of an app, oldest first.
    pub fn replicas(&self, org: &str, app: &str) -> Vec<ReplicaStatus> {
        self.map()
            .values()
            .filter(|r| r.spec.org == org && r.spec.app == app)
            .map(|r| r.status.borrow().clone())
            .collect()
    }

    /// The last output lines of each replica of the app, prefixed `[vN#i]`, oldest replica
    /// first.
    pub fn logs(&self, org: &str, app: &str) -> Vec<String> {
        let replicas: Vec<Arc<Replica>> = self
            .map()
            .values()
            .filter(|r| r.spec.org == org && r.spec.app == app)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for r in replicas {
            let tag = format!("[v{}#{}]", r.spec.release, r.spec.index);
            let logs = r.logs.lock().unwrap_or_else(|e| e.into_inner());
            out.extend(logs.iter().map(|l| format!("{tag} {l}")));
        }
        out
    }
}

/// The lowest port handed to replicas: above the well-known and most registered services.
const REPLICA_PORTS_FROM: u16 = 10_000;
/// Tries at a port below the ephemeral range before falling back to one the kernel picks.
const PORT_TRIES: u32 = 64;

/// A port free right now on 127.0.0.1 for a replica. It is taken BELOW the kernel's
/// ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`): the control plane's own
/// outgoing connections (probes, proxying, the store) take their local ports from that range,
/// so a port picked there (e.g. by binding `:0`) can be taken by one of them before the
/// replica binds it — with a thousand replicas that happened ("Address already in use").
/// Falls back to `:0` when nothing below the range is free.
fn free_port() -> std::io::Result<u16> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Read once per process: the kernel setting does not change under us in practice.
    static RANGE: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    let range = *RANGE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|t| ephemeral_start(&t))
            .unwrap_or(32_768)
    });
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
        ^ NEXT
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for i in 0..PORT_TRIES {
        let Some(port) = port_below(range, seed.wrapping_add(u64::from(i) * 7919)) else {
            break;
        };
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return Ok(l.local_addr()?.port());
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The first port of the ephemeral range, from `ip_local_port_range`'s text (`32768\t60999`).
fn ephemeral_start(text: &str) -> Option<u16> {
    text.split_whitespace().next()?.parse().ok()
}

/// A port in `[REPLICA_PORTS_FROM, ephemeral_start)` chosen by `seed`; `None` when the
/// ephemeral range starts too low to leave room.
fn port_below(ephemeral_start: u16, seed: u64) -> Option<u16> {
    let room = ephemeral_start.checked_sub(REPLICA_PORTS_FROM)?;
    if room < 1_000 {
        return None;
    }
    let offset = u16::try_from(seed % u64::from(room)).ok()?;
    Some(REPLICA_PORTS_FROM + offset)
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn replica_ports_come_from_below_the_ephemeral_range() {
        assert_eq!(ephemeral_start("32768\t60999\n"), Some(32_768));
        assert_eq!(ephemeral_start("garbage"), None);
        for seed in [0, 1, 7919, u64::MAX, 1 << 40] {
            let p = port_below(32_768, seed).unwrap();
            assert!((REPLICA_PORTS_FROM..32_768).contains(&p), "{p}");
        }
        assert_eq!(
            port_below(10_500, 3),
            None,
            "too little room: the kernel picks"
        );
        assert_eq!(port_below(1_024, 3), None);
        // On this machine: below its ephemeral range whenever that leaves room.
        let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|t| ephemeral_start(&t))
            .unwrap_or(32_768);
        if port_below(start, 0).is_some() {
            let p = free_port().unwrap();
            assert!(
                (REPLICA_PORTS_FROM..start).contains(&p),
                "{p} (range from {start})"
            );
        }
    }
}

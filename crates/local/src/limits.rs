//! The open-files limit. Every running replica keeps three files open in the control plane (its
//! stdout and stderr pipes, read for its logs, and the pidfd it is waited for with), and every
//! readiness check, build, endpoint check and proxied request holds a socket or a file for a
//! while (`satusky dev` with 1,000 idle apps: ~3,050 open). With the common soft limit of 1,024,
//! a few hundred replicas use it up and the next process cannot start ("Too many open files").
//! So the local runtime raises its soft limit to the hard limit when it starts (any process
//! may), says how many replicas that leaves room for, and refuses to start a replica, naming
//! the limit, when the files left would not do.
//!
//! Replicas and builds inherit the raised soft limit.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Open files each running replica holds in the control plane (its stdout and stderr pipes,
/// its pidfd).
pub const FILES_PER_REPLICA: u64 = 3;
/// Files counted for everything but the replicas: the store, listeners, checks, builds,
/// proxied requests (`satusky dev` idle holds ~45).
pub const FILES_RESERVED: u64 = 128;
/// The soft limit is raised at most to this (when the hard limit is higher or unlimited): room
/// for ~21,000 replicas, without handing every child an enormous limit.
pub const RAISE_AT_MOST: u64 = 65_536;

/// The soft open-files limit before and after [`raise_open_files`], and the hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub before: u64,
    pub now: u64,
    pub hard: u64,
}

impl OpenFiles {
    /// About how many replicas can run at once under the soft limit now.
    pub fn replicas(&self) -> u64 {
        replicas_under(self.now)
    }
}

/// About how many replicas can run at once under a soft limit of `limit` open files.
pub fn replicas_under(limit: u64) -> u64 {
    limit.saturating_sub(FILES_RESERVED) / FILES_PER_REPLICA
}

/// Raise this process's soft open-files limit towards the hard limit (at most to
/// [`RAISE_AT_MOST`], never lowering it).
pub fn raise_open_files() -> nix::Result<OpenFiles> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let target = soft.max(hard.min(RAISE_AT_MOST));
    if target > soft {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard)?;
    }
    let (now, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(OpenFiles {
        before: soft,
        now,
        hard,
    })
}

/// This process's soft open-files limit now.
pub fn soft_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// How many files this process has open now (`/proc/self/fd`; `None` where there is no /proc).
pub fn open_now() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64)
}

/// Why one more replica must not start: the files it needs plus the reserve would pass the
/// soft limit. `None` when it fits (or when the count cannot be read).
pub fn no_room_for_a_replica() -> Option<String> {
    let (open, limit) = (open_now()?, soft_limit()?);
    (open + FILES_PER_REPLICA + FILES_RESERVED / 2 > limit).then(|| too_many(open, limit))
}

fn too_many(open: u64, limit: u64) -> String {
    format!(
        "the control plane has {open} of its {limit} open files in use (each running replica \
         keeps {FILES_PER_REPLICA}), so no more replicas can start: raise the open-files limit \
         of satusky (`ulimit -n` / `ulimit -Hn` in its shell, LimitNOFILE= in a systemd unit); \
         {limit} allows about {} replicas",
        replicas_under(limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_never_lowers_and_reports_the_room() {
        let got = raise_open_files().unwrap();
        assert!(got.now >= got.before);
        assert!(got.now <= got.hard);
        assert_eq!(got.replicas(), got.now.saturating_sub(128) / 3);
        assert!(open_now().unwrap() > 0);
    }

    #[test]
    fn the_refusal_names_the_limit_and_what_it_allows() {
        let m = too_many(1020, 1024);
        assert!(m.contains("1020 of its 1024 open files"), "{m}");
        assert!(m.contains("ulimit -n"), "{m}");
        assert!(m.contains("about 298 replicas"), "{m}");
    }
}

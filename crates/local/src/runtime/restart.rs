//! A restart of the serving release on the local runtime (`1ctl app restart`: the same
//! release applied again with a new `restarted_at_ms`, rolling strategy). Every serving
//! replica is replaced one index at a time: a fresh replica is started for the index, routed
//! once it is ready in place of the old one of that index, which drains and stops before the
//! next index starts — so at most one replica more than desired runs, and the route always
//! has ready replicas behind it. A fresh replica that crash-loops stops the restart: the
//! replicas not yet replaced keep serving, and the failure is reported.
//!
//! The state of a restart and its decisions — the next step ([`next_step`]) and what
//! `observe` reports meanwhile ([`counts`]) — are pure; [`super::rollout`] performs them. It
//! must not touch processes, routes or the supervisor.

use std::collections::BTreeSet;
use std::path::PathBuf;

use satusky_core::runtime::DesiredWorkload;
use satusky_types::{Reason, ReplicaCounts};

use crate::supervisor::ReplicaStatus;

/// A restart in progress (or stopped by a failure) of the serving generation.
pub(super) struct Restart {
    /// The serving release with the new restart stamp (and the latest hostnames and count).
    pub desired: DesiredWorkload,
    /// Where fresh replicas are copied from (the release's artifact, if it has one).
    pub artifact: Option<PathBuf>,
    /// Serving replicas started before this restart, still to be replaced.
    pub stale: BTreeSet<u64>,
    /// A fresh replica started for a serving index and not routed yet: (index, replica id).
    pub fresh: Option<(usize, u64)>,
    /// The old replica just taken out of the route, until it has stopped.
    pub draining: Option<u64>,
    /// Latched once a fresh replica crash-loops: the restart goes no further.
    pub failure: Option<(Reason, String)>,
}

/// What a restart does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Start a fresh replica for this serving index.
    Start(usize),
    /// Nothing until a replica changes: the fresh replica is not ready yet, the replaced
    /// one is still draining, or the restart failed.
    Wait,
    /// The fresh replica of this index is ready: route it in place of the index's replica,
    /// which drains.
    Swap(usize),
    /// The fresh replica's index is no longer served (scaled down): stop it.
    Discard,
    /// The fresh replica crash-loops: stop it and the restart; report this.
    Fail(Reason, String),
    /// Every serving replica is fresh and the last replaced one has stopped.
    Done,
}

/// The next step of a restart. `stale[i]`: whether serving index `i` still runs a replica
/// from before the restart; `fresh`: the index a fresh replica was started for, with its
/// status (`None` when the supervisor no longer knows it); `draining`: whether the replica
/// replaced last still runs; `failed`: whether the restart already failed.
pub(super) fn next_step(
    stale: &[bool],
    fresh: Option<(usize, Option<&ReplicaStatus>)>,
    draining: bool,
    failed: bool,
) -> Step {
    if failed {
        return Step::Wait;
    }
    if let Some((index, status)) = fresh {
        if !stale.get(index).copied().unwrap_or(false) {
            return Step::Discard;
        }
        return match status {
            // Gone without being stopped by the restart: start it again.
            None => Step::Start(index),
            Some(s) => match &s.crash_loop {
                Some(message) => Step::Fail(Reason::CrashLoopBackOff, message.clone()),
                None if s.ready => Step::Swap(index),
                None => Step::Wait,
            },
        };
    }
    if draining {
        return Step::Wait;
    }
    match stale.iter().position(|s| *s) {
        Some(index) => Step::Start(index),
        None => Step::Done,
    }
}

/// What `observe` reports during a restart: `serving` is each serving replica's status and
/// whether it is stale. Fresh replicas count as updated while they run and as ready once
/// ready, but as available only once routed; stale and draining replicas count as `old`, so
/// the rollout is not complete until every one of them is replaced and stopped.
pub(super) fn counts(
    desired: u32,
    serving: &[(bool, &ReplicaStatus)],
    fresh: Option<&ReplicaStatus>,
    draining: bool,
) -> (ReplicaCounts, u32) {
    let routed = serving.iter().filter(|(stale, _)| !stale).map(|(_, s)| *s);
    let updated: Vec<&ReplicaStatus> = routed.chain(fresh).collect();
    let available = serving
        .iter()
        .filter(|(stale, s)| !stale && s.ready)
        .count();
    let stale = serving.iter().filter(|(stale, _)| *stale).count() + usize::from(draining);
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    (
        ReplicaCounts {
            desired,
            updated: n(updated.iter().filter(|s| s.pid.is_some()).count()),
            ready: n(updated.iter().filter(|s| s.ready).count()),
            available: n(available),
        },
        n(stale),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, ready: bool) -> ReplicaStatus {
        ReplicaStatus {
            id,
            release: 1,
            index: 0,
            port: 9000,
            pid: Some(100 + id as u32),
            ready,
            exits: 0,
            crash_loop: None,
            waiting: None,
            last_exit: None,
        }
    }

    #[test]
    fn one_index_at_a_time_each_after_the_last_has_drained() {
        let (starting, ready) = (status(9, false), status(9, true));
        // Nothing replaced yet: start index 0.
        assert_eq!(next_step(&[true, true], None, false, false), Step::Start(0));
        // Its fresh replica is not ready: wait; once ready: swap it in.
        let step = next_step(&[true, true], Some((0, Some(&starting))), false, false);
        assert_eq!(step, Step::Wait);
        let step = next_step(&[true, true], Some((0, Some(&ready))), false, false);
        assert_eq!(step, Step::Swap(0));
        // Index 0 replaced: index 1 waits for the replaced replica to stop.
        assert_eq!(next_step(&[false, true], None, true, false), Step::Wait);
        assert_eq!(
            next_step(&[false, true], None, false, false),
            Step::Start(1)
        );
        // All fresh: done only once the last replaced replica has stopped.
        assert_eq!(next_step(&[false, false], None, true, false), Step::Wait);
        assert_eq!(next_step(&[false, false], None, false, false), Step::Done);
        // A restart of no replica is done at once.
        assert_eq!(next_step(&[], None, false, false), Step::Done);
    }

    #[test]
    fn a_crash_loop_stops_the_restart_and_a_lost_replica_is_started_again() {
        let mut looping = status(9, false);
        looping.crash_loop = Some("exited with status 1".into());
        let step = next_step(&[false, true], Some((1, Some(&looping))), false, false);
        assert_eq!(
            step,
            Step::Fail(Reason::CrashLoopBackOff, "exited with status 1".into())
        );
        // Latched: nothing more happens, even with indexes left.
        assert_eq!(next_step(&[false, true], None, false, true), Step::Wait);
        assert_eq!(
            next_step(&[false, true], Some((1, None)), false, false),
            Step::Start(1)
        );
    }

    #[test]
    fn a_fresh_replica_for_an_index_scaled_away_is_discarded() {
        let ready = status(9, true);
        let step = next_step(&[true], Some((1, Some(&ready))), false, false);
        assert_eq!(step, Step::Discard);
        // An index that is no longer stale (another restart took over) too.
        let step = next_step(&[false, true], Some((0, Some(&ready))), false, false);
        assert_eq!(step, Step::Discard);
    }

    #[test]
    fn observed_counts_keep_the_rollout_open_until_every_replica_is_fresh_and_routed() {
        let (a, b, c) = (status(1, true), status(2, true), status(3, true));
        // Before the first swap: the fresh replica is ready but not available; 3 old.
        let fresh = status(4, true);
        let serving = [(true, &a), (true, &b), (true, &c)];
        let (r, old) = counts(3, &serving, Some(&fresh), false);
        let want = ReplicaCounts {
            desired: 3,
            updated: 1,
            ready: 1,
            available: 0,
        };
        assert_eq!((r, old), (want, 3));
        // After it: one routed, two stale, one draining.
        let serving = [(false, &fresh), (true, &b), (true, &c)];
        let (r, old) = counts(3, &serving, None, true);
        assert_eq!((r.updated, r.ready, r.available, old), (1, 1, 1, 3));
        // All fresh and routed, the last replaced one stopped: nothing old.
        let (d, e) = (status(5, true), status(6, false));
        let serving = [(false, &fresh), (false, &d), (false, &e)];
        let (r, old) = counts(3, &serving, None, false);
        assert_eq!((r.updated, r.ready, r.available, old), (3, 2, 2, 0));
    }
}

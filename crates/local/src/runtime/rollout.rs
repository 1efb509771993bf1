//! The per-app rollout machinery of [`super::LocalRuntime`]: starting, scaling and stopping a
//! release's replicas, performing a restart's steps (decided in [`super::restart`]), and the
//! tick — run whenever the supervisor reports a change of one of the app's replicas, and
//! after every apply — that switches the route once a rollout is ready and keeps the serving
//! route on ready replicas. Owns no state of its own and must not touch DNS records (apply
//! does).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use satusky_core::runtime::{DesiredWorkload, RuntimeError, WorkloadObservation};
use satusky_types::{Reason, Strategy};
use tokio::sync::Mutex;

use super::plan::{crash_loop, describe, route_entries, static_entries, upstreams};
use super::restart::{Restart, Step, counts, next_step};
use super::{AppSlot, AppState, DRAIN, Generation, Inner};
use crate::supervisor::{ReplicaSpec, ReplicaStatus};

/// Steps a restart takes in one go at most. Each step either waits or changes the restart's
/// state (a start, a swap, a discard, the end), and a start is followed by a wait, so a few
/// are enough; the bound only keeps a surprise from spinning.
const MAX_STEPS: usize = 8;
/// Files counted in a static site's description (more are served; the count says `+`).
const STATIC_FILES_CAP: usize = 100_000;

impl Inner {
    pub(super) fn apps_map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<AppSlot>>> {
        self.apps.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn slot(&self, org: &str, app: &str) -> Arc<AppSlot> {
        let mut map = self.apps_map();
        Arc::clone(
            map.entry((org.to_string(), app.to_string()))
                .or_insert_with(|| {
                    Arc::new(AppSlot {
                        state: Mutex::new(AppState::default()),
                    })
                }),
        )
    }

    pub(super) async fn start_replica(
        &self,
        d: &DesiredWorkload,
        artifact: Option<PathBuf>,
        index: usize,
    ) -> Result<u64, RuntimeError> {
        if let Some(why) = crate::limits::no_room_for_a_replica() {
            tracing::warn!(release = %d.release_id(), "{why}");
            return Err(RuntimeError::unavailable(format!(
                "could not start a replica of {}: {why}",
                d.release_id()
            )));
        }
        // Made before the app's first replica starts; kept until a destroy purges it.
        let volume = match &d.spec.volume {
            Some(_) => Some(self.volume(&d.org, &d.app).await?),
            None => None,
        };
        let spec = ReplicaSpec {
            org: d.org.clone(),
            app: d.app.clone(),
            release: d.release,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            command: d.spec.command.clone().unwrap_or_default(),
            env: d.spec.env.clone(),
            secrets: d.secrets.clone(),
            artifact,
            checks: d.spec.checks.clone(),
            volume,
            expose: d.spec.expose,
        };
        self.supervisor.start(spec).await.map_err(|e| {
            RuntimeError::unavailable(format!("could not start a replica of {}", d.release_id()))
                .with_source(e)
        })
    }

    /// The app's volume directory, created when missing.
    async fn volume(&self, org: &str, app: &str) -> Result<PathBuf, RuntimeError> {
        let volumes = self.volumes.clone();
        let (o, a) = (org.to_string(), app.to_string());
        tokio::task::spawn_blocking(move || volumes.ensure(&o, &a))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|e| {
                RuntimeError::unavailable(format!(
                    "could not prepare the volume directory of {org}/{app}"
                ))
                .with_source(e)
            })
    }

    /// Stop replicas in the background after `delay`.
    pub(super) fn stop_later(&self, ids: Vec<u64>, delay: Duration) {
        if ids.is_empty() {
            return;
        }
        let sup = self.supervisor.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sup.stop_many(ids).await;
        });
    }

    pub(super) fn cancel_rollout(&self, st: &mut AppState) {
        if let Some((g, _)) = st.rollout.take() {
            tracing::info!(release = %g.desired.release_id(), "rollout cancelled");
            self.stop_later(g.replicas, Duration::ZERO);
        }
    }

    /// Start a whole new generation of `d` as a rollout: after stopping everything of the
    /// app with the recreate strategy, beside the serving one otherwise.
    pub(super) async fn replace(
        &self,
        st: &mut AppState,
        d: &DesiredWorkload,
        artifact: Option<PathBuf>,
    ) -> Result<(), RuntimeError> {
        self.cancel_restart(st);
        if d.spec.deploy.strategy == Strategy::Recreate {
            // Everything of the app stops before the new release starts.
            let mut old = st
                .rollout
                .take()
                .map(|(g, _)| g.replicas)
                .unwrap_or_default();
            if let Some(s) = st.serving.as_mut() {
                old.append(&mut s.replicas);
                s.upstreams.clear();
                self.routes
                    .set_app(&d.org, &d.app, route_entries(&s.desired, &[]));
                self.routes.set_service(&d.org, &d.app, Vec::new());
            }
            self.supervisor.stop_many(old).await;
        } else {
            self.cancel_rollout(st);
        }
        let mut replicas = Vec::new();
        for i in 0..d.spec.replicas as usize {
            match self.start_replica(d, artifact.clone(), i).await {
                Ok(id) => replicas.push(id),
                Err(e) => {
                    self.stop_later(replicas, Duration::ZERO);
                    return Err(e);
                }
            }
        }
        let g = Generation {
            desired: d.clone(),
            replicas,
            upstreams: Vec::new(),
            reroute: false,
            site: None,
        };
        st.rollout = Some((g, None));
        Ok(())
    }

    /// Bring the serving generation to `d`'s replica count, in place: new indexes start
    /// with `d` (its restart stamp), extra ones stop now. The serving generation keeps its
    /// own restart stamp until a restart completes.
    pub(super) async fn scale(
        &self,
        s: &mut Generation,
        d: &DesiredWorkload,
        artifact: Option<PathBuf>,
    ) -> Result<(), RuntimeError> {
        let to = d.spec.replicas as usize;
        s.desired = DesiredWorkload {
            restarted_at_ms: s.desired.restarted_at_ms,
            ..d.clone()
        };
        s.reroute = true;
        if to < s.replicas.len() {
            let extra = s.replicas.split_off(to);
            self.stop_later(extra, Duration::ZERO);
        }
        while s.replicas.len() < to {
            let id = self
                .start_replica(d, artifact.clone(), s.replicas.len())
                .await?;
            s.replicas.push(id);
        }
        Ok(())
    }

    /// Replace the serving replicas one by one with fresh ones of `d` (the serving release
    /// with a new restart stamp). A restart in progress is given up (its routed replicas stay;
    /// every serving replica is replaced again), but the replica it was draining still counts.
    pub(super) async fn begin_restart(
        &self,
        st: &mut AppState,
        d: &DesiredWorkload,
        artifact: Option<PathBuf>,
    ) -> Result<(), RuntimeError> {
        self.cancel_rollout(st);
        let draining = st.restart.as_ref().and_then(|r| r.draining);
        self.cancel_restart(st);
        let Some(s) = st.serving.as_mut() else {
            return Ok(());
        };
        tracing::info!(release = %d.release_id(), replicas = s.replicas.len(),
            "restart: replacing the replicas one by one");
        st.restart = Some(Restart {
            desired: d.clone(),
            artifact: artifact.clone(),
            stale: s.replicas.iter().copied().collect(),
            fresh: None,
            draining,
            failure: None,
        });
        self.scale(s, d, artifact).await
    }

    /// The restart in progress asked for again: take its hostnames and count.
    pub(super) async fn continue_restart(
        &self,
        st: &mut AppState,
        d: &DesiredWorkload,
        artifact: Option<PathBuf>,
    ) -> Result<(), RuntimeError> {
        self.cancel_rollout(st);
        let (Some(s), Some(r)) = (st.serving.as_mut(), st.restart.as_mut()) else {
            return Ok(());
        };
        r.desired = d.clone();
        self.scale(s, d, artifact).await
    }

    /// Give up the restart: a fresh replica not routed yet stops now (one draining stops
    /// after its drain, on its own).
    pub(super) fn cancel_restart(&self, st: &mut AppState) {
        if let Some(r) = st.restart.take() {
            tracing::info!(release = %r.desired.release_id(), "restart given up");
            if let Some((_, id)) = r.fresh {
                self.stop_later(vec![id], Duration::ZERO);
            }
        }
    }

    /// The restart's next steps, then the tick. An error is a fresh replica that could not
    /// start (the restart waits; the next change or apply tries again).
    pub(super) async fn advance(&self, st: &mut AppState) -> Result<(), RuntimeError> {
        let stepped = self.restart_steps(st).await;
        self.tick(st);
        stepped
    }

    async fn restart_steps(&self, st: &mut AppState) -> Result<(), RuntimeError> {
        for _ in 0..MAX_STEPS {
            let (Some(r), Some(s)) = (st.restart.as_mut(), st.serving.as_mut()) else {
                return Ok(());
            };
            if r.draining
                .is_some_and(|id| self.supervisor.status(id).is_none())
            {
                r.draining = None;
            }
            let stale: Vec<bool> = s.replicas.iter().map(|id| r.stale.contains(id)).collect();
            let fresh = r.fresh.map(|(i, id)| (i, self.supervisor.status(id)));
            let fresh = fresh.as_ref().map(|(i, s)| (*i, s.as_ref()));
            match next_step(&stale, fresh, r.draining.is_some(), r.failure.is_some()) {
                Step::Wait => return Ok(()),
                Step::Start(index) => {
                    let id = self
                        .start_replica(&r.desired, r.artifact.clone(), index)
                        .await?;
                    r.fresh = Some((index, id));
                }
                Step::Swap(index) => {
                    let Some((_, id)) = r.fresh.take() else {
                        return Ok(());
                    };
                    let old = std::mem::replace(&mut s.replicas[index], id);
                    r.stale.remove(&old);
                    r.draining = Some(old);
                    // The tick that follows routes `id` instead of `old` before it drains.
                    self.drain(&s.desired, old);
                    tracing::info!(release = %r.desired.release_id(), index,
                        "restart: a fresh replica took over");
                }
                Step::Discard => {
                    if let Some((_, id)) = r.fresh.take() {
                        self.stop_later(vec![id], Duration::ZERO);
                    }
                }
                Step::Fail(reason, message) => {
                    tracing::warn!(release = %r.desired.release_id(), %message,
                        "restart stopped: a fresh replica crash-loops; the others keep serving");
                    if let Some((_, id)) = r.fresh.take() {
                        self.stop_later(vec![id], Duration::ZERO);
                    }
                    r.failure = Some((reason, message));
                    return Ok(());
                }
                Step::Done => {
                    if let Some(r) = st.restart.take() {
                        tracing::info!(release = %r.desired.release_id(), "restart complete");
                        s.desired = r.desired;
                        s.reroute = true;
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Stop a replica taken out of the route after [`DRAIN`], then wake the app's follower:
    /// a restart waits for it before the next index starts.
    fn drain(&self, d: &DesiredWorkload, id: u64) {
        let (sup, org, app) = (self.supervisor.clone(), d.org.clone(), d.app.clone());
        tokio::spawn(async move {
            tokio::time::sleep(DRAIN).await;
            sup.stop(id).await;
            sup.changes().mark(&org, &app);
        });
    }

    /// The observation of the serving release during a restart (see [`counts`]): not yet
    /// ready while any replica from before it runs, failed once a fresh one crash-looped.
    pub(super) fn observe_restart(
        &self,
        s: &Generation,
        r: &Restart,
        obs: &mut WorkloadObservation,
    ) {
        let serving: Vec<(bool, ReplicaStatus)> = s
            .replicas
            .iter()
            .filter_map(|id| Some((r.stale.contains(id), self.supervisor.status(*id)?)))
            .collect();
        let fresh = r.fresh.and_then(|(_, id)| self.supervisor.status(id));
        let draining = r
            .draining
            .is_some_and(|id| self.supervisor.status(id).is_some());
        let refs: Vec<(bool, &ReplicaStatus)> = serving.iter().map(|(o, s)| (*o, s)).collect();
        (obs.replicas, obs.old) = counts(r.desired.spec.replicas, &refs, fresh.as_ref(), draining);
        // The fresh replica first: its readiness cause is the one the restart waits on.
        let all: Vec<ReplicaStatus> = fresh
            .into_iter()
            .chain(serving.into_iter().map(|(_, s)| s))
            .collect();
        obs.failure = r.failure.clone().or_else(|| crash_loop(&all));
        describe(obs, &all);
    }

    pub(super) fn statuses(&self, ids: &[u64]) -> Vec<ReplicaStatus> {
        ids.iter()
            .filter_map(|id| self.supervisor.status(*id))
            .collect()
    }

    /// Serve `d`, a static site, from the artifact's `[static] root`: no replicas — it becomes
    /// the serving generation at once (routes rewritten on the tick), and whatever served
    /// before stops after draining. A root the build's output lacks blocks the release with
    /// the fix.
    pub(super) async fn serve_static(
        &self,
        st: &mut AppState,
        d: &DesiredWorkload,
        artifact: Option<PathBuf>,
    ) {
        self.cancel_rollout(st);
        self.cancel_restart(st);
        let site = d.spec.static_site.as_ref();
        let root_name = site.map_or(".", |s| s.root.as_str()).to_string();
        let found = match artifact {
            Some(dir) => {
                let root = dir.join(&root_name);
                let counted = tokio::task::spawn_blocking({
                    let root = root.clone();
                    move || crate::edge::count_files(&root, STATIC_FILES_CAP)
                })
                .await
                .ok()
                .flatten();
                counted.map(|n| (root, n))
            }
            None => None,
        };
        let Some((root, files)) = found else {
            st.blocked = Some((
                Reason::InvalidSpec,
                format!(
                    "[static] root {root_name:?} is not a folder of the build's output: set root to the folder holding the site's files (\".\" for the folder deployed), or make [build] command write it"
                ),
            ));
            return;
        };
        let more = if files >= STATIC_FILES_CAP { "+" } else { "" };
        let files = format!(
            "{files}{more} file{} from {root_name}",
            if files == 1 { "" } else { "s" }
        );
        let g = Generation {
            desired: d.clone(),
            replicas: Vec::new(),
            upstreams: Vec::new(),
            reroute: true,
            site: Some((root, files)),
        };
        tracing::info!(release = %d.release_id(), "static site served by the edge");
        if let Some(old) = st.serving.replace(g) {
            self.stop_later(old.replicas, DRAIN);
        }
    }

    /// Advance the app's rollout and keep the serving route's upstreams on ready replicas.
    pub(super) fn tick(&self, st: &mut AppState) {
        if let Some((g, failure)) = st.rollout.as_mut() {
            let statuses = self.statuses(&g.replicas);
            if failure.is_none() {
                *failure = crash_loop(&statuses);
            }
            let want = g.desired.spec.replicas as usize;
            if failure.is_none() && statuses.len() == want && statuses.iter().all(|s| s.ready) {
                let Some((mut g, _)) = st.rollout.take() else {
                    return;
                };
                g.upstreams = upstreams(&statuses);
                g.reroute = false;
                let d = &g.desired;
                self.routes
                    .set_app(&d.org, &d.app, route_entries(d, &g.upstreams));
                self.routes.set_service(&d.org, &d.app, g.upstreams.clone());
                tracing::info!(release = %d.release_id(), "rollout complete; route switched");
                if let Some(old) = st.serving.replace(g) {
                    self.stop_later(old.replicas, DRAIN);
                }
            }
        }
        if let Some(s) = st.serving.as_mut() {
            let statuses = self.statuses(&s.replicas);
            let mut ups = upstreams(statuses.iter().filter(|s| s.ready));
            if ups.is_empty() {
                ups = upstreams(&statuses); // let the edge answer 502 rather than 404
            }
            if ups != s.upstreams || s.reroute {
                s.upstreams = ups;
                s.reroute = false;
                let d = &s.desired;
                let entries = match &s.site {
                    Some((root, _)) => static_entries(d, root),
                    None => route_entries(d, &s.upstreams),
                };
                self.routes.set_app(&d.org, &d.app, entries);
                self.routes.set_service(&d.org, &d.app, s.upstreams.clone());
            }
        }
    }
}

//! The per-app rollout machinery of [`super::LocalRuntime`]: starting and stopping a
//! release's replicas, and the tick — run whenever the supervisor reports a change of one of
//! the app's replicas, and after every apply — that switches the route once a rollout is
//! ready and keeps the serving route on ready replicas. Owns no state of its own and must not
//! touch DNS records (apply does).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use satusky_core::runtime::{DesiredWorkload, RuntimeError};
use tokio::sync::Mutex;

use super::plan::{crash_loop, route_entries, upstreams};
use super::{AppSlot, AppState, DRAIN, Inner};
use crate::supervisor::{ReplicaSpec, ReplicaStatus};

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
        };
        self.supervisor.start(spec).await.map_err(|e| {
            RuntimeError::unavailable(format!("could not start a replica of {}", d.release_id()))
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

    pub(super) fn statuses(&self, ids: &[u64]) -> Vec<ReplicaStatus> {
        ids.iter()
            .filter_map(|id| self.supervisor.status(*id))
            .collect()
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
                self.routes
                    .set_app(&d.org, &d.app, route_entries(d, &s.upstreams));
            }
        }
    }
}

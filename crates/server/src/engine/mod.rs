//! The lifecycle engine: drives each app with pending work through build → apply → rollout →
//! endpoints (SPEC §3, §4), and re-probes every app's endpoints on a timer.
//!
//! Durable by construction: the work document lives in the store (written in the same
//! transaction as the deploy), every step re-reads it, and on start the engine resumes every
//! app that still has work — so a control plane killed at any step finishes the deploy on
//! restart with exactly the release the deploy created. One driver task per app; a newer
//! deploy replaces the work and the driver moves to it on its next step.
//!
//! Restart keeps serving: on start every app's active release is restored first ([`restore`])
//! and only then does pending work resume (drivers wait for it), so a deploy whose build was
//! interrupted never leaves the app without its old release; `/readyz` says 503 until then.
//!
//! The sweep also runs the drift checker ([`crate::drift`]) on every app; the accessors at the
//! end of this file are what the checker may use of the engine.

mod build_log;
mod drive;
mod endpoints;
mod restore;
mod sweep;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use satusky_core::runtime::{EndpointProber, Runtime};
use satusky_store::Store;
use serde::{Deserialize, Serialize};

use crate::hub::EventHub;

/// A step of the work on one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Build,
    Apply,
    Rollout,
    Endpoints,
}

/// The engine's pending work for an app, stored in `apps.work`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    pub release: u64,
    pub step: Step,
    /// When the rollout was first applied (the progress deadline counts from here).
    #[serde(default)]
    pub rollout_started_ms: Option<i64>,
    /// When the build first started (the build timeout counts from here, across restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_started_ms: Option<i64>,
}

impl Work {
    pub fn new(release: u64) -> Self {
        Work {
            release,
            step: Step::Build,
            rollout_started_ms: None,
            build_started_ms: None,
        }
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How often every app's endpoints are re-probed.
    pub probe_interval: Duration,
    /// The platform DNS zone (hostnames inside it are platform-owned).
    pub dns_zone: String,
    /// How long a build may run, counted from its first start ([`DEFAULT_BUILD_TIMEOUT`]).
    pub build_timeout: Duration,
}

/// A build that runs longer is stuck (a cold `cargo build --release` of a mid-size app takes
/// minutes, not half an hour). `server.toml build_timeout` changes it.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

struct Inner {
    store: Store,
    runtime: Arc<dyn Runtime>,
    prober: Option<Arc<dyn EndpointProber>>,
    hub: EventHub,
    config: EngineConfig,
    /// Apps with a driver, and whether they were kicked again since its last read.
    running: Mutex<HashMap<(String, String), bool>>,
    /// The drift checker's memory (last check per app, per-app locks).
    drift: crate::drift::DriftState,
    /// True once every active release was restored after the start: drivers wait for it.
    restored: tokio::sync::watch::Sender<bool>,
}

/// A cheap handle: kick an app, remove an app.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(
        store: Store,
        runtime: Arc<dyn Runtime>,
        prober: Option<Arc<dyn EndpointProber>>,
        hub: EventHub,
        config: EngineConfig,
    ) -> Self {
        // The engine records reconcile and probe metrics: the recorder must be there first.
        crate::metrics::install();
        Engine {
            inner: Arc::new(Inner {
                store,
                runtime,
                prober,
                hub,
                config,
                running: Mutex::new(HashMap::new()),
                drift: crate::drift::DriftState::default(),
                restored: tokio::sync::watch::Sender::new(false),
            }),
        }
    }

    /// Bring the runtime back to the stored desired state, then resume every app with pending
    /// work, then start the periodic endpoint sweep. Returns at once; the work runs on a task.
    ///
    /// A runtime may have lost its workloads while the control plane was down (the local
    /// runtime's replicas die with it), so EVERY app's active release is applied again
    /// (idempotent where nothing was lost) and waited for until it serves — also for apps
    /// whose next release is still building — before any pending work resumes. Pending work
    /// past its apply step goes back to it.
    pub async fn start(&self) {
        let store = &self.inner.store;
        let apps = match store.all_apps().await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %crate::error::error_chain(&e), "cannot list apps");
                Vec::new()
            }
        };
        let mut active = Vec::new();
        let mut pending = Vec::new();
        for (org, app) in apps {
            let Ok(Some(rec)) = store.get_app(&org, &app).await else {
                continue;
            };
            let work = rec
                .work
                .as_ref()
                .and_then(|w| serde_json::from_value::<Work>(w.clone()).ok());
            if let Some(mut work) = work {
                if matches!(work.step, Step::Rollout | Step::Endpoints) {
                    work.step = Step::Apply;
                    let _ = store
                        .advance_work(&org, &app, work.release, Some(&work.to_value()))
                        .await;
                }
                pending.push((org.clone(), app.clone(), work));
            }
            if let Some(release) = rec.active_release {
                active.push((rec, release));
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            restore::restore_all(&me, active).await;
            me.inner.restored.send_replace(true);
            for (org, app, work) in pending {
                tracing::info!(%org, %app, release = work.release, step = ?work.step, "resuming pending work");
                me.kick(&org, &app);
            }
            // Observe the restored apps' endpoints now rather than a probe interval later.
            sweep::sweep_once(&me).await;
            sweep::run(me).await;
        });
    }

    /// True once the active releases were restored after the start (`/readyz`).
    pub fn restored(&self) -> bool {
        *self.inner.restored.borrow()
    }

    /// Make sure a driver runs for `org/app` (it re-reads the work from the store).
    pub fn kick(&self, org: &str, app: &str) {
        let key = (org.to_string(), app.to_string());
        {
            let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(again) = running.get_mut(&key) {
                *again = true;
                return;
            }
            running.insert(key.clone(), false);
        }
        let me = self.clone();
        tokio::spawn(async move {
            // No work before the active releases are back (a deploy accepted meanwhile waits).
            let _ = me.inner.restored.subscribe().wait_for(|r| *r).await;
            loop {
                drive::drive(&me, &key.0, &key.1).await;
                // A kick that arrived while driving means new work may have been written
                // after the driver's last read: drive again.
                let mut running = me.inner.running.lock().unwrap_or_else(|e| e.into_inner());
                match running.get_mut(&key) {
                    Some(again) if *again => *again = false,
                    _ => {
                        running.remove(&key);
                        break;
                    }
                }
            }
        });
    }

    /// Stop the app's workload (after it was deleted from the store).
    pub fn remove(&self, org: &str, app: &str) {
        self.inner.drift.forget(org, app);
        let runtime = self.inner.runtime.clone();
        let (org, app) = (org.to_string(), app.to_string());
        tokio::spawn(async move {
            if let Err(e) = runtime.remove(org.clone(), app.clone()).await {
                tracing::warn!(%org, %app, error = %crate::error::error_chain(&e), "removing the workload failed");
            }
        });
    }

    pub fn runtime_name(&self) -> &'static str {
        self.inner.runtime.name()
    }

    /// One pass of the periodic sweep, now: re-probe every app's endpoints and check each
    /// for drift (healing what the platform owns).
    pub async fn sweep_once(&self) {
        sweep::sweep_once(self).await;
    }

    // -- what the drift checker uses of the engine

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }

    pub(crate) fn hub(&self) -> &EventHub {
        &self.inner.hub
    }

    pub(crate) fn dns_zone(&self) -> &str {
        &self.inner.config.dns_zone
    }

    pub(crate) fn drift_state(&self) -> &crate::drift::DriftState {
        &self.inner.drift
    }

    /// Whether a driver is working on the app (a deploy is in progress: no heal then).
    pub(crate) fn is_driving(&self, org: &str, app: &str) -> bool {
        let running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        running.contains_key(&(org.to_string(), app.to_string()))
    }

    /// Re-probe the app's endpoints and save them (with `plane` events), as the sweep does.
    /// `None` when the app has pending work or no active release.
    pub(crate) async fn recheck_endpoints(
        &self,
        rec: &satusky_store::AppRecord,
    ) -> Option<Vec<satusky_types::EndpointReport>> {
        sweep::recheck(self, rec).await
    }
}

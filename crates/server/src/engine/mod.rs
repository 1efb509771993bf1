//! The lifecycle engine: drives each app with pending work through build → apply → rollout →
//! endpoints (SPEC §3, §4), and re-probes every app's endpoints on a timer.
//!
//! Durable by construction: the work document lives in the store (written in the same
//! transaction as the deploy), every step re-reads it, and on start the engine resumes every
//! app that still has work — so a control plane killed at any step finishes the deploy on
//! restart with exactly the release the deploy created. One driver task per app; a newer
//! deploy replaces the work and the driver moves to it on its next step.
//!
//! The sweep also runs the drift checker ([`crate::drift`]) on every app; the accessors at the
//! end of this file are what the checker may use of the engine.

mod drive;
mod endpoints;
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
}

impl Work {
    pub fn new(release: u64) -> Self {
        Work {
            release,
            step: Step::Build,
            rollout_started_ms: None,
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
}

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
            }),
        }
    }

    /// Bring the runtime back to the stored desired state, resume every app with pending
    /// work, and start the periodic endpoint sweep.
    ///
    /// A runtime may have lost its workloads while the control plane was down (the local
    /// runtime's replicas die with it), so every app's active release is applied again
    /// (idempotent where nothing was lost), and pending work past its apply step goes back
    /// to it.
    pub async fn start(&self) {
        let store = &self.inner.store;
        let apps = match store.all_apps().await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %crate::error::error_chain(&e), "cannot list apps");
                Vec::new()
            }
        };
        for (org, app) in apps {
            let Ok(Some(rec)) = store.get_app(&org, &app).await else {
                continue;
            };
            let work = rec
                .work
                .as_ref()
                .and_then(|w| serde_json::from_value::<Work>(w.clone()).ok());
            match work {
                Some(mut work) => {
                    if matches!(work.step, Step::Rollout | Step::Endpoints) {
                        work.step = Step::Apply;
                        let _ = store
                            .advance_work(&org, &app, work.release, Some(&work.to_value()))
                            .await;
                    }
                    tracing::info!(%org, %app, release = work.release, step = ?work.step, "resuming pending work");
                    self.kick(&org, &app);
                }
                None => {
                    if let Some(active) = rec.active_release {
                        self.restore(&rec, active).await;
                    }
                }
            }
        }
        let me = self.clone();
        tokio::spawn(async move { sweep::run(me).await });
    }

    /// Apply the app's active release again (after a restart).
    async fn restore(&self, rec: &satusky_store::AppRecord, active: u64) {
        let Ok(Some(release)) = self
            .inner
            .store
            .get_release(&rec.org, &rec.name, active)
            .await
        else {
            return;
        };
        let desired = satusky_core::runtime::DesiredWorkload {
            org: rec.org.clone(),
            app: rec.name.clone(),
            release: active,
            spec: release.spec,
            artifact: release.artifact,
            hostnames: release.hostnames,
        };
        tracing::info!(org = %rec.org, app = %rec.name, release = active, "restoring the active release");
        let started = std::time::Instant::now();
        let result = self.inner.runtime.apply(desired).await;
        crate::metrics::reconcile(self.runtime_name(), result.is_ok(), started.elapsed());
        if let Err(e) = result {
            tracing::warn!(org = %rec.org, app = %rec.name, error = %e, "cannot restore the active release");
        }
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
                tracing::warn!(%org, %app, error = %e, "removing the workload failed");
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

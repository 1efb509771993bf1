//! The lifecycle engine: drives each app with pending work through build → apply → rollout →
//! endpoints (SPEC §3, §4), and re-probes every app's endpoints on a timer.
//!
//! What to do at each step is decided by `satusky_core::engine::next` (pure); the
//! [`executor`] is the only part that loads, saves and calls the runtime. Durable by
//! construction: the work document lives in the store (written in the same transaction as the
//! deploy), every step loads it again, and on start the engine resumes every app that still
//! has work — so a control plane killed at any step finishes the deploy on restart with
//! exactly the release the deploy created. One driver per app ([`crate::claims`]); a newer
//! deploy replaces the work and the driver moves to it on its next load.
//!
//! Restart keeps serving: on start every app's active release is restored first
//! (`executor::restore`) and only then does pending work resume (drivers wait for it), so a
//! deploy whose build was interrupted never leaves the app without its old release;
//! `/readyz` says 503 until then.
//!
//! Apps at rest stay observed: the runtime marks apps whose workload changed and
//! `executor::watch` saves the active release's workload plane (no timer per app).
//!
//! The sweep runs the drift checker ([`crate::drift`], a peer sharing the engine's
//! [`Handle`]) on every app.

mod executor;

use std::sync::Arc;
use std::time::Duration;

use satusky_core::engine::EngineRules;
use satusky_core::hostnames::Zone;
use satusky_core::runtime::{EndpointProber, Runtime, RuntimeError};
use satusky_store::{Store, StoreError};

use crate::claims::{Claims, LocalClaims};
use crate::drift::{CheckOutcome, Drift};
use crate::handle::Handle;
use crate::hub::EventHub;

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How often every app's endpoints are re-probed.
    pub probe_interval: Duration,
    /// The platform DNS zone (hostnames inside it are platform-owned).
    pub dns_zone: Zone,
    /// How long a build may run, counted from its first start ([`DEFAULT_BUILD_TIMEOUT`]).
    pub build_timeout: Duration,
}

/// A build that runs longer is stuck (a cold `cargo build --release` of a mid-size app takes
/// minutes, not half an hour). `server.toml build_timeout` changes it.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

struct Inner {
    handle: Handle,
    config: EngineConfig,
    rules: EngineRules,
    claims: Arc<dyn Claims>,
    /// The drift checker: a peer with the same handle.
    drift: Drift,
    /// True once every active release was restored after the start: drivers wait for it.
    restored: tokio::sync::watch::Sender<bool>,
    /// Apps whose routed domains changed while a driver ran: re-routed when it stops.
    reroute_wanted: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
    /// Wakes the ownership task (a domain added or checked).
    ownership_wake: Arc<tokio::sync::Notify>,
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
        let handle = Handle {
            store,
            runtime,
            prober,
            hub,
            zone: config.dns_zone.clone(),
            at_rest: Arc::default(),
        };
        let claims: Arc<dyn Claims> = Arc::new(LocalClaims::default());
        Engine {
            inner: Arc::new(Inner {
                drift: Drift::new(handle.clone(), Arc::clone(&claims)),
                handle,
                rules: EngineRules {
                    build_timeout: config.build_timeout,
                },
                config,
                claims,
                restored: tokio::sync::watch::Sender::new(false),
                reroute_wanted: std::sync::Mutex::default(),
                ownership_wake: Arc::default(),
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
        let resume = executor::start(&self.inner.handle).await;
        if let Some(changes) = self.inner.handle.runtime.workload_changes() {
            tokio::spawn(executor::watch::run(
                self.inner.handle.clone(),
                changes,
                self.inner.restored.subscribe(),
            ));
        }
        tokio::spawn(executor::ownership::run(
            self.clone(),
            Arc::clone(&self.inner.ownership_wake),
        ));
        let me = self.clone();
        tokio::spawn(async move {
            executor::restore::restore_all(&me.inner.handle, resume.active).await;
            me.inner.restored.send_replace(true);
            for (org, app) in resume.pending {
                me.kick(&org, &app);
            }
            // Observe the restored apps' endpoints now rather than a probe interval later.
            executor::sweep::sweep_once(&me).await;
            executor::sweep::run(me).await;
        });
    }

    /// True once the active releases were restored after the start (`/readyz`).
    pub fn restored(&self) -> bool {
        *self.inner.restored.borrow()
    }

    /// Make sure a driver runs for `org/app` (it loads the work from the store).
    pub fn kick(&self, org: &str, app: &str) {
        if !self.inner.claims.claim(org, app) {
            return;
        }
        let me = self.clone();
        let (org, app) = (org.to_string(), app.to_string());
        tokio::spawn(async move {
            // No work before the active releases are back (a deploy accepted meanwhile waits).
            let _ = me.inner.restored.subscribe().wait_for(|r| *r).await;
            loop {
                executor::drive(&me, &org, &app).await;
                // A kick that arrived while driving means new work may have been written
                // after the driver's last load: drive again.
                if me.inner.claims.release(&org, &app) {
                    break;
                }
            }
            // At rest now: what changed since the driver's last observation is seen at once.
            if let Some(changes) = me.inner.handle.runtime.workload_changes() {
                changes.mark(&org, &app);
            }
            // Domains that changed while it drove are routed now.
            if me.take_reroute(&org, &app) {
                me.reroute(&org, &app);
            }
        });
    }

    /// Route the active release of `org/app` again with its routed domains as they are now
    /// (a domain added, removed, proven or lost) — no new release. With a driver running, it
    /// happens when the driver stops. Returns at once.
    pub fn reroute(&self, org: &str, app: &str) {
        let me = self.clone();
        let (org, app) = (org.to_string(), app.to_string());
        tokio::spawn(async move { me.reroute_now(&org, &app).await });
    }

    /// [`Engine::reroute`], waited for.
    pub async fn reroute_now(&self, org: &str, app: &str) {
        let _ = self.inner.restored.subscribe().wait_for(|r| *r).await;
        // Wanted first, then claimed: a holder that stops after our failed claim finds it
        // (a want set after the claim could land after the holder's last look).
        self.want_reroute(org, app);
        if !self.inner.claims.claim(org, app) {
            return;
        }
        self.take_reroute(org, app);
        // Again while asked again meanwhile (another change of the same app's domains).
        loop {
            if !executor::reroute::run(&self.inner.handle, org, app).await {
                self.want_reroute(org, app);
                break;
            }
            if !self.take_reroute(org, app) {
                break;
            }
        }
        if !self.inner.claims.release(org, app) {
            // Kicked meanwhile: drive like `kick` would have (the claim is still held).
            loop {
                executor::drive(self, org, app).await;
                if self.inner.claims.release(org, app) {
                    break;
                }
            }
            if self.take_reroute(org, app) {
                Box::pin(self.reroute_now(org, app)).await;
            }
        }
    }

    fn want_reroute(&self, org: &str, app: &str) {
        if let Ok(mut set) = self.inner.reroute_wanted.lock() {
            set.insert((org.to_string(), app.to_string()));
        }
    }

    pub(crate) fn take_reroute(&self, org: &str, app: &str) -> bool {
        self.inner
            .reroute_wanted
            .lock()
            .map(|mut set| set.remove(&(org.to_string(), app.to_string())))
            .unwrap_or(false)
    }

    /// Look due ownership proofs up now (a domain was added).
    pub fn wake_ownership(&self) {
        self.inner.ownership_wake.notify_one();
    }

    /// Look `org`'s claim on `host` up now and record the outcome (`1ctl domains check`);
    /// a proof re-routes every app it changed before this returns.
    pub async fn check_ownership(
        &self,
        org: &str,
        app: &str,
        host: &str,
    ) -> Result<Option<satusky_core::ownership::Proof>, StoreError> {
        let claim = satusky_store::DueClaim {
            org: org.to_string(),
            app: app.to_string(),
            hostname: host.to_string(),
            misses: 0,
        };
        let checked = executor::ownership::check(self, &claim).await?;
        for (o, a) in &checked.changed {
            self.reroute_now(o, a).await;
        }
        Ok(checked.proof)
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// Stop the app's workload (after it was deleted from the store), in the background; with
    /// `purge_volumes`, its volumes are deleted after it stopped. Without, they are kept.
    pub fn remove(&self, org: &str, app: &str, purge_volumes: bool) {
        self.inner.drift.forget(org, app);
        let handle = self.inner.handle.clone();
        let (org, app) = (org.to_string(), app.to_string());
        tokio::spawn(async move { executor::remove(&handle, org, app, purge_volumes).await });
    }

    /// The app's volumes as the runtime holds them now (also those of an app that is gone).
    pub async fn volumes(&self, org: &str, app: &str) -> Result<Vec<String>, RuntimeError> {
        let runtime = &self.inner.handle.runtime;
        runtime.volumes(org.to_string(), app.to_string()).await
    }

    /// Delete the volumes an app left (one no longer in the store: nothing of it runs).
    pub async fn purge_volumes(&self, org: &str, app: &str) -> Result<Vec<String>, RuntimeError> {
        let runtime = &self.inner.handle.runtime;
        runtime
            .purge_volumes(org.to_string(), app.to_string())
            .await
    }

    /// Whether the runtime can run `spec` at all (asked before a deploy is recorded).
    pub fn admit(&self, spec: &satusky_core::ValidatedApp) -> Result<(), RuntimeError> {
        executor::admit(&self.inner.handle, spec)
    }

    /// Which of `programs` the runtime's machine lacks (see `Runtime::missing_programs`).
    pub fn missing_programs(&self, programs: &[String], also_in: &[String]) -> Vec<String> {
        self.inner
            .handle
            .runtime
            .missing_programs(programs, also_in)
    }

    pub fn runtime_name(&self) -> &'static str {
        executor::runtime_name(&self.inner.handle)
    }

    /// The app's log lines matching `query`, from the runtime.
    pub async fn logs(
        &self,
        org: &str,
        app: &str,
        query: satusky_core::runtime::LogQuery,
    ) -> Result<Vec<satusky_types::LogLine>, RuntimeError> {
        self.inner
            .handle
            .runtime
            .logs(org.to_string(), app.to_string(), query)
            .await
    }

    /// A follower of the app's log when the runtime can tell when lines are written
    /// (`None`: poll [`Engine::logs`]).
    pub fn log_follower(
        &self,
        org: &str,
        app: &str,
    ) -> Option<Box<dyn satusky_core::runtime::LogFollower>> {
        self.inner.handle.runtime.log_follower(org, app)
    }

    /// Where the org's other apps reach `org/app` (its host and port, e.g. for a binding's
    /// `{host}`/`{port}`), from the runtime; `None` when it cannot say (it is logged).
    pub async fn internal_address(
        &self,
        org: &str,
        app: &str,
        spec: &satusky_types::AppSpec,
    ) -> Option<satusky_core::runtime::InternalAddress> {
        let got = self
            .inner
            .handle
            .runtime
            .internal_address(org.to_string(), app.to_string(), spec.clone())
            .await;
        match got {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%org, %app, error = %satusky_core::error_chain(&e), "the runtime cannot say the app's internal address");
                None
            }
        }
    }

    /// The port app URLs must name (the edge's HTTPS port when it is not 443).
    pub fn url_port(&self) -> Option<u16> {
        self.inner.handle.runtime.edge().url_port()
    }

    /// One pass of the periodic sweep, now: re-probe every app's endpoints and check each
    /// for drift (healing what the platform owns).
    pub async fn sweep_once(&self) {
        executor::sweep::sweep_once(self).await;
    }

    /// The drift checker that runs with this engine.
    pub fn drift(&self) -> &Drift {
        &self.inner.drift
    }

    /// Check `org/app` for drift now ([`Drift::check`]).
    pub async fn check_drift(
        &self,
        org: &str,
        app: &str,
    ) -> Result<Option<CheckOutcome>, StoreError> {
        self.inner.drift.check(org, app).await
    }

    /// When the drift checker last finished a check of `org/app` (epoch ms), in this process.
    pub fn drift_checked_at(&self, org: &str, app: &str) -> Option<i64> {
        self.inner.drift.checked_at(org, app)
    }
}

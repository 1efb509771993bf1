//! [`LocalRuntime`]: `satusky_core::runtime::Runtime` on one machine (SPEC §8 "Local"). Builds
//! with [`Builder`], runs replicas with [`Supervisor`], and keeps the [`RouteTable`] and the
//! platform zone's records (a [`DnsZone`]) in step: a rollout starts the new replicas, waits until
//! all are ready, switches the route in one swap, drains, then stops the old ones. A release
//! that never gets ready leaves the previous one serving. A restart of the serving release
//! (rolling) replaces its replicas one by one instead ([`restart`]).
//!
//! Owns the per-app rollout state. It must not touch the store or the API (the server hands it
//! a [`Ledger`]), and does not serve traffic or DNS itself (the edge and DNS server read the
//! shared tables).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use satusky_core::changes::WorkloadChanges;
use satusky_core::hostnames::Zone;
use satusky_core::runtime::{
    BoxFuture, BuildFailure, BuildOutput, BuildRequest, DesiredWorkload, DnsZone, EdgeInfo,
    InternalAddress, LogFollower, LogQuery, LogSink, Runtime, RuntimeError, RuntimeErrorKind,
    ServedHost, WorkloadObservation,
};
use satusky_types::{Hostname, Plane, Reason, ReplicaCounts};
use tokio::sync::Mutex;

use crate::acme::AcmeIssuer;
use crate::build::Builder;
use crate::internal::InternalServices;
use crate::isolation::{Isolation, IsolationError, prepare_state_dir};
use crate::ledger::{Ledger, reap};
use crate::logs::{LogError, LogLimits, LogStore};
use crate::routes::{Route, RouteTable};
use crate::supervisor::{READY_RECHECK_MIN, ReplicaStatus, Supervisor, Timings};
use crate::volumes::Volumes;

mod log_follow;
mod plan;
mod restart;
mod rollout;

/// The local route plane's decision (pure, over a [`RouteTable`]), public so that tests
/// outside this crate (the stack's walk of every reason) produce its planes from the real code.
pub use plan::route_plane;
use plan::{Change, change, crash_loop, describe, refused, unsupported};
pub use plan::{IMAGE_ONLY, NO_COMMAND, NO_COMMAND_AT_ALL};
use restart::Restart;

/// After the route switched, how long the old replicas keep running so requests already
/// proxied to them finish.
pub const DRAIN: Duration = Duration::from_secs(1);

/// Replicas the open-files limit should leave room for before it is worth a warning.
const WARN_BELOW_REPLICAS: u64 = 1_000;

/// Log what [`crate::limits::raise_open_files`] did, and warn when the limit is low.
fn report_open_files(got: nix::Result<crate::limits::OpenFiles>) {
    match got {
        Ok(f) if f.replicas() < WARN_BELOW_REPLICAS => tracing::warn!(
            soft = f.now,
            hard = f.hard,
            "the open-files limit ({}) leaves room for about {} replicas (each keeps 3 files \
             open in the control plane); raise the hard limit (`ulimit -Hn`, LimitNOFILE= in \
             a systemd unit) to run more",
            f.now,
            f.replicas()
        ),
        Ok(f) if f.now > f.before => tracing::info!(
            "open-files limit raised from {} to {}: room for about {} replicas",
            f.before,
            f.now,
            f.replicas()
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("could not read or raise the open-files limit: {e}"),
    }
}

/// Where the local runtime keeps its files and where its edge listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// `contexts/`, `artifacts/`, `builds/` and `run/` are created under it.
    pub state_dir: PathBuf,
    /// The platform zone (e.g. `satusky.localhost`): hostnames under it get DNS records.
    pub zone: Zone,
    pub edge_addresses: Vec<IpAddr>,
    /// The edge's HTTPS address, for the prober.
    pub probe_addr: Option<SocketAddr>,
    /// Who replicas and builds run as ([`crate::isolation::resolve`], once at start).
    pub isolation: Isolation,
    /// How often a ready replica's health path is checked again
    /// ([`crate::supervisor::READY_RECHECK`] by default; at least
    /// [`crate::supervisor::READY_RECHECK_MIN`]). Its cost grows with the replicas: one
    /// request per ready replica per interval.
    pub ready_recheck: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalRuntimeError {
    #[error("could not prepare the local runtime's directory {path}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Isolation(#[from] IsolationError),
    #[error(transparent)]
    Logs(#[from] LogError),
}

/// The replicas of one release of an app.
struct Generation {
    desired: DesiredWorkload,
    replicas: Vec<u64>,
    /// What the route currently sends traffic to (serving generation only).
    upstreams: Vec<SocketAddr>,
    /// The hostnames changed: rewrite the route on the next tick (at the end of the apply).
    reroute: bool,
    /// A static site (no replicas): the folder the edge serves, and what it holds (e.g. `3
    /// files from ./public`).
    site: Option<(PathBuf, String)>,
}

#[derive(Default)]
struct AppState {
    /// The release of the last apply.
    target: Option<u64>,
    /// Why the target cannot run here (image only, no command).
    blocked: Option<(Reason, String)>,
    /// The routed release.
    serving: Option<Generation>,
    /// A release on its way; `failure` is latched once it crash-loops.
    rollout: Option<(Generation, Option<(Reason, String)>)>,
    /// The serving release's replicas being replaced one by one (never with a `rollout`).
    restart: Option<Restart>,
}

struct AppSlot {
    state: Mutex<AppState>,
}

struct Inner {
    config: LocalConfig,
    builder: Builder,
    supervisor: Supervisor,
    routes: RouteTable,
    zone: Arc<dyn DnsZone>,
    apps: std::sync::Mutex<HashMap<(String, String), Arc<AppSlot>>>,
    /// Apps whose workload changed, for the control plane (marked after each tick).
    changes: Arc<WorkloadChanges>,
    /// Certificates for custom domains, when `[acme]` is configured.
    acme: Option<AcmeIssuer>,
    /// Every app's kept runtime log (`STATE_DIR/logs`).
    logs: LogStore,
    /// Apps' persistent directories (`STATE_DIR/volumes`).
    volumes: Volumes,
    /// Every app's internal address (`STATE_DIR/internal-ports.json`).
    internal: InternalServices,
}

/// The local runtime. Cheap to clone.
#[derive(Clone)]
pub struct LocalRuntime {
    inner: Arc<Inner>,
}

impl LocalRuntime {
    /// Create the state directories, reap what a crashed predecessor left (processes in the
    /// ledger, working copies, half-done builds) and get ready.
    pub async fn start(
        config: LocalConfig,
        routes: RouteTable,
        zone_records: Arc<dyn DnsZone>,
        ledger: Arc<dyn Ledger>,
    ) -> Result<LocalRuntime, LocalRuntimeError> {
        Self::start_with_acme(config, routes, zone_records, ledger, None).await
    }

    /// [`LocalRuntime::start`], handing the custom-domain hostnames of every apply to `acme`
    /// (which the edge must serve from, see `crate::edge::start_with_acme`).
    pub async fn start_with_acme(
        config: LocalConfig,
        routes: RouteTable,
        zone_records: Arc<dyn DnsZone>,
        ledger: Arc<dyn Ledger>,
        acme: Option<AcmeIssuer>,
    ) -> Result<LocalRuntime, LocalRuntimeError> {
        Self::start_with_logs(
            config,
            routes,
            zone_records,
            ledger,
            acme,
            LogLimits::default(),
        )
        .await
    }

    /// [`LocalRuntime::start_with_acme`], keeping apps' logs within `log_limits` (tests use
    /// small ones).
    pub async fn start_with_logs(
        config: LocalConfig,
        routes: RouteTable,
        zone_records: Arc<dyn DnsZone>,
        ledger: Arc<dyn Ledger>,
        acme: Option<AcmeIssuer>,
        log_limits: LogLimits,
    ) -> Result<LocalRuntime, LocalRuntimeError> {
        report_open_files(crate::limits::raise_open_files());
        let killed = reap(&*ledger).await;
        if killed > 0 {
            tracing::info!(killed, "reaped replicas and builds left by a previous run");
        }
        let dir = |name: &str| config.state_dir.join(name);
        for (name, fresh) in [
            ("contexts", false),
            ("artifacts", false),
            ("builds", true),
            ("run", true),
            (crate::volumes::VOLUMES_DIR, false),
        ] {
            let path = dir(name);
            if fresh {
                crate::build::remove_later(path.clone()).await;
            }
            tokio::fs::create_dir_all(&path)
                .await
                .map_err(|source| LocalRuntimeError::Dir {
                    path: path.display().to_string(),
                    source,
                })?;
        }
        // Before the state dir is made private: `logs/` is one of its private directories.
        let logs_dir = dir("logs");
        let logs = tokio::task::spawn_blocking(move || LogStore::open(logs_dir, log_limits))
            .await
            .map_err(|e| LocalRuntimeError::Dir {
                path: dir("logs").display().to_string(),
                source: std::io::Error::other(e),
            })??;
        let (state_dir, iso) = (config.state_dir.clone(), config.isolation.clone());
        tokio::task::spawn_blocking(move || prepare_state_dir(&state_dir, &iso))
            .await
            .map_err(|e| LocalRuntimeError::Dir {
                path: config.state_dir.display().to_string(),
                source: std::io::Error::other(e),
            })??;
        match &config.isolation {
            Isolation::RunAs { .. } => {
                tracing::info!("apps run as {}", config.isolation.describe())
            }
            Isolation::SameUser => tracing::warn!("apps run as {}", config.isolation.describe()),
        }
        let mut builder = Builder::new(dir("contexts"), dir("artifacts"), dir("builds"))
            .with_ledger(Arc::clone(&ledger));
        builder.isolation = config.isolation.clone();
        let timings = Timings {
            ready_recheck: config.ready_recheck.max(READY_RECHECK_MIN),
            ..Timings::default()
        };
        let supervisor = Supervisor::with_logs(
            dir("run"),
            ledger,
            timings,
            config.isolation.clone(),
            Some(logs.clone()),
        );
        let replica_changes = supervisor.changes();
        let volumes = Volumes::new(dir(crate::volumes::VOLUMES_DIR), config.isolation.clone());
        let internal = InternalServices::new(&config.state_dir, routes.clone());
        let inner = Arc::new(Inner {
            volumes,
            config,
            builder,
            supervisor,
            routes,
            zone: zone_records,
            apps: std::sync::Mutex::new(HashMap::new()),
            changes: Arc::new(WorkloadChanges::new()),
            acme,
            logs,
            internal,
        });
        tokio::spawn(follow_replicas(Arc::downgrade(&inner), replica_changes));
        Ok(LocalRuntime { inner })
    }

    /// The builder (the server stores uploaded contexts with it).
    pub fn builder(&self) -> &Builder {
        &self.inner.builder
    }

    /// Stop every replica (Ctrl-C of `satusky dev`).
    pub async fn shutdown(&self) {
        self.inner.internal.shutdown().await;
        self.inner.supervisor.shutdown_all().await;
    }

    /// For a follower of the app's log: changes whenever lines were written, to the last seq
    /// written (`0` until the first write since start). On each change, read the new lines
    /// with [`Runtime::logs`] and `after_seq` = the last seq seen; several writes may show as
    /// one change, none is missed. Lines are written (and this changes) as soon as the
    /// app's capture queue is drained, typically within milliseconds.
    pub fn log_notify(
        &self,
        org: &str,
        app: &str,
    ) -> Result<tokio::sync::watch::Receiver<u64>, RuntimeError> {
        self.inner.logs.notify(org, app).map_err(log_error)
    }

    /// The last output lines of the app's replicas (the supervisor's in-memory tail).
    pub fn logs(&self, org: &str, app: &str) -> Vec<String> {
        self.inner.supervisor.logs(org, app)
    }

    /// Every replica process of the app, including old ones still draining.
    pub fn replicas(&self, org: &str, app: &str) -> Vec<ReplicaStatus> {
        self.inner.supervisor.replicas(org, app)
    }

    async fn apply_inner(&self, d: DesiredWorkload) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let slot = inner.slot(&d.org, &d.app);
        let mut st = slot.state.lock().await;
        let platform = inner.config.zone.names_in(&d.hostnames);
        inner.zone.set_app(&d.org, &d.app, &platform, &self.edge());
        if let Some(acme) = &inner.acme {
            let zone = &inner.config.zone;
            let custom = d.hostnames.iter().map(|h| &h.hostname);
            let custom = custom.filter(|h| !zone.contains(h)).cloned().collect();
            acme.set_app(&d.org, &d.app, custom);
        }
        // Served from the first apply on (and again after a restart); the replicas run
        // whether or not it can be served.
        if let Err(e) = inner.internal.ensure(&d.org, &d.app).await {
            tracing::warn!(org = %d.org, app = %d.app, error = %satusky_core::error_chain(&e), "the app's internal address is not served");
        }
        if let Some(blocked) = unsupported(&d.spec, d.artifact.as_deref()) {
            inner.cancel_rollout(&mut st);
            st.target = Some(d.release);
            st.blocked = Some(blocked);
            return Ok(());
        }
        let artifact = match &d.artifact {
            None => None,
            Some(a) => Some(
                inner
                    .builder
                    .artifact_path(a)
                    .filter(|p| p.is_dir())
                    .ok_or_else(|| {
                        RuntimeError::failed(
                            Reason::ErrImagePull,
                            format!(
                                "artifact {a} is no longer in the local artifact store, so this release cannot run; deploy to build it again"
                            ),
                        )
                    })?,
            ),
        };
        st.target = Some(d.release);
        st.blocked = None;
        if d.spec.static_site.is_some() {
            inner.serve_static(&mut st, &d, artifact).await;
            let advanced = inner.advance(&mut st).await;
            drop(st);
            inner.changes.mark(&d.org, &d.app);
            return advanced;
        }
        let change = change(
            st.serving.as_ref().map(|s| &s.desired),
            st.rollout.as_ref().map(|(r, _)| &r.desired),
            st.restart.as_ref().map(|r| &r.desired),
            &d,
        );
        let result = match change {
            Change::ContinueRestart => inner.continue_restart(&mut st, &d, artifact).await,
            Change::Restart => inner.begin_restart(&mut st, &d, artifact).await,
            Change::Scale => {
                inner.cancel_rollout(&mut st);
                inner.cancel_restart(&mut st);
                match st.serving.as_mut() {
                    Some(s) => inner.scale(s, &d, artifact).await,
                    None => Ok(()),
                }
            }
            Change::SameRollout => {
                if let Some((r, _)) = st.rollout.as_mut() {
                    r.desired.hostnames = d.hostnames.clone();
                }
                Ok(())
            }
            Change::Replace => inner.replace(&mut st, &d, artifact).await,
        };
        let advanced = inner.advance(&mut st).await;
        drop(st);
        inner.changes.mark(&d.org, &d.app);
        result.and(advanced)
    }
}

impl Runtime for LocalRuntime {
    fn name(&self) -> &'static str {
        "local"
    }

    fn workload_changes(&self) -> Option<Arc<WorkloadChanges>> {
        Some(Arc::clone(&self.inner.changes))
    }

    fn admit(&self, spec: &satusky_core::ValidatedApp) -> Result<(), RuntimeError> {
        match refused(spec) {
            Some((reason, message)) => Err(RuntimeError::failed(reason, message)),
            None => Ok(()),
        }
    }

    fn missing_programs(&self, programs: &[String], also_in: &[String]) -> Vec<String> {
        let path = std::env::var("PATH").ok();
        let run_as = match &self.inner.config.isolation {
            Isolation::RunAs { uid, gid, .. } => Some((*uid, *gid)),
            Isolation::SameUser => None,
        };
        crate::programs::missing(programs, path.as_deref(), also_in, run_as)
    }

    fn build(
        &self,
        req: BuildRequest,
        log: LogSink,
    ) -> BoxFuture<'_, Result<BuildOutput, BuildFailure>> {
        Box::pin(async move { self.inner.builder.build(&req, log).await })
    }

    fn apply(&self, desired: DesiredWorkload) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(self.apply_inner(desired))
    }

    fn observe(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<WorkloadObservation, RuntimeError>> {
        Box::pin(async move {
            let slot = self.inner.apps_map().get(&(org, app)).cloned();
            let mut obs = WorkloadObservation {
                release: None,
                replicas: ReplicaCounts::default(),
                failure: None,
                old: 0,
                waiting: None,
                exited: None,
                recovering: 0,
                static_files: None,
            };
            let Some(slot) = slot else { return Ok(obs) };
            let st = slot.state.lock().await;
            obs.release = st.target;
            if let Some(b) = &st.blocked {
                obs.failure = Some(b.clone());
                return Ok(obs);
            }
            let (g, latched, switched) = match (&st.rollout, &st.serving) {
                (Some((g, f)), _) if Some(g.desired.release) == st.target => (g, f.clone(), false),
                (_, Some(g)) if Some(g.desired.release) == st.target => (g, None, true),
                _ => return Ok(obs),
            };
            if let Some((_, files)) = g.site.as_ref().filter(|_| switched) {
                obs.static_files = Some(files.clone());
                return Ok(obs);
            }
            if let Some(r) = st.restart.as_ref().filter(|_| switched) {
                self.inner.observe_restart(g, r, &mut obs);
                return Ok(obs);
            }
            let statuses = self.inner.statuses(&g.replicas);
            let ready = statuses.iter().filter(|s| s.ready).count() as u32;
            obs.replicas = ReplicaCounts {
                desired: g.desired.spec.replicas,
                updated: statuses.iter().filter(|s| s.pid.is_some()).count() as u32,
                ready,
                // Available = taking traffic: a rollout's replicas count once the route
                // switched to them, so "ready" never precedes the switch.
                available: if switched { ready } else { 0 },
            };
            obs.failure = latched.or_else(|| crash_loop(&statuses));
            describe(&mut obs, &statuses);
            Ok(obs)
        })
    }

    fn routes(
        &self,
        org: String,
        app: String,
        hostnames: Vec<Hostname>,
    ) -> BoxFuture<'_, Result<Vec<Plane>, RuntimeError>> {
        Box::pin(async move {
            let slot = self
                .inner
                .apps_map()
                .get(&(org.clone(), app.clone()))
                .cloned();
            let serving = match slot {
                Some(s) => s.state.lock().await.serving.is_some(),
                None => false,
            };
            Ok(hostnames
                .iter()
                .map(|h| route_plane(&self.inner.routes, &org, &app, h, serving))
                .collect())
        })
    }

    /// Custom domains' certificates come from the ACME issuer when one is configured; the
    /// platform zone's (and every hostname's without one) from the local CA: `None`.
    fn certificates(
        &self,
        _org: String,
        _app: String,
        hostnames: Vec<Hostname>,
    ) -> BoxFuture<'_, Result<Vec<Option<Plane>>, RuntimeError>> {
        let (acme, zone) = (&self.inner.acme, &self.inner.config.zone);
        let planes = hostnames
            .iter()
            .map(|h| match acme {
                Some(acme) if !zone.contains(&h.hostname) => Some(acme.plane(&h.hostname)),
                _ => None,
            })
            .collect();
        Box::pin(async move { Ok(planes) })
    }

    fn remove(&self, org: String, app: String) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let slot = self.inner.apps_map().remove(&(org.clone(), app.clone()));
            if let Some(slot) = slot {
                let mut st = slot.state.lock().await;
                let mut ids = Vec::new();
                if let Some((g, _)) = st.rollout.take() {
                    ids.extend(g.replicas);
                }
                if let Some(g) = st.serving.take() {
                    ids.extend(g.replicas);
                }
                if let Some((_, id)) = st.restart.take().and_then(|r| r.fresh) {
                    ids.push(id);
                }
                self.inner.supervisor.stop_many(ids).await;
            }
            // Replicas still draining from an earlier switch go too.
            let left: Vec<u64> = self
                .inner
                .supervisor
                .replicas(&org, &app)
                .iter()
                .map(|r| r.id)
                .collect();
            self.inner.supervisor.stop_many(left).await;
            self.inner.routes.remove_app(&org, &app);
            self.inner.zone.remove_app(&org, &app);
            if let Some(acme) = &self.inner.acme {
                acme.remove_app(&org, &app);
            }
            self.inner
                .internal
                .remove(&org, &app)
                .await
                .map_err(internal_error)?;
            self.inner.logs.remove(&org, &app).await.map_err(log_error)
        })
    }

    /// `STATE_DIR/volumes/ORG/APP`, if it exists ([`crate::volumes`]).
    fn volumes(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<String>, RuntimeError>> {
        let volumes = self.inner.volumes.clone();
        Box::pin(async move { volume_task(move || volumes.find(&org, &app)).await })
    }

    /// Deletes `STATE_DIR/volumes/ORG/APP` with its contents.
    fn purge_volumes(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<String>, RuntimeError>> {
        let volumes = self.inner.volumes.clone();
        Box::pin(async move { volume_task(move || volumes.purge(&org, &app)).await })
    }

    /// From the app's files under `STATE_DIR/logs` (see [`crate::logs`]).
    fn logs(
        &self,
        org: String,
        app: String,
        query: LogQuery,
    ) -> BoxFuture<'_, Result<Vec<satusky_types::LogLine>, RuntimeError>> {
        Box::pin(async move {
            self.inner
                .logs
                .read(&org, &app, query)
                .await
                .map_err(log_error)
        })
    }

    /// Woken by the app's log writer, paging forward through its files.
    fn log_follower(&self, org: &str, app: &str) -> Option<Box<dyn LogFollower>> {
        let f = log_follow::follower(&self.inner.logs, org, app)?;
        Some(Box::new(f))
    }

    /// `127.0.0.1:PORT`: the app's kept loopback port, served from now on (see
    /// [`crate::internal`]).
    fn internal_address(
        &self,
        org: String,
        app: String,
        _spec: satusky_types::AppSpec,
    ) -> BoxFuture<'_, Result<Option<InternalAddress>, RuntimeError>> {
        Box::pin(async move {
            self.inner
                .internal
                .ensure(&org, &app)
                .await
                .map(Some)
                .map_err(internal_error)
        })
    }

    fn edge(&self) -> EdgeInfo {
        EdgeInfo {
            addresses: self.inner.config.edge_addresses.clone(),
            cname_target: None,
            probe_addr: self.inner.config.probe_addr,
        }
    }

    /// The route table's entries owned by the app, whatever the store holds.
    fn served_hosts(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<ServedHost>, RuntimeError>> {
        Box::pin(async move {
            Ok(self
                .inner
                .routes
                .entries_of(&org, &app)
                .into_iter()
                .map(|(hostname, route)| match route {
                    Route::Serve { release_id, .. } | Route::Static { release_id, .. } => {
                        ServedHost {
                            hostname,
                            release_id: Some(release_id),
                            redirect_to: None,
                        }
                    }
                    Route::Redirect { to, .. } => ServedHost {
                        hostname,
                        release_id: None,
                        redirect_to: Some(to),
                    },
                })
                .collect())
        })
    }

    /// Apply (which rewrites the app's zone records and marks its routes for rewriting), then
    /// rewrite the routes now rather than on the next tick, so a check right after the heal
    /// sees the result. Rewriting the app's entries also drops certificates installed on its
    /// hostnames out of band, so the edge serves the local CA's certificates again.
    fn heal(&self, desired: DesiredWorkload) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let key = (desired.org.clone(), desired.app.clone());
            self.apply_inner(desired).await?;
            let slot = self.inner.apps_map().get(&key).cloned();
            if let Some(slot) = slot {
                let mut st = slot.state.lock().await;
                self.inner.tick(&mut st);
            }
            Ok(())
        })
    }
}

/// An internal address that cannot be served now: the machine's (retried on the next ask).
fn internal_error(e: crate::internal::InternalError) -> RuntimeError {
    RuntimeError::wrap(RuntimeErrorKind::Unavailable, e)
}

/// A log error for the engine: a name that cannot be a directory is invalid, the rest is the
/// disk's (retried).
fn log_error(e: LogError) -> RuntimeError {
    let kind = match e {
        LogError::BadName { .. } => RuntimeErrorKind::Invalid,
        _ => RuntimeErrorKind::Unavailable,
    };
    RuntimeError::wrap(kind, e)
}

/// The one task that follows the supervisor: each app whose replicas changed gets a tick
/// (route switch, a restart's next step, upstreams on ready replicas) and is marked for the
/// control plane. No timer:
/// an idle app costs nothing here. Ends with the runtime.
async fn follow_replicas(inner: std::sync::Weak<Inner>, replicas: Arc<WorkloadChanges>) {
    loop {
        let batch = replicas.next_batch().await;
        let Some(inner) = inner.upgrade() else { break };
        for (org, app) in batch {
            let slot = inner.apps_map().get(&(org.clone(), app.clone())).cloned();
            if let Some(slot) = slot {
                let mut st = slot.state.lock().await;
                if let Err(e) = inner.advance(&mut st).await {
                    // The next change of the app's replicas, or the next apply, tries again.
                    tracing::warn!(%org, %app, error = %satusky_core::error_chain(&e),
                        "the restart could not start its next replica");
                }
            }
            inner.changes.mark(&org, &app);
        }
    }
    tracing::debug!("replica follower ended");
}

/// Run a blocking look at a volume directory; its path (if any) described for a user.
async fn volume_task(
    f: impl FnOnce() -> std::io::Result<Option<std::path::PathBuf>> + Send + 'static,
) -> Result<Vec<String>, RuntimeError> {
    let found = tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| RuntimeError::unavailable("the app's volume directory").with_source(e))?;
    Ok(found.iter().map(|p| crate::volumes::describe(p)).collect())
}

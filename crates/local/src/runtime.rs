//! [`LocalRuntime`]: `satusky_core::runtime::Runtime` on one machine (SPEC §8 "Local"). Builds
//! with [`Builder`], runs replicas with [`Supervisor`], and keeps the [`RouteTable`] and the
//! platform zone's [`ZoneRecords`] in step: a rollout starts the new replicas, waits until
//! all are ready, switches the route in one swap, drains, then stops the old ones. A release
//! that never gets ready leaves the previous one serving.
//!
//! Owns the per-app rollout state. It must not touch the store or the API (the server hands it
//! a [`Ledger`]), and does not serve traffic or DNS itself (the edge and DNS server read the
//! shared tables).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use satusky_core::runtime::{
    BoxFuture, BuildFailure, BuildOutput, BuildRequest, DesiredWorkload, EdgeInfo, LogSink,
    Runtime, RuntimeError, WorkloadObservation,
};
use satusky_types::{
    AppSpec, Hostname, HostnameKind, Plane, PlaneState, Reason, ReplicaCounts, Strategy,
};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

use crate::build::Builder;
use crate::ledger::{Ledger, reap};
use crate::routes::{Route, RouteTable};
use crate::supervisor::{ReplicaSpec, ReplicaStatus, Supervisor};
use crate::zone::ZoneRecords;

/// After the route switched, how long the old replicas keep running so requests already
/// proxied to them finish.
pub const DRAIN: Duration = Duration::from_secs(1);
/// How often a rollout looks at its replicas: the delay between "all ready" and the switch.
pub const ROLLOUT_TICK: Duration = Duration::from_millis(100);

/// The message of an app that only names an image.
pub const IMAGE_ONLY: &str = "this runtime runs commands, not containers: give [app] a command (and [build] command), or deploy to Kubernetes";
/// The message of an app with a built artifact but no command.
pub const NO_COMMAND: &str = "this runtime starts [app] command in the built artifact, and the app has none: add command = [\"./your-server\"] to [app] (it must listen on $PORT)";

/// Where the local runtime keeps its files and where its edge listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// `contexts/`, `artifacts/`, `builds/` and `run/` are created under it.
    pub state_dir: PathBuf,
    /// The platform zone (e.g. `satusky.localhost`): hostnames under it get DNS records.
    pub zone: String,
    pub edge_addresses: Vec<IpAddr>,
    /// The edge's HTTPS address, for the prober.
    pub probe_addr: Option<SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not prepare the local runtime's directory {path}")]
pub struct LocalRuntimeError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// The replicas of one release of an app.
struct Generation {
    desired: DesiredWorkload,
    replicas: Vec<u64>,
    /// What the route currently sends traffic to (serving generation only).
    upstreams: Vec<SocketAddr>,
    /// The hostnames changed: rewrite the route on the next tick.
    reroute: bool,
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
}

struct AppSlot {
    state: Mutex<AppState>,
    ticker: std::sync::Mutex<Option<AbortHandle>>,
}

struct Inner {
    config: LocalConfig,
    builder: Builder,
    supervisor: Supervisor,
    routes: RouteTable,
    zone: ZoneRecords,
    apps: std::sync::Mutex<HashMap<(String, String), Arc<AppSlot>>>,
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
        zone_records: ZoneRecords,
        ledger: Arc<dyn Ledger>,
    ) -> Result<LocalRuntime, LocalRuntimeError> {
        let killed = reap(&*ledger).await;
        if killed > 0 {
            tracing::info!(killed, "reaped replicas left by a previous run");
        }
        let dir = |name: &str| config.state_dir.join(name);
        for (name, fresh) in [
            ("contexts", false),
            ("artifacts", false),
            ("builds", true),
            ("run", true),
        ] {
            let path = dir(name);
            if fresh {
                let _ = tokio::fs::remove_dir_all(&path).await;
            }
            tokio::fs::create_dir_all(&path)
                .await
                .map_err(|source| LocalRuntimeError {
                    path: path.display().to_string(),
                    source,
                })?;
        }
        let builder = Builder::new(dir("contexts"), dir("artifacts"), dir("builds"));
        let supervisor = Supervisor::new(dir("run"), ledger);
        Ok(LocalRuntime {
            inner: Arc::new(Inner {
                config,
                builder,
                supervisor,
                routes,
                zone: zone_records,
                apps: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The builder (the server stores uploaded contexts with it).
    pub fn builder(&self) -> &Builder {
        &self.inner.builder
    }

    /// Stop every replica (Ctrl-C of `satusky dev`).
    pub async fn shutdown(&self) {
        let slots: Vec<Arc<AppSlot>> = self.inner.apps_map().values().cloned().collect();
        for slot in slots {
            slot.stop_ticker();
        }
        self.inner.supervisor.shutdown_all().await;
    }

    /// The last output lines of the app's replicas.
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
        let zone_suffix = format!(
            ".{}",
            inner.config.zone.trim_matches('.').to_ascii_lowercase()
        );
        let platform: Vec<String> = d
            .hostnames
            .iter()
            .map(|h| h.hostname.to_ascii_lowercase())
            .filter(|h| h.ends_with(&zone_suffix))
            .collect();
        inner
            .zone
            .set_app(&d.org, &d.app, &platform, &inner.config.edge_addresses);
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
                        RuntimeError::new(format!(
                            "artifact {a} is not in the local artifact store; build the app again"
                        ))
                    })?,
            ),
        };
        st.target = Some(d.release);
        st.blocked = None;
        if let Some(s) = st
            .serving
            .as_mut()
            .filter(|s| same_workload(&s.desired, &d))
        {
            let (replicas, scale_to) = (s.replicas.clone(), d.spec.replicas as usize);
            s.desired = d.clone();
            if scale_to > replicas.len() {
                for i in replicas.len()..scale_to {
                    let id = inner.start_replica(&d, artifact.clone(), i).await?;
                    s.replicas.push(id);
                }
            } else if scale_to < replicas.len() {
                let extra = s.replicas.split_off(scale_to);
                inner.stop_later(extra, Duration::ZERO);
            }
            s.reroute = true;
            inner.cancel_rollout(&mut st);
        } else if let Some((r, _)) = st.rollout.as_mut().filter(|(r, _)| {
            same_workload(&r.desired, &d) && r.desired.spec.replicas == d.spec.replicas
        }) {
            r.desired.hostnames = d.hostnames.clone();
        } else {
            if d.spec.deploy.strategy == Strategy::Recreate {
                // Everything of the app stops before the new release starts.
                let mut old = st.rollout.take().map(|(g, _)| g.replicas).unwrap_or_default();
                if let Some(s) = st.serving.as_mut() {
                    old.append(&mut s.replicas);
                    s.upstreams.clear();
                    inner
                        .routes
                        .set_app(&d.org, &d.app, route_entries(&s.desired, &[]));
                }
                inner.supervisor.stop_many(old).await;
            } else {
                inner.cancel_rollout(&mut st);
            }
            let mut replicas = Vec::new();
            for i in 0..d.spec.replicas as usize {
                match inner.start_replica(&d, artifact.clone(), i).await {
                    Ok(id) => replicas.push(id),
                    Err(e) => {
                        inner.stop_later(replicas, Duration::ZERO);
                        return Err(e);
                    }
                }
            }
            let g = Generation {
                desired: d.clone(),
                replicas,
                upstreams: Vec::new(),
                reroute: false,
            };
            st.rollout = Some((g, None));
        }
        drop(st);
        slot.ensure_ticker(Arc::downgrade(&self.inner), d.org, d.app);
        Ok(())
    }
}

impl Inner {
    fn apps_map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<AppSlot>>> {
        self.apps.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slot(&self, org: &str, app: &str) -> Arc<AppSlot> {
        let mut map = self.apps_map();
        Arc::clone(
            map.entry((org.to_string(), app.to_string()))
                .or_insert_with(|| {
                    Arc::new(AppSlot {
                        state: Mutex::new(AppState::default()),
                        ticker: std::sync::Mutex::new(None),
                    })
                }),
        )
    }

    async fn start_replica(
        &self,
        d: &DesiredWorkload,
        artifact: Option<PathBuf>,
        index: usize,
    ) -> Result<u64, RuntimeError> {
        let spec = ReplicaSpec {
            org: d.org.clone(),
            app: d.app.clone(),
            release: d.release,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            command: d.spec.command.clone().unwrap_or_default(),
            env: d.spec.env.clone(),
            artifact,
            checks: d.spec.checks.clone(),
        };
        self.supervisor.start(spec).await.map_err(|e| {
            RuntimeError::new(format!(
                "could not start a replica of {}: {e}",
                d.release_id()
            ))
        })
    }

    /// Stop replicas in the background after `delay`.
    fn stop_later(&self, ids: Vec<u64>, delay: Duration) {
        if ids.is_empty() {
            return;
        }
        let sup = self.supervisor.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sup.stop_many(ids).await;
        });
    }

    fn cancel_rollout(&self, st: &mut AppState) {
        if let Some((g, _)) = st.rollout.take() {
            tracing::info!(release = %g.desired.release_id(), "rollout cancelled");
            self.stop_later(g.replicas, Duration::ZERO);
        }
    }

    fn statuses(&self, ids: &[u64]) -> Vec<ReplicaStatus> {
        ids.iter()
            .filter_map(|id| self.supervisor.status(*id))
            .collect()
    }

    /// Advance the app's rollout and keep the serving route's upstreams on ready replicas.
    fn tick(&self, st: &mut AppState) {
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

impl AppSlot {
    fn stop_ticker(&self) {
        if let Some(h) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
        }
    }

    fn ensure_ticker(self: &Arc<Self>, inner: Weak<Inner>, org: String, app: String) {
        let mut t = self.ticker.lock().unwrap_or_else(|e| e.into_inner());
        if t.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let slot = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(ROLLOUT_TICK).await;
                let (Some(inner), Some(slot)) = (inner.upgrade(), slot.upgrade()) else {
                    break;
                };
                let mut st = slot.state.lock().await;
                inner.tick(&mut st);
            }
            tracing::debug!(%org, %app, "rollout ticker ended");
        });
        *t = Some(task.abort_handle());
    }
}

/// Why this runtime cannot run the spec, if it cannot.
fn unsupported(spec: &AppSpec, artifact: Option<&str>) -> Option<(Reason, String)> {
    let has_command = spec
        .command
        .as_ref()
        .is_some_and(|c| c.first().is_some_and(|p| !p.is_empty()));
    if artifact.is_none() && spec.image.is_some() {
        Some((
            Reason::ImageRequiresContainerRuntime,
            IMAGE_ONLY.to_string(),
        ))
    } else if !has_command {
        Some((
            Reason::ImageRequiresContainerRuntime,
            NO_COMMAND.to_string(),
        ))
    } else {
        None
    }
}

/// Same release running the same processes (the replica count and hostnames may differ).
fn same_workload(a: &DesiredWorkload, b: &DesiredWorkload) -> bool {
    let strip = |d: &DesiredWorkload| {
        let mut s = d.spec.clone();
        s.replicas = 0;
        s.domains.clear();
        s
    };
    a.org == b.org
        && a.app == b.app
        && a.release == b.release
        && a.artifact == b.artifact
        && strip(a) == strip(b)
}

fn crash_loop(statuses: &[ReplicaStatus]) -> Option<(Reason, String)> {
    statuses
        .iter()
        .find_map(|s| s.crash_loop.clone())
        .map(|m| (Reason::CrashLoopBackOff, m))
}

fn upstreams<'a>(statuses: impl IntoIterator<Item = &'a ReplicaStatus>) -> Vec<SocketAddr> {
    statuses
        .into_iter()
        .map(|s| SocketAddr::from(([127, 0, 0, 1], s.port)))
        .collect()
}

/// The route table entries of a release: generated and alias hosts serve it, redirect hosts
/// redirect.
fn route_entries(d: &DesiredWorkload, upstreams: &[SocketAddr]) -> Vec<(String, Route)> {
    let mut out = Vec::new();
    for h in &d.hostnames {
        let route = match (h.kind, &h.redirect_to) {
            (HostnameKind::Redirect, Some(to)) => Route::Redirect {
                org: d.org.clone(),
                app: d.app.clone(),
                to: to.clone(),
            },
            (HostnameKind::Redirect, None) => {
                tracing::warn!(host = %h.hostname, "redirect host without a target; not routed");
                continue;
            }
            _ => Route::Serve {
                org: d.org.clone(),
                app: d.app.clone(),
                release_id: d.release_id(),
                upstreams: upstreams.to_vec(),
            },
        };
        out.push((h.hostname.to_ascii_lowercase(), route));
    }
    out
}

/// The route plane of one hostname from the table.
fn route_plane(table: &RouteTable, org: &str, app: &str, h: &Hostname, serving: bool) -> Plane {
    let host = &h.hostname;
    let entry = table.lookup(host);
    if let Some(route) = &entry
        && route.owner() != (org, app)
    {
        let (o, a) = route.owner();
        return Plane::new(
            PlaneState::Failed,
            Reason::HostnamesMismatch,
            format!("{host} is routed to {o}/{a}, not to this app"),
        );
    }
    if !serving {
        return Plane::new(
            PlaneState::Pending,
            Reason::Waiting,
            "waiting for a release of the app to become ready",
        );
    }
    match (entry, h.kind) {
        (None, _) => Plane::new(
            PlaneState::Failed,
            Reason::RouteMissing,
            format!("the local edge has no route for {host}"),
        ),
        (Some(Route::Redirect { to, .. }), HostnameKind::Redirect)
            if h.redirect_to.as_deref() == Some(to.as_str()) =>
        {
            Plane::new(
                PlaneState::Ready,
                Reason::Accepted,
                format!("redirected by the local edge → {to}"),
            )
        }
        (
            Some(Route::Serve {
                release_id,
                upstreams,
                ..
            }),
            kind,
        ) if kind != HostnameKind::Redirect => {
            let version = release_id
                .rsplit('@')
                .next()
                .unwrap_or(&release_id)
                .to_string();
            match upstreams.len() {
                0 => Plane::new(
                    PlaneState::Pending,
                    Reason::Waiting,
                    format!("the route to {version} has no replica behind it yet"),
                ),
                n => Plane::new(
                    PlaneState::Ready,
                    Reason::Accepted,
                    format!(
                        "served by the local edge → {version} ({n} upstream{})",
                        if n == 1 { "" } else { "s" }
                    ),
                ),
            }
        }
        (Some(_), kind) => Plane::new(
            PlaneState::Failed,
            Reason::HostnamesMismatch,
            format!(
                "{host} is routed differently from its stored kind ({})",
                kind.as_str()
            ),
        ),
    }
}

impl Runtime for LocalRuntime {
    fn name(&self) -> &'static str {
        "local"
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
            };
            let Some(slot) = slot else { return Ok(obs) };
            let st = slot.state.lock().await;
            obs.release = st.target;
            if let Some(b) = &st.blocked {
                obs.failure = Some(b.clone());
                return Ok(obs);
            }
            let (g, latched, switched) = match (&st.rollout, &st.serving) {
                (Some((g, f)), _) if Some(g.desired.release) == st.target => {
                    (g, f.clone(), false)
                }
                (_, Some(g)) if Some(g.desired.release) == st.target => (g, None, true),
                _ => return Ok(obs),
            };
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

    fn remove(&self, org: String, app: String) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let slot = self.inner.apps_map().remove(&(org.clone(), app.clone()));
            if let Some(slot) = slot {
                slot.stop_ticker();
                let mut st = slot.state.lock().await;
                let mut ids = Vec::new();
                if let Some((g, _)) = st.rollout.take() {
                    ids.extend(g.replicas);
                }
                if let Some(g) = st.serving.take() {
                    ids.extend(g.replicas);
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
            Ok(())
        })
    }

    fn edge(&self) -> EdgeInfo {
        EdgeInfo {
            addresses: self.inner.config.edge_addresses.clone(),
            cname_target: None,
            probe_addr: self.inner.config.probe_addr,
        }
    }
}

//! fakekube — an in-memory Kubernetes API server for tests (GUIDE §4), with hooks that play
//! the cluster's controllers. It must stay test support: nothing in the product links it
//! outside `[dev-dependencies]`, and it never talks to a real cluster.
//!
//! ```no_run
//! # async fn demo() {
//! let fake = fakekube::FakeKube::new();
//! let client = fake.client();                       // kube::Client over the router, in-process
//! let (addr, _server) = fake.serve("127.0.0.1:0".parse().unwrap()).await.unwrap(); // or over TCP
//! fake.complete_rollout("default", "web").ok();      // play the deployment controller
//! # let _ = (client, addr);
//! # }
//! ```
//!
//! # What it serves
//!
//! Every kind Satusky uses ([`registry`]): core/v1 Namespace, ConfigMap, Secret, Service,
//! Pod (+`/log`), PersistentVolumeClaim, Event, ServiceAccount; apps/v1 Deployment,
//! ReplicaSet; batch/v1 Job; autoscaling/v2 HorizontalPodAutoscaler; policy/v1
//! PodDisruptionBudget; autoscaling.k8s.io/v1 VerticalPodAutoscaler;
//! gateway.networking.k8s.io v1 (and v1beta1) GatewayClass, Gateway, HTTPRoute,
//! ReferenceGrant, v1 ListenerSet; gateway.networking.x-k8s.io/v1alpha1 XListenerSet;
//! cert-manager.io/v1 Certificate, CertificateRequest, Issuer, ClusterIssuer;
//! acme.cert-manager.io/v1 Order, Challenge. Discovery at
//! `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}` (no
//! aggregated discovery: clients fall back). A minimal `/openapi/v3` ([`openapi`]) exists
//! only because `kubectl apply` refuses to run without it.
//!
//! # Semantics (each has a test in `tests/`)
//!
//! - Paths for core and named groups, namespaced and cluster-scoped; all-namespace lists.
//! - Errors are `Status` bodies: 404 `NotFound`, 409 `AlreadyExists`/`Conflict`, 410
//!   `Expired`, 422 `Invalid` (with `details.causes`), 400 `BadRequest`, 403 `Forbidden`
//!   (creating in a terminating namespace), 415 for unknown patch types.
//! - `metadata.uid`, `creationTimestamp`, a global string `resourceVersion` bumped on every
//!   write (a write that changes nothing is not a write: same resourceVersion, no event);
//!   `metadata.generation` bumped only when something outside `metadata`/`status` changes
//!   (and when deletion starts). Namespaced objects need an existing, non-terminating
//!   namespace (`default`, `kube-system`, `kube-public`, `kube-node-lease` exist); new
//!   namespaces get the `kubernetes.io/metadata.name` label and `status.phase: Active`. A
//!   Secret's `stringData` is folded into base64 `data`, as the real server does, and a
//!   `data` value that is not a base64 string is refused with 400 `BadRequest` (naming the
//!   key, not the value), as decoding `[]byte` refuses it there.
//! - GET; LIST with label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`), field
//!   selectors (`metadata.name`, `metadata.namespace`, a few per-kind fields), `limit` +
//!   `continue` served from a consistent snapshot (evicted snapshot → 410), list
//!   `resourceVersion`. Built-in list items omit `apiVersion`/`kind`, custom ones keep them.
//! - WATCH (`?watch=1`): chunked JSON lines; subscribe-before-snapshot; `resourceVersion` to
//!   resume; too old (beyond the bounded history, [`Options::history`]) → an `ERROR` event with
//!   a 410 `Expired` Status in a 200 stream (as kube-apiserver's watch cache does);
//!   `timeoutSeconds` closes the stream; `allowWatchBookmarks`; `sendInitialEvents`; selectors
//!   turn entering/leaving the selection into `ADDED`/`DELETED`.
//! - POST (201); PUT with optimistic concurrency on `metadata.resourceVersion` (409 on a
//!   stale one; no create-on-update); PATCH with `application/merge-patch+json` (RFC 7386),
//!   `application/json-patch+json` (RFC 6902) and `application/strategic-merge-patch+json`
//!   (a merge patch whose keyed lists merge by key, with `$patch: delete|replace` on list
//!   items; other directives ignored); `dryRun=All`.
//! - `/status`: PUT/PATCH/apply there change only `status`; writes to the resource keep the
//!   stored `status` (for kinds with the subresource).
//! - DELETE: with finalizers, sets `deletionTimestamp` and keeps the object until an update
//!   removes the last finalizer (no new finalizers meanwhile → 422); `preconditions`;
//!   `propagationPolicy` Orphan leaves dependents, Background and Foreground delete objects
//!   whose `ownerReferences` name the deleted uid at once (no `foregroundDeletion` wait);
//!   deleting a Namespace marks it Terminating, deletes its content and removes it when empty;
//!   pods are removed at once (no kubelet grace period). DELETE on a collection honours
//!   selectors.
//! - Representations by `Accept` ([`table`]): `as=Table` gets a `meta.k8s.io/v1` Table
//!   (kubectl's server-side printing), `as=PartialObjectMetadata[List]` metadata only (kube-rs
//!   `get_metadata`, `list_metadata`, `Api<PartialObjectMeta<K>>` watchers) — for GET, LIST
//!   and WATCH alike.
//!
//! # Server-side apply subset
//!
//! `PATCH` with `application/apply-patch+yaml` (body JSON or YAML); `fieldManager` is required
//! (422 otherwise), `force=true` allowed only there. Applying to a missing object creates it
//! (201). Ownership is tracked per (manager, operation, subresource) as `managedFields`
//! entries with `manager`, `operation: Apply|Update`, `apiVersion`, `time`,
//! `fieldsType: FieldsV1` and `fieldsV1` in the real `f:`/`k:`/`v:`/`.` encoding. Rules
//! ([`ssa`], [`merge`], [`managed`]):
//!
//! - Objects merge recursively; **keyed lists** merge by key: `containers`,
//!   `initContainers`, `ephemeralContainers`, `volumes`, `imagePullSecrets`, container `env`
//!   (by `name`), container `ports` (`containerPort`+`protocol`, protocol defaulting to TCP),
//!   Service `spec.ports` (`port`+`protocol`), `volumeMounts` (`mountPath`),
//!   `volumeDevices` (`devicePath`), Gateway/ListenerSet `spec.listeners` and
//!   `status.listeners` (`name`), every `conditions` list (`type`),
//!   `metadata.ownerReferences` (`uid`); `metadata.finalizers` is a set. **Every other list
//!   is atomic** — including HTTPRoute `spec.hostnames`, `parentRefs` and `rules`, which the
//!   Gateway API CRDs leave atomic too. `selector` and `nodeSelector` maps are atomic.
//!   A keyed list with a missing or duplicate key is treated as atomic.
//! - Fields a manager applied before and omits now are removed unless another manager owns
//!   them; emptied parents are dropped. An explicit `null` removes a field.
//! - A field whose value would change and that another entry (Apply *or* Update, any manager
//!   name — the same name with another operation counts as another manager, as in the real
//!   server) owns is a conflict: 409 `Conflict` with one `FieldManagerConflict` cause per
//!   field (`.spec.replicas`, `.spec.template.spec.containers[name="web"].image`) and the
//!   real message (`Apply failed with 1 conflict: conflict with "x" using apps/v1: …`).
//!   With `force=true` the field moves to the applier. Equal values are shared ownership.
//! - Non-apply writes become `Update` entries owning every field they added or changed
//!   (taken from other entries). Client-sent `managedFields` are ignored.
//! - `apiVersion`, `kind` and server-owned metadata are never owned; `status` is not owned
//!   through the main resource of kinds with a status subresource.
//! - Without schemas, added non-empty objects are never members themselves (so `Update`
//!   entries lack some `.: {}` markers the real server writes for maps) and no defaults are
//!   applied (the real server defaults e.g. `strategy`, `revisionHistoryLimit`, `clusterIP`).
//!
//! # Controller hooks and the control endpoint
//!
//! Methods on [`FakeKube`] (and `POST /fakekube/v1/...`, see [`control`] and
//! `docs/fakekube.md`): rollout progress/complete/stall (complete: a ReplicaSet per
//! pod-template hash running the replicas as ready pods, older ones scaled to 0), crash
//! loop, image pull failure,
//! unschedulable; HTTPRoute parent status; Gateway and ListenerSet programmed; cert-manager's
//! issuance of a Certificate step by step (request, challenge, failure with its reason,
//! issued with its Secret; [`hooks::certs`]); Job started/completed/failed with logs and a termination message; injected errors
//! for the next N matching requests; request counters; and an [`Auto`] mode in which
//! Deployments finish their rollout (and, optionally, routes/gateways/certificates become
//! ready) after each spec change.
#![forbid(unsafe_code)]

pub mod control;
pub mod discovery;
pub mod fieldset;
mod handlers;
pub mod hooks;
pub mod kubeconfig;
pub mod list;
pub mod managed;
pub mod merge;
pub mod meta;
pub mod openapi;
pub mod ops;
pub mod patch;
pub mod registry;
pub mod selectors;
pub mod ssa;
pub mod status;
pub mod store;
pub mod table;
pub mod watch;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub use hooks::Auto;
pub use status::ApiError;

/// Construction options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events kept for watches to resume from; older resourceVersions get 410 `Expired`.
    pub history: usize,
    /// Controllers that react on their own.
    pub auto: Auto,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            history: store::DEFAULT_HISTORY,
            auto: Auto::default(),
        }
    }
}

/// An error to inject: the next `count` requests whose path starts with `path` (and whose
/// method is `method`, when given) fail with `code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// Path prefix, e.g. `/apis/apps/v1/namespaces/acme/deployments`.
    pub path: String,
    /// HTTP method (`PATCH`, `GET`, …); any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// How many requests fail.
    #[serde(default = "one")]
    pub count: u32,
    /// The HTTP status code (reason derived from it).
    pub code: u16,
    /// The Status message.
    #[serde(default)]
    pub message: Option<String>,
}

fn one() -> u32 {
    1
}

/// Request counters (API requests only, not discovery or control).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every request under `/api` and `/apis` (including discovery).
    pub total: u64,
    /// GET of one object.
    pub get: u64,
    /// GET of a collection without `watch`.
    pub list: u64,
    /// Watches started.
    pub watch: u64,
    /// POST.
    pub create: u64,
    /// PUT.
    pub update: u64,
    /// PATCH (including apply).
    pub patch: u64,
    /// DELETE.
    pub delete: u64,
}

#[derive(Debug, Default)]
struct Counters([AtomicU64; 8]);

pub(crate) struct Shared {
    pub(crate) store: Arc<store::Store>,
    faults: Mutex<Vec<Fault>>,
    counters: Counters,
    address: Mutex<String>,
}

/// Which counter a request bumps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verb {
    Total = 0,
    Get = 1,
    List = 2,
    Watch = 3,
    Create = 4,
    Update = 5,
    Patch = 6,
    Delete = 7,
}

impl Shared {
    pub(crate) fn count(&self, v: Verb) {
        self.counters.0[v as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn server_address(&self) -> String {
        self.address.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

/// The fake API server: cheap to clone, all clones share one store.
#[derive(Clone)]
pub struct FakeKube {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeKube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKube")
            .field("rv", &self.shared.store.lock().rv)
            .finish()
    }
}

impl Default for FakeKube {
    fn default() -> Self {
        FakeKube::new()
    }
}

/// A server started by [`FakeKube::serve`]; dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl ServerHandle {
    /// Stop accepting connections and wait (at most a second, since open watches would
    /// otherwise hold the server) for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let abort = t.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(1), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl FakeKube {
    /// A fake cluster with default options.
    pub fn new() -> Self {
        FakeKube::with_options(Options::default())
    }

    /// A fake cluster with the given options.
    pub fn with_options(o: Options) -> Self {
        let store = store::Store::new(o.history);
        store.lock().auto = o.auto;
        FakeKube {
            shared: Arc::new(Shared {
                store: Arc::new(store),
                faults: Mutex::new(Vec::new()),
                counters: Counters::default(),
                address: Mutex::new("127.0.0.1:6443".into()),
            }),
        }
    }

    pub(crate) fn store(&self) -> &store::Store {
        &self.shared.store
    }

    /// The axum router: the Kubernetes API plus the control endpoint under `/fakekube/v1`.
    pub fn router(&self) -> Router {
        let api = handlers::router(self.shared.clone()).layer(
            axum::middleware::from_fn_with_state(self.shared.clone(), count_and_inject),
        );
        api.merge(control::router(self.clone()))
            .layer(axum::extract::DefaultBodyLimit::max(3 * 1024 * 1024))
    }

    /// A `kube::Client` talking to the router in-process (no sockets). Needs a Tokio runtime.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.router(), "default")
    }

    /// Serve on `addr` (use port 0 for any); returns the bound address and a handle that stops
    /// the server when dropped.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<(SocketAddr, ServerHandle)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        if let Ok(mut a) = self.shared.address.lock() {
            *a = local.to_string();
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok((
            local,
            ServerHandle {
                shutdown: Some(tx),
                task: Some(task),
            },
        ))
    }

    /// Inject an error for the next matching requests.
    pub fn inject(&self, fault: Fault) {
        if let Ok(mut f) = self.shared.faults.lock() {
            f.push(fault);
        }
    }

    /// Remove every pending injected error.
    pub fn clear_faults(&self) {
        if let Ok(mut f) = self.shared.faults.lock() {
            f.clear();
        }
    }

    /// Request counters so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters.0;
        let v = |i: usize| c[i].load(Ordering::Relaxed);
        Stats {
            total: v(0),
            get: v(1),
            list: v(2),
            watch: v(3),
            create: v(4),
            update: v(5),
            patch: v(6),
            delete: v(7),
        }
    }

    /// Reset the request counters.
    pub fn reset_stats(&self) {
        for c in &self.shared.counters.0 {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.store().lock().rv
    }

    /// Set which controllers react on their own.
    pub fn set_auto(&self, auto: Auto) {
        self.store().lock().auto = auto;
    }

    /// A stored object by `apiVersion`, `kind`, namespace (`""` for cluster-scoped) and name.
    pub fn object(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let rt = registry::by_kind(api_version, kind)?;
        let (_, version) = registry::split_api_version(api_version);
        self.store()
            .lock()
            .get(rt, ns, name)
            .map(|o| store::at_version(&o, rt, version))
    }

    /// Every stored object of every kind, in every namespace and cluster-scoped, each at its
    /// kind's preferred version and as stored (`managedFields`, annotations, `status`): for
    /// tests that must know what the whole cluster holds (e.g. that a value is in one object
    /// only).
    pub fn all_objects(&self) -> Vec<serde_json::Value> {
        let g = self.store().lock();
        registry::all()
            .iter()
            .flat_map(|rt| {
                g.objects(rt, None)
                    .into_iter()
                    .map(move |o| store::at_version(&o, rt, rt.preferred_version()))
            })
            .collect()
    }

    /// Stored objects of a kind, in one namespace or all (`None`).
    pub fn objects(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
    ) -> Vec<serde_json::Value> {
        let Some(rt) = registry::by_kind(api_version, kind) else {
            return Vec::new();
        };
        let (_, version) = registry::split_api_version(api_version);
        let scope = if rt.namespaced { ns } else { None };
        self.store()
            .lock()
            .objects(rt, scope)
            .iter()
            .map(|o| store::at_version(o, rt, version))
            .collect()
    }
}

async fn count_and_inject(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    s.count(Verb::Total);
    let injected = s.faults.lock().ok().and_then(|mut faults| {
        let method = req.method().as_str();
        let pos = faults.iter().position(|f| {
            f.count > 0
                && path.starts_with(&f.path)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let f = &mut faults[pos];
        f.count -= 1;
        let err = ApiError::new(
            f.code,
            ApiError::reason_for_code(f.code),
            f.message
                .clone()
                .unwrap_or_else(|| format!("injected error {}", f.code)),
        );
        if f.count == 0 {
            faults.remove(pos);
        }
        Some(err)
    });
    match injected {
        Some(err) => err.into_response(),
        None => next.run(req).await,
    }
}

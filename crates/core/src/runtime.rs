//! The seams between the lifecycle engine and what it drives: a [`Runtime`] (local processes
//! or Kubernetes) builds, applies and observes workloads and routes; an [`EndpointProber`]
//! checks the DNS, TLS and HTTP planes of hostnames. Adapters implement these traits; the
//! server's engine calls them. Only plain data crosses: no tokio, no kube types here.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use satusky_types::{AppSpec, Hostname, Plane, Reason, ReplicaCounts};

use crate::ValidatedApp;
use crate::desired::AppHostnames;

/// A boxed, sendable future (the traits stay object-safe without an async-trait macro).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where build log lines go, one line per call.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// `ORG/APP@vN`: the value of the `x-satusky-release` header for a release.
pub fn release_id(org: &str, app: &str, version: u64) -> String {
    format!("{org}/{app}@v{version}")
}

/// Build the uploaded context of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub org: String,
    pub app: String,
    pub release: u64,
    /// Content digest of the uploaded context (`sha256:…`).
    pub context: String,
    pub spec: AppSpec,
    /// How long this build may still run (the engine's build timeout, less what earlier
    /// attempts of the same release used); past it the runtime stops the build and reports
    /// `timed_out`. `None`: the runtime's own limit.
    pub timeout: Option<std::time::Duration>,
}

/// A successful build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutput {
    /// The content-addressed artifact (local) or pinned image (`image@sha256:…`).
    pub artifact: String,
    /// True when an identical earlier build was reused.
    pub reused: bool,
}

/// A failed build: what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailure {
    pub message: String,
    /// The last lines of the build log.
    pub log_tail: Vec<String>,
    /// The build was stopped because it ran past its timeout.
    pub timed_out: bool,
}

/// What a runtime must make true for one app: a release of a validated app with its checked
/// hostnames. The store builds it from a stored release (the one validation on the way to a
/// runtime); runtimes take the values as they are and never validate them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredWorkload {
    pub org: String,
    pub app: String,
    pub release: u64,
    pub spec: ValidatedApp,
    /// The build artifact or pinned image; `None` when the spec's `image` is used as is.
    pub artifact: Option<String>,
    pub hostnames: AppHostnames,
}

impl DesiredWorkload {
    pub fn release_id(&self) -> String {
        release_id(&self.org, &self.app, self.release)
    }
}

/// The runtime's view of an app's workload, read back after `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadObservation {
    /// The release this status describes (the `observedGeneration` analogue): a status for
    /// another release is never counted.
    pub release: Option<u64>,
    pub replicas: ReplicaCounts,
    /// A terminal failure seen on the workload (crash loop, image pull, …) with its message.
    pub failure: Option<(Reason, String)>,
    /// Replicas of earlier releases still running or terminating: a rollout is not complete
    /// while any remain (kstatus: `status.replicas == updatedReplicas`).
    pub old: u32,
}

/// Errors talking to a runtime. Most are transient (the engine retries on its next pass);
/// one with a `failure` reason is permanent for this release — e.g. its artifact or image is
/// gone — and fails the workload at once with that reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeError {
    pub message: String,
    pub failure: Option<Reason>,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuntimeError {}

impl RuntimeError {
    pub fn new(message: impl Into<String>) -> Self {
        RuntimeError {
            message: message.into(),
            failure: None,
        }
    }

    /// A permanent failure of the release's workload, with its reason.
    pub fn failed(reason: Reason, message: impl Into<String>) -> Self {
        RuntimeError {
            message: message.into(),
            failure: Some(reason),
        }
    }
}

/// Where the edge (local edge or Gateway) receives traffic: what DNS should point at and
/// where the prober connects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EdgeInfo {
    /// Addresses hostnames must resolve to.
    pub addresses: Vec<IpAddr>,
    /// Alternatively a name custom domains may CNAME to.
    pub cname_target: Option<String>,
    /// Where the prober connects for TLS/HTTP (`None`: the resolved address on 443).
    pub probe_addr: Option<std::net::SocketAddr>,
}

/// The platform zone's records, which the control plane owns (SPEC §7: what the platform owns
/// it heals). A runtime given a zone writes an app's platform hostnames on every apply and
/// heal, pointing at its edge, and drops them when the app is removed. Writes are to an
/// in-memory record set the embedded authoritative DNS server answers from, so they are
/// synchronous and cannot fail.
pub trait DnsZone: Send + Sync + 'static {
    /// Make `names` (the app's hostnames inside the zone) answer with the edge: its addresses
    /// (A/AAAA), or a CNAME to its hostname when it has no address. Replaces whatever the app
    /// had.
    fn set_app(&self, org: &str, app: &str, names: &[String], edge: &EdgeInfo);

    /// Drop every record of the app.
    fn remove_app(&self, org: &str, app: &str);
}

/// One hostname a runtime's routes really serve for an app, read back from the runtime (the
/// local edge's route table, the app's HTTPRoutes). The drift checker compares these with the
/// store both ways: a stored hostname missing here, and a hostname here the store does not
/// hold for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedHost {
    pub hostname: String,
    /// `ORG/APP@vN` the route stamps on its answers (`None` for a redirect, or when the route
    /// stamps nothing).
    pub release_id: Option<String>,
    /// Where a redirect route sends requests (`None` when the route serves).
    pub redirect_to: Option<String>,
}

/// The control plane's driver of workloads and routes.
pub trait Runtime: Send + Sync + 'static {
    /// A short name for logs and messages (`local`, `kubernetes`).
    fn name(&self) -> &'static str;

    /// Build the context into an artifact. Log lines go to `log` as they come.
    fn build(
        &self,
        req: BuildRequest,
        log: LogSink,
    ) -> BoxFuture<'_, Result<BuildOutput, BuildFailure>>;

    /// Make the app's workload and routes match `desired`. Idempotent.
    fn apply(&self, desired: DesiredWorkload) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Read back the workload of the app.
    fn observe(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<WorkloadObservation, RuntimeError>>;

    /// The route plane of each hostname (same order as `hostnames`).
    fn routes(
        &self,
        org: String,
        app: String,
        hostnames: Vec<Hostname>,
    ) -> BoxFuture<'_, Result<Vec<Plane>, RuntimeError>>;

    /// Remove everything the app runs.
    fn remove(&self, org: String, app: String) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Where the edge receives traffic.
    fn edge(&self) -> EdgeInfo;

    /// Every hostname the runtime's routes serve for the app, whatever the store says. The
    /// default cannot tell, and says so: the drift checker then looks only one way (stored
    /// hostnames against the route planes).
    fn served_hosts(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<ServedHost>, RuntimeError>> {
        let _ = (org, app);
        let name = self.name();
        Box::pin(async move {
            Err(RuntimeError::new(format!(
                "the {name} runtime cannot list the hostnames its routes serve"
            )))
        })
    }

    /// Reconcile `desired` (the app's active release) again to undo drift: unlike `apply`,
    /// it must not skip anything because the runtime believes it already sent it — what was
    /// edited out of band is exactly what it no longer matches. Defaults to `apply`.
    fn heal(&self, desired: DesiredWorkload) -> BoxFuture<'_, Result<(), RuntimeError>> {
        self.apply(desired)
    }
}

pub use crate::endpoints::{EndpointTarget, ProbedEndpoint};

/// Checks DNS, TLS and HTTP for hostnames with real protocols.
pub trait EndpointProber: Send + Sync + 'static {
    /// Results in the order of `targets`.
    fn check(&self, targets: Vec<EndpointTarget>) -> BoxFuture<'_, Vec<ProbedEndpoint>>;
}

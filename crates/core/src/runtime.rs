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
    /// The app's secrets as they are now (opened in memory; a rollback keeps the current
    /// ones). Runtimes hand them to the workload only — a replica's environment, the
    /// cluster's Secret — never to a file, a log or another object.
    pub secrets: crate::secrets::Secrets,
    /// When `1ctl app restart` last asked for fresh replicas (epoch ms): a new value means
    /// every replica is replaced, ready ones first (local: replica by replica; Kubernetes: the
    /// pod template's `satusky.io/restarted-at` annotation).
    pub restarted_at_ms: Option<i64>,
}

impl DesiredWorkload {
    pub fn release_id(&self) -> String {
        release_id(&self.org, &self.app, self.release)
    }
}

/// Which of an app's log lines to read. Every bound is the caller's to check
/// ([`LogQuery::MAX_TAIL`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only the newest N matching lines (default and most: [`LogQuery::MAX_TAIL`]).
    pub tail: Option<u32>,
    /// Only lines captured at or after this time (epoch ms).
    pub since_ms: Option<i64>,
    /// Only lines after this seq (a follower resuming).
    pub after_seq: Option<u64>,
    /// Only this release's replicas.
    pub release: Option<u64>,
    /// Only this replica.
    pub replica: Option<String>,
}

impl LogQuery {
    /// The most lines one read returns.
    pub const MAX_TAIL: u32 = 10_000;
}

/// A follower of one app's log, from a runtime that keeps the log itself
/// ([`Runtime::log_follower`]): it is told when lines were written, and reads forward from
/// where it is in pages, so however far behind it falls it never skips a line.
pub trait LogFollower: Send {
    /// Resolves once lines were written since the follower was made or since this last
    /// resolved (several writes may show as one; none is missed). `false`: nothing more will
    /// be told (the app's log was removed), so the caller polls or asks for a new follower.
    fn changed(&mut self) -> BoxFuture<'_, bool>;

    /// The OLDEST `query.tail` lines matching `query` after `query.after_seq`, oldest first:
    /// the follower's next page.
    fn page(
        &self,
        query: LogQuery,
    ) -> BoxFuture<'_, Result<Vec<satusky_types::LogLine>, RuntimeError>>;

    /// Where the newest `query.tail` lines matching `query` begin: the seq to read pages after
    /// (`None`: from the oldest line kept). Replaying a tail this way holds one page at a time.
    fn tail_start(&self, query: LogQuery) -> BoxFuture<'_, Result<Option<u64>, RuntimeError>>;
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
    /// Why replicas that run are not ready yet, as the last readiness check saw it (e.g. the
    /// health path's status, or nothing listening on `$PORT`); `None` when unknown.
    pub waiting: Option<String>,
    /// How a replica last exited (with its last output lines), while it is down or back for
    /// less than the runtime's stability window; `None` when none did.
    pub exited: Option<String>,
    /// Ready replicas that exited within that window: back, but not yet trusted to stay up
    /// (an app at rest counts them as unavailable, so a crash loop does not flap to ready).
    pub recovering: u32,
    /// A static site (`[static]`): what the edge serves in place of replicas (e.g. `3 files
    /// from ./public`), once the files are in place; the workload is then ready, reason
    /// `Static`.
    pub static_files: Option<String>,
}

/// What kind of failure a [`RuntimeError`] is, which decides what the engine does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeErrorKind {
    /// The runtime (or what it talks to) is unavailable or refused for now; the engine
    /// retries on its next pass.
    Unavailable,
    /// What was asked cannot be realised as given (the spec does not validate or render,
    /// nothing to run); no reason to fail the workload with, so the engine retries until the
    /// deadline.
    Invalid,
    /// Permanent for this release — e.g. its artifact or image is gone: the workload fails
    /// at once with this reason.
    Failed(Reason),
    /// The runtime cannot do this at all (e.g. list the hostnames its routes serve).
    Unsupported,
}

/// An error from a runtime: its [kind](RuntimeErrorKind), what failed (`message`) and,
/// when another error caused it, that error as its source (shown by
/// [`error_chain`](crate::error_chain), never repeated in `Display`).
#[derive(Debug)]
pub struct RuntimeError {
    kind: RuntimeErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Made by [`RuntimeError::wrap`]: `message` is the wrapped error's own text, and the
    /// chain goes on with that error's source (like `#[error(transparent)]`).
    transparent: bool,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuntimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source = self.source.as_deref()?;
        if self.transparent {
            source.source()
        } else {
            Some(source)
        }
    }
}

impl RuntimeError {
    fn of(kind: RuntimeErrorKind, message: impl Into<String>) -> Self {
        RuntimeError {
            kind,
            message: message.into(),
            source: None,
            transparent: false,
        }
    }

    /// `err` itself as a runtime error of `kind`: its text is the message, and its sources
    /// follow it in the chain (for an adapter's own error that already says what failed).
    pub fn wrap(
        kind: RuntimeErrorKind,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        RuntimeError {
            kind,
            message: err.to_string(),
            source: Some(Box::new(err)),
            transparent: true,
        }
    }

    /// Unavailable or refused for now: retried.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::of(RuntimeErrorKind::Unavailable, message)
    }

    /// The desired workload cannot be realised as given.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::of(RuntimeErrorKind::Invalid, message)
    }

    /// A permanent failure of the release's workload, with its reason.
    pub fn failed(reason: Reason, message: impl Into<String>) -> Self {
        Self::of(RuntimeErrorKind::Failed(reason), message)
    }

    /// The runtime cannot do this.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::of(RuntimeErrorKind::Unsupported, message)
    }

    /// The error that caused this one.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self.transparent = false;
        self
    }

    pub fn kind(&self) -> RuntimeErrorKind {
        self.kind
    }

    /// The reason when the error is permanent for this release.
    pub fn failure(&self) -> Option<Reason> {
        match self.kind {
            RuntimeErrorKind::Failed(reason) => Some(reason),
            _ => None,
        }
    }

    /// What failed, without its source.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A stable short name of the kind, for metrics labels and events.
    pub fn category(&self) -> &'static str {
        match self.kind {
            RuntimeErrorKind::Unavailable => "unavailable",
            RuntimeErrorKind::Invalid => "invalid",
            RuntimeErrorKind::Failed(_) => "failed",
            RuntimeErrorKind::Unsupported => "unsupported",
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

/// Where the org's other apps reach an app (SPEC §10 "Exposure"), whatever its `expose`:
/// the local runtime's stable loopback port, or a Kubernetes Service's cluster DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InternalAddress {
    pub host: String,
    pub port: u16,
}

/// `host:port`, as `app get` and `app status` show it.
impl std::fmt::Display for InternalAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl EdgeInfo {
    /// The port an app's URL must name: the edge's HTTPS port when it is not 443 (`satusky
    /// dev` listens on 8443), `None` when `https://HOST/` reaches it. The edge's HTTPS port is
    /// where the prober connects, so browsers reach the same listener there.
    pub fn url_port(&self) -> Option<u16> {
        self.probe_addr.map(|a| a.port()).filter(|p| *p != 443)
    }
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

    /// Where this runtime marks every app whose workload may have changed (a replica exited
    /// or restarted, its readiness changed; a watch event on its objects), so the control
    /// plane observes apps at rest without polling them. `None`: the runtime cannot tell, and
    /// its apps are observed only while a deploy rolls out.
    fn workload_changes(&self) -> Option<Arc<crate::changes::WorkloadChanges>> {
        None
    }

    /// Whether this runtime can run `spec` at all — asked before a deploy is recorded, so a
    /// spec it could never start is refused with the fix instead of failing after the build.
    /// No I/O. The default admits everything.
    fn admit(&self, spec: &crate::ValidatedApp) -> Result<(), RuntimeError> {
        let _ = spec;
        Ok(())
    }

    /// Which of `programs` this runtime could not start because the machine lacks them,
    /// looked for on the PATH replicas get and in `also_in` (absolute folders, at most one `*`
    /// each). Asked before a template deploy is recorded, so a missing `redis-server` is a
    /// refusal naming its package, not a crash loop. A few file lookups; the default (a
    /// runtime that runs images) lacks none.
    fn missing_programs(&self, programs: &[String], also_in: &[String]) -> Vec<String> {
        let _ = also_in;
        let _ = programs;
        Vec::new()
    }

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

    /// The certificate of each hostname as this runtime's issuer sees it (same order as
    /// `hostnames`): `Some(plane)` where the runtime obtains the certificate itself — an ACME
    /// order's step (`AwaitingOwnership`, `AwaitingDns`, `Issuing`, `ChallengePending`,
    /// `IssuanceFailed`, `CertificateValid`), cert-manager's Certificate —, `None` where it does
    /// not (the local CA, a platform certificate): the TLS plane is then the prober's handshake
    /// alone. See [`crate::endpoints::with_issuer`] for how the two combine.
    fn certificates(
        &self,
        org: String,
        app: String,
        hostnames: Vec<Hostname>,
    ) -> BoxFuture<'_, Result<Vec<Option<Plane>>, RuntimeError>> {
        let _ = (org, app);
        Box::pin(async move { Ok(vec![None; hostnames.len()]) })
    }

    /// Remove everything the app runs — except its volumes, which outlive the workload (see
    /// [`Runtime::volumes`]).
    fn remove(&self, org: String, app: String) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// The app's persistent volumes (`[volume]`) as they are now, each described for a user
    /// with where it is and its size (`persistentvolumeclaim satusky-acme/web-data (5Gi)`, a
    /// local directory). Volumes hold data nothing else has: [`Runtime::remove`] leaves them,
    /// a volume the spec no longer has is kept (and reported) rather than pruned, and a new
    /// app of the same name uses them again — only [`Runtime::purge_volumes`] deletes them,
    /// so they are listed for an app that no longer exists too. Default: none.
    fn volumes(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<String>, RuntimeError>> {
        let _ = (org, app);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Delete the app's volumes and their data (after [`Runtime::remove`], or for an app that
    /// is gone); returns what was deleted, described as [`Runtime::volumes`] does.
    fn purge_volumes(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<String>, RuntimeError>> {
        let _ = (org, app);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The app's log lines that match `query`, oldest first (at most `query.tail` of the
    /// newest). A runtime that keeps no logs says so.
    fn logs(
        &self,
        org: String,
        app: String,
        query: LogQuery,
    ) -> BoxFuture<'_, Result<Vec<satusky_types::LogLine>, RuntimeError>> {
        let _ = (org, app, query);
        Box::pin(async {
            Err(RuntimeError::unsupported(
                "this runtime keeps no logs of its apps",
            ))
        })
    }

    /// A follower of the app's log ([`LogFollower`]). `None` (the default): the runtime
    /// cannot tell when lines are written, and followers poll [`Runtime::logs`] with
    /// `after_seq` (each read the newest lines after it).
    fn log_follower(&self, org: &str, app: &str) -> Option<Box<dyn LogFollower>> {
        let _ = (org, app);
        None
    }

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
            Err(RuntimeError::unsupported(format!(
                "the {name} runtime cannot list the hostnames its routes serve"
            )))
        })
    }

    /// Where the org's other apps reach `org/app` (run with `spec`): the same address for the
    /// app's life, across deploys and control-plane restarts. `None` (the default): the
    /// runtime cannot say.
    fn internal_address(
        &self,
        org: String,
        app: String,
        spec: AppSpec,
    ) -> BoxFuture<'_, Result<Option<InternalAddress>, RuntimeError>> {
        let _ = (org, app, spec);
        Box::pin(async { Ok(None) })
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

    /// The TXT strings at `name` through the same resolvers as the DNS plane, asked afresh
    /// (ownership proofs, `crate::ownership`). No record (NXDOMAIN, no data) is an empty list.
    fn txt(&self, name: String) -> BoxFuture<'_, Result<Vec<String>, TxtLookupError>> {
        let _ = name;
        Box::pin(async { Err(TxtLookupError::Unsupported) })
    }
}

/// Why a TXT lookup has no answer to judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxtLookupError {
    /// This prober cannot look TXT records up.
    #[error("this control plane's prober cannot look up TXT records")]
    Unsupported,
    /// The resolvers did not answer; `asked` names them.
    #[error("the resolvers ({asked}) did not answer: {detail}")]
    Unreachable { asked: String, detail: String },
    /// They answered with an error (SERVFAIL, REFUSED, …).
    #[error("the lookup failed: {0}")]
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_urls_name_the_edge_port_unless_it_is_443() {
        let edge = |addr: Option<&str>| EdgeInfo {
            probe_addr: addr.map(|a| a.parse().unwrap()),
            ..EdgeInfo::default()
        };
        assert_eq!(edge(Some("127.0.0.1:8443")).url_port(), Some(8443));
        assert_eq!(edge(Some("[::1]:443")).url_port(), None);
        assert_eq!(edge(None).url_port(), None);
    }

    #[test]
    fn kinds_have_a_category_and_only_failed_carries_a_reason() {
        let io = std::io::Error::other("connection refused");
        let cases = [
            (
                RuntimeError::unavailable("Kubernetes API").with_source(io),
                "unavailable",
                None,
            ),
            (RuntimeError::invalid("cannot render"), "invalid", None),
            (
                RuntimeError::failed(Reason::ErrImagePull, "artifact gone"),
                "failed",
                Some(Reason::ErrImagePull),
            ),
            (
                RuntimeError::unsupported("cannot list"),
                "unsupported",
                None,
            ),
        ];
        for (e, category, failure) in cases {
            assert_eq!((e.category(), e.failure()), (category, failure), "{e}");
        }
        let e = RuntimeError::unavailable("Kubernetes API")
            .with_source(std::io::Error::other("connection refused"));
        assert_eq!(e.to_string(), "Kubernetes API");
        assert_eq!(e.message(), "Kubernetes API");
        assert_eq!(crate::error_chain(&e), "Kubernetes API: connection refused");

        let inner = crate::ForeignError::new(&e);
        let wrapped = RuntimeError::wrap(RuntimeErrorKind::Unavailable, inner);
        assert_eq!(wrapped.to_string(), "Kubernetes API");
        assert_eq!(
            crate::error_chain(&wrapped),
            "Kubernetes API: connection refused"
        );
    }
}

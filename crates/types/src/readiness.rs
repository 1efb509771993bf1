//! The readiness report every surface shares (SPEC §4): build, workload and, per hostname,
//! the metadata, route, DNS, TLS and HTTP planes — each with its own state and reason.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::spec::HostnameKind;

/// The state of one dimension or plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaneState {
    Pending,
    InProgress,
    Ready,
    Failed,
    Unknown,
    NotApplicable,
}

impl PlaneState {
    pub fn as_str(self) -> &'static str {
        match self {
            PlaneState::Pending => "pending",
            PlaneState::InProgress => "in_progress",
            PlaneState::Ready => "ready",
            PlaneState::Failed => "failed",
            PlaneState::Unknown => "unknown",
            PlaneState::NotApplicable => "not_applicable",
        }
    }

    /// Ready, or nothing to check.
    pub fn is_satisfied(self) -> bool {
        matches!(self, PlaneState::Ready | PlaneState::NotApplicable)
    }
}

impl std::fmt::Display for PlaneState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a plane is in its state. One enum for every surface; each code is documented in
/// `docs/reasons.md` (a test keeps the two in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Reason {
    // -- generic
    /// Nothing has been checked yet.
    NotChecked,
    /// The thing waits for an earlier step.
    Waiting,
    /// The plane does not apply to this hostname or app.
    NotApplicable,
    /// No runtime is attached to this control plane to act on the desired state.
    NoRuntime,
    /// Last checked before the control plane (re)started; not observed since.
    NotYetObserved,
    /// The app is not public (`[app] expose = "tcp"` or `"none"`): no public hostname is
    /// routed, resolved, certified or served, so the endpoint planes do not apply; it is
    /// reached inside the org at its internal address.
    NotPublic,
    // -- build
    BuildPending,
    Building,
    Built,
    BuildFailed,
    /// The build ran past the build timeout and was stopped.
    BuildTimeout,
    /// A prebuilt image was given; no build runs.
    ImageProvided,
    // -- workload
    RolloutPending,
    Progressing,
    RolloutComplete,
    /// A static site (`[static]`): the edge serves its files itself, with no process; ready once
    /// they are in place.
    Static,
    ProgressDeadlineExceeded,
    CrashLoopBackOff,
    ImagePullBackOff,
    ErrImagePull,
    Unschedulable,
    ImageRequiresContainerRuntime,
    /// The observed status was written for an older generation.
    StaleObservation,
    /// The release's stored spec or hostnames no longer pass this control plane's checks.
    InvalidSpec,
    /// The runtime starts `[app] command`, and the app has none.
    NoCommand,
    /// Replicas run but their readiness check fails; the message says what it saw.
    ReadinessFailing,
    /// The active release serves, but on fewer replicas than desired; the message says why
    /// the others are not ready.
    ReplicasUnavailable,
    // -- metadata
    Stored,
    HostnameTaken,
    OwnershipUnverified,
    /// A custom domain's TXT proof was seen for this org; the message says when.
    OwnershipVerified,
    /// Another org proved ownership of the hostname; this app's claim ended.
    OwnershipLost,
    /// Both this org's and another org's TXT values are published; the message names the
    /// record to remove.
    OwnershipConflict,
    // -- route
    Accepted,
    NotAccepted,
    RefsNotResolved,
    RouteMissing,
    HostnamesMismatch,
    GatewayNotProgrammed,
    GatewayNoAddress,
    // -- DNS
    ResolvesToEdge,
    NxDomain,
    NoAnswer,
    WrongTarget,
    ServFail,
    /// The resolver the DNS plane asks did not answer at all (nothing listens there, or it is
    /// unreachable); the message names it.
    ResolverUnreachable,
    // -- TLS
    /// No certificate is requested until the hostname's ownership is proven.
    AwaitingOwnership,
    /// The issuer waits for the hostname to resolve to the edge before it is challenged.
    AwaitingDns,
    /// A certificate is being requested (order placed, not yet challenged).
    Issuing,
    /// The ACME server is validating the challenge.
    ChallengePending,
    /// The last issuance failed; the message holds the issuer's problem and when it retries.
    IssuanceFailed,
    CertificateValid,
    ExpiringSoon,
    UnknownIssuer,
    NotValidForName,
    Expired,
    NotYetValid,
    HandshakeFailed,
    /// The TLS port answered in plain HTTP (no TLS at all).
    NotTls,
    // -- HTTP
    ExpectedStatus,
    UnexpectedStatus,
    BadGateway,
    ServiceUnavailable,
    GatewayTimeout,
    ConnectionRefused,
    ConnectionReset,
    Redirects,
    WrongRedirect,
    /// Following the redirect chain comes back to a hostname already in it (the message
    /// holds the chain); a redirect to itself is the shortest loop.
    RedirectLoop,
    ReleaseHeaderMissing,
    ForeignRelease,
    // -- shared by the probes
    Timeout,
}

impl Reason {
    /// Every reason, in declaration order (used to check `docs/reasons.md` stays complete).
    pub const ALL: &'static [Reason] = &[
        Reason::NotChecked,
        Reason::Waiting,
        Reason::NotApplicable,
        Reason::NoRuntime,
        Reason::NotYetObserved,
        Reason::NotPublic,
        Reason::BuildPending,
        Reason::Building,
        Reason::Built,
        Reason::BuildFailed,
        Reason::BuildTimeout,
        Reason::ImageProvided,
        Reason::RolloutPending,
        Reason::Progressing,
        Reason::RolloutComplete,
        Reason::Static,
        Reason::ProgressDeadlineExceeded,
        Reason::CrashLoopBackOff,
        Reason::ImagePullBackOff,
        Reason::ErrImagePull,
        Reason::Unschedulable,
        Reason::ImageRequiresContainerRuntime,
        Reason::StaleObservation,
        Reason::InvalidSpec,
        Reason::NoCommand,
        Reason::ReadinessFailing,
        Reason::ReplicasUnavailable,
        Reason::Stored,
        Reason::HostnameTaken,
        Reason::OwnershipUnverified,
        Reason::OwnershipVerified,
        Reason::OwnershipLost,
        Reason::OwnershipConflict,
        Reason::Accepted,
        Reason::NotAccepted,
        Reason::RefsNotResolved,
        Reason::RouteMissing,
        Reason::HostnamesMismatch,
        Reason::GatewayNotProgrammed,
        Reason::GatewayNoAddress,
        Reason::ResolvesToEdge,
        Reason::NxDomain,
        Reason::NoAnswer,
        Reason::WrongTarget,
        Reason::ServFail,
        Reason::ResolverUnreachable,
        Reason::AwaitingOwnership,
        Reason::AwaitingDns,
        Reason::Issuing,
        Reason::ChallengePending,
        Reason::IssuanceFailed,
        Reason::CertificateValid,
        Reason::ExpiringSoon,
        Reason::UnknownIssuer,
        Reason::NotValidForName,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::HandshakeFailed,
        Reason::NotTls,
        Reason::ExpectedStatus,
        Reason::UnexpectedStatus,
        Reason::BadGateway,
        Reason::ServiceUnavailable,
        Reason::GatewayTimeout,
        Reason::ConnectionRefused,
        Reason::ConnectionReset,
        Reason::Redirects,
        Reason::WrongRedirect,
        Reason::RedirectLoop,
        Reason::ReleaseHeaderMissing,
        Reason::ForeignRelease,
        Reason::Timeout,
    ];

    /// The code as it appears on the wire (`UpperCamelCase`).
    pub fn code(self) -> String {
        format!("{self:?}")
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// One plane (or dimension) of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Plane {
    pub state: PlaneState,
    pub reason: Reason,
    #[serde(default)]
    pub message: String,
    /// RFC 3339: when `state` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339: when it was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
    /// What the user can do to fix it (e.g. the exact DNS record to create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

impl Plane {
    pub fn new(state: PlaneState, reason: Reason, message: impl Into<String>) -> Self {
        Plane {
            state,
            reason,
            message: message.into(),
            since: None,
            checked_at: None,
            remediation: None,
        }
    }

    pub fn with_remediation(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }

    pub fn with_since(mut self, since: Option<String>) -> Self {
        self.since = since;
        self
    }

    /// Not checked yet.
    pub fn unknown() -> Self {
        Plane::new(PlaneState::Unknown, Reason::NotChecked, "")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReplicaCounts {
    pub desired: u32,
    pub updated: u32,
    pub ready: u32,
    pub available: u32,
}

/// The workload dimension: a plane plus replica counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadPlane {
    #[serde(flatten)]
    pub plane: Plane,
    pub replicas: ReplicaCounts,
}

/// The planes of one hostname.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndpointReport {
    pub hostname: String,
    pub kind: HostnameKind,
    pub metadata: Plane,
    pub route: Plane,
    pub dns: Plane,
    pub tls: Plane,
    pub http: Plane,
}

impl EndpointReport {
    /// The planes with their names, in report order.
    pub fn planes(&self) -> [(&'static str, &Plane); 5] {
        [
            ("metadata", &self.metadata),
            ("route", &self.route),
            ("dns", &self.dns),
            ("tls", &self.tls),
            ("http", &self.http),
        ]
    }

    pub fn is_ready(&self) -> bool {
        self.planes().iter().all(|(_, p)| p.state.is_satisfied())
    }
}

/// The app's lifecycle phase (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Accepted,
    Building,
    RollingOut,
    Ready,
    Degraded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Accepted => "accepted",
            Phase::Building => "building",
            Phase::RollingOut => "rolling_out",
            Phase::Ready => "ready",
            Phase::Degraded => "degraded",
            Phase::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(Phase::Accepted),
            "building" => Some(Phase::Building),
            "rolling_out" => Some(Phase::RollingOut),
            "ready" => Some(Phase::Ready),
            "degraded" => Some(Phase::Degraded),
            "failed" => Some(Phase::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The report of SPEC §4: what `app status` prints and `deploy -o json` ends with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessReport {
    pub app: String,
    pub org: String,
    pub generation: u64,
    /// The generation the planes below were computed at (absent before the engine saved
    /// any): after `1ctl app scale` or `app restart` answered generation G, the report
    /// describes that operation once this is at least G.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    pub active_release: Option<u64>,
    pub target_release: Option<u64>,
    /// `host:port` where the org's other apps reach this one, whatever its `expose` (absent
    /// when the control plane has no runtime to say it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_address: Option<String>,
    pub phase: Phase,
    pub build: Plane,
    pub workload: WorkloadPlane,
    pub endpoints: Vec<EndpointReport>,
}

//! What the step function reads: the app and the release it works on, as plain values (the
//! store turns its rows into these at its boundary).

use satusky_types::{AppSpec, Domain, Hostname, Phase};

use crate::desired::AppHostnames;
use crate::runtime::DesiredWorkload;
use crate::validate::ValidatedApp;

use super::{StatusDoc, Work};

/// The app as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppView {
    pub org: String,
    pub name: String,
    pub generation: u64,
    pub spec: AppSpec,
    /// Every hostname the app claims (routed or not), in display order.
    pub hostnames: Vec<Hostname>,
    /// The same claims as domains (source, ownership proof, whether routed).
    pub domains: Vec<Domain>,
    pub active_release: Option<u64>,
    pub target_release: Option<u64>,
    pub phase: Phase,
    pub updated_at_ms: i64,
    /// The stored status document, if any (for whichever release it describes).
    pub status: Option<StatusDoc>,
    /// The pending work, if any.
    pub work: Option<Work>,
    /// What `1ctl app scale` and `app restart` set on the app.
    pub operated: Operated,
}

/// What operating an app sets on it rather than on a release (SPEC §10: scale and restart
/// are not releases): it applies to whichever release runs — the active one, a config
/// release, a rollback — until a deploy whose file sets `replicas` replaces the count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Operated {
    /// The replica count set with `1ctl app scale`, over the release's own.
    pub replicas: Option<u32>,
    /// When `1ctl app restart` last asked for every replica to be replaced (epoch ms): part
    /// of what the runtime runs, so a new value rolls the replicas.
    pub restarted_at_ms: Option<i64>,
}

impl AppView {
    /// The hostnames the runtime routes: generated ones, and custom domains whose ownership
    /// is proven (or still in their grace period). Unproven ones are never handed to a
    /// runtime — not routed, not certified, not served. None at all for an app that is not
    /// public (`[app] expose = "tcp"` or `"none"`): its claims stay stored, unserved.
    pub fn routed_hostnames(&self) -> Vec<Hostname> {
        self.routed_for(&self.spec)
    }

    /// The hostnames a release run with `spec` routes now: the app's routed ones, or none
    /// when `spec` is not public (a rollback to a release with another `expose` follows the
    /// release, not the app's latest spec).
    pub fn routed_for(&self, spec: &AppSpec) -> Vec<Hostname> {
        if !spec.expose.is_public() {
            return Vec::new();
        }
        routed(&self.domains)
    }

    /// The domain record of `hostname`, if the app claims it.
    pub fn domain(&self, hostname: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.hostname == hostname)
    }
}

/// The routed subset of `domains`, as hostnames.
pub fn routed(domains: &[Domain]) -> Vec<Hostname> {
    domains
        .iter()
        .filter(|d| d.routed)
        .map(Domain::hostname)
        .collect()
}

/// The release a piece of work is on, checked at the store boundary (a stored spec that no
/// longer validates never reaches the step function or a runtime).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseView {
    pub version: u64,
    /// What made it (`deploy`, `rollback(from=vK)`).
    pub source: String,
    pub spec: ValidatedApp,
    /// The hostnames to route: the app's routed domains as they are now (domains are
    /// app-level state, not the snapshot's), checked.
    pub hostnames: AppHostnames,
    /// The uploaded build context (`sha256:…`), if any.
    pub context: Option<String>,
    /// The build's output, once built (a rollback carries its snapshot's).
    pub artifact: Option<String>,
    /// The app's secrets, opened: filled by the server (which holds the key ring) before the
    /// release is applied; the store's view leaves it empty.
    pub secrets: crate::secrets::Secrets,
    /// The app's last restart (see [`Operated::restarted_at_ms`]).
    pub restarted_at_ms: Option<i64>,
}

impl ReleaseView {
    /// What a runtime must make true for this release of `org/app`.
    pub fn desired(&self, org: &str, app: &str) -> DesiredWorkload {
        DesiredWorkload {
            org: org.to_string(),
            app: app.to_string(),
            release: self.version,
            spec: self.spec.clone(),
            artifact: self.artifact.clone(),
            hostnames: self.hostnames.clone(),
            secrets: self.secrets.clone(),
            restarted_at_ms: self.restarted_at_ms,
        }
    }
}

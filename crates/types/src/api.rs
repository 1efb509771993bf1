//! Request, response and error bodies of the HTTP API (SPEC §6) and the JSON shapes 1ctl
//! prints (SPEC §5).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::readiness::Phase;
use crate::release::ReleaseStatus;
use crate::spec::{AppSpec, Hostname};

/// A token's role within its org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `GET /v1/whoami`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Whoami {
    pub org: String,
    pub role: Role,
}

/// One API token of an org, as `GET /v1/orgs/{org}/tokens` lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiToken {
    /// `tok_…`: names the token for `DELETE …/tokens/{id}`; not a secret.
    pub id: String,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub name: Option<String>,
    pub role: Role,
    /// RFC 3339.
    pub created_at: String,
    /// When it stops working (RFC 3339); `null`: it does not expire.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// When it was revoked (RFC 3339); `null`: it was not.
    #[serde(default)]
    pub revoked_at: Option<String>,
    /// When it last authenticated a request, to the minute (RFC 3339); `null`: never.
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// The id of the token that created it, or the command that did
    /// (`satusky token create`); `null` for tokens older than this field.
    #[serde(default)]
    pub created_by: Option<String>,
}

/// `POST /v1/orgs/{org}/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// The new token's role; default `member` (the least that deploys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Lifetime: a whole number and a unit (m, h, d, w), from 1h to 365d, e.g. `30d`.
    /// Without it the token does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]+[mhdw]$", max_length = 24)]
    pub expires_in: Option<String>,
    /// What the token is for (1–64 printable characters), e.g. `ci`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64)]
    pub name: Option<String>,
}

/// `201` answer to `POST /v1/orgs/{org}/tokens`: the token's secret, shown this once, and
/// its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The secret (`sky_…`). Only its hash is kept: it cannot be shown again.
    pub token: String,
    #[serde(flatten)]
    pub info: ApiToken,
}

/// `PUT /v1/orgs/{org}/apps/{app}`: the desired spec. `spec.name` must equal `{app}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutAppRequest {
    pub spec: AppSpec,
    /// The uploaded build context to build this release from (`sha256:…`, from
    /// `POST /v1/orgs/{org}/builds`). Without it, the spec's `image` is deployed as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Keep a replica count set with `1ctl app scale` instead of the spec's `replicas` (what
    /// `1ctl deploy` asks when satusky.toml does not set `replicas`). Default: the spec's
    /// count wins.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_scaled_replicas: bool,
}

/// `201` answer to a build-context upload (`POST /v1/orgs/{org}/builds`, body: tar.gz).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContextUploaded {
    /// Content digest of the uploaded archive; pass it as `context` when deploying.
    pub context: String,
    pub entries: u64,
    pub unpacked_bytes: u64,
}

/// One field of an invalid spec, as listed in a 422's `details.fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldErrorBody {
    /// The `satusky.toml` path of the field, e.g. `app.memory`.
    pub field: String,
    pub message: String,
}

/// `202 Accepted` answer to a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeployAccepted {
    pub app: String,
    pub org: String,
    pub generation: u64,
    /// The pending release this deploy created.
    pub release: u64,
    pub status: ReleaseStatus,
    /// True when this deploy created the app.
    pub created: bool,
    pub hostnames: Vec<Hostname>,
    /// The rollback release this deploy unpinned the app from, if it was pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpinned: Option<u64>,
    /// Domains added with `1ctl domains add` that `satusky.toml` does not list: kept (a
    /// deploy never drops them; `1ctl domains remove` does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    /// Env keys set with `1ctl env set` that `satusky.toml`'s `[env]` does not list: kept
    /// (a deploy never drops them; `1ctl env unset` does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_env: Vec<String>,
    /// What the deploy changes that the user should know (e.g. the build's env changed, so
    /// the app is built again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Changes staged with `--stage` that this deploy applied (e.g. `secret API_KEY set`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staged_applied: Vec<String>,
    /// The edge's HTTPS port when it is not 443 (e.g. 8443 on `satusky dev`): the app's URLs
    /// are `https://HOSTNAME:PORT/`. Absent when `https://HOSTNAME/` reaches the app (and from
    /// servers that predate this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
}

/// `POST …/apps/{app}/rollback`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The release to roll back to; default: the previous active release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// `202 Accepted` answer to a rollback: a new release reconciling an old snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RollbackAccepted {
    pub app: String,
    pub org: String,
    pub generation: u64,
    /// The new release (N+1), source `rollback(from=vK)`.
    pub release: u64,
    /// The release whose snapshot it reconciles (K).
    pub from: u64,
    pub status: ReleaseStatus,
    /// The image (or artifact) it runs — the snapshot's, never rebuilt.
    pub image: Option<String>,
    /// What a rollback does not revert, to tell the user.
    pub not_reverted: Vec<String>,
    /// The edge's HTTPS port when it is not 443, as in [`DeployAccepted::https_port`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
}

/// `POST …/apps/{app}/scale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleRequest {
    /// The replica count to run (0–1000); refused while `[hpa]` scales the app.
    #[schema(maximum = 1000)]
    pub replicas: u32,
}

/// `202 Accepted` answer to a scale or a restart: the active release runs on with the new
/// count (or fresh replicas); no release is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperationAccepted {
    pub app: String,
    pub org: String,
    /// `scale` or `restart`.
    pub operation: String,
    /// The app's generation after it: the readiness report describes this operation once its
    /// `observed_generation` is at least this.
    pub generation: u64,
    /// The active release it operates on (still the active one afterwards).
    pub release: u64,
    /// Replicas before and after.
    pub replicas_before: u32,
    pub replicas: u32,
    /// False when nothing changed (a scale to the count that already runs): nothing to wait
    /// for.
    pub changed: bool,
    /// The seq of the operation's event: its progress is in the app's events from there.
    pub event_seq: u64,
    /// The edge's HTTPS port when it is not 443, as in [`DeployAccepted::https_port`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
}

/// Who can fix a drift finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftOwner {
    /// The platform owns it (routes, records in its zone): it heals by reconciling again.
    Platform,
    /// The user owns it (a custom domain's DNS): reported with the fix.
    User,
}

impl DriftOwner {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftOwner::Platform => "platform",
            DriftOwner::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "platform" => Some(DriftOwner::Platform),
            "user" => Some(DriftOwner::User),
            _ => None,
        }
    }
}

/// One drift finding (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DriftFinding {
    pub hostname: String,
    /// `route`, `dns`, `tls` or `http`.
    pub plane: String,
    pub expected: String,
    pub observed: String,
    pub owner: DriftOwner,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// RFC 3339.
    pub first_seen: String,
    pub last_seen: String,
    pub healed_at: Option<String>,
}

/// `GET …/apps/{app}/drift`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DriftReport {
    pub app: String,
    pub org: String,
    /// When the drift checker last looked at this app (RFC 3339), if it has.
    pub checked_at: Option<String>,
    /// Why a check asked for (`?check=true`) did not run — a deploy in progress, no active
    /// release yet, no runtime — and when it will. `null` when it ran or none was asked for.
    #[serde(default)]
    pub not_checked: Option<String>,
    /// Open findings first, then healed ones, newest first.
    pub findings: Vec<DriftFinding>,
}

/// One entry of `app list` (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppSummary {
    pub name: String,
    pub org: String,
    pub generation: u64,
    pub active_release: Option<u64>,
    pub phase: Phase,
    pub hostnames: Vec<String>,
}

/// `app get` (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppDetail {
    pub name: String,
    pub org: String,
    pub generation: u64,
    pub spec: AppSpec,
    pub active_release: Option<u64>,
    pub target_release: Option<u64>,
    pub hostnames: Vec<String>,
    /// The same hostnames as domains: source, ownership proof, routed, TLS.
    #[serde(default)]
    pub domains: Vec<crate::domains::Domain>,
    /// The replica count set with `1ctl app scale`, which runs instead of `spec.replicas`
    /// (absent: the spec's count runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaled_replicas: Option<u32>,
    /// When `1ctl app restart` last replaced the replicas (RFC 3339), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    /// The marketplace template the app was last deployed from (`NAME@VERSION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Bindings the app takes part in: as the service whose output is written, or as the
    /// target whose secret holds it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<crate::templates::BindingInfo>,
    /// `host:port` where the org's other apps reach this one, whatever its `expose` (absent
    /// when the control plane has no runtime to say it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_address: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// What `DELETE …/apps/{app}` removed, and the volumes it kept or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppDeleted {
    pub app: String,
    pub org: String,
    pub releases_removed: u64,
    pub hostnames_released: Vec<String>,
    /// The bindings the app took part in, removed with it. A target keeps the secret a
    /// binding wrote (now pointing at nothing, when the service was destroyed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings_removed: Vec<crate::templates::BindingInfo>,
    /// The app's volumes, kept with their data (without `purge_volumes`): where each is and
    /// its size, e.g. `persistentvolumeclaim satusky-acme/web-data (5Gi)` or a local
    /// directory. An app deployed again under this name uses them; `DELETE` with
    /// `purge_volumes=true` deletes them, also once the app is gone.
    #[serde(default)]
    pub volumes_kept: Vec<String>,
    /// The app's volumes deleted with their data (with `purge_volumes`; deleted once the
    /// workload has stopped).
    #[serde(default)]
    pub volumes_purged: Vec<String>,
}

/// Stable, machine-readable error codes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    /// This control plane cannot do it (e.g. build contexts without a runtime that builds).
    NotImplemented,
    Internal,
    /// Not ready yet (e.g. `/readyz` while the engine restores the active releases after a
    /// start); retry shortly.
    Unavailable,
}

/// `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            error: ErrorBody {
                code,
                message: message.into(),
                details: None,
            },
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.error.details = Some(details);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_https_port_is_optional_both_ways() {
        // From a server that predates the field (or whose edge is on 443): none.
        let old = r#"{"app":"web","org":"acme","generation":1,"release":1,"status":"pending",
            "created":true,"hostnames":[]}"#;
        let a: DeployAccepted = serde_json::from_str(old).expect("parses");
        assert_eq!(a.https_port, None);
        let text = serde_json::to_string(&a).expect("json");
        assert!(!text.contains("https_port"), "{text}");
        let a = DeployAccepted {
            https_port: Some(8443),
            ..a
        };
        let v = serde_json::to_value(&a).expect("json");
        assert_eq!(v["https_port"], 8443);
    }
}

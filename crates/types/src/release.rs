//! Releases: versioned snapshots of an app, and their statuses (SPEC §3).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `pending` until its workload is ready (`active`), overtaken (`superseded`) or never ready
/// (`failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStatus {
    Pending,
    Active,
    Superseded,
    Failed,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Pending => "pending",
            ReleaseStatus::Active => "active",
            ReleaseStatus::Superseded => "superseded",
            ReleaseStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ReleaseStatus::Pending),
            "active" => Some(ReleaseStatus::Active),
            "superseded" => Some(ReleaseStatus::Superseded),
            "failed" => Some(ReleaseStatus::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `1ctl app releases` / `GET …/releases` (SPEC §5), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseInfo {
    pub version: u64,
    pub status: ReleaseStatus,
    /// What runs: the pinned image or build artifact (`sha256:…`) once built, else the given
    /// image; `null` while a build is pending.
    pub image: Option<String>,
    /// What made it: `deploy`, `rollback(from=vK)`, `env`, `secret`, `domain`.
    pub source: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The app generation this release reconciles.
    pub generation: u64,
    /// The versions of the app's secrets it was made with, by name (never values).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub secrets: std::collections::BTreeMap<String, u64>,
}

/// `GET …/releases/{version}/build`: what became of a release's build, and its whole log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BuildReport {
    pub app: String,
    pub org: String,
    pub release: u64,
    /// `ready` (built, or an earlier build reused), `in_progress`, `failed`, `not_applicable`
    /// (a prebuilt image: nothing to build) or `unknown` (overtaken before its build ended).
    pub state: crate::PlaneState,
    pub message: String,
    /// The build's output (artifact digest or pinned image), once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Whether the release runs an artifact an earlier release built (a rollback, a config
    /// change, or the same context, command and build env deployed again).
    pub reused: bool,
    /// The earliest release that has the same artifact, when it was reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<u64>,
    /// The build's log lines as they were kept (rate and size limits leave a marker line
    /// saying how many were dropped).
    pub log: Vec<String>,
    /// More lines were stored than one answer holds.
    #[serde(default)]
    pub truncated: bool,
}

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

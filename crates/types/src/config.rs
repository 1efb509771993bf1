//! An app's runtime configuration as the API shows and changes it: env values (shown, each with
//! who set it), secrets (names and versions only — no answer ever carries a value), the one
//! change body both accept, and the answer to a change (which may be a new release).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ReleaseStatus;

/// Who set an env key (or a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VarSource {
    /// `satusky.toml`'s `[env]`: a deploy adds, updates and removes these.
    File,
    /// `1ctl env set` / the API: a deploy keeps these (and says so).
    Cli,
}

impl VarSource {
    pub fn as_str(self) -> &'static str {
        match self {
            VarSource::File => "file",
            VarSource::Cli => "cli",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(VarSource::File),
            "cli" => Some(VarSource::Cli),
            _ => None,
        }
    }
}

/// What a staged change does to its key at the next deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StagedOp {
    Set,
    Unset,
}

impl StagedOp {
    pub fn as_str(self) -> &'static str {
        match self {
            StagedOp::Set => "set",
            StagedOp::Unset => "unset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "set" => Some(StagedOp::Set),
            "unset" => Some(StagedOp::Unset),
            _ => None,
        }
    }
}

/// One env key of an app (`GET …/env`). A change staged for the next deploy is listed as its
/// own entry with `staged` (and, for a set, the value it will have).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub source: VarSource,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// A change recorded with `--stage`, applied by the next deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<StagedOp>,
}

/// One secret of an app (`GET …/secrets`): never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretInfo {
    pub name: String,
    /// 1 for the first value, +1 for every change.
    pub version: u64,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// A change recorded with `--stage`, applied by the next deploy (its version is then the
    /// current one; the staged value gets the next).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<StagedOp>,
}

/// `PATCH …/env` and `PATCH …/secrets`: keys to set and keys to remove, in one change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    /// Keys to set, with their values.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Keys to remove.
    #[serde(default)]
    pub unset: Vec<String>,
    /// Record the change for the app's next deploy instead of rolling it out now (also while
    /// a deploy is in flight).
    #[serde(default)]
    pub stage: bool,
}

/// The answer to a change of env or secrets. A change of an app that runs is a new release
/// (source `config`) of the active release's artifact — never rebuilt; an app that does not
/// run yet keeps the values for its first deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigChanged {
    pub app: String,
    pub org: String,
    /// The keys whose value changed (set to a new value, or removed).
    pub changed: Vec<String>,
    /// Keys set to the value they already had, or removed while not set: no-ops.
    pub unchanged: Vec<String>,
    /// The new release rolling the change out, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<u64>,
    /// The release it copies (the active one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReleaseStatus>,
    /// The rollback release the app stays pinned to (a change does not end a pin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<u64>,
    /// The change was staged: the next deploy applies it.
    #[serde(default)]
    pub staged: bool,
    /// What happened, in one sentence (e.g. that the app has no running release yet).
    pub message: String,
    /// The edge's HTTPS port when it is not 443 (as in a deploy's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_port: Option<u16>,
}

/// `GET …/secrets/missing?names=A,B`: which of the named secrets the app lacks (what a deploy
/// with `[secrets] required` asks before it uploads anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretsMissing {
    pub missing: Vec<String>,
}

/// A release's snapshot of secret versions, by name.
pub type SecretVersions = BTreeMap<String, u64>;

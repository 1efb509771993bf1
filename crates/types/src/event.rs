//! Lifecycle events: persisted with a per-app sequence number and streamed over WebSocket
//! (SPEC §6). `data` is a JSON object whose shape depends on `type`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// `{"phase", "generation", "release"?}` — the app's phase changed.
    Phase,
    /// `{"release", "line"}` — one line of build output.
    BuildLog,
    /// `{"release", "desired", "updated", "ready", "available"}` — replica counts changed.
    Rollout,
    /// `{"release", "hostname" (null for build/workload), "plane" (build, workload, metadata, route, dns,
    /// tls, http), "state", "reason", "message", "remediation"?}` — one plane changed.
    Plane,
    /// `{"version", "status", "source"?, "image"?, "superseded_by"?, "failure"?}` — a release
    /// was created or changed status; `failure` is `{"dimension", "reason", "message"}`.
    Release,
    /// `{"hostname", "plane", "expected", "observed", …}`
    Drift,
    /// `{"hostname", "change", "message"}` — a domain was added, removed, kept by a deploy,
    /// verified, or lost to another org that proved ownership (`change`: `added`, `removed`,
    /// `kept`, `verified`, `lost`).
    Domain,
    /// `{"operation" (`scale`, `restart`), "release", "from"?, "to"?, "message"}` — the running
    /// release was scaled or restarted (no new release).
    Operation,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Phase => "phase",
            EventType::BuildLog => "build_log",
            EventType::Rollout => "rollout",
            EventType::Plane => "plane",
            EventType::Release => "release",
            EventType::Drift => "drift",
            EventType::Domain => "domain",
            EventType::Operation => "operation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "phase" => Some(EventType::Phase),
            "build_log" => Some(EventType::BuildLog),
            "rollout" => Some(EventType::Rollout),
            "plane" => Some(EventType::Plane),
            "release" => Some(EventType::Release),
            "drift" => Some(EventType::Drift),
            "domain" => Some(EventType::Domain),
            "operation" => Some(EventType::Operation),
            _ => None,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{seq, at, type, app, data}` (SPEC §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: u64,
    /// RFC 3339, UTC, millisecond precision.
    pub at: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub app: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

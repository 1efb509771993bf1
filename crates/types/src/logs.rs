//! An app's runtime log lines as the API gives them (`GET …/apps/{app}/logs`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line a replica wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// Per app, increasing: where a follower resumes (`after=SEQ`).
    pub seq: u64,
    /// When it was captured: RFC 3339, UTC, milliseconds.
    pub at: String,
    /// The release the replica runs.
    pub release: u64,
    /// The replica: its index on the local runtime (`0`, `1`, …), the pod's name on Kubernetes.
    pub replica: String,
    pub stream: LogStream,
    /// The line, without its newline; an over-long line is cut and ends with a marker saying
    /// how many bytes were dropped. A line the capture itself writes (e.g. "… lines dropped")
    /// starts with `[satusky]`.
    pub line: String,
}

//! The engine's pending work for an app (stored in `apps.work`): which release, which step,
//! and the start times its deadlines count from — kept across control-plane restarts.

use serde::{Deserialize, Serialize};

/// A step of the work on one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Build,
    Apply,
    Rollout,
    Endpoints,
}

/// The engine's pending work for an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    pub release: u64,
    pub step: Step,
    /// When the rollout was first applied (the progress deadline counts from here).
    #[serde(default)]
    pub rollout_started_ms: Option<i64>,
    /// When the build first started (the build timeout counts from here, across restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_started_ms: Option<i64>,
    /// When the endpoint planes were first checked for this release (they may take
    /// [`super::ENDPOINT_SETTLE`] to settle before the work is done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints_started_ms: Option<i64>,
}

impl Work {
    /// The work of a new release: build first.
    pub fn new(release: u64) -> Self {
        Work {
            release,
            step: Step::Build,
            rollout_started_ms: None,
            build_started_ms: None,
            endpoints_started_ms: None,
        }
    }

    /// The same work at `step`.
    pub fn at(&self, step: Step) -> Self {
        Work {
            step,
            ..self.clone()
        }
    }

    /// Read the stored form; `None` when it is not a work document.
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }
}

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
    /// Set when the work re-applies the active release for `1ctl app scale` or `app
    /// restart`: no release is made, none fails (a rollout that does not come up leaves the
    /// release active, its workload plane saying why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

/// An operation on the running release (SPEC §10: scale and restart are not releases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Operation {
    /// The desired replica count changed from `from` to `to`.
    Scale { from: u32, to: u32 },
    /// Every replica is replaced, one ready before an old one goes.
    Restart,
}

impl Operation {
    /// `scale` or `restart` (the `operation` event's field).
    pub fn name(self) -> &'static str {
        match self {
            Operation::Scale { .. } => "scale",
            Operation::Restart => "restart",
        }
    }

    /// What the operation does, as the workload plane says while it runs.
    pub fn describe(self) -> String {
        match self {
            Operation::Scale { from, to } => format!("scaling from {from} to {to} replicas"),
            Operation::Restart => {
                "restarting: every replica is replaced, a new one ready before an old one stops"
                    .to_string()
            }
        }
    }
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
            operation: None,
        }
    }

    /// The work of `operation` on the active release `release`: apply it again.
    pub fn operate(release: u64, operation: Operation) -> Self {
        Work {
            step: Step::Apply,
            operation: Some(operation),
            ..Work::new(release)
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

//! The step function: from the stored app, its release and the outcome of the executor's
//! last action, decide the next status document (with its events), how the release and the
//! work move, and the next action. Plane text, remediation, rollout judgement, the build
//! timeout, the progress deadline and the endpoint settle time are all decided here.
//!
//! The executor loads, calls [`next`], saves the decision (status, then release, then work,
//! each only while the work's release is still the app's target), performs the action and
//! loads again, handing the action's result back as a [`Tagged`] outcome. An outcome for a
//! release or step the work has moved past was overtaken by a newer deploy: it is not
//! applied (a finished build still records its artifact on its own release).

use std::time::Duration;

use satusky_types::{EventType, Plane, PlaneState, Reason};
use serde_json::{Value, json};

use super::endpoints::{RouteReading, endpoint_reports};
use super::{AppView, ReleaseView, StatusDoc, Step, Work, diff_events, initial_doc};
use crate::errors::error_chain;
use crate::lifecycle::{
    WorkloadVerdict, build_time_left, build_timeout_plane, judge_workload, merge_plane,
};
use crate::runtime::{
    BuildFailure, BuildOutput, BuildRequest, DesiredWorkload, ProbedEndpoint, RuntimeError,
    WorkloadObservation,
};

/// How often a rollout is observed.
pub const OBSERVE_EVERY: Duration = Duration::from_millis(250);
/// Pause before retrying after a store or runtime error.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
/// After the workload is ready, how long the endpoint planes may take to settle before the
/// engine records what it sees (the periodic sweep keeps checking afterwards).
pub const ENDPOINT_SETTLE: Duration = Duration::from_secs(10);
/// Between endpoint checks while settling.
pub const ENDPOINT_RECHECK: Duration = Duration::from_millis(500);
/// How long past its timeout a build may take to be stopped by the runtime before the
/// executor gives up on it (the runtime kills and reaps the process group in well under a
/// second).
pub const BUILD_STOP_GRACE: Duration = Duration::from_secs(30);

/// The engine's tunables that decisions depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRules {
    /// How long a build may run, counted from its first start.
    pub build_timeout: Duration,
}

/// What an action produced.
#[derive(Debug)]
pub enum Outcome {
    Built(Result<BuildOutput, BuildFailure>),
    Applied(Result<(), RuntimeError>),
    Observed(Result<WorkloadObservation, RuntimeError>),
    /// The route plane from the runtime and DNS/TLS/HTTP from the prober (`None`: no prober).
    Probed {
        routes: RouteReading,
        probed: Option<Vec<ProbedEndpoint>>,
    },
}

/// An outcome with the work it was produced for.
#[derive(Debug)]
pub struct Tagged {
    pub release: u64,
    pub step: Step,
    /// The app's generation the action was decided at: a scale or restart written since keeps
    /// the release and may be at the same step, but its action was not performed yet.
    pub generation: u64,
    pub outcome: Outcome,
}

/// How the stored work moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkChange {
    Keep,
    Set(Work),
    /// The work is finished (or failed): clear it.
    Done,
}

/// How the releases move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseChange {
    None,
    /// Record a build's output on `version`.
    Artifact {
        version: u64,
        artifact: String,
    },
    /// The work's release failed in `dimension` (`build`, `workload`); the previous active
    /// release keeps serving.
    Fail {
        dimension: &'static str,
        plane: Plane,
    },
    /// The work's release serves: it becomes active (older ones superseded).
    Activate,
}

impl ReleaseChange {
    /// The failure record stored on a failed release.
    pub fn failure_record(&self) -> Option<Value> {
        match self {
            ReleaseChange::Fail { dimension, plane } => Some(
                json!({"dimension": dimension, "reason": plane.reason, "message": plane.message}),
            ),
            _ => None,
        }
    }
}

/// What the executor must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Build the context (the request carries what is left of the timeout).
    Build(BuildRequest),
    /// Make the runtime match this release.
    Apply(DesiredWorkload),
    /// Read the workload back after a pause.
    Observe { after: Duration },
    /// Read the routes and probe the endpoints after a pause, expecting `serving`.
    Probe { after: Duration, serving: u64 },
    /// Load again after a pause (a store or runtime error).
    Retry { after: Duration },
    /// Load again now.
    Continue,
    /// Nothing left to do for this work.
    Stop,
}

/// One step's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The status document to save (`None`: unchanged).
    pub status: Option<StatusDoc>,
    /// The events saving it produces (plane, rollout, phase), in order.
    pub events: Vec<(EventType, Value)>,
    pub release: ReleaseChange,
    pub work: WorkChange,
    pub action: Action,
}

impl Decision {
    fn act(action: Action) -> Self {
        Decision {
            status: None,
            events: Vec::new(),
            release: ReleaseChange::None,
            work: WorkChange::Keep,
            action,
        }
    }

    fn with_status(mut self, app: &AppView, doc: StatusDoc) -> Self {
        self.events = status_events(app, &doc);
        self.status = Some(doc);
        self
    }

    fn with_work(mut self, work: WorkChange) -> Self {
        self.work = work;
        self
    }

    fn with_release(mut self, release: ReleaseChange) -> Self {
        self.release = release;
        self
    }
}

/// The events that saving `new` over the app's stored document produces: one `plane` event
/// per changed plane, `rollout` when replica counts changed, `phase` when the phase changed.
/// The one diff rule for deploys, the sweep and the restore.
pub fn status_events(app: &AppView, new: &StatusDoc) -> Vec<(EventType, Value)> {
    let old = app.status.as_ref();
    let old_phase = old.map(StatusDoc::phase).unwrap_or(app.phase);
    diff_events(old, new, app.generation, old_phase)
}

/// The step: what to do for `app`'s pending work, given its `release` (as stored; `None`
/// when the work names a missing release) and the outcome of the last action.
pub fn next(
    app: &AppView,
    release: Option<&ReleaseView>,
    last: Option<Tagged>,
    rules: &EngineRules,
    now_ms: i64,
) -> Decision {
    let Some(work) = app.work.as_ref() else {
        return Decision::act(Action::Stop);
    };
    let Some(release) = release.filter(|r| r.version == work.release) else {
        // The work names a release the store does not hold: drop it.
        return Decision::act(Action::Stop).with_work(WorkChange::Done);
    };
    let outcome = match last {
        Some(t)
            if t.release == work.release
                && t.step == work.step
                && t.generation == app.generation =>
        {
            Some(t.outcome)
        }
        // Overtaken mid-build: the artifact still belongs to its own release.
        Some(Tagged {
            release: version,
            outcome: Outcome::Built(Ok(out)),
            ..
        }) if version != work.release => {
            return Decision::act(Action::Continue).with_release(ReleaseChange::Artifact {
                version,
                artifact: out.artifact,
            });
        }
        _ => None,
    };
    let step = Ctx {
        app,
        release,
        work,
        rules,
        now: now_ms,
        old: current_doc(app, work.release, now_ms),
    };
    match (work.step, outcome) {
        (Step::Build, Some(Outcome::Built(result))) => step.built(result),
        (Step::Build, _) => step.build(),
        (Step::Apply, Some(Outcome::Applied(result))) => step.applied(result),
        (Step::Apply, _) => step.apply(),
        (Step::Rollout, Some(Outcome::Observed(result))) => step.observed(result),
        (Step::Rollout, _) => Decision::act(Action::Observe {
            after: Duration::ZERO,
        }),
        (Step::Endpoints, Some(Outcome::Probed { routes, probed })) => {
            step.probed(&routes, probed.as_deref())
        }
        (Step::Endpoints, _) => step.endpoints(),
    }
}

/// The decision for work whose release is stored but no longer passes this control plane's
/// checks (`error` says what): it fails, with the fix; the active release keeps serving.
pub fn unusable_release(app: &AppView, version: u64, error: &str, now_ms: i64) -> Decision {
    let Some(work) = app.work.as_ref().filter(|w| w.release == version) else {
        return Decision::act(Action::Stop);
    };
    let old = current_doc(app, work.release, now_ms);
    let mut doc = old.clone();
    if !old.build.state.is_satisfied() {
        doc.build = merge_plane(
            Some(&old.build),
            Plane::new(
                PlaneState::NotApplicable,
                Reason::NotApplicable,
                "not built: the stored spec no longer validates",
            ),
            now_ms,
        );
    }
    doc.workload.plane = merge_plane(
        Some(&old.workload.plane),
        WorkloadVerdict::Failed {
            reason: Reason::InvalidSpec,
            message: error.to_string(),
        }
        .plane(),
        now_ms,
    );
    let plane = doc.workload.plane.clone();
    let release = match work.operation {
        Some(_) => ReleaseChange::None, // an operation never fails the active release
        None => ReleaseChange::Fail {
            dimension: "workload",
            plane,
        },
    };
    Decision::act(Action::Stop)
        .with_status(app, doc)
        .with_release(release)
        .with_work(WorkChange::Done)
}

/// Pending work a restarted control plane resumes: a rollout or endpoint check in progress
/// goes back to its apply (the runtime may have lost what was applied). `None`: unchanged.
pub fn resume_after_restart(work: &Work) -> Option<Work> {
    matches!(work.step, Step::Rollout | Step::Endpoints).then(|| Work {
        endpoints_started_ms: None,
        ..work.at(Step::Apply)
    })
}

/// For the periodic sweep: the release expected to answer and the stored document to update,
/// when `app` has an active release, no pending work, and a document for its target release.
pub fn recheck(app: &AppView) -> Option<(u64, &StatusDoc)> {
    if app.work.is_some() {
        return None;
    }
    let (Some(active), Some(target)) = (app.active_release, app.target_release) else {
        return None;
    };
    let doc = app.status.as_ref().filter(|d| d.release == Some(target))?;
    Some((active, doc))
}

/// The stored status document for `release`, or the initial one.
fn current_doc(app: &AppView, release: u64, now_ms: i64) -> StatusDoc {
    match &app.status {
        Some(doc) if doc.release == Some(release) => doc.clone(),
        _ => initial_doc(app, true, now_ms),
    }
}

struct Ctx<'a> {
    app: &'a AppView,
    release: &'a ReleaseView,
    work: &'a Work,
    rules: &'a EngineRules,
    now: i64,
    /// The document for the work's release as stored (or its initial form).
    old: StatusDoc,
}

impl Ctx<'_> {
    fn build(self) -> Decision {
        // A rollback carries the snapshot's artifact: it is never rebuilt.
        if let Some(artifact) = &self.release.artifact {
            let built = Plane::new(
                PlaneState::Ready,
                Reason::Built,
                format!("reusing {artifact} ({}; not rebuilt)", self.release.source),
            );
            return self.start_rollout(Some(built));
        }
        let Some(context) = self.release.context.clone() else {
            if self.release.spec.image.is_some() {
                return self.start_rollout(None);
            }
            let mut doc = self.old.clone();
            doc.build = merge_plane(
                Some(&self.old.build),
                Plane::new(
                    PlaneState::Failed,
                    Reason::BuildFailed,
                    "nothing to build or run: no build context was uploaded and no image is set",
                )
                .with_remediation(
                    "run `1ctl deploy` in the app's folder (it uploads the context), or set [app] image",
                ),
                self.now,
            );
            return self.fail("build", doc, |d| d.build.clone());
        };
        // The build timeout counts from the build's FIRST start, kept in the work document,
        // so a build resumed after a restart only gets what is left (one past it fails now).
        let limit = self.rules.build_timeout;
        let first_started = self.work.build_started_ms.unwrap_or(self.now);
        let Some(time_left) = build_time_left(first_started, limit, self.now) else {
            return self.fail_build(build_timeout_plane(limit, &[]));
        };
        let mut doc = self.old.clone();
        doc.build = merge_plane(
            Some(&self.old.build),
            Plane::new(
                PlaneState::InProgress,
                Reason::Building,
                match &self.release.spec.build.command {
                    Some(c) => format!("running `{c}`"),
                    None => "unpacking the context (no build command)".to_string(),
                },
            ),
            self.now,
        );
        let work = match self.work.build_started_ms {
            Some(_) => WorkChange::Keep,
            None => WorkChange::Set(Work {
                build_started_ms: Some(first_started),
                ..self.work.clone()
            }),
        };
        Decision::act(Action::Build(BuildRequest {
            org: self.app.org.clone(),
            app: self.app.name.clone(),
            release: self.release.version,
            context,
            spec: self.release.spec.spec().clone(),
            timeout: Some(time_left),
        }))
        .with_status(self.app, doc)
        .with_work(work)
    }

    fn built(self, result: Result<BuildOutput, BuildFailure>) -> Decision {
        match result {
            Ok(out) => {
                let how = if out.reused { "reused" } else { "built" };
                let built = Plane::new(
                    PlaneState::Ready,
                    Reason::Built,
                    format!("{how} {}", out.artifact),
                );
                let version = self.release.version;
                self.start_rollout(Some(built))
                    .with_release(ReleaseChange::Artifact {
                        version,
                        artifact: out.artifact,
                    })
            }
            Err(f) if f.timed_out => {
                let plane = build_timeout_plane(self.rules.build_timeout, &f.log_tail);
                self.fail_build(plane)
            }
            Err(f) => {
                let mut message = f.message;
                if !f.log_tail.is_empty() {
                    message.push('\n');
                    message.push_str(&f.log_tail.join("\n"));
                }
                let plane = Plane::new(PlaneState::Failed, Reason::BuildFailed, message)
                    .with_remediation(
                        "fix the build command or the code; the log above shows why it failed",
                    );
                self.fail_build(plane)
            }
        }
    }

    /// Record the failed build plane (the workload will not start) and fail the release.
    fn fail_build(self, plane: Plane) -> Decision {
        let mut doc = self.old.clone();
        doc.build = merge_plane(Some(&self.old.build), plane, self.now);
        doc.workload.plane = merge_plane(
            Some(&self.old.workload.plane),
            Plane::new(
                PlaneState::NotApplicable,
                Reason::NotApplicable,
                "not started: the build failed",
            ),
            self.now,
        );
        self.fail("build", doc, |d| d.build.clone())
    }

    /// The build is done (or not needed): record `build` (when given), mark the workload as
    /// starting, and move to the apply step.
    fn start_rollout(self, build: Option<Plane>) -> Decision {
        let mut doc = self.old.clone();
        if let Some(b) = build {
            doc.build = merge_plane(Some(&self.old.build), b, self.now);
        }
        doc.workload.plane = merge_plane(
            Some(&self.old.workload.plane),
            Plane::new(
                PlaneState::Pending,
                Reason::RolloutPending,
                "starting the rollout",
            ),
            self.now,
        );
        Decision::act(Action::Continue)
            .with_status(self.app, doc)
            .with_work(WorkChange::Set(self.work.at(Step::Apply)))
    }

    /// Save `doc`, fail the release in `dimension` with the plane `which` picks, finish.
    fn fail(
        self,
        dimension: &'static str,
        doc: StatusDoc,
        which: impl Fn(&StatusDoc) -> Plane,
    ) -> Decision {
        let plane = which(&doc);
        // Scaling or restarting the active release never fails it: it stays the release
        // that runs, and its workload plane (and so the phase) says what went wrong.
        let release = match self.work.operation {
            Some(_) => ReleaseChange::None,
            None => ReleaseChange::Fail { dimension, plane },
        };
        Decision::act(Action::Stop)
            .with_status(self.app, doc)
            .with_release(release)
            .with_work(WorkChange::Done)
    }

    fn apply(self) -> Decision {
        // The progress deadline counts from the first apply (also across retries/restarts).
        let work = match self.work.rollout_started_ms {
            Some(_) => WorkChange::Keep,
            None => WorkChange::Set(Work {
                rollout_started_ms: Some(self.now),
                ..self.work.clone()
            }),
        };
        let decision = Decision::act(Action::Apply(
            self.release.desired(&self.app.org, &self.app.name),
        ))
        .with_work(work);
        match self.work.operation {
            // An operation's first apply says what it does; the build stays as it was (or,
            // when the stored document described another release, says nothing is built).
            Some(op) if self.work.rollout_started_ms.is_none() => {
                let mut doc = self.old.clone();
                if !doc.build.state.is_satisfied() {
                    doc.build = merge_plane(
                        Some(&self.old.build),
                        Plane::new(
                            PlaneState::Ready,
                            Reason::Built,
                            format!(
                                "v{} runs as built ({}; not rebuilt)",
                                self.release.version,
                                op.name()
                            ),
                        ),
                        self.now,
                    );
                }
                doc.workload.plane = merge_plane(
                    Some(&self.old.workload.plane),
                    Plane::new(PlaneState::InProgress, Reason::Progressing, op.describe()),
                    self.now,
                );
                decision.with_status(self.app, doc)
            }
            _ => decision,
        }
    }

    fn applied(self, result: Result<(), RuntimeError>) -> Decision {
        match result {
            Ok(()) => Decision::act(Action::Continue).with_work(WorkChange::Set(Work {
                rollout_started_ms: Some(self.work.rollout_started_ms.unwrap_or(self.now)),
                ..self.work.at(Step::Rollout)
            })),
            Err(e) => match e.failure() {
                // Permanent for this release: fail it now; the previous active release keeps
                // serving (nothing was stopped).
                Some(reason) => {
                    let mut doc = self.old.clone();
                    doc.workload.plane = merge_plane(
                        Some(&self.old.workload.plane),
                        WorkloadVerdict::Failed {
                            reason,
                            message: error_chain(&e),
                        }
                        .plane(),
                        self.now,
                    );
                    self.fail("workload", doc, |d| d.workload.plane.clone())
                }
                None => {
                    let mut doc = self.old.clone();
                    doc.workload.plane = merge_plane(
                        Some(&self.old.workload.plane),
                        Plane::new(
                            PlaneState::Pending,
                            Reason::RolloutPending,
                            format!(
                                "the runtime refused the apply: {}; retrying",
                                error_chain(&e)
                            ),
                        ),
                        self.now,
                    );
                    Decision::act(Action::Retry { after: RETRY_AFTER }).with_status(self.app, doc)
                }
            },
        }
    }

    fn observed(self, result: Result<WorkloadObservation, RuntimeError>) -> Decision {
        let Ok(obs) = result else {
            return Decision::act(Action::Retry { after: RETRY_AFTER });
        };
        let version = self.release.version;
        let started = self.work.rollout_started_ms.unwrap_or(self.now);
        // The runtime's own desired count wins when it has one: with an HPA the cluster, not
        // the spec, decides how many replicas there are.
        let desired = if obs.release == Some(version) && obs.replicas.desired > 0 {
            obs.replicas.desired
        } else {
            self.release.spec.replicas
        };
        let verdict = judge_workload(
            &obs,
            version,
            desired,
            started,
            self.release.spec.deploy.progress_deadline_seconds,
            self.now,
        );
        let mut doc = self.old.clone();
        doc.workload.plane = merge_plane(Some(&self.old.workload.plane), verdict.plane(), self.now);
        if obs.release == Some(version) {
            doc.workload.replicas = obs.replicas;
            doc.workload.replicas.desired = desired;
        }
        match verdict {
            WorkloadVerdict::Progressing { .. } => Decision::act(Action::Observe {
                after: OBSERVE_EVERY,
            })
            .with_status(self.app, doc),
            WorkloadVerdict::Failed { .. } => {
                self.fail("workload", doc, |d| d.workload.plane.clone())
            }
            WorkloadVerdict::Ready { .. } => Decision::act(Action::Continue)
                .with_status(self.app, doc)
                .with_release(match self.work.operation {
                    Some(_) => ReleaseChange::None, // it is the active release already
                    None => ReleaseChange::Activate,
                })
                .with_work(WorkChange::Set(self.work.at(Step::Endpoints))),
        }
    }

    fn endpoints(self) -> Decision {
        let work = match self.work.endpoints_started_ms {
            Some(_) => WorkChange::Keep,
            None => WorkChange::Set(Work {
                endpoints_started_ms: Some(self.now),
                ..self.work.clone()
            }),
        };
        Decision::act(Action::Probe {
            after: Duration::ZERO,
            serving: self.release.version,
        })
        .with_work(work)
    }

    fn probed(self, routes: &RouteReading, probed: Option<&[ProbedEndpoint]>) -> Decision {
        let mut doc = self.old.clone();
        doc.endpoints = endpoint_reports(self.app, &self.old, routes, probed, self.now);
        let all_ready = doc.endpoints.iter().all(|e| e.is_ready());
        let started = self.work.endpoints_started_ms.unwrap_or(self.now);
        let settle_ms = i64::try_from(ENDPOINT_SETTLE.as_millis()).unwrap_or(i64::MAX);
        if all_ready || self.now.saturating_sub(started) >= settle_ms {
            Decision::act(Action::Stop)
                .with_status(self.app, doc)
                .with_work(WorkChange::Done)
        } else {
            Decision::act(Action::Probe {
                after: ENDPOINT_RECHECK,
                serving: self.release.version,
            })
            .with_status(self.app, doc)
        }
    }
}

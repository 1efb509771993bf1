//! [`Sim`]: the engine's step function driven in memory. It holds what the store would (the
//! app with its status and work documents, the releases, the events) and applies each
//! [`Decision`] the way the server's executor saves it; it performs each action on the
//! [`FakeRuntime`] / [`FakeProber`] synchronously (their futures are ready at once) and feeds
//! the outcome back. A test steps one decision at a time, or runs until the work stops, and
//! can move the clock, deploy again mid-step or "restart" between steps.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use satusky_core::engine::endpoint_targets;
use satusky_core::engine::{
    Action, AppView, Decision, EngineRules, Operation, Outcome, ReleaseChange, ReleaseView, Tagged,
    Work, WorkChange, next, resume_after_restart,
};
use satusky_core::lifecycle::on_release_ready;
use satusky_core::runtime::{EndpointProber, LogSink, Runtime};
use satusky_core::{AppHostnames, ValidatedApp};
use satusky_types::{AppSpec, EventType, Phase, ReleaseStatus};
use serde_json::Value;

use crate::fake::{FakeProber, FakeRuntime};

/// The zone the simulated apps' generated hostnames are in.
pub const ZONE: &str = "apps.test";
/// The simulated clock's start (epoch ms).
pub const T0: i64 = 1_800_000_000_000;

/// One release as the simulated store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRelease {
    pub view: ReleaseView,
    pub status: ReleaseStatus,
    /// The failure record of a failed release.
    pub failure: Option<Value>,
}

/// The engine's step function with an in-memory store and scripted fakes.
pub struct Sim {
    pub app: AppView,
    pub releases: Vec<SimRelease>,
    /// Every event saved, in order.
    pub events: Vec<(EventType, Value)>,
    /// Build log lines the runtime wrote.
    pub build_log: Arc<std::sync::Mutex<Vec<String>>>,
    pub runtime: Arc<FakeRuntime>,
    /// `None`: no prober is configured.
    pub prober: Option<Arc<FakeProber>>,
    pub rules: EngineRules,
    /// The clock (epoch ms); each step reads it, [`Sim::advance`] moves it.
    pub now: i64,
    /// The outcome of the last action, for the next step.
    pending: Option<Tagged>,
    /// The pause the last action asked for before it ran (observe / probe / retry).
    pub last_pause: Option<Duration>,
}

impl Sim {
    /// `org/app` just deployed as release v1 of `spec`, with an uploaded context (`None`: the
    /// spec's image is run), hostnames: the generated one.
    pub fn deploy(org: &str, name: &str, spec: AppSpec, context: Option<&str>) -> Self {
        let hostnames = vec![crate::spec::generated(org, name, ZONE)];
        let public = spec.expose.is_public();
        let app = AppView {
            org: org.to_string(),
            name: name.to_string(),
            generation: 1,
            spec: spec.clone(),
            hostnames: hostnames.clone(),
            domains: crate::spec::routed_domains(org, &hostnames),
            active_release: None,
            target_release: Some(1),
            phase: Phase::Accepted,
            updated_at_ms: T0,
            status: None,
            work: Some(Work::new(1)),
            operated: Default::default(),
        };
        Sim {
            app,
            releases: vec![SimRelease {
                view: ReleaseView {
                    version: 1,
                    source: "deploy".to_string(),
                    spec: validated(spec),
                    hostnames: AppHostnames::new(if public {
                        hostnames.clone()
                    } else {
                        Vec::new()
                    })
                    .expect("valid hostnames"),
                    context: context.map(str::to_string),
                    artifact: None,
                    secrets: Default::default(),
                    restarted_at_ms: None,
                },
                status: ReleaseStatus::Pending,
                failure: None,
            }],
            events: Vec::new(),
            build_log: Arc::default(),
            runtime: FakeRuntime::new(),
            prober: Some(FakeProber::new()),
            rules: EngineRules {
                build_timeout: Duration::from_secs(30 * 60),
            },
            now: T0,
            pending: None,
            last_pause: None,
        }
    }

    /// A new release of the app (a deploy of `spec`, or a rollback carrying `artifact`):
    /// it becomes the target with fresh work, older pending releases are superseded — what
    /// the store does when a deploy is accepted.
    pub fn redeploy(
        &mut self,
        spec: AppSpec,
        context: Option<&str>,
        artifact: Option<&str>,
    ) -> u64 {
        let version = self.releases.len() as u64 + 1;
        for r in &mut self.releases {
            if r.status == ReleaseStatus::Pending {
                r.status = ReleaseStatus::Superseded;
            }
        }
        self.releases.push(SimRelease {
            view: ReleaseView {
                version,
                source: match artifact {
                    Some(_) => format!("rollback(from=v{})", version - 1),
                    None => "deploy".to_string(),
                },
                spec: validated(spec.clone()),
                hostnames: AppHostnames::new(if spec.expose.is_public() {
                    self.app.hostnames.clone()
                } else {
                    Vec::new()
                })
                .expect("valid hostnames"),
                context: context.map(str::to_string),
                artifact: artifact.map(str::to_string),
                secrets: Default::default(),
                restarted_at_ms: None,
            },
            status: ReleaseStatus::Pending,
            failure: None,
        });
        self.app.spec = spec;
        self.app.generation += 1;
        self.app.target_release = Some(version);
        self.app.work = Some(Work::new(version));
        version
    }

    /// `1ctl app scale` / `app restart` of the active release, as the store records it: the
    /// app's operated state changes, the generation moves on, the target is the active
    /// release again and the work re-applies it.
    pub fn operate(&mut self, op: Operation) {
        let active = self
            .app
            .active_release
            .expect("an active release to operate");
        match op {
            Operation::Scale { to, .. } => self.app.operated.replicas = Some(to),
            Operation::Restart => self.app.operated.restarted_at_ms = Some(self.now),
        }
        let r = &mut self.releases[(active - 1) as usize].view;
        if let Some(n) = self.app.operated.replicas {
            r.spec = r.spec.with_replicas(n).expect("a valid count");
        }
        r.restarted_at_ms = self.app.operated.restarted_at_ms;
        self.app.generation += 1;
        self.app.target_release = Some(active);
        // The outcome of an action already performed stays pending, as it does in the
        // executor when a request arrives while an action runs.
        self.app.work = Some(Work::operate(active, op));
    }

    /// The control plane restarts: the last action's outcome is lost, and the work is resumed
    /// as `Engine::start` resumes it.
    pub fn restart(&mut self) {
        self.pending = None;
        if let Some(back) = self.app.work.as_ref().and_then(resume_after_restart) {
            self.app.work = Some(back);
        }
    }

    /// Move the clock.
    pub fn advance(&mut self, by: Duration) {
        self.now += i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    }

    pub fn release(&self, version: u64) -> &SimRelease {
        &self.releases[(version - 1) as usize]
    }

    /// Decide the next step and save it (as the executor does), without performing its action.
    pub fn decide(&mut self) -> Decision {
        let release = self
            .app
            .work
            .as_ref()
            .and_then(|w| self.releases.get((w.release as usize).wrapping_sub(1)))
            .map(|r| r.view.clone());
        let d = next(
            &self.app,
            release.as_ref(),
            self.pending.take(),
            &self.rules,
            self.now,
        );
        self.save(&d);
        d
    }

    /// Perform `d`'s action on the fakes; its outcome feeds the next [`Sim::decide`].
    /// Pauses (observe/probe/retry after D) move the clock by D.
    pub fn perform(&mut self, d: &Decision) {
        let Some(work) = self.app.work.clone() else {
            return;
        };
        let generation = self.app.generation;
        let tag = |outcome| {
            Some(Tagged {
                release: work.release,
                step: work.step,
                generation,
                outcome,
            })
        };
        self.last_pause = None;
        self.pending = match &d.action {
            Action::Stop | Action::Continue => None,
            Action::Retry { after } => {
                self.pause(*after);
                None
            }
            Action::Build(req) => {
                let log = Arc::clone(&self.build_log);
                let sink: LogSink = Arc::new(move |line: &str| {
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(line.to_string())
                });
                tag(Outcome::Built(ready(self.runtime.build(req.clone(), sink))))
            }
            Action::Apply(desired) => {
                tag(Outcome::Applied(ready(self.runtime.apply(desired.clone()))))
            }
            Action::Observe { after } => {
                self.pause(*after);
                tag(Outcome::Observed(ready(
                    self.runtime
                        .observe(self.app.org.clone(), self.app.name.clone()),
                )))
            }
            // What the executor's `read_endpoints` does: nothing is read for an app that is
            // not public.
            Action::Probe { after, .. } if !self.app.spec.expose.is_public() => {
                self.pause(*after);
                tag(Outcome::Probed {
                    routes: Ok(Vec::new()),
                    probed: None,
                })
            }
            Action::Probe { after, serving } => {
                self.pause(*after);
                let routes = ready(self.runtime.routes(
                    self.app.org.clone(),
                    self.app.name.clone(),
                    self.app.hostnames.clone(),
                ));
                let probed = self.prober.as_ref().map(|p| {
                    let zone = satusky_core::Zone::parse(ZONE).expect("the sim's zone");
                    let targets =
                        endpoint_targets(&self.app, *serving, &zone, &self.runtime.edge());
                    ready(p.check(targets))
                });
                tag(Outcome::Probed { routes, probed })
            }
        };
    }

    /// Decide and perform one step.
    pub fn step(&mut self) -> Decision {
        let d = self.decide();
        self.perform(&d);
        d
    }

    /// Step until a decision says stop (at most `max` steps); the decisions made.
    pub fn run(&mut self, max: usize) -> Vec<Decision> {
        let mut out = Vec::new();
        for _ in 0..max {
            let d = self.step();
            let stop = d.action == Action::Stop;
            out.push(d);
            if stop {
                break;
            }
        }
        out
    }

    /// The events saved so far of `kind`.
    pub fn events_of(&self, kind: EventType) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, v)| v)
            .collect()
    }

    fn pause(&mut self, by: Duration) {
        self.last_pause = Some(by);
        self.advance(by);
    }

    /// Save a decision like the executor: status and events, then the release, then the work.
    fn save(&mut self, d: &Decision) {
        if let Some(doc) = &d.status {
            if doc.release != self.app.target_release {
                return;
            }
            self.app.phase = doc.phase();
            self.app.status = Some(doc.clone());
            self.events.extend(d.events.iter().cloned());
        }
        let Some(work) = self.app.work.clone() else {
            return;
        };
        match &d.release {
            ReleaseChange::None => {}
            ReleaseChange::Artifact { version, artifact } => {
                self.releases[(*version - 1) as usize].view.artifact = Some(artifact.clone());
            }
            ReleaseChange::Fail { .. } => {
                let r = &mut self.releases[(work.release - 1) as usize];
                r.status = ReleaseStatus::Failed;
                r.failure = d.release.failure_record();
            }
            ReleaseChange::Activate => {
                let statuses: Vec<_> = self
                    .releases
                    .iter()
                    .map(|r| (r.view.version, r.status))
                    .collect();
                for (v, s) in on_release_ready(&statuses, work.release) {
                    self.releases[(v - 1) as usize].status = s;
                }
                self.app.active_release = Some(work.release);
            }
        }
        match &d.work {
            WorkChange::Keep => {}
            WorkChange::Set(w) => self.app.work = Some(w.clone()),
            WorkChange::Done => self.app.work = None,
        }
    }
}

/// `spec`, which a test means to be valid.
pub fn validated(spec: AppSpec) -> ValidatedApp {
    satusky_core::validate_spec(spec).expect("the test's spec is valid")
}

/// The value of a future that is ready at once (the fakes' futures are).
fn ready<T>(fut: impl Future<Output = T>) -> T {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fakes answer at once"),
    }
}

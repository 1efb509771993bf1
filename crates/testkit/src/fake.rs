//! A [`FakeRuntime`] and a [`FakeProber`] whose answers a test scripts call by call. Each
//! queue answers one call per entry; an empty queue gives the default (a build succeeds with
//! artifact `artifact-vN`, an apply succeeds, an observation repeats the last one — or says
//! nothing runs yet —, routes and probes are ready). Every call is recorded, so a test can
//! assert what the engine asked for as well as what it decided.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use satusky_core::runtime::{
    BoxFuture, BuildFailure, BuildOutput, BuildRequest, DesiredWorkload, EdgeInfo, EndpointProber,
    EndpointTarget, LogSink, ProbedEndpoint, Runtime, RuntimeError, WorkloadObservation,
};
use satusky_types::{Hostname, Plane, PlaneState, Reason, ReplicaCounts};

/// What the engine asked of the fakes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Build(BuildRequest),
    Apply(DesiredWorkload),
    Observe,
    Routes(Vec<String>),
    Probe(Vec<EndpointTarget>),
    Remove,
}

#[derive(Default)]
struct Script {
    builds: VecDeque<Result<BuildOutput, BuildFailure>>,
    build_logs: VecDeque<Vec<String>>,
    applies: VecDeque<Result<(), RuntimeError>>,
    observations: VecDeque<Result<WorkloadObservation, RuntimeError>>,
    last_observation: Option<WorkloadObservation>,
    routes: VecDeque<Result<Vec<Plane>, RuntimeError>>,
    calls: Vec<Call>,
}

/// A runtime that answers from a script.
#[derive(Default)]
pub struct FakeRuntime {
    script: Mutex<Script>,
}

impl FakeRuntime {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeRuntime::default())
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next build answers `result` (after writing `log` lines to the sink).
    pub fn on_build(&self, result: Result<BuildOutput, BuildFailure>, log: &[&str]) -> &Self {
        let mut s = self.script();
        s.builds.push_back(result);
        s.build_logs
            .push_back(log.iter().map(|l| l.to_string()).collect());
        self
    }

    /// The next apply answers `result`.
    pub fn on_apply(&self, result: Result<(), RuntimeError>) -> &Self {
        self.script().applies.push_back(result);
        self
    }

    /// The next observation answers `result` (an `Ok` one is repeated once the queue is empty).
    pub fn on_observe(&self, result: Result<WorkloadObservation, RuntimeError>) -> &Self {
        self.script().observations.push_back(result);
        self
    }

    /// The next routes reading answers `result`.
    pub fn on_routes(&self, result: Result<Vec<Plane>, RuntimeError>) -> &Self {
        self.script().routes.push_back(result);
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.script().calls.clone()
    }

    /// How many calls so far matched `which`.
    pub fn count(&self, which: impl Fn(&Call) -> bool) -> usize {
        self.script().calls.iter().filter(|c| which(c)).count()
    }
}

/// An observation of `release` with `ready` of `desired` replicas ready (and updated,
/// available), no old replicas, no failure.
pub fn observed(release: u64, desired: u32, ready: u32) -> WorkloadObservation {
    WorkloadObservation {
        release: Some(release),
        replicas: ReplicaCounts {
            desired,
            updated: ready,
            ready,
            available: ready,
        },
        failure: None,
        old: 0,
        waiting: None,
        exited: None,
        recovering: 0,
        static_files: None,
    }
}

/// A ready plane with `reason`.
pub fn ready(reason: Reason) -> Plane {
    Plane::new(PlaneState::Ready, reason, "ok")
}

impl Runtime for FakeRuntime {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn build(
        &self,
        req: BuildRequest,
        log: LogSink,
    ) -> BoxFuture<'_, Result<BuildOutput, BuildFailure>> {
        let (result, lines) = {
            let mut s = self.script();
            s.calls.push(Call::Build(req.clone()));
            let result = s.builds.pop_front().unwrap_or_else(|| {
                Ok(BuildOutput {
                    artifact: format!("artifact-v{}", req.release),
                    reused: false,
                })
            });
            (result, s.build_logs.pop_front().unwrap_or_default())
        };
        for line in &lines {
            log(line);
        }
        Box::pin(async move { result })
    }

    fn apply(&self, desired: DesiredWorkload) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let mut s = self.script();
        s.calls.push(Call::Apply(desired));
        let result = s.applies.pop_front().unwrap_or(Ok(()));
        Box::pin(async move { result })
    }

    fn observe(
        &self,
        _org: String,
        _app: String,
    ) -> BoxFuture<'_, Result<WorkloadObservation, RuntimeError>> {
        let mut s = self.script();
        s.calls.push(Call::Observe);
        let result = match s.observations.pop_front() {
            Some(r) => r,
            None => Ok(s.last_observation.clone().unwrap_or(WorkloadObservation {
                release: None,
                replicas: ReplicaCounts::default(),
                failure: None,
                old: 0,
                waiting: None,
                exited: None,
                recovering: 0,
                static_files: None,
            })),
        };
        if let Ok(o) = &result {
            s.last_observation = Some(o.clone());
        }
        Box::pin(async move { result })
    }

    fn routes(
        &self,
        _org: String,
        _app: String,
        hostnames: Vec<Hostname>,
    ) -> BoxFuture<'_, Result<Vec<Plane>, RuntimeError>> {
        let mut s = self.script();
        s.calls.push(Call::Routes(
            hostnames.iter().map(|h| h.hostname.clone()).collect(),
        ));
        let result = s
            .routes
            .pop_front()
            .unwrap_or_else(|| Ok(vec![ready(Reason::Accepted); hostnames.len()]));
        Box::pin(async move { result })
    }

    fn remove(&self, _org: String, _app: String) -> BoxFuture<'_, Result<(), RuntimeError>> {
        self.script().calls.push(Call::Remove);
        Box::pin(async { Ok(()) })
    }

    fn edge(&self) -> EdgeInfo {
        EdgeInfo {
            addresses: vec!["127.0.0.1".parse().expect("an address")],
            ..EdgeInfo::default()
        }
    }
}

/// A prober that answers from a script: each entry is the planes of one probe pass (one
/// `ProbedEndpoint` per target, in order); an empty queue answers every plane ready.
#[derive(Default)]
pub struct FakeProber {
    passes: Mutex<VecDeque<Vec<ProbedEndpoint>>>,
    seen: Mutex<Vec<Vec<EndpointTarget>>>,
}

impl FakeProber {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeProber::default())
    }

    /// The next probe pass answers `planes`.
    pub fn on_probe(&self, planes: Vec<ProbedEndpoint>) -> &Self {
        self.passes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(planes);
        self
    }

    /// The targets of every pass so far.
    pub fn seen(&self) -> Vec<Vec<EndpointTarget>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Every probed plane of `hostname` ready.
pub fn all_ready(hostname: &str) -> ProbedEndpoint {
    ProbedEndpoint {
        hostname: hostname.to_string(),
        dns: ready(Reason::ResolvesToEdge),
        tls: ready(Reason::CertificateValid),
        http: ready(Reason::ExpectedStatus),
    }
}

impl EndpointProber for FakeProber {
    fn check(&self, targets: Vec<EndpointTarget>) -> BoxFuture<'_, Vec<ProbedEndpoint>> {
        let defaults: Vec<ProbedEndpoint> =
            targets.iter().map(|t| all_ready(&t.hostname)).collect();
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(targets);
        let pass = self
            .passes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or(defaults);
        Box::pin(async move { pass })
    }
}

//! Builds on Kubernetes (SPEC §3 step 2, §8): [`KanikoBuilder`], the
//! [`ImageBuilder`](crate::runtime::ImageBuilder) that turns an uploaded context into a pinned
//! image with one Kaniko Job per release.
//!
//! One build: ensure the org's namespace; mint a short-lived build token and server-side
//! apply it as the Secret `{job}-token`; apply the Job ([`job`], pure) — or, when a Job of
//! that name already exists for the same context (a control plane restarted mid-build),
//! follow that one instead; then poll the Job every [`BuildConfig::poll`] until it is
//! `Complete` or `Failed` (bounded by its active deadline plus a margin) while [`logs`]
//! streams the pod's log to the sink. Complete → the digest from Kaniko's termination message
//! pins the artifact as `{registry}/{org}/{app}@sha256:…`; anything else → a
//! [`BuildFailure`] with the log's tail. The token Secret is deleted at the end, whatever the
//! outcome (and, should the build future be dropped, by a task spawned from a guard).
//!
//! The token Secret carries the app's labels plus `satusky.io/build=true`; a prune of the app
//! must leave objects with that label alone while a build runs (see the report to the lead:
//! the applier's prune selector should exclude `satusky.io/build`).

pub mod job;
pub mod logs;
pub mod status;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use satusky_core::runtime::{BoxFuture, BuildFailure, BuildOutput, BuildRequest, LogSink};
use satusky_core::{ForeignError, error_chain};

use crate::apply::FIELD_MANAGER;
use crate::render::names::default_namespace;
use crate::render::{Object, render_namespace};
use crate::runtime::ImageBuilder;

pub use job::{
    BuildJobInput, DEFAULT_FETCH_IMAGE, DEFAULT_KANIKO_IMAGE, job_name, render_build_job,
    render_build_secret, repository, token_secret_name,
};
use logs::LogFollower;
use status::{JobEnd, MissingDigest};

/// The longest a build may run: Kubernetes fails the Job after this (`activeDeadlineSeconds`).
pub const ACTIVE_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// How long past the deadline the builder keeps waiting for the Job controller to say so.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2 * 60);
/// How often the Job is read (and a waiting log follower looks again).
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);
/// How long the log follower may keep draining after the Job has finished.
pub const LOG_DRAIN: Duration = Duration::from_secs(10);
/// How long a stale Job of the same name (another context) may take to disappear.
const STALE_JOB_GONE: Duration = Duration::from_secs(60);

/// Makes the token for one build: `(org, context digest)` → a bearer token that can fetch
/// exactly that context (the server's `BuildTokens::mint` with a short expiry).
pub type TokenMinter = Arc<dyn Fn(&str, &str) -> String + Send + Sync>;

/// Where builds run and push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    /// The API's base URL as build pods reach it (e.g. `http://satusky.satusky-system:8080`).
    pub api_url: String,
    /// The registry (and path) images are pushed to: `{registry}/{org}/{app}:vN`.
    pub registry: String,
    pub fetch_image: String,
    pub kaniko_image: String,
    /// A `kubernetes.io/dockerconfigjson` Secret in the org's namespace with the registry's
    /// push credentials, mounted as Kaniko's `config.json`; `None` for a registry that takes
    /// anonymous pushes.
    pub registry_secret: Option<String>,
    /// Kaniko's layer cache (`--cache=true`, in `{repository}/cache`).
    pub cache: bool,
    pub poll: Duration,
    /// The Job's `activeDeadlineSeconds` (whole seconds, at least 1).
    pub active_deadline: Duration,
    /// How long past `active_deadline` the builder waits before giving up on the Job.
    pub deadline_margin: Duration,
}

impl BuildConfig {
    /// The defaults: the pinned fetch and Kaniko images, cache on, [`DEFAULT_POLL`],
    /// [`ACTIVE_DEADLINE`] and [`DEADLINE_MARGIN`].
    pub fn new(api_url: impl Into<String>, registry: impl Into<String>) -> Self {
        BuildConfig {
            api_url: api_url.into(),
            registry: registry.into(),
            fetch_image: DEFAULT_FETCH_IMAGE.to_owned(),
            kaniko_image: DEFAULT_KANIKO_IMAGE.to_owned(),
            registry_secret: None,
            cache: true,
            poll: DEFAULT_POLL,
            active_deadline: ACTIVE_DEADLINE,
            deadline_margin: DEADLINE_MARGIN,
        }
    }
}

/// Why a build did not produce an image (turned into a [`BuildFailure`] with the log tail).
#[derive(Debug, thiserror::Error)]
enum KanikoError {
    #[error("cannot render the build Job")]
    Render(#[source] crate::render::RenderError),
    /// The API server answered with a status (its message and code).
    #[error("Kubernetes API, {what}: {message}")]
    Api { what: String, message: String },
    /// The request did not get an answer; kube's errors repeat their source in `Display`, so
    /// it is kept as a [`ForeignError`].
    #[error("Kubernetes API, {what}")]
    Client {
        what: String,
        #[source]
        source: ForeignError,
    },
    #[error("build Job {job} failed: {reason}: {message}")]
    Failed {
        job: String,
        reason: String,
        message: String,
    },
    #[error("build Job {job} did not finish within {secs} s; giving up on it")]
    Deadline { job: String, secs: u64 },
    #[error("build Job {job} disappeared before it finished (deleted?)")]
    Vanished { job: String },
    /// `why` says what was found instead of a digest (a reason, not a cause: no source).
    #[error("build Job {job} completed, but {why}")]
    NoDigest { job: String, why: MissingDigest },
}

/// The Kaniko image builder.
pub struct KanikoBuilder {
    client: Client,
    config: BuildConfig,
    mint: TokenMinter,
    namespaces: Mutex<HashSet<String>>,
}

impl KanikoBuilder {
    pub fn new(client: Client, config: BuildConfig, mint: TokenMinter) -> Self {
        KanikoBuilder {
            client,
            config,
            mint,
            namespaces: Mutex::new(HashSet::new()),
        }
    }

    pub fn config(&self) -> &BuildConfig {
        &self.config
    }

    async fn run(&self, req: BuildRequest, log: LogSink) -> Result<BuildOutput, BuildFailure> {
        let namespace = default_namespace(&req.org);
        let input = BuildJobInput {
            org: &req.org,
            app: &req.app,
            namespace: &namespace,
            release: req.release,
            context: &req.context,
            dockerfile: &req.spec.build.dockerfile,
            build_env: &req.spec.build.env,
            config: &self.config,
        };
        let (job, token_secret) = match self.render(&input, &req) {
            Ok(objects) => objects,
            Err(e) => return Err(failure(&e, Vec::new())),
        };
        let name = job.name().to_owned();
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let mut guard = SecretGuard {
            api: secrets,
            name: Some(token_secret.name().to_owned()),
        };
        let result = self
            .build(&job, &token_secret, &namespace, &req, &log)
            .await;
        guard.delete().await;
        match result {
            Ok(digest) => {
                let artifact = format!(
                    "{}@{digest}",
                    repository(&self.config.registry, &req.org, &req.app)
                );
                log(&format!("pushed {artifact}"));
                tracing::info!(org = %req.org, app = %req.app, release = req.release, job = %name,
                    %artifact, "image built");
                Ok(BuildOutput {
                    artifact,
                    reused: false,
                })
            }
            Err((e, tail)) => {
                tracing::warn!(org = %req.org, app = %req.app, release = req.release, job = %name,
                    error = %error_chain(&e), "build failed");
                Err(failure(&e, tail))
            }
        }
    }

    fn render(
        &self,
        input: &BuildJobInput<'_>,
        req: &BuildRequest,
    ) -> Result<(Object, Object), KanikoError> {
        let job = render_build_job(input).map_err(KanikoError::Render)?;
        let token = (self.mint)(&req.org, &req.context);
        let secret = render_build_secret(input, &token).map_err(KanikoError::Render)?;
        Ok((job, secret))
    }

    /// Apply, follow, read the digest. Errors come with the log tail.
    async fn build(
        &self,
        job: &Object,
        token_secret: &Object,
        namespace: &str,
        req: &BuildRequest,
        log: &LogSink,
    ) -> Result<String, (KanikoError, Vec<String>)> {
        let no_tail = |e| (e, Vec::new());
        self.ensure_namespace(&req.org, namespace)
            .await
            .map_err(no_tail)?;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        apply(&secrets, token_secret).await.map_err(no_tail)?;
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        let name = job.name().to_owned();
        let (live, resumed) = self.job(&jobs, job, &req.context).await.map_err(no_tail)?;
        let uid = live.metadata.uid.clone().unwrap_or_default();
        if resumed {
            log(&format!(
                "following build Job {namespace}/{name}, started earlier"
            ));
        } else {
            log(&format!("build Job {namespace}/{name} created"));
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let follower = LogFollower::new(pods.clone(), &name, &uid, log.clone(), self.config.poll);
        let wait = self.wait(&jobs, &name, &uid);
        let follow = follower.run();
        tokio::pin!(wait, follow);
        let mut followed = false;
        let end = loop {
            tokio::select! {
                end = &mut wait => break end,
                () = &mut follow, if !followed => followed = true,
            }
        };
        follower.finish();
        if !followed && tokio::time::timeout(LOG_DRAIN, follow).await.is_err() {
            tracing::warn!(job = %name, "the build log did not end after the Job finished");
        }
        let tail = follower.tail();
        let end = end.map_err(|e| (e, tail.clone()))?;
        let pod = self.pod(&pods, &name, &uid).await;
        match end {
            JobEnd::Complete => {
                let pod = pod.ok_or_else(|| {
                    (
                        KanikoError::NoDigest {
                            job: name.clone(),
                            why: MissingDigest::PodGone,
                        },
                        tail.clone(),
                    )
                })?;
                status::digest(&pod).map_err(|why| {
                    (
                        KanikoError::NoDigest {
                            job: name.clone(),
                            why,
                        },
                        tail,
                    )
                })
            }
            JobEnd::Failed {
                reason,
                mut message,
            } => {
                if let Some(detail) = pod.as_ref().and_then(status::pod_failure) {
                    message = if message.is_empty() {
                        detail
                    } else {
                        format!("{message}; {detail}")
                    };
                }
                Err((
                    KanikoError::Failed {
                        job: name.clone(),
                        reason,
                        message,
                    },
                    tail,
                ))
            }
        }
    }

    /// The Job to follow: the existing one of this name when it builds the same context,
    /// otherwise a fresh one (a stale Job for another context is deleted first). `true` when
    /// an existing Job is resumed.
    async fn job(
        &self,
        jobs: &Api<Job>,
        job: &Object,
        context: &str,
    ) -> Result<(Job, bool), KanikoError> {
        let name = job.name();
        if let Some(live) = jobs
            .get_opt(name)
            .await
            .map_err(api_err("reading the build Job"))?
        {
            let same = live
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(job::CONTEXT_ANNOTATION))
                .is_some_and(|c| c == context);
            if same && live.metadata.deletion_timestamp.is_none() {
                return Ok((live, true));
            }
            tracing::info!(job = name, "replacing a stale build Job of the same name");
            jobs.delete(name, &DeleteParams::background())
                .await
                .map_err(api_err("deleting a stale build Job"))?;
            let since = Instant::now();
            while jobs
                .get_opt(name)
                .await
                .map_err(api_err("reading the build Job"))?
                .is_some()
            {
                if since.elapsed() > STALE_JOB_GONE {
                    return Err(KanikoError::Api {
                        what: format!("replacing the stale build Job {name}"),
                        message: "it is still being deleted".to_owned(),
                    });
                }
                tokio::time::sleep(self.config.poll).await;
            }
        }
        let live: Job = apply(jobs, job).await?;
        Ok((live, false))
    }

    /// Poll the Job until it ends, bounded by the active deadline plus the margin.
    async fn wait(&self, jobs: &Api<Job>, name: &str, uid: &str) -> Result<JobEnd, KanikoError> {
        let bound = self.config.active_deadline + self.config.deadline_margin;
        let since = Instant::now();
        loop {
            match jobs.get_opt(name).await {
                Ok(Some(job)) if job.metadata.uid.as_deref() == Some(uid) => {
                    if let Some(end) = status::job_end(&job) {
                        return Ok(end);
                    }
                }
                Ok(_) => {
                    return Err(KanikoError::Vanished {
                        job: name.to_owned(),
                    });
                }
                // A blip talking to the API server: the next poll tries again.
                Err(e) => tracing::warn!(job = name, error = %e, "cannot read the build Job"),
            }
            if since.elapsed() >= bound {
                return Err(KanikoError::Deadline {
                    job: name.to_owned(),
                    secs: bound.as_secs(),
                });
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }

    async fn pod(&self, pods: &Api<Pod>, job: &str, uid: &str) -> Option<Pod> {
        let list = pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
            .map_err(|e| tracing::warn!(job, error = %e, "cannot list the build pod"))
            .ok()?;
        status::build_pod(&list.items, uid).cloned()
    }

    async fn ensure_namespace(&self, org: &str, namespace: &str) -> Result<(), KanikoError> {
        if self.lock_namespaces().contains(namespace) {
            return Ok(());
        }
        let ns = render_namespace(org, namespace).map_err(KanikoError::Render)?;
        let api: Api<Namespace> = Api::all(self.client.clone());
        let _: Namespace = apply(&api, &ns).await?;
        self.lock_namespaces().insert(namespace.to_owned());
        Ok(())
    }

    fn lock_namespaces(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.namespaces.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ImageBuilder for KanikoBuilder {
    fn build(
        &self,
        req: BuildRequest,
        log: LogSink,
    ) -> BoxFuture<'_, Result<BuildOutput, BuildFailure>> {
        Box::pin(self.run(req, log))
    }
}

/// Server-side apply of a rendered object with manager `satusky`.
async fn apply<K>(api: &Api<K>, object: &Object) -> Result<K, KanikoError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        object.name(),
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Apply(object.as_value()),
    )
    .await
    .map_err(api_err(&format!(
        "applying {} {}",
        object.kind(),
        object.name()
    )))
}

fn api_err(what: &str) -> impl Fn(kube::Error) -> KanikoError + '_ {
    move |e| match e {
        kube::Error::Api(s) => KanikoError::Api {
            what: what.to_owned(),
            message: format!("{} ({})", s.message, s.code),
        },
        other => KanikoError::Client {
            what: what.to_owned(),
            source: ForeignError::new(&other),
        },
    }
}

fn failure(e: &KanikoError, log_tail: Vec<String>) -> BuildFailure {
    BuildFailure {
        message: error_chain(e),
        log_tail,
        timed_out: false,
    }
}

/// Deletes the token Secret: awaited at the end of a build, or from a spawned task when the
/// build future is dropped first.
struct SecretGuard {
    api: Api<Secret>,
    name: Option<String>,
}

impl SecretGuard {
    async fn delete(&mut self) {
        if let Some(name) = self.name.take() {
            delete_secret(&self.api, &name).await;
        }
    }
}

impl Drop for SecretGuard {
    fn drop(&mut self) {
        if let Some(name) = self.name.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let api = self.api.clone();
            handle.spawn(async move { delete_secret(&api, &name).await });
        }
    }
}

async fn delete_secret(api: &Api<Secret>, name: &str) {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => {
            tracing::warn!(secret = name, error = %e, "cannot delete a build token Secret; the token expires on its own");
        }
    }
}

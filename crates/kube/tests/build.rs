//! The Kaniko builder against fakekube, in-process: fakekube plays the Job controller and the
//! kubelet (a pod per Job, its log, Kaniko's termination message). A completed Job pins the
//! release to the digest and the log reaches the sink live, in order, once; a failed Job
//! gives the log's tail; the token Secret exists while the build runs and is deleted
//! whatever the outcome; the Job never holds the token.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fakekube::FakeKube;
use fakekube::hooks::jobs::JobEnd;
use k8s_openapi::api::core::v1::Secret;
use satusky_core::runtime::{BuildFailure, BuildOutput, BuildRequest, LogSink};
use satusky_kube::build::{BuildConfig, KanikoBuilder, TokenMinter};
use satusky_kube::runtime::ImageBuilder;
use serde_json::Value;

const NS: &str = "satusky-acme";
const JOB: &str = "hello-build-v3";
const SECRET: &str = "hello-build-v3-token";
const REGISTRY: &str = "registry.example.com/builds";
const POLL: Duration = Duration::from_millis(10);
/// How long the test's controller waits for something the builder should do at once.
const PATIENCE: Duration = Duration::from_secs(10);

fn context(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn token_for(org: &str, context: &str) -> String {
    format!("sbt_secret-token-for-{org}-{}", &context[7..15])
}

fn config() -> BuildConfig {
    let mut config = BuildConfig::new("http://satusky.satusky-system:8080", REGISTRY);
    config.poll = POLL;
    config
}

fn builder(fake: &FakeKube, config: BuildConfig) -> KanikoBuilder {
    let mint: TokenMinter = Arc::new(|org: &str, context: &str| token_for(org, context));
    KanikoBuilder::new(fake.client(), config, mint)
}

fn request(context: &str) -> BuildRequest {
    let app = common::fixture("minimal");
    BuildRequest {
        org: "acme".into(),
        app: "hello".into(),
        release: 3,
        context: context.into(),
        spec: app.spec().clone(),
        timeout: None,
    }
}

/// A sink that records every line.
fn recorder() -> (LogSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let sink: LogSink = Arc::new(move |line: &str| l.lock().unwrap().push(line.to_owned()));
    (sink, lines)
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn job(fake: &FakeKube) -> Option<Value> {
    fake.object("batch/v1", "Job", NS, JOB)
}

fn secret(fake: &FakeKube) -> Option<Value> {
    fake.object("v1", "Secret", NS, SECRET)
}

fn uid(v: &Value) -> String {
    v["metadata"]["uid"].as_str().unwrap().to_owned()
}

/// Wait for the builder's Job; check the token is in its Secret and nowhere in the Job.
async fn created_job(fake: &FakeKube, context: &str) -> Value {
    let job = eventually("the build Job", || job(fake)).await;
    let token = token_for("acme", context);
    assert!(
        !job.to_string().contains(&token),
        "the Job must not hold the token"
    );
    // The Secret is applied before the Job (a resumed Job exists before its new token).
    let secret = eventually("the token Secret", || secret(fake)).await;
    let secret: Secret = serde_json::from_value(secret).unwrap();
    assert_eq!(secret.data.unwrap()["token"].0, token.as_bytes());
    assert_eq!(
        job["metadata"]["annotations"]["satusky.io/build-context"],
        context
    );
    job
}

fn end<'a>(succeeded: bool, logs: &'a str, message: &'a str) -> JobEnd<'a> {
    JobEnd {
        succeeded,
        logs,
        message,
        exit_code: if succeeded { 0 } else { 1 },
    }
}

#[tokio::test]
async fn a_completed_job_pins_the_release_to_its_digest() {
    let fake = FakeKube::new();
    let builder = builder(&fake, config());
    let (sink, lines) = recorder();
    let ctx = context('a');
    let controller = async {
        created_job(&fake, &ctx).await;
        let pod = fake.start_job(NS, JOB).unwrap();
        let pod = pod["metadata"]["name"].as_str().unwrap().to_owned();
        fake.append_log(
            NS,
            &pod,
            "kaniko",
            "INFO Retrieving image manifest\nINFO Building stage\n",
        );
        // The log streams while the build runs, not only at the end.
        eventually("the first lines", || {
            (lines.lock().unwrap().len() >= 3).then_some(())
        })
        .await;
        fake.append_log(
            NS,
            &pod,
            "kaniko",
            "INFO Taking snapshot of full filesystem...\n",
        );
        fake.finish_job(
            NS,
            JOB,
            &end(true, "INFO Pushing image\nINFO Pushed", &digest('b')),
        )
        .unwrap();
    };
    let (result, ()) = tokio::join!(builder.build(request(&ctx), sink), controller);
    let artifact = format!("{REGISTRY}/acme/hello@{}", digest('b'));
    assert_eq!(
        result,
        Ok(BuildOutput {
            artifact: artifact.clone(),
            reused: false
        })
    );
    assert_eq!(
        *lines.lock().unwrap(),
        vec![
            format!("build Job {NS}/{JOB} created"),
            "INFO Retrieving image manifest".to_owned(),
            "INFO Building stage".to_owned(),
            "INFO Taking snapshot of full filesystem...".to_owned(),
            "INFO Pushing image".to_owned(),
            "INFO Pushed".to_owned(),
            format!("pushed {artifact}"),
        ],
        "every line once, in order"
    );
    assert!(secret(&fake).is_none(), "the token Secret is deleted");
    let job = job(&fake).unwrap();
    let managers: Vec<&str> = job["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"satusky"), "{managers:?}");
    assert!(fake.object("v1", "Namespace", "", NS).is_some());
}

#[tokio::test]
async fn a_failed_job_reports_the_log_tail() {
    let fake = FakeKube::new();
    let builder = builder(&fake, config());
    let (sink, lines) = recorder();
    let ctx = context('a');
    let log: String = (1..=50).map(|i| format!("step {i}\n")).collect::<String>()
        + "error building image: RUN make: exit status 2";
    let controller = async {
        created_job(&fake, &ctx).await;
        fake.finish_job(NS, JOB, &end(false, &log, "")).unwrap();
    };
    let (result, ()) = tokio::join!(builder.build(request(&ctx), sink), controller);
    let BuildFailure {
        message, log_tail, ..
    } = result.unwrap_err();
    assert!(
        message.starts_with(&format!(
            "build Job {JOB} failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
        )),
        "{message}"
    );
    assert!(
        message.contains("Kaniko failed: container kaniko exited with code 1"),
        "{message}"
    );
    assert_eq!(log_tail.len(), 40);
    assert_eq!(log_tail[0], "step 12");
    assert_eq!(
        log_tail.last().map(String::as_str),
        Some("error building image: RUN make: exit status 2")
    );
    assert_eq!(lines.lock().unwrap().len(), 1 + 51, "every line once");
    assert!(secret(&fake).is_none(), "the token Secret is deleted");
}

#[tokio::test]
async fn a_completed_job_without_a_digest_fails() {
    let fake = FakeKube::new();
    let builder = builder(&fake, config());
    let (sink, _) = recorder();
    let ctx = context('a');
    let controller = async {
        created_job(&fake, &ctx).await;
        fake.finish_job(NS, JOB, &end(true, "done\n", "oops"))
            .unwrap();
    };
    let (result, ()) = tokio::join!(builder.build(request(&ctx), sink), controller);
    let failure = result.unwrap_err();
    assert_eq!(
        failure.message,
        format!("build Job {JOB} completed, but its termination message is \"oops\", not a digest")
    );
    assert_eq!(failure.log_tail, vec!["done"]);
}

#[tokio::test]
async fn a_restarted_control_plane_follows_the_running_job() {
    let fake = FakeKube::new();
    let ctx = context('a');
    // The first control plane creates the Job and goes away mid-build.
    let (sink, _) = recorder();
    let first = builder(&fake, config());
    let build = first.build(request(&ctx), sink);
    let created = async {
        created_job(&fake, &ctx).await;
        fake.start_job(NS, JOB).unwrap()
    };
    let pod = tokio::select! {
        _ = build => panic!("the build cannot finish: nobody completes the Job"),
        pod = created => pod,
    };
    let pod = pod["metadata"]["name"].as_str().unwrap().to_owned();
    eventually("the dropped build to delete its token", || {
        secret(&fake).is_none().then_some(())
    })
    .await;
    let before = uid(&job(&fake).unwrap());
    fake.append_log(NS, &pod, "kaniko", "INFO before the restart\n");

    // The next one builds the same release again: same Job, followed to its end.
    let second = builder(&fake, config());
    let (sink, lines) = recorder();
    let controller = async {
        created_job(&fake, &ctx).await;
        eventually("the earlier log", || {
            (lines.lock().unwrap().len() >= 2).then_some(())
        })
        .await;
        fake.finish_job(NS, JOB, &end(true, "INFO after\n", &digest('c')))
            .unwrap();
    };
    let (result, ()) = tokio::join!(second.build(request(&ctx), sink), controller);
    assert_eq!(
        result.unwrap().artifact,
        format!("{REGISTRY}/acme/hello@{}", digest('c'))
    );
    assert_eq!(uid(&job(&fake).unwrap()), before, "the Job was reused");
    let lines = lines.lock().unwrap();
    assert_eq!(
        lines[0],
        format!("following build Job {NS}/{JOB}, started earlier")
    );
    assert_eq!(&lines[1..3], ["INFO before the restart", "INFO after"]);
    assert!(secret(&fake).is_none());
}

#[tokio::test]
async fn a_finished_job_is_reused_and_a_stale_one_replaced() {
    let fake = FakeKube::new();
    let builder = builder(&fake, config());
    let ctx = context('a');
    let (sink, _) = recorder();
    let controller = async {
        created_job(&fake, &ctx).await;
        fake.finish_job(NS, JOB, &end(true, "", &digest('b')))
            .unwrap();
    };
    let (first, ()) = tokio::join!(builder.build(request(&ctx), sink.clone()), controller);
    let first = first.unwrap();
    let uid_a = uid(&job(&fake).unwrap());

    // Same release, same context, Job already complete: the same digest, nothing rebuilt.
    let again = builder.build(request(&ctx), sink.clone()).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(uid(&job(&fake).unwrap()), uid_a);

    // Same name, another context (the app was deleted and created again): a new Job.
    let other = context('d');
    let controller = async {
        let job = eventually("a new Job", || job(&fake).filter(|j| uid(j) != uid_a)).await;
        assert_eq!(
            job["metadata"]["annotations"]["satusky.io/build-context"],
            other
        );
        fake.finish_job(NS, JOB, &end(true, "", &digest('e')))
            .unwrap();
    };
    let (third, ()) = tokio::join!(builder.build(request(&other), sink), controller);
    assert_eq!(
        third.unwrap().artifact,
        format!("{REGISTRY}/acme/hello@{}", digest('e'))
    );
}

#[tokio::test]
async fn a_job_that_never_finishes_is_given_up_after_its_deadline() {
    let fake = FakeKube::new();
    let mut config = config();
    config.active_deadline = Duration::from_secs(1);
    config.deadline_margin = Duration::from_millis(100);
    let builder = builder(&fake, config);
    let (sink, _) = recorder();
    let ctx = context('a');
    let result = builder.build(request(&ctx), sink).await;
    assert_eq!(
        result.unwrap_err().message,
        format!("build Job {JOB} did not finish within 1 s; giving up on it")
    );
    assert_eq!(job(&fake).unwrap()["spec"]["activeDeadlineSeconds"], 1);
    assert!(secret(&fake).is_none());
}

#[tokio::test]
async fn a_deleted_job_fails_the_build() {
    let fake = FakeKube::new();
    let builder = builder(&fake, config());
    let (sink, _) = recorder();
    let ctx = context('a');
    let client = fake.client();
    let controller = async {
        created_job(&fake, &ctx).await;
        let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::namespaced(client, NS);
        jobs.delete(JOB, &Default::default()).await.unwrap();
    };
    let (result, ()) = tokio::join!(builder.build(request(&ctx), sink), controller);
    assert_eq!(
        result.unwrap_err().message,
        format!("build Job {JOB} disappeared before it finished (deleted?)")
    );
    assert!(secret(&fake).is_none());
}

#[tokio::test]
async fn an_unusable_request_fails_before_touching_the_cluster() {
    let fake = FakeKube::new();
    let builder = builder(&fake, config());
    let (sink, _) = recorder();
    let mut req = request("sha256:nope");
    req.spec.build.dockerfile = "Dockerfile".into();
    let failure = builder.build(req, sink).await.unwrap_err();
    assert!(
        failure
            .message
            .starts_with("cannot render the build Job: context:"),
        "{}",
        failure.message
    );
    assert!(fake.objects("batch/v1", "Job", None).is_empty());
}

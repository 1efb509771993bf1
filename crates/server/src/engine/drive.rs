//! One app's driver: reads the pending work from the store and runs its current step —
//! build, apply, rollout, endpoints — writing every transition (status planes, release
//! statuses, events) before moving on. A step never retries inside itself beyond its own
//! polling: the next pass of the loop is the retry, and every pass starts from the store.

use std::time::Duration;

use satusky_core::lifecycle::{
    WorkloadVerdict, build_time_left, build_timeout_plane, judge_workload, merge_plane,
    on_release_ready,
};
use satusky_core::runtime::{BuildFailure, BuildRequest, DesiredWorkload};
use satusky_core::time::now_ms;
use satusky_store::{AppRecord, ReleaseRecord};
use satusky_types::{Plane, PlaneState, Reason, ReleaseStatus};
use serde_json::json;

use super::build_log::BuildLog;
use super::{Engine, Step, Work, endpoints};
use crate::error::error_chain;
use crate::status::{StatusDoc, diff_events, initial_doc};

/// How often a rollout is observed.
pub(super) const OBSERVE_EVERY: Duration = Duration::from_millis(250);
/// Pause before retrying after a store or runtime error.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// After the workload is ready, how long the endpoint planes may take to settle before the
/// engine records what it sees (the periodic sweep keeps checking afterwards).
const ENDPOINT_SETTLE: Duration = Duration::from_secs(10);
/// Between endpoint checks while settling.
const ENDPOINT_RECHECK: Duration = Duration::from_millis(500);
/// How long past its timeout a build may take to be stopped by the runtime before the engine
/// gives up on it (the runtime kills and reaps the process group in well under a second).
const BUILD_STOP_GRACE: Duration = Duration::from_secs(30);

enum Next {
    /// Re-read the work and go on.
    Continue,
    /// Wait, then re-read.
    RetryAfter(Duration),
}

pub(super) async fn drive(engine: &Engine, org: &str, app: &str) {
    loop {
        let store = &engine.inner.store;
        let rec = match store.get_app(org, app).await {
            Ok(Some(rec)) => rec,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%org, %app, error = %error_chain(&e), "cannot read the app");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let Some(work) = rec
            .work
            .as_ref()
            .and_then(|w| serde_json::from_value::<Work>(w.clone()).ok())
        else {
            return;
        };
        let release = match store.get_release(org, app, work.release).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                tracing::error!(%org, %app, release = work.release, "work names a missing release; dropping it");
                let _ = store.advance_work(org, app, work.release, None).await;
                return;
            }
            Err(e) => {
                tracing::error!(%org, %app, error = %error_chain(&e), "cannot read the release");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let next = match work.step {
            Step::Build => build(engine, &rec, &release, &work).await,
            Step::Apply => apply(engine, &rec, &release, &work).await,
            Step::Rollout => rollout(engine, &rec, &release, &work).await,
            Step::Endpoints => settle_endpoints(engine, &rec, &work).await,
        };
        match next {
            Next::Continue => {}
            Next::RetryAfter(d) => tokio::time::sleep(d).await,
        }
    }
}

/// The stored status document for the work's release, or the initial one.
fn current_doc(rec: &AppRecord, release: u64) -> StatusDoc {
    match StatusDoc::from_app(rec) {
        Some(doc) if doc.release == Some(release) => doc,
        _ => initial_doc(rec, true, now_ms()),
    }
}

/// Save `new` (with the events its changes produce). `false` when the release was overtaken.
pub(super) async fn save(
    engine: &Engine,
    rec: &AppRecord,
    old: Option<&StatusDoc>,
    new: &StatusDoc,
) -> bool {
    let Some(release) = new.release else {
        return false;
    };
    let old_phase = old.map(StatusDoc::phase).unwrap_or(rec.phase);
    let events = diff_events(old, new, rec.generation, old_phase);
    let doc = serde_json::to_value(new).unwrap_or_default();
    match engine
        .inner
        .store
        .save_status(
            &rec.org,
            &rec.name,
            release,
            new.phase(),
            &doc,
            &events,
            now_ms(),
        )
        .await
    {
        Ok(saved) => {
            if saved {
                engine.inner.hub.notify(&rec.org, &rec.name);
            }
            saved
        }
        Err(e) => {
            tracing::error!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "cannot save status");
            false
        }
    }
}

async fn advance(engine: &Engine, rec: &AppRecord, work: &Work, next: Option<Work>) -> Next {
    let value = next.as_ref().map(Work::to_value);
    match engine
        .inner
        .store
        .advance_work(&rec.org, &rec.name, work.release, value.as_ref())
        .await
    {
        Ok(_) => {
            engine.inner.hub.notify(&rec.org, &rec.name);
            Next::Continue
        }
        Err(e) => {
            tracing::error!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "cannot save work");
            Next::RetryAfter(RETRY_AFTER)
        }
    }
}

/// Mark `release` failed in `dimension`, with the previous active release left serving.
async fn fail_release(
    engine: &Engine,
    rec: &AppRecord,
    work: &Work,
    dimension: &str,
    plane: &Plane,
) -> Next {
    let failure = json!({"dimension": dimension, "reason": plane.reason, "message": plane.message});
    if let Err(e) = engine
        .inner
        .store
        .transition_releases(
            &rec.org,
            &rec.name,
            &[(work.release, ReleaseStatus::Failed)],
            None,
            Some(&failure),
            now_ms(),
        )
        .await
    {
        tracing::error!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "cannot fail the release");
        return Next::RetryAfter(RETRY_AFTER);
    }
    tracing::info!(org = %rec.org, app = %rec.name, release = work.release, %dimension, reason = %plane.reason, "release failed");
    advance(engine, rec, work, None).await
}

async fn build(engine: &Engine, rec: &AppRecord, release: &ReleaseRecord, work: &Work) -> Next {
    let old = current_doc(rec, work.release);
    let now = now_ms();
    // A rollback carries the snapshot's artifact: it is never rebuilt.
    if let Some(artifact) = release.artifact.clone() {
        let built = Plane::new(
            PlaneState::Ready,
            Reason::Built,
            format!("reusing {artifact} ({}; not rebuilt)", release.source),
        );
        let before = StatusDoc::from_app(rec);
        return start_rollout(engine, rec, work, before.as_ref(), &old, Some(built), now).await;
    }
    let Some(context) = release.context.clone() else {
        if release.spec.image.is_some() {
            let before = StatusDoc::from_app(rec);
            return start_rollout(engine, rec, work, before.as_ref(), &old, None, now).await;
        }
        let mut doc = old.clone();
        doc.build = merge_plane(
            Some(&old.build),
            Plane::new(
                PlaneState::Failed,
                Reason::BuildFailed,
                "nothing to build or run: no build context was uploaded and no image is set",
            )
            .with_remediation("run `1ctl deploy` in the app's folder (it uploads the context), or set [app] image"),
            now,
        );
        save(engine, rec, StatusDoc::from_app(rec).as_ref(), &doc).await;
        return fail_release(engine, rec, work, "build", &doc.build).await;
    };
    // The build timeout counts from the build's FIRST start, kept in the work document, so a
    // build resumed after a restart only gets what is left (and one past it fails now).
    let limit = engine.inner.config.build_timeout;
    let first_started = work.build_started_ms.unwrap_or(now);
    let Some(time_left) = build_time_left(first_started, limit, now) else {
        tracing::info!(org = %rec.org, app = %rec.name, release = work.release, "build past its timeout");
        return fail_build(
            engine,
            rec,
            work,
            &old,
            build_timeout_plane(limit, &[]),
            now,
        )
        .await;
    };
    if work.build_started_ms.is_none() {
        let started = Work {
            build_started_ms: Some(first_started),
            ..work.clone()
        };
        if let Next::RetryAfter(d) = advance(engine, rec, work, Some(started)).await {
            return Next::RetryAfter(d);
        }
    }
    let command = release.spec.build.command.clone();
    let mut doc = old.clone();
    doc.build = merge_plane(
        Some(&old.build),
        Plane::new(
            PlaneState::InProgress,
            Reason::Building,
            match &command {
                Some(c) => format!("running `{c}`"),
                None => "unpacking the context (no build command)".to_string(),
            },
        ),
        now,
    );
    if !save(engine, rec, StatusDoc::from_app(rec).as_ref(), &doc).await {
        return Next::Continue;
    }
    let building = doc.clone();

    // Build log lines → capped, batched `build_log` events.
    let (sink, log) = BuildLog::start(engine, &rec.org, &rec.name, work.release);
    let req = BuildRequest {
        org: rec.org.clone(),
        app: rec.name.clone(),
        release: work.release,
        context,
        spec: release.spec.clone(),
        timeout: Some(time_left),
    };
    // The runtime stops the build at `time_left`; this bound only covers one that does not.
    let result = match tokio::time::timeout(
        time_left + BUILD_STOP_GRACE,
        engine.inner.runtime.build(req, sink),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(BuildFailure {
            message: String::new(),
            log_tail: Vec::new(),
            timed_out: true,
        }),
    };
    let dropped = log.finish().await;
    if dropped > 0 {
        tracing::info!(org = %rec.org, app = %rec.name, release = work.release, dropped, "build log lines dropped");
    }
    let now = now_ms();
    match result {
        Ok(out) => {
            if let Err(e) = engine
                .inner
                .store
                .set_release_artifact(&rec.org, &rec.name, work.release, &out.artifact)
                .await
            {
                tracing::error!(error = %error_chain(&e), "cannot record the artifact");
                return Next::RetryAfter(RETRY_AFTER);
            }
            let how = if out.reused { "reused" } else { "built" };
            let built = Plane::new(
                PlaneState::Ready,
                Reason::Built,
                format!("{how} {}", out.artifact),
            );
            start_rollout(
                engine,
                rec,
                work,
                Some(&building),
                &building,
                Some(built),
                now,
            )
            .await
        }
        Err(f) if f.timed_out => {
            let plane = build_timeout_plane(limit, &f.log_tail);
            fail_build(engine, rec, work, &building, plane, now).await
        }
        Err(f) => {
            let mut message = f.message.clone();
            if !f.log_tail.is_empty() {
                message.push('\n');
                message.push_str(&f.log_tail.join("\n"));
            }
            let plane = Plane::new(PlaneState::Failed, Reason::BuildFailed, message)
                .with_remediation(
                    "fix the build command or the code; the log above shows why it failed",
                );
            fail_build(engine, rec, work, &building, plane, now).await
        }
    }
}

/// Record the failed build plane (the workload will not start) and fail the release.
async fn fail_build(
    engine: &Engine,
    rec: &AppRecord,
    work: &Work,
    before: &StatusDoc,
    plane: Plane,
    now: i64,
) -> Next {
    let mut doc = before.clone();
    doc.build = merge_plane(Some(&before.build), plane, now);
    doc.workload.plane = merge_plane(
        Some(&before.workload.plane),
        Plane::new(
            PlaneState::NotApplicable,
            Reason::Waiting,
            "not started: the build failed",
        ),
        now,
    );
    save(engine, rec, Some(before), &doc).await;
    fail_release(engine, rec, work, "build", &doc.build).await
}

/// The build is done (or not needed): record `build` (when given), mark the workload as
/// starting, and move the work to the apply step.
async fn start_rollout(
    engine: &Engine,
    rec: &AppRecord,
    work: &Work,
    saved: Option<&StatusDoc>,
    old: &StatusDoc,
    build: Option<Plane>,
    now: i64,
) -> Next {
    let mut doc = old.clone();
    if let Some(b) = build {
        doc.build = merge_plane(Some(&old.build), b, now);
    }
    doc.workload.plane = merge_plane(
        Some(&old.workload.plane),
        Plane::new(
            PlaneState::Pending,
            Reason::RolloutPending,
            "starting the rollout",
        ),
        now,
    );
    save(engine, rec, saved, &doc).await;
    let next = Work {
        step: Step::Apply,
        ..work.clone()
    };
    advance(engine, rec, work, Some(next)).await
}

fn desired(rec: &AppRecord, release: &ReleaseRecord) -> DesiredWorkload {
    DesiredWorkload {
        org: rec.org.clone(),
        app: rec.name.clone(),
        release: release.version,
        spec: release.spec.clone(),
        artifact: release.artifact.clone(),
        hostnames: release.hostnames.clone(),
    }
}

async fn apply(engine: &Engine, rec: &AppRecord, release: &ReleaseRecord, work: &Work) -> Next {
    let started = work.rollout_started_ms.unwrap_or_else(now_ms);
    let clock = std::time::Instant::now();
    let result = engine.inner.runtime.apply(desired(rec, release)).await;
    crate::metrics::reconcile(engine.runtime_name(), result.is_ok(), clock.elapsed());
    match result {
        Ok(()) => {
            let next = Work {
                step: Step::Rollout,
                rollout_started_ms: Some(started),
                ..work.clone()
            };
            advance(engine, rec, work, Some(next)).await
        }
        Err(e) if e.failure().is_some() => {
            // Permanent for this release: fail it now; the previous active release keeps
            // serving (nothing was stopped).
            let reason = e.failure().unwrap_or(Reason::ErrImagePull);
            let old = current_doc(rec, work.release);
            let mut doc = old.clone();
            doc.workload.plane = merge_plane(
                Some(&old.workload.plane),
                Plane::new(PlaneState::Failed, reason, error_chain(&e)),
                now_ms(),
            );
            save(engine, rec, Some(&old), &doc).await;
            fail_release(engine, rec, work, "workload", &doc.workload.plane).await
        }
        Err(e) => {
            tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "apply failed; retrying");
            let old = current_doc(rec, work.release);
            let mut doc = old.clone();
            doc.workload.plane = merge_plane(
                Some(&old.workload.plane),
                Plane::new(
                    PlaneState::Pending,
                    Reason::RolloutPending,
                    format!(
                        "the runtime refused the apply: {}; retrying",
                        error_chain(&e)
                    ),
                ),
                now_ms(),
            );
            save(engine, rec, Some(&old), &doc).await;
            // Keep the start time so the progress deadline still bounds the retries.
            let next = Work {
                rollout_started_ms: Some(started),
                ..work.clone()
            };
            let _ = advance(engine, rec, work, Some(next)).await;
            Next::RetryAfter(RETRY_AFTER)
        }
    }
}

async fn rollout(engine: &Engine, rec: &AppRecord, release: &ReleaseRecord, work: &Work) -> Next {
    let started = work.rollout_started_ms.unwrap_or_else(now_ms);
    let obs = match engine
        .inner
        .runtime
        .observe(rec.org.clone(), rec.name.clone())
        .await
    {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "observe failed");
            return Next::RetryAfter(RETRY_AFTER);
        }
    };
    let now = now_ms();
    // The runtime's own desired count wins when it has one: with an HPA the cluster, not
    // the spec, decides how many replicas there are.
    let desired = if obs.release == Some(work.release) && obs.replicas.desired > 0 {
        obs.replicas.desired
    } else {
        release.spec.replicas
    };
    let verdict = judge_workload(
        &obs,
        work.release,
        desired,
        started,
        release.spec.deploy.progress_deadline_seconds,
        now,
    );
    let old = current_doc(rec, work.release);
    let mut doc = old.clone();
    doc.workload.plane = merge_plane(Some(&old.workload.plane), verdict.plane(), now);
    if obs.release == Some(work.release) {
        doc.workload.replicas = obs.replicas;
        doc.workload.replicas.desired = desired;
    }
    if !save(engine, rec, Some(&old), &doc).await {
        // Overtaken by a newer deploy: re-read the work.
        return Next::Continue;
    }
    match verdict {
        WorkloadVerdict::Progressing { .. } => Next::RetryAfter(OBSERVE_EVERY),
        WorkloadVerdict::Failed { .. } => {
            fail_release(engine, rec, work, "workload", &doc.workload.plane).await
        }
        WorkloadVerdict::Ready { .. } => {
            let releases = match engine.inner.store.list_releases(&rec.org, &rec.name).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %error_chain(&e), "cannot list releases");
                    return Next::RetryAfter(RETRY_AFTER);
                }
            };
            let statuses: Vec<_> = releases.iter().map(|r| (r.version, r.status)).collect();
            let changes = on_release_ready(&statuses, work.release);
            if let Err(e) = engine
                .inner
                .store
                .transition_releases(&rec.org, &rec.name, &changes, Some(work.release), None, now)
                .await
            {
                tracing::error!(error = %error_chain(&e), "cannot activate the release");
                return Next::RetryAfter(RETRY_AFTER);
            }
            tracing::info!(org = %rec.org, app = %rec.name, release = work.release, "release active");
            advance(
                engine,
                rec,
                work,
                Some(Work {
                    step: Step::Endpoints,
                    ..work.clone()
                }),
            )
            .await
        }
    }
}

async fn settle_endpoints(engine: &Engine, rec: &AppRecord, work: &Work) -> Next {
    let deadline = tokio::time::Instant::now() + ENDPOINT_SETTLE;
    let mut old = current_doc(rec, work.release);
    loop {
        let endpoints = endpoints::check(engine, rec, work.release, &old).await;
        let mut doc = old.clone();
        doc.endpoints = endpoints;
        let all_ready = doc.endpoints.iter().all(|e| e.is_ready());
        if !save(engine, rec, Some(&old), &doc).await {
            return Next::Continue;
        }
        old = doc;
        if all_ready || tokio::time::Instant::now() >= deadline {
            return advance(engine, rec, work, None).await;
        }
        tokio::time::sleep(ENDPOINT_RECHECK).await;
    }
}

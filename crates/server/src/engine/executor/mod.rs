//! The engine's executor: the only part of the engine that touches the store or the runtime.
//! One loop per app: load the app and its release, ask `satusky_core::engine::next` what to
//! do, save the decision (status with its events, then the release, then the work — each
//! only while the work's release is still the app's target), perform the action through the
//! `Runtime` / `EndpointProber` traits, and load again with the action's outcome.
//!
//! Also here: what the engine does at start ([`start`]: resume work, [`restore`] active
//! releases), the periodic [`sweep`], removing an app's workload, and the build log's way
//! to the store ([`build_log`]).

mod build_log;
pub(super) mod ownership;
pub(super) mod reroute;
pub(super) mod restore;
pub(super) mod sweep;
pub(super) mod watch;

use std::time::Instant;

use satusky_core::engine::{
    Action, AppView, BUILD_STOP_GRACE, Decision, Outcome, RETRY_AFTER, ReleaseChange, Tagged,
    WorkChange, next, resume_after_restart, unusable_release,
};
use satusky_core::lifecycle::on_release_ready;
use satusky_core::runtime::BuildFailure;
use satusky_core::time::now_ms;
use satusky_store::{AppRecord, StoreError};

use super::Engine;
use crate::error::error_chain;
use crate::handle::Handle;
use build_log::BuildLog;

/// What `start` found: every app's active release to restore, and the pending work to resume.
pub(super) struct Resume {
    pub active: Vec<(AppRecord, u64)>,
    pub pending: Vec<(String, String)>,
}

/// Read every app; send work past its apply back to it (the runtime may have lost it).
pub(super) async fn start(handle: &Handle) -> Resume {
    let store = &handle.store;
    let mut resume = Resume {
        active: Vec::new(),
        pending: Vec::new(),
    };
    // One read of every app (with its hostnames), not one per app.
    let apps = match store.every_app().await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "cannot list apps");
            return resume;
        }
    };
    for rec in apps {
        let (org, app) = (rec.org.clone(), rec.name.clone());
        if let Some(work) = &rec.work {
            if let Some(back) = resume_after_restart(work) {
                let _ = store
                    .advance_work(&org, &app, work.release, rec.generation, Some(&back))
                    .await;
            }
            tracing::info!(%org, %app, release = work.release, step = ?work.step, "resuming pending work");
            resume.pending.push((org, app));
        }
        if let Some(release) = rec.active_release {
            resume.active.push((rec, release));
        }
    }
    resume
}

/// Drive `org/app`'s pending work until it is done, failed, or gone.
pub(super) async fn drive(engine: &Engine, org: &str, app: &str) {
    let handle = &engine.inner.handle;
    let rules = &engine.inner.rules;
    let mut last: Option<Tagged> = None;
    loop {
        let view = match handle.load(org, app).await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%org, %app, error = %error_chain(&e), "cannot read the app");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let Some(work) = view.work.clone() else {
            return;
        };
        let release = match handle.store.get_release(org, app, work.release).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(%org, %app, error = %error_chain(&e), "cannot read the release");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        // Domains proven or removed after this release was applied: route them now, under
        // this driver's claim (before the apply, the apply routes what is routed then).
        let reroute = matches!(
            work.step,
            satusky_core::engine::Step::Rollout | satusky_core::engine::Step::Endpoints
        ) && engine.take_reroute(org, app);
        // Secrets are opened only when this pass may hand the release to the runtime: the
        // apply step (a re-route opens them for its own heal) — not on every polling pass.
        let with_secrets = work.step == satusky_core::engine::Step::Apply;
        let release_view = match &release {
            Some(r) if with_secrets => Some(handle.release_view(&view, r).await),
            Some(r) => Some(r.view(&view).map_err(crate::handle::Unusable::Spec)),
            None => None,
        };
        if let Some(Err(crate::handle::Unusable::Secrets(e @ StoreError::Database(_)))) =
            &release_view
        {
            tracing::error!(%org, %app, error = %error_chain(e), "cannot read the app's secrets");
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        }
        if reroute && let Some(r) = &release {
            // The want may have been set after `view` was read (a proof written between the
            // two): route the domains as the store holds them now, not as `view` did.
            let now = match handle.load(org, app).await {
                Ok(Some(now)) => now,
                _ => view.clone(),
            };
            match handle.desired(&now, r).await {
                Ok(desired) => {
                    if let Err(e) = handle.runtime.heal(desired).await {
                        tracing::warn!(%org, %app, error = %error_chain(&e), "cannot route the app's changed domains; the drift checker retries");
                    }
                }
                Err(e) => {
                    tracing::warn!(%org, %app, error = %error_chain(&e), "cannot route the app's changed domains now; retrying");
                    engine.want_reroute(org, app);
                }
            }
        }
        let decision = match release_view {
            Some(Ok(release)) => next(&view, Some(&release), last.take(), rules, now_ms()),
            Some(Err(e)) => {
                tracing::warn!(%org, %app, release = work.release, error = %error_chain(&e), "the release cannot be applied; failing it");
                unusable_release(&view, work.release, &error_chain(&e), now_ms())
            }
            None => {
                tracing::error!(%org, %app, release = work.release, "work names a missing release; dropping it");
                next(&view, None, last.take(), rules, now_ms())
            }
        };
        if !persist(handle, &view, work.release, &decision).await {
            // Overtaken by a newer deploy, or the store refused (after a pause): load again.
            continue;
        }
        let tag = |outcome| {
            Some(Tagged {
                release: work.release,
                step: work.step,
                generation: view.generation,
                outcome,
            })
        };
        match decision.action {
            Action::Stop => return,
            Action::Continue => {}
            Action::Retry { after } => tokio::time::sleep(after).await,
            Action::Build(req) => {
                let (sink, log) = BuildLog::start(handle, org, app, work.release);
                let limit = req.timeout.unwrap_or(rules.build_timeout) + BUILD_STOP_GRACE;
                // The runtime stops the build at its timeout; this bound only covers one
                // that does not.
                let result = tokio::time::timeout(limit, handle.runtime.build(req, sink))
                    .await
                    .unwrap_or_else(|_| {
                        Err(BuildFailure {
                            message: String::new(),
                            log_tail: Vec::new(),
                            timed_out: true,
                        })
                    });
                let dropped = log.finish().await;
                if dropped > 0 {
                    tracing::info!(%org, %app, release = work.release, dropped, "build log lines dropped");
                }
                last = tag(Outcome::Built(result));
            }
            Action::Apply(desired) => {
                let clock = Instant::now();
                let result = handle.runtime.apply(desired).await;
                crate::metrics::reconcile(handle.runtime.name(), &result, clock.elapsed());
                if let Err(e) = &result {
                    tracing::warn!(%org, %app, error = %error_chain(e), "apply failed");
                }
                last = tag(Outcome::Applied(result));
            }
            Action::Observe { after } => {
                tokio::time::sleep(after).await;
                let result = handle
                    .runtime
                    .observe(org.to_string(), app.to_string())
                    .await;
                if let Err(e) = &result {
                    tracing::warn!(%org, %app, error = %error_chain(e), "observe failed");
                }
                last = tag(Outcome::Observed(result));
            }
            Action::Probe { after, serving } => {
                tokio::time::sleep(after).await;
                let (routes, probed) = handle.read_endpoints(&view, serving).await;
                last = tag(Outcome::Probed { routes, probed });
            }
        }
    }
}

/// Save `decision`: status (with its events), then the release change, then the work. `false`
/// when the work was overtaken, or the store refused (after a pause) — the caller loads again.
async fn persist(handle: &Handle, app: &AppView, release: u64, decision: &Decision) -> bool {
    let (org, name) = (app.org.as_str(), app.name.as_str());
    let store = &handle.store;
    if let Some(doc) = &decision.status {
        match handle.save_status(app, doc, &decision.events).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::error!(%org, app = %name, error = %error_chain(&e), "cannot save the status");
                tokio::time::sleep(RETRY_AFTER).await;
                return false;
            }
        }
    }
    let now = now_ms();
    let released = match &decision.release {
        ReleaseChange::None => Ok(()),
        ReleaseChange::Artifact { version, artifact } => {
            store
                .set_release_artifact(org, name, *version, artifact)
                .await
        }
        ReleaseChange::Fail { dimension, plane } => {
            tracing::info!(%org, app = %name, release, %dimension, reason = %plane.reason, "release failed");
            let failure = decision.release.failure_record();
            store
                .transition_releases(
                    org,
                    name,
                    &[(release, satusky_types::ReleaseStatus::Failed)],
                    None,
                    failure.as_ref(),
                    now,
                )
                .await
        }
        ReleaseChange::Activate => match store.list_releases(org, name).await {
            Ok(releases) => {
                let statuses: Vec<_> = releases.iter().map(|r| (r.version, r.status)).collect();
                let changes = on_release_ready(&statuses, release);
                tracing::info!(%org, app = %name, release, "release active");
                store
                    .transition_releases(org, name, &changes, Some(release), None, now)
                    .await
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = released {
        tracing::error!(%org, app = %name, error = %error_chain(&e), "cannot record the release change");
        tokio::time::sleep(RETRY_AFTER).await;
        return false;
    }
    let work = match &decision.work {
        WorkChange::Keep => return true,
        WorkChange::Set(w) => Some(w),
        WorkChange::Done => None,
    };
    match store
        .advance_work(org, name, release, app.generation, work)
        .await
    {
        Ok(advanced) => {
            handle.hub.notify(org, name);
            advanced
        }
        Err(e) => {
            tracing::error!(%org, app = %name, error = %error_chain(&e), "cannot save the work");
            tokio::time::sleep(RETRY_AFTER).await;
            false
        }
    }
}

/// Stop the app's workload (after it was deleted from the store); with `purge_volumes`, then
/// delete its volumes (once nothing of it runs).
pub(super) async fn remove(handle: &Handle, org: String, app: String, purge_volumes: bool) {
    if let Err(e) = handle.runtime.remove(org.clone(), app.clone()).await {
        tracing::warn!(%org, %app, error = %error_chain(&e), "removing the workload failed");
    }
    if purge_volumes {
        match handle.runtime.purge_volumes(org.clone(), app.clone()).await {
            Ok(purged) => tracing::info!(%org, %app, ?purged, "volumes deleted"),
            Err(e) => {
                tracing::warn!(%org, %app, error = %error_chain(&e), "deleting the volumes failed")
            }
        }
    }
}

/// Whether the runtime can run `spec` at all.
pub(super) fn admit(
    handle: &Handle,
    spec: &satusky_core::ValidatedApp,
) -> Result<(), satusky_core::runtime::RuntimeError> {
    handle.runtime.admit(spec)
}

/// The runtime's short name (`local`, `kubernetes`).
pub(super) fn runtime_name(handle: &Handle) -> &'static str {
    handle.runtime.name()
}

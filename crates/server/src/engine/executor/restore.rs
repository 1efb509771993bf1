//! Restoring the active releases on start: apply each app's active release again (the local
//! runtime's replicas died with the previous process) and wait until the runtime serves it,
//! then record the workload plane observed. The engine resumes pending work only after this,
//! so an app whose next release was building when the control plane died keeps serving its
//! active release meanwhile.
//!
//! Owns nothing durable: it reads the store, drives the runtime, and saves a fresh workload
//! plane for apps whose status document describes their active release.

use std::sync::Arc;
use std::time::Duration;

use satusky_core::engine::{OBSERVE_EVERY, status_events};
use satusky_core::lifecycle::{WorkloadVerdict, judge_workload, merge_plane};
use satusky_core::time::now_ms;
use satusky_store::AppRecord;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::error_chain;
use crate::handle::Handle;

/// Apps restored at once: each starts its replicas and waits for their readiness checks, so a
/// few at a time keeps a thousand-app restart from starting every process in one burst.
const RESTORE_CONCURRENCY: usize = 8;
/// The longest an app's restore is waited for before pending work resumes anyway (its own
/// progress deadline applies when shorter): one stuck app must not hold every deploy.
const RESTORE_WAIT: Duration = Duration::from_secs(60);

/// Restore every `(app, active release)`, [`RESTORE_CONCURRENCY`] at a time; returns when
/// each serves, failed, or ran out of [`RESTORE_WAIT`].
pub(in crate::engine) async fn restore_all(handle: &Handle, apps: Vec<(AppRecord, u64)>) {
    let limit = Arc::new(Semaphore::new(RESTORE_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (rec, active) in apps {
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
            break;
        };
        let handle = handle.clone();
        tasks.spawn(async move {
            restore(&handle, &rec, active).await;
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Apply `active` again and wait until it serves.
async fn restore(handle: &Handle, rec: &AppRecord, active: u64) {
    let store = &handle.store;
    let release = match store.get_release(&rec.org, &rec.name, active).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "cannot read the active release");
            return;
        }
    };
    let desired = match handle.desired(&rec.view(), &release).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "cannot restore the active release");
            return;
        }
    };
    tracing::info!(org = %rec.org, app = %rec.name, release = active, "restoring the active release");
    let clock = std::time::Instant::now();
    let result = handle.runtime.apply(desired).await;
    crate::metrics::reconcile(handle.runtime.name(), &result, clock.elapsed());
    if let Err(e) = result {
        tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "cannot restore the active release");
        return;
    }
    let wait_s = release
        .spec
        .deploy
        .progress_deadline_seconds
        .min(RESTORE_WAIT.as_secs());
    let started = now_ms();
    loop {
        let obs = match handle
            .runtime
            .observe(rec.org.clone(), rec.name.clone())
            .await
        {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "cannot observe the restored release");
                return;
            }
        };
        let desired = if obs.release == Some(active) && obs.replicas.desired > 0 {
            obs.replicas.desired
        } else {
            release.spec.replicas
        };
        let verdict = judge_workload(&obs, active, desired, started, wait_s, now_ms());
        match verdict {
            WorkloadVerdict::Progressing { .. } => tokio::time::sleep(OBSERVE_EVERY).await,
            WorkloadVerdict::Ready { .. } => {
                tracing::info!(org = %rec.org, app = %rec.name, release = active, "active release serving again");
                record(handle, rec, active, &verdict, obs.replicas).await;
                return;
            }
            WorkloadVerdict::Failed { ref message, .. } => {
                // Pending work resumes anyway; the sweep and the next deploy see the rest.
                tracing::warn!(org = %rec.org, app = %rec.name, release = active, %message,
                    "the active release did not come back within the restore wait");
                return;
            }
        }
    }
}

/// Save the workload plane just observed, when the status document describes `active` (an
/// app with a newer release pending has that release's document; its driver writes it).
async fn record(
    handle: &Handle,
    rec: &AppRecord,
    active: u64,
    verdict: &WorkloadVerdict,
    replicas: satusky_types::ReplicaCounts,
) {
    let Ok(Some(app)) = handle.load(&rec.org, &rec.name).await else {
        return;
    };
    let Some(old) = app.status.as_ref().filter(|d| d.release == Some(active)) else {
        return;
    };
    let mut doc = old.clone();
    doc.workload.plane = merge_plane(Some(&old.workload.plane), verdict.plane(), now_ms());
    doc.workload.replicas = replicas;
    let events = status_events(&app, &doc);
    if let Err(e) = handle.save_status(&app, &doc, &events).await {
        tracing::warn!(org = %app.org, app = %app.name, error = %error_chain(&e), "cannot save the restored status");
    }
}

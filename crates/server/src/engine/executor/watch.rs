//! Apps at rest stay observed: the runtime marks every app whose workload may have changed
//! (`Runtime::workload_changes`: the local supervisor on a replica's exit, restart or
//! readiness change; a watch event on Kubernetes), and this one task reads each marked app's
//! workload again and saves what `satusky_core::engine::observed_at_rest` decides — the
//! workload plane of the active release, the phase, their events. Nothing here runs on a
//! timer: an idle app costs nothing. Apps with pending work are skipped (their driver
//! observes them, and marks them again when it stops).

use std::sync::Arc;

use satusky_core::changes::WorkloadChanges;
use satusky_core::engine::{observable, observed_at_rest};
use satusky_core::time::now_ms;
use tokio::task::JoinSet;

use crate::error::error_chain;
use crate::handle::Handle;

/// Follow `changes` until the process ends — from when the active releases were restored
/// after the start (`restored`): replicas the restore is still starting are not failing, and
/// what changed meanwhile is kept (coalesced) until then.
pub(in crate::engine) async fn run(
    handle: Handle,
    changes: Arc<WorkloadChanges>,
    mut restored: tokio::sync::watch::Receiver<bool>,
) {
    let _ = restored.wait_for(|r| *r).await;
    loop {
        // The batch's apps at once, up to OBSERVE_CONCURRENCY: one slow runtime call does not
        // hold the others' news back (each app is in a batch at most once).
        let mut tasks = JoinSet::new();
        for (org, app) in changes.next_batch().await {
            if tasks.len() >= OBSERVE_CONCURRENCY {
                let _ = tasks.join_next().await;
            }
            let handle = handle.clone();
            tasks.spawn(async move { observe(&handle, &org, &app).await });
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Apps observed at once by [`run`].
const OBSERVE_CONCURRENCY: usize = 16;

/// Read `org/app`'s workload and save what changed, if it is at rest.
pub(in crate::engine) async fn observe(handle: &Handle, org: &str, app: &str) {
    let at_rest = match handle.load(org, app).await {
        Ok(Some(view)) => observable(&view).is_some(),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(%org, %app, error = %error_chain(&e), "observe: cannot read the app");
            false
        }
    };
    if !at_rest {
        return;
    }
    let obs = match handle
        .runtime
        .observe(org.to_string(), app.to_string())
        .await
    {
        Ok(obs) => obs,
        Err(e) => {
            tracing::warn!(%org, %app, error = %error_chain(&e), "observe: the runtime cannot say");
            return;
        }
    };
    let saved = handle
        .update_at_rest(org, app, |view| observed_at_rest(view, &obs, now_ms()))
        .await;
    if let Err(e) = saved {
        tracing::warn!(%org, %app, error = %error_chain(&e), "observe: cannot save");
    }
}

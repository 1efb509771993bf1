//! The periodic endpoint sweep: every probe interval, re-check the endpoints of every app that
//! has an active release and no pending work, and record what changed (with `plane` events).
//! Idempotent: an unchanged plane writes no event. Each app's pass is a drift check
//! ([`crate::drift`]), which re-probes through [`recheck`] and compares; apps are checked
//! [`SWEEP_CONCURRENCY`] at a time.

use std::sync::Arc;

use satusky_store::AppRecord;
use satusky_types::EndpointReport;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Engine, endpoints};
use crate::error::error_chain;
use crate::status::{StatusDoc, diff_events};

/// Apps checked at once in a sweep: each probes its few hostnames concurrently (up to the
/// prober's own limit), so 32 apps keep the prober near its best throughput (32–64 checks in
/// flight, docs/BENCHMARKS.md) without a thousand-app burst.
const SWEEP_CONCURRENCY: usize = 32;

pub(super) async fn run(engine: Engine) {
    let mut tick = tokio::time::interval(engine.inner.config.probe_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        sweep_once(&engine).await;
        crate::metrics::upkeep();
    }
}

/// One pass over every app.
pub async fn sweep_once(engine: &Engine) {
    let store = &engine.inner.store;
    let apps = match store.all_apps().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "sweep: cannot list apps");
            return;
        }
    };
    // Each app on its own task (so the checks use every core), at most SWEEP_CONCURRENCY
    // alive at once.
    let limit = Arc::new(Semaphore::new(SWEEP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (org, app) in apps {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let engine = engine.clone();
        tasks.spawn(async move {
            match engine.inner.store.get_app(&org, &app).await {
                Ok(Some(rec)) => {
                    if let Err(e) = crate::drift::check_rec(&engine, &rec).await {
                        tracing::warn!(%org, %app, error = %error_chain(&e), "sweep: drift check failed");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%org, %app, error = %error_chain(&e), "sweep: cannot read app")
                }
            }
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Re-probe the app's endpoints and save them; the endpoints, or `None` when the app has
/// pending work, no active release or no status document for its target release.
pub(super) async fn recheck(engine: &Engine, rec: &AppRecord) -> Option<Vec<EndpointReport>> {
    if rec.work.is_some() {
        return None;
    }
    let (Some(active), Some(target)) = (rec.active_release, rec.target_release) else {
        return None;
    };
    let old = StatusDoc::from_app(rec).filter(|d| d.release == Some(target))?;
    let mut doc = old.clone();
    doc.endpoints = endpoints::check(engine, rec, active, &old).await;
    let events = diff_events(Some(&old), &doc, rec.generation, old.phase());
    let value = serde_json::to_value(&doc).unwrap_or_default();
    match engine
        .inner
        .store
        .save_status(
            &rec.org,
            &rec.name,
            target,
            doc.phase(),
            &value,
            &events,
            satusky_core::time::now_ms(),
        )
        .await
    {
        Ok(true) if !events.is_empty() => engine.inner.hub.notify(&rec.org, &rec.name),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(org = %rec.org, app = %rec.name, error = %error_chain(&e), "sweep: cannot save")
        }
    }
    Some(doc.endpoints)
}

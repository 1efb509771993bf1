//! The periodic endpoint sweep: every probe interval, re-check the endpoints of every app that
//! has an active release and no pending work, and record what changed (with `plane` events).
//! Idempotent: an unchanged plane writes no event. Each app's pass is a drift check
//! ([`crate::drift`]), which re-probes through [`crate::handle::Handle::recheck`] and compares; apps are checked
//! [`SWEEP_CONCURRENCY`] at a time.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::super::Engine;
use crate::error::error_chain;

/// Apps checked at once in a sweep: each probes its few hostnames concurrently (up to the
/// prober's own limit), so 32 apps keep the prober near its best throughput (32–64 checks in
/// flight, docs/BENCHMARKS.md) without a thousand-app burst.
const SWEEP_CONCURRENCY: usize = 32;

pub(in crate::engine) async fn run(engine: Engine) {
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
pub(in crate::engine) async fn sweep_once(engine: &Engine) {
    let handle = &engine.inner.handle;
    let apps = match handle.store.all_apps().await {
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
            match engine.inner.handle.load(&org, &app).await {
                Ok(Some(view)) => {
                    if let Err(e) = engine.inner.drift.check_view(&view).await {
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

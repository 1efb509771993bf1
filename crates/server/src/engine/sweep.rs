//! The periodic endpoint sweep: every probe interval, re-check the endpoints of every app that
//! has an active release and no pending work, and record what changed (with `plane` events).
//! Idempotent: an unchanged plane writes no event.

use satusky_store::AppRecord;

use super::{Engine, endpoints};
use crate::error::error_chain;
use crate::status::{StatusDoc, diff_events};

pub(super) async fn run(engine: Engine) {
    let mut tick = tokio::time::interval(engine.inner.config.probe_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        sweep_once(&engine).await;
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
    for (org, app) in apps {
        match store.get_app(&org, &app).await {
            Ok(Some(rec)) => recheck(engine, &rec).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%org, %app, error = %error_chain(&e), "sweep: cannot read app")
            }
        }
    }
}

async fn recheck(engine: &Engine, rec: &AppRecord) {
    if rec.work.is_some() {
        return;
    }
    let (Some(active), Some(target)) = (rec.active_release, rec.target_release) else {
        return;
    };
    let Some(old) = StatusDoc::from_app(rec).filter(|d| d.release == Some(target)) else {
        return;
    };
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
}

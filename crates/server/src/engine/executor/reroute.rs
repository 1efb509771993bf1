//! Re-routing the active release when the app's routed domains change (a domain added,
//! removed, proven or lost, a grace period over) — no new release: the runtime is handed the
//! active release again with the routed hostnames as they are now, and the endpoints are
//! checked again so the report shows the new set. Runs while the caller holds the app's
//! driver claim, so no deploy step interleaves; an app with pending work is left to its
//! driver, which routes what is routed when it applies and re-routes once it stops.

use std::time::Instant;

use crate::error::error_chain;
use crate::handle::Handle;

/// Hand the active release of `org/app` to the runtime again with its routed hostnames now,
/// then re-check its endpoints. `false` when the app has pending work (not at rest).
pub(in crate::engine) async fn run(handle: &Handle, org: &str, app: &str) -> bool {
    let rec = match handle.store.get_app(org, app).await {
        Ok(Some(rec)) => rec,
        Ok(None) => return true,
        Err(e) => {
            tracing::warn!(%org, %app, error = %error_chain(&e), "reroute: cannot read the app");
            return true;
        }
    };
    if rec.work.is_some() {
        return false;
    }
    let Some(active) = rec.active_release else {
        return true;
    };
    let release = match handle.store.get_release(org, app, active).await {
        Ok(Some(r)) => r,
        Ok(None) => return true,
        Err(e) => {
            tracing::warn!(%org, %app, error = %error_chain(&e), "reroute: cannot read the active release");
            return true;
        }
    };
    let desired = match handle.desired(&rec.view(), &release).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(%org, %app, error = %error_chain(&e), "reroute: the active release cannot be applied");
            return true;
        }
    };
    let started = Instant::now();
    let result = handle.runtime.heal(desired).await;
    crate::metrics::reconcile(handle.runtime.name(), &result, started.elapsed());
    match result {
        Ok(()) => tracing::info!(%org, %app, release = active, "routes follow the app's domains"),
        Err(e) => {
            tracing::warn!(%org, %app, error = %error_chain(&e), "reroute: the runtime refused; the drift checker retries");
        }
    }
    handle.recheck(&rec.view()).await;
    true
}

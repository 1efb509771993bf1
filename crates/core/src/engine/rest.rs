//! An app at rest — an active release, no pending work, a status document for that release —
//! stays observed. When its runtime reports a change (a replica exited, came back, its
//! readiness flipped), the executor reads the workload again and [`observed_at_rest`] decides
//! what the workload plane becomes ([`judge_active`]) and which events that produces; the
//! phase follows (`degraded` while some replicas serve, `failed` when none does, `ready` again
//! once all do).

use satusky_types::EventType;
use serde_json::Value;

use super::{AppView, StatusDoc, status_events};
use crate::lifecycle::{judge_active, merge_plane, same_plane};
use crate::runtime::WorkloadObservation;

/// The release an at-rest observation judges: the active one, when the app has no pending
/// work and its stored status document describes that release (after a failed deploy the
/// document describes the failed release, and the deploy's verdict stays shown).
pub fn observable(app: &AppView) -> Option<u64> {
    if app.work.is_some() {
        return None;
    }
    let active = app.active_release?;
    app.status.as_ref().filter(|d| d.release == Some(active))?;
    Some(active)
}

/// What observing `app` at rest changes: the new status document and its events, or `None`
/// when the app is not at rest, the observation is of another release, or nothing changed.
pub fn observed_at_rest(
    app: &AppView,
    obs: &WorkloadObservation,
    now_ms: i64,
) -> Option<(StatusDoc, Vec<(EventType, Value)>)> {
    let active = observable(app)?;
    let old = app.status.as_ref()?;
    let plane = judge_active(obs, active)?;
    let mut doc = old.clone();
    doc.workload.plane = merge_plane(Some(&old.workload.plane), plane, now_ms);
    doc.workload.replicas = obs.replicas;
    if doc.workload.replicas.desired == 0 {
        doc.workload.replicas.desired = old.workload.replicas.desired;
    }
    if same_plane(&doc.workload.plane, &old.workload.plane)
        && doc.workload.replicas == old.workload.replicas
    {
        return None;
    }
    let events = status_events(app, &doc);
    Some((doc, events))
}

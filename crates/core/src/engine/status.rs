//! The app's status document — build, workload and endpoint planes for one target release —
//! as the engine stores it, and the pure functions around it: the initial document for a new
//! release, the readiness report assembled from it, and the events a change produces.

use crate::lifecycle::{merge_plane, phase, same_plane};
use satusky_types::{
    EndpointReport, EventType, Hostname, Phase, Plane, PlaneState, ReadinessReport, Reason,
    ReplicaCounts, WorkloadPlane,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppView;

/// What the engine stores in `apps.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDoc {
    /// The release these planes describe.
    pub release: Option<u64>,
    /// The app's generation when the document was saved (the store stamps it): a reader
    /// that asked for generation G (a scale, a restart) knows the planes describe its
    /// request once this is at least G.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    pub build: Plane,
    pub workload: WorkloadPlane,
    pub endpoints: Vec<EndpointReport>,
}

impl StatusDoc {
    pub fn phase(&self) -> Phase {
        phase(&self.build, &self.workload.plane, &self.endpoints)
    }

    /// Read the stored form; `None` when it is not a status document.
    pub fn from_value(value: &Value) -> Option<StatusDoc> {
        serde_json::from_value(value.clone()).ok()
    }
}

/// The document for `app`'s target release before the engine has worked on it: the build
/// waits (or is not needed), the workload waits, and the endpoint planes wait for the
/// rollout (the metadata plane is known: the hostnames are stored and unique).
pub fn initial_doc(app: &AppView, has_runtime: bool, now_ms: i64) -> StatusDoc {
    let prev = app.status.as_ref();
    let waiting_reason = if has_runtime {
        Reason::RolloutPending
    } else {
        Reason::NoRuntime
    };
    let build = if let Some(image) = app.spec.image.as_ref() {
        Plane::new(
            PlaneState::NotApplicable,
            Reason::ImageProvided,
            format!("image {image} given; nothing to build"),
        )
    } else if has_runtime {
        Plane::new(
            PlaneState::Pending,
            Reason::BuildPending,
            "the build is queued",
        )
    } else {
        Plane::new(
            PlaneState::Pending,
            Reason::NoRuntime,
            "no runtime is attached to this control plane to build the context",
        )
    };
    let workload_msg = if has_runtime {
        "waiting for the build".to_string()
    } else {
        "no runtime is attached to this control plane; the desired state is stored".to_string()
    };
    let release = app.target_release;
    let endpoints = if !app.spec.expose.is_public() {
        super::endpoints::not_public_reports(app, prev, now_ms)
    } else {
        app.hostnames
            .iter()
            .map(|h| {
                let waiting = Plane::new(
                    PlaneState::Pending,
                    Reason::Waiting,
                    format!(
                        "checked once v{} is rolled out",
                        release.unwrap_or_default()
                    ),
                );
                let planes = [waiting.clone(), waiting.clone(), waiting.clone(), waiting];
                endpoint_report(app, prev, h, planes, now_ms)
            })
            .collect()
    };
    StatusDoc {
        release,
        generation: None,
        build: merge_plane(prev.map(|d| &d.build), build, now_ms),
        workload: WorkloadPlane {
            plane: merge_plane(
                prev.map(|d| &d.workload.plane),
                Plane::new(PlaneState::Pending, waiting_reason, workload_msg),
                now_ms,
            ),
            replicas: ReplicaCounts {
                desired: app.spec.replicas,
                ..ReplicaCounts::default()
            },
        },
        endpoints,
    }
}

/// The report of hostname `h` with its route, DNS, TLS and HTTP planes as just read (and the
/// metadata plane from the store), each merged with `prev`'s so `since` survives re-checks.
pub(super) fn endpoint_report(
    app: &AppView,
    prev: Option<&StatusDoc>,
    h: &Hostname,
    [route, dns, tls, http]: [Plane; 4],
    now_ms: i64,
) -> EndpointReport {
    let old = prev.and_then(|d| d.endpoints.iter().find(|e| e.hostname == h.hostname));
    EndpointReport {
        hostname: h.hostname.clone(),
        kind: h.kind,
        metadata: merge_plane(old.map(|o| &o.metadata), metadata_plane(app, h), now_ms),
        route: merge_plane(old.map(|o| &o.route), route, now_ms),
        dns: merge_plane(old.map(|o| &o.dns), dns, now_ms),
        tls: merge_plane(old.map(|o| &o.tls), tls, now_ms),
        http: merge_plane(old.map(|o| &o.http), http, now_ms),
    }
}

/// The metadata plane of `h`: stored, unique across orgs, and for a custom domain proven
/// ([`crate::ownership::metadata_plane`]). A hostname without a domain record (a view built
/// before domains existed) reads as stored.
pub fn metadata_plane(app: &AppView, h: &Hostname) -> Plane {
    match app.domain(&h.hostname) {
        Some(d) => crate::ownership::metadata_plane(&app.org, &app.name, d),
        None => Plane::new(
            PlaneState::Ready,
            Reason::Stored,
            format!(
                "{} stored for {}/{}, unique across orgs",
                h.hostname, app.org, app.name
            ),
        ),
    }
}

/// The readiness report of SPEC §4 for `app`, as a process started at `started_ms` may show
/// it: planes last seen ready before then are `unknown` until observed again
/// ([`crate::stale`]).
pub fn report(app: &AppView, has_runtime: bool, started_ms: i64) -> ReadinessReport {
    let doc = match &app.status {
        Some(doc) if doc.release == app.target_release => doc.clone(),
        _ => initial_doc(app, has_runtime, app.updated_at_ms),
    };
    let mut doc = doc;
    let phase = crate::stale::as_of_start(
        &doc.build,
        &mut doc.workload.plane,
        &mut doc.endpoints,
        app.phase,
        started_ms,
    );
    ReadinessReport {
        app: app.name.clone(),
        org: app.org.clone(),
        generation: app.generation,
        observed_generation: doc.generation,
        active_release: app.active_release,
        target_release: app.target_release,
        internal_address: None,
        phase,
        build: doc.build,
        workload: doc.workload,
        endpoints: doc.endpoints,
    }
}

fn plane_event(
    release: Option<u64>,
    hostname: Option<&str>,
    name: &str,
    p: &Plane,
) -> (EventType, Value) {
    let mut data = json!({
        "release": release,
        "hostname": hostname,
        "plane": name,
        "state": p.state,
        "reason": p.reason,
        "message": p.message,
    });
    if let Some(r) = &p.remediation {
        data["remediation"] = json!(r);
    }
    (EventType::Plane, data)
}

/// The events that going from `old` to `new` produces: one `plane` event per changed plane,
/// a `rollout` event when replica counts changed, a `phase` event when the phase changed.
pub fn diff_events(
    old: Option<&StatusDoc>,
    new: &StatusDoc,
    generation: u64,
    old_phase: Phase,
) -> Vec<(EventType, Value)> {
    let mut out = Vec::new();
    let changed = |a: Option<&Plane>, b: &Plane| a.is_none_or(|a| !same_plane(a, b));
    if changed(old.map(|o| &o.build), &new.build) {
        out.push(plane_event(new.release, None, "build", &new.build));
    }
    if changed(old.map(|o| &o.workload.plane), &new.workload.plane) {
        out.push(plane_event(
            new.release,
            None,
            "workload",
            &new.workload.plane,
        ));
    }
    if old.is_none_or(|o| o.workload.replicas != new.workload.replicas) {
        let r = new.workload.replicas;
        out.push((
            EventType::Rollout,
            json!({"release": new.release, "desired": r.desired, "updated": r.updated, "ready": r.ready, "available": r.available}),
        ));
    }
    for e in &new.endpoints {
        let prev = old.and_then(|o| o.endpoints.iter().find(|x| x.hostname == e.hostname));
        for (name, p) in e.planes() {
            let before = prev.map(|x| {
                x.planes()
                    .into_iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, p)| p)
            });
            if changed(before.flatten(), p) {
                out.push(plane_event(new.release, Some(&e.hostname), name, p));
            }
        }
    }
    let ph = new.phase();
    if ph != old_phase || old.is_none() {
        out.push((
            EventType::Phase,
            json!({"phase": ph, "generation": generation, "release": new.release}),
        ));
    }
    out
}

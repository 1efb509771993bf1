//! Assembles the readiness report (SPEC §4) from what the store holds. Until a runtime and the
//! prober run, the build and workload wait and the network planes stay `unknown`; the metadata
//! plane is known here: a stored hostname is unique across orgs by construction.

use satusky_core::time::rfc3339_ms;
use satusky_store::AppRecord;
use satusky_types::{
    EndpointReport, Plane, PlaneState, ReadinessReport, Reason, ReplicaCounts, WorkloadPlane,
};

pub fn report_for(app: &AppRecord) -> ReadinessReport {
    let since = Some(rfc3339_ms(app.updated_at_ms));
    let build = match &app.spec.image {
        Some(image) => Plane::new(
            PlaneState::NotApplicable,
            Reason::ImageProvided,
            format!("image {image} given; nothing to build"),
        ),
        None => Plane::new(
            PlaneState::Pending,
            Reason::NoRuntime,
            "waiting for a runtime to build the context",
        ),
    }
    .with_since(since.clone());
    let workload = WorkloadPlane {
        plane: Plane::new(
            PlaneState::Pending,
            Reason::NoRuntime,
            "no runtime is attached to this control plane; the desired state is stored",
        )
        .with_since(since.clone()),
        replicas: ReplicaCounts {
            desired: app.spec.replicas,
            ..ReplicaCounts::default()
        },
    };
    let endpoints = app
        .hostnames
        .iter()
        .map(|h| EndpointReport {
            hostname: h.hostname.clone(),
            kind: h.kind,
            metadata: Plane::new(
                PlaneState::Ready,
                Reason::Stored,
                format!("stored for {}/{}, unique across orgs", app.org, app.name),
            )
            .with_since(since.clone()),
            route: Plane::unknown(),
            dns: Plane::unknown(),
            tls: Plane::unknown(),
            http: Plane::unknown(),
        })
        .collect();
    ReadinessReport {
        app: app.name.clone(),
        org: app.org.clone(),
        generation: app.generation,
        active_release: app.active_release,
        target_release: app.target_release,
        phase: app.phase,
        build,
        workload,
        endpoints,
    }
}

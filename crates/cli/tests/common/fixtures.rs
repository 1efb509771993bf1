//! Canned API bodies for the fake server (built from the real wire types, so their shapes
//! cannot drift from what the server sends) and a folder holding a valid satusky.toml.

use std::path::Path;

use satusky_types::{
    ContextUploaded, DeployAccepted, EndpointReport, Event, EventType, Hostname, HostnameKind,
    Phase, Plane, PlaneState, ReadinessReport, Reason, ReleaseStatus, ReplicaCounts, WorkloadPlane,
};

use super::{Route, onectl, route};

pub const TOKEN: &str = "tok-123";

/// The content address the fake server gives every uploaded context.
pub const CONTEXT: &str = "sha256:c0ffee";

/// `201` to a context upload.
pub fn uploaded() -> Route {
    let body = serde_json::to_string(&ContextUploaded {
        context: CONTEXT.into(),
        entries: 3,
        unpacked_bytes: 1234,
    })
    .expect("json");
    route("POST", "/v1/orgs/acme/builds", 201, &body)
}

/// An event of app `api`.
pub fn event(seq: u64, kind: EventType, data: serde_json::Value) -> Event {
    Event {
        seq,
        at: format!("2026-01-01T12:00:{:02}.000Z", seq % 60),
        kind,
        app: "api".into(),
        data,
    }
}

pub fn whoami() -> Route {
    route("GET", "/v1/whoami", 200, r#"{"org":"acme","role":"admin"}"#)
}

pub fn err(code: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message}}).to_string()
}

pub fn accepted(release: u64) -> String {
    serde_json::to_string(&DeployAccepted {
        app: "api".into(),
        org: "acme".into(),
        generation: 2,
        release,
        status: ReleaseStatus::Pending,
        created: true,
        hostnames: vec![Hostname {
            hostname: "api-acme.apps.test".into(),
            kind: HostnameKind::Generated,
            redirect_to: None,
        }],
        unpinned: None,
    })
    .expect("json")
}

pub fn report(target: u64, build: PlaneState, workload: PlaneState, http: PlaneState) -> String {
    let p = |s: PlaneState| Plane::new(s, Reason::NotChecked, "");
    serde_json::to_string(&ReadinessReport {
        app: "api".into(),
        org: "acme".into(),
        generation: 2,
        active_release: None,
        target_release: Some(target),
        phase: Phase::RollingOut,
        build: Plane::new(build, Reason::Built, "sha256:abc"),
        workload: WorkloadPlane {
            plane: p(workload),
            replicas: ReplicaCounts {
                desired: 1,
                updated: 1,
                ready: 1,
                available: 1,
            },
        },
        endpoints: vec![EndpointReport {
            hostname: "api-acme.apps.test".into(),
            kind: HostnameKind::Generated,
            metadata: p(PlaneState::Ready),
            route: p(PlaneState::Ready),
            dns: p(PlaneState::Ready),
            tls: p(PlaneState::Ready),
            http: p(http),
        }],
    })
    .expect("json")
}

/// A folder with a valid satusky.toml written by `1ctl init`.
pub fn app_dir(home: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    onectl(home)
        .current_dir(dir.path())
        .args(["init", "--name", "api"])
        .assert()
        .success();
    dir
}

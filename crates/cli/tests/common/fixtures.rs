//! Canned API bodies for the fake server (built from the real wire types, so their shapes
//! cannot drift from what the server sends) and a folder holding a valid satusky.toml.

use std::path::Path;

use satusky_types::{
    ContextUploaded, DeployAccepted, DriftFinding, DriftOwner, DriftReport, EndpointReport, Event,
    EventType, Hostname, HostnameKind, Phase, Plane, PlaneState, ReadinessReport, Reason,
    ReleaseInfo, ReleaseStatus, ReplicaCounts, RollbackAccepted, WorkloadPlane,
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
    accepted_unpinning(release, None)
}

/// A deploy's `202` from a control plane whose edge listens for HTTPS on `https_port`.
pub fn accepted_on_port(release: u64, https_port: u16) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&accepted_unpinning(release, None)).expect("json");
    v["https_port"] = https_port.into();
    v.to_string()
}

/// A deploy's `202`, ending the pin of rollback release `unpinned` when given.
pub fn accepted_unpinning(release: u64, unpinned: Option<u64>) -> String {
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
        unpinned,
        kept: Vec::new(),
        kept_env: Vec::new(),
        notes: Vec::new(),
        staged_applied: Vec::new(),
        https_port: None,
    })
    .expect("json")
}

/// The things a rollback never reverts, as the server lists them.
pub const NOT_REVERTED: [&str; 2] = [
    "volume data (a rollback reconciles the old spec, not the contents of volumes)",
    "DNS records of custom domains (they are yours)",
];

/// A rollback's `202`: release `release` from the snapshot of `from`.
pub fn rollback_accepted(release: u64, from: u64) -> String {
    serde_json::to_string(&RollbackAccepted {
        app: "api".into(),
        org: "acme".into(),
        generation: 5,
        release,
        from,
        status: ReleaseStatus::Pending,
        image: Some("ghcr.io/acme/api@sha256:0001".into()),
        not_reverted: NOT_REVERTED.iter().map(|s| s.to_string()).collect(),
        https_port: None,
    })
    .expect("json")
}

/// `GET …/releases`: `(version, status, source)`, newest first.
pub fn releases(list: &[(u64, ReleaseStatus, &str)]) -> String {
    let list: Vec<ReleaseInfo> = list
        .iter()
        .map(|(version, status, source)| ReleaseInfo {
            version: *version,
            status: *status,
            image: Some(format!("ghcr.io/acme/api@sha256:000{version}")),
            source: source.to_string(),
            created_at: format!("2026-01-01T12:00:0{version}.000Z"),
            generation: *version,
            secrets: Default::default(),
        })
        .collect();
    serde_json::to_string(&list).expect("json")
}

/// A drift report of app `api`: a custom domain pointing elsewhere (open, the user's) and a
/// route that lost the generated hostname (healed, the platform's).
pub fn drift_report() -> DriftReport {
    DriftReport {
        app: "api".into(),
        org: "acme".into(),
        checked_at: Some("2026-01-01T12:10:00.000Z".into()),
        not_checked: None,
        findings: vec![
            DriftFinding {
                hostname: "www.example.com".into(),
                plane: "dns".into(),
                expected: "A 203.0.113.7".into(),
                observed: "A 198.51.100.9".into(),
                owner: DriftOwner::User,
                remediation: Some("set the record: www.example.com. A 203.0.113.7".into()),
                first_seen: "2026-01-01T12:00:00.000Z".into(),
                last_seen: "2026-01-01T12:10:00.000Z".into(),
                healed_at: None,
            },
            DriftFinding {
                hostname: "api-acme.apps.test".into(),
                plane: "route".into(),
                expected: "served by the route".into(),
                observed: "missing from the route".into(),
                owner: DriftOwner::Platform,
                remediation: None,
                first_seen: "2026-01-01T12:05:00.000Z".into(),
                last_seen: "2026-01-01T12:05:00.000Z".into(),
                healed_at: Some("2026-01-01T12:05:01.500Z".into()),
            },
        ],
    }
}

pub fn report(target: u64, build: PlaneState, workload: PlaneState, http: PlaneState) -> String {
    let p = |s: PlaneState| Plane::new(s, Reason::NotChecked, "");
    serde_json::to_string(&ReadinessReport {
        app: "api".into(),
        org: "acme".into(),
        generation: 2,
        observed_generation: None,
        active_release: None,
        target_release: Some(target),
        internal_address: None,
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

//! App specs and hostnames for tests: the defaults `1ctl init` would write, changed with
//! plain struct updates.

use satusky_types::{AppSpec, BuildSpec, ChecksSpec, DeploySpec, Hostname, HostnameKind, Strategy};

/// A valid spec for `name`: one replica, built from the uploaded context (no image), health
/// check `GET /healthz` expecting 2xx, rolling deploy with a 600 s progress deadline.
pub fn app(name: &str) -> AppSpec {
    AppSpec {
        name: name.to_string(),
        port: 8080,
        replicas: 1,
        cpu: "250m".into(),
        cpu_limit: None,
        memory: "256Mi".into(),
        memory_limit: None,
        image: None,
        command: Some(vec!["./server".into()]),
        zone: None,
        build: BuildSpec {
            dockerfile: "Dockerfile".into(),
            context: ".".into(),
            command: None,
        },
        checks: ChecksSpec {
            path: "/healthz".into(),
            expect: "2xx".into(),
            timeout_ms: 2000,
        },
        deploy: DeploySpec {
            strategy: Strategy::Rolling,
            max_surge: "25%".into(),
            max_unavailable: "0".into(),
            progress_deadline_seconds: 600,
        },
        env: Default::default(),
        domains: Vec::new(),
        volume: None,
        hpa: None,
        vpa: None,
        pdb: None,
    }
}

/// The generated hostname of `org/app` in `zone`.
pub fn generated(org: &str, app: &str, zone: &str) -> Hostname {
    Hostname {
        hostname: satusky_core::generated_hostname(app, org, zone),
        kind: HostnameKind::Generated,
        redirect_to: None,
    }
}

/// A custom domain serving the app.
pub fn alias(host: &str) -> Hostname {
    Hostname {
        hostname: host.to_string(),
        kind: HostnameKind::Alias,
        redirect_to: None,
    }
}

//! App specs and hostnames for tests: the defaults `1ctl init` would write, changed with
//! plain struct updates.

use std::collections::BTreeMap;

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
        expose: Default::default(),
        build: BuildSpec {
            dockerfile: "Dockerfile".into(),
            context: ".".into(),
            command: None,
            env: Default::default(),
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
        static_site: None,
        hpa: None,
        vpa: None,
        pdb: None,
        secrets: Default::default(),
    }
}

/// The generated hostname of `org/app` in `zone`.
pub fn generated(org: &str, app: &str, zone: &str) -> Hostname {
    generated_as(&satusky_core::generated_hostname(app, org, zone))
}

/// A custom domain serving the app.
pub fn alias(host: &str) -> Hostname {
    Hostname {
        hostname: host.to_string(),
        kind: HostnameKind::Alias,
        redirect_to: None,
    }
}

/// [`app`] run from a prebuilt `image` (no build, no command: the image's own).
pub fn image_app(name: &str, image: &str) -> AppSpec {
    AppSpec {
        image: Some(image.to_string()),
        command: None,
        ..app(name)
    }
}

/// An `[env]` table from `KEY, value` pairs.
pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A generated hostname given as it is (not derived from org, app and zone).
pub fn generated_as(host: &str) -> Hostname {
    Hostname {
        kind: HostnameKind::Generated,
        ..alias(host)
    }
}

/// `h` as a stored domain in `state` (generated hostnames: `not_required`), routed when the
/// state routes — what the store reads back for an app.
pub fn domain(
    org: &str,
    h: &Hostname,
    state: satusky_types::OwnershipState,
) -> satusky_types::Domain {
    use satusky_types::{Domain, DomainSource, Ownership, OwnershipState};
    let proof = state != OwnershipState::NotRequired;
    Domain {
        hostname: h.hostname.clone(),
        kind: h.kind,
        redirect_to: h.redirect_to.clone(),
        source: if h.kind == HostnameKind::Generated {
            DomainSource::Generated
        } else {
            DomainSource::File
        },
        ownership: Ownership {
            state,
            txt_name: proof.then(|| satusky_core::ownership::txt_name(&h.hostname)),
            txt_value: proof.then(|| satusky_core::ownership::txt_value(org, &h.hostname)),
            verified_at: None,
            checked_at: None,
            serving_until: None,
            message: String::new(),
        },
        routed: state.is_routed(),
        tls: None,
        created_at: satusky_core::time::rfc3339_ms(0),
    }
}

/// Every hostname of `hosts` as a routed domain: generated ones need no proof, custom ones are
/// proven.
pub fn routed_domains(org: &str, hosts: &[Hostname]) -> Vec<satusky_types::Domain> {
    use satusky_types::OwnershipState;
    hosts
        .iter()
        .map(|h| {
            let state = if h.kind == HostnameKind::Generated {
                OwnershipState::NotRequired
            } else {
                OwnershipState::Verified
            };
            domain(org, h, state)
        })
        .collect()
}

/// A host that redirects to `to`.
pub fn redirect(host: &str, to: &str) -> Hostname {
    Hostname {
        kind: HostnameKind::Redirect,
        redirect_to: Some(to.to_string()),
        ..alias(host)
    }
}

//! Properties of rendering over generated specs: the same input gives byte-identical output,
//! and every object's name and every label key and value is valid for Kubernetes. The
//! validity checks here are written independently of `satusky_kube::render::names`, from the
//! Kubernetes rules themselves.

use std::collections::BTreeMap;

use proptest::prelude::*;
use satusky_core::{AppHostnames, validate_spec};
use satusky_kube::{Object, RenderError, RenderInput, SecretRef, render, to_json_list, to_yaml};
use satusky_types::{
    AppSpec, BuildSpec, ChecksSpec, DeploySpec, DomainSpec, HpaSpec, PdbSpec, Strategy as Rollout,
    VolumeSpec, VpaMode, VpaSpec,
};
use serde_json::Value;

fn label_like(s: &str, max: usize, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || extra.contains(c)
        })
}

/// RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63.
fn dns_label(s: &str) -> bool {
    label_like(s, 63, &[])
}

/// RFC 1123 subdomain: labels joined by dots, ≤ 253.
fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|l| label_like(l, 63, &[]))
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, ≤ 63, or empty.
fn label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

fn label_key(s: &str) -> bool {
    match s.rsplit_once('/') {
        Some((prefix, name)) => dns_subdomain(prefix) && !name.is_empty() && label_value(name),
        None => !s.is_empty() && label_value(s),
    }
}

fn check_labels(where_: &str, map: Option<&Value>) -> Result<(), TestCaseError> {
    if let Some(Value::Object(map)) = map {
        for (k, v) in map {
            let v = v.as_str().unwrap_or("<not a string>");
            prop_assert!(label_key(k), "{where_}: label key {k:?}");
            prop_assert!(label_value(v), "{where_}: label value {k}={v:?}");
        }
    }
    Ok(())
}

fn check_object(o: &Object) -> Result<(), TestCaseError> {
    let name = o.name();
    let where_ = format!("{} {name}", o.kind());
    match o.kind() {
        "Service" => prop_assert!(dns_label(name), "{where_}"),
        "Certificate" => prop_assert!(dns_subdomain(name) && label_value(name), "{where_}"),
        _ => prop_assert!(dns_subdomain(name), "{where_}"),
    }
    prop_assert!(o.namespace().is_some_and(dns_label), "{where_}: namespace");
    let v = o.as_value();
    check_labels(&where_, v.pointer("/metadata/labels"))?;
    check_labels(&where_, v.pointer("/spec/template/metadata/labels"))?;
    check_labels(&where_, v.pointer("/spec/selector/matchLabels"))?;
    if o.kind() == "Service" {
        check_labels(&where_, v.pointer("/spec/selector"))?;
    }
    if let Some(Value::Object(a)) = v.pointer("/metadata/annotations") {
        for k in a.keys() {
            prop_assert!(label_key(k), "{where_}: annotation key {k:?}");
        }
    }
    if let Some(Value::Array(listeners)) = v.pointer("/spec/listeners") {
        for l in listeners {
            let n = l["name"].as_str().unwrap_or("");
            prop_assert!(dns_subdomain(n), "{where_}: listener {n:?}");
        }
    }
    if let Some(Value::Array(containers)) = v.pointer("/spec/template/spec/containers") {
        for c in containers {
            prop_assert!(
                dns_label(c["name"].as_str().unwrap_or("")),
                "{where_}: container"
            );
        }
    }
    Ok(())
}

fn app_name() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,38}[a-z0-9])?"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,12}\\.(example\\.com|example\\.org|test)",
        "[a-z][a-z0-9-]{20,61}[a-z]\\.[a-z][a-z0-9-]{20,61}[a-z]\\.example\\.com",
    ]
}

fn quantity(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(values).prop_map(str::to_owned)
}

fn int_or_percent() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{1,2}", "[0-9]{1,2}%"]
}

prop_compose! {
    fn domains()(
        hosts in prop::collection::btree_set(host(), 0..6),
        redirect in prop::collection::vec(any::<bool>(), 6),
        target in prop_oneof![
            Just("https://target.example.com".to_owned()),
            Just("https://target.example.com/base/".to_owned()),
            Just("http://target.example.com:8080/x".to_owned()),
        ],
    ) -> Vec<DomainSpec> {
        hosts.into_iter().enumerate().map(|(i, host)| DomainSpec {
            host,
            redirect_to: redirect[i].then(|| target.clone()),
        }).collect()
    }
}

prop_compose! {
    fn spec()(
        name in app_name(),
        port in 1u16..,
        replicas in 0u32..20,
        cpu in quantity(&["100m", "250m", "1", "2"]),
        memory in quantity(&["64Mi", "128Mi", "1Gi"]),
        memory_limit in prop::option::of(quantity(&["2Gi", "4Gi"])),
        cpu_limit in prop::option::of(quantity(&["2", "4"])),
        image in prop::option::of("[a-z]{1,8}(/[a-z]{1,8}){0,2}:[a-z0-9.]{1,6}"),
        command in prop::option::of(prop::collection::vec("[ -~]{1,12}", 1..4)),
        path in "/[a-z/]{0,10}",
        timeout_ms in 1u64..100_000,
        recreate in any::<bool>(),
        surge in int_or_percent(),
        deadline in 1u64..100_000,
        env in prop::collection::btree_map("[A-Z][A-Z0-9_]{0,8}", ".{0,20}", 0..5),
        domains in domains(),
        volume in prop::option::of(("/[a-z]{1,10}", prop::option::of("[a-z][a-z0-9.-]{0,20}[a-z]"))),
        hpa in prop::option::of((1u32..5, 5u32..50, prop::option::of(1u32..=100), prop::option::of(1u32..=100))),
        vpa in prop::option::of((0usize..3, any::<bool>())),
        pdb in prop::option::of((any::<bool>(), int_or_percent())),
    ) -> AppSpec {
        AppSpec {
            name,
            port,
            replicas,
            cpu,
            cpu_limit,
            memory,
            memory_limit,
            image,
            command,
            zone: None,
            expose: Default::default(),
            build: BuildSpec { dockerfile: "Dockerfile".into(), context: ".".into(), command: None, env: Default::default() },
            checks: ChecksSpec { path, expect: "2xx".into(), timeout_ms },
            deploy: DeploySpec {
                // `[volume]` has one writer: rolling is refused with it.
                strategy: if recreate || volume.is_some() { Rollout::Recreate } else { Rollout::Rolling },
                max_surge: surge,
                max_unavailable: "1".into(),
                progress_deadline_seconds: deadline,
            },
            env: env.into_iter().filter(|(k, _)| !k.starts_with("SATUSKY_") && k != "PORT").collect::<BTreeMap<_, _>>(),
            domains,
            volume: volume.map(|(mount, storage_class)| VolumeSpec { size: "1Gi".into(), mount, storage_class }),
            static_site: None,
            hpa: hpa.map(|(min, max, cpu_target, memory_target)| HpaSpec { min, max, cpu_target, memory_target }),
            vpa: vpa.map(|(mode, bounds)| VpaSpec {
                mode: [VpaMode::Off, VpaMode::Initial, VpaMode::Auto][mode],
                min_cpu: bounds.then(|| "100m".into()),
                min_memory: None,
                max_cpu: None,
                max_memory: bounds.then(|| "1Gi".into()),
            }),
            pdb: pdb.map(|(min, v)| if min {
                PdbSpec { min_available: Some(v), max_unavailable: None }
            } else {
                PdbSpec { min_available: None, max_unavailable: Some(v) }
            }),
            secrets: Default::default(),
        }
    }
}

prop_compose! {
    fn secret_refs()(keys in prop::collection::btree_map("[A-Z_][A-Z0-9_]{0,10}", 1u64..1000, 0..4))
        -> Vec<SecretRef> {
        keys.into_iter().map(|(key, version)| SecretRef { key, version }).collect()
    }
}

proptest! {
    // No regression files: a failure prints its minimal input, which becomes a unit test.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn rendering_is_deterministic_and_every_name_and_label_is_valid(
        spec in spec(),
        org in "[a-z][a-z0-9]{0,19}",
        release in 1u64..10_000,
        secrets in secret_refs(),
    ) {
        let app = match validate_spec(spec) {
            Ok(app) => app,
            // The generator may break a rule (e.g. max_surge 0 with max_unavailable 0).
            Err(_) => return Ok(()),
        };
        let image = app.spec().image.clone().unwrap_or_else(|| "registry.invalid/x:y".into());
        let hostnames = AppHostnames::of_app(&org, "apps.example.net", &app)
            .map_err(|e| TestCaseError::fail(format!("hostnames: {e}")))?;
        let mut input = RenderInput::new(&org, &app, release, image, hostnames);
        input.secrets = secrets;
        let first = render(&input);
        let objects = match first {
            Ok(objects) => objects,
            // Limits of Gateway API the generator can exceed are reported, never rendered.
            Err(RenderError::TooManyHostnames { .. } | RenderError::TooManyDomains { .. }) => {
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("render failed: {e}"))),
        };
        let again = render(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(to_yaml(&objects).ok(), to_yaml(&again).ok());
        prop_assert_eq!(to_json_list(&objects).ok(), to_json_list(&again).ok());
        let mut seen = std::collections::BTreeSet::new();
        for o in &objects {
            check_object(o)?;
            prop_assert!(seen.insert((o.kind().to_owned(), o.name().to_owned())), "duplicate {} {}", o.kind(), o.name());
        }
        // The YAML reads back as exactly the objects.
        let yaml = to_yaml(&objects).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&yaml)
            .map(|d| serde::Deserialize::deserialize(d).map_err(|e| TestCaseError::fail(format!("{e}"))))
            .collect::<Result<_, _>>()?;
        prop_assert_eq!(docs, objects.iter().map(|o| o.as_value().clone()).collect::<Vec<_>>());
    }

    #[test]
    fn per_host_names_never_collide_across_apps(
        a in app_name(), b in app_name(), ha in host(), hb in host(),
    ) {
        use satusky_kube::render::names::per_host;
        if (a.as_str(), ha.as_str()) != (b.as_str(), hb.as_str()) {
            prop_assert_ne!(per_host(&a, &ha), per_host(&b, &hb));
        }
    }
}

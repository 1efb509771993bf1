//! What a change of the spec does to the rendered set: env and secret versions roll the pods
//! (through the config hash), a release alone does not, removing a section or a domain removes
//! its objects; secret values never appear; both output forms read back as the objects.

mod common;

use common::{find, fixture, input, kinds, parse, render_ok, secrets};
use satusky_kube::render::labels::CONFIG_HASH;
use satusky_kube::{Object, RenderError, render, to_json_list, to_yaml};
use serde_json::Value;

fn deployment(objects: &[Object]) -> &Value {
    objects
        .iter()
        .find(|o| o.kind() == "Deployment")
        .unwrap()
        .as_value()
}

fn config_hash(objects: &[Object]) -> String {
    let path = format!(
        "/spec/template/metadata/annotations/{}",
        CONFIG_HASH.replace('/', "~1")
    );
    deployment(objects)
        .pointer(&path)
        .and_then(Value::as_str)
        .unwrap()
        .to_owned()
}

fn pod_template(objects: &[Object]) -> Value {
    deployment(objects)
        .pointer("/spec/template")
        .unwrap()
        .clone()
}

const BASE: &str = "[app]\nname = \"web\"\n[env]\nLOG_LEVEL = \"info\"\n";

#[test]
fn an_env_change_changes_the_config_hash() {
    let before = parse(BASE);
    let after = parse(&BASE.replace("info", "debug"));
    let added = parse(&format!("{BASE}EXTRA = \"1\"\n"));
    let hash = config_hash(&render_ok(&input(&before)));
    assert_ne!(hash, config_hash(&render_ok(&input(&after))));
    assert_ne!(hash, config_hash(&render_ok(&input(&added))));
    assert_eq!(hash, config_hash(&render_ok(&input(&before))), "stable");
}

#[test]
fn a_secret_version_change_changes_the_config_hash() {
    let app = parse(BASE);
    let mut one = input(&app);
    one.secrets = secrets(&[("API_KEY", 1)]);
    let mut two = input(&app);
    two.secrets = secrets(&[("API_KEY", 2)]);
    let none = input(&app);
    let hashes = [&one, &two, &none].map(|i| config_hash(&render_ok(i)));
    assert_ne!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);
    assert_ne!(hashes[1], hashes[2]);
}

#[test]
fn secrets_render_keys_and_versions_only() {
    let app = parse(BASE);
    let mut input = input(&app);
    input.secrets = secrets(&[("API_KEY", 7), ("DB_URL", 1)]);
    let objects = render_ok(&input);
    let secret = find(&objects, "Secret", "web-secrets").unwrap().as_value();
    // SecretRef has no value field, so a value cannot even be passed in; the Secret carries
    // no data for the applier to overwrite by accident.
    assert!(secret.get("data").is_none() && secret.get("stringData").is_none());
    assert_eq!(
        secret.pointer("/metadata/annotations/satusky.io~1secret-versions"),
        Some(&Value::from("API_KEY=7,DB_URL=1"))
    );
    let env_from = deployment(&objects)
        .pointer("/spec/template/spec/containers/0/envFrom")
        .unwrap();
    assert_eq!(
        env_from,
        &serde_json::json!([
            {"configMapRef": {"name": "web-env"}},
            {"secretRef": {"name": "web-secrets"}},
        ])
    );
    // Without secrets there is no Secret and no reference to one.
    let plain = render_ok(&common::input(&app));
    assert!(find(&plain, "Secret", "web-secrets").is_none());
    assert!(!to_yaml(&plain).unwrap().contains("secretRef"));
}

#[test]
fn a_new_release_alone_does_not_roll_the_pods() {
    let app = parse(BASE);
    let v1 = input(&app);
    let mut v2 = input(&app);
    v2.release = 2;
    let (a, b) = (render_ok(&v1), render_ok(&v2));
    assert_eq!(pod_template(&a), pod_template(&b));
    assert_eq!(
        deployment(&b).pointer("/metadata/annotations/satusky.io~1release"),
        Some(&Value::from("2"))
    );
    let header = |objects: &[Object]| {
        find(objects, "HTTPRoute", "web")
            .unwrap()
            .as_value()
            .pointer("/spec/rules/0/filters/0/responseHeaderModifier/set/0/value")
            .cloned()
    };
    assert_eq!(header(&b), Some(Value::from("acme/web@v2")));
}

#[test]
fn a_new_image_rolls_the_pods() {
    let app = parse(BASE);
    let mut built = input(&app);
    built.image = "registry.example/acme/web@sha256:00ff".to_owned();
    assert_ne!(
        pod_template(&render_ok(&input(&app))),
        pod_template(&render_ok(&built))
    );
}

#[test]
fn removing_hpa_drops_the_hpa_and_gives_replicas_back() {
    let with = parse("[app]\nname = \"web\"\nreplicas = 3\n[hpa]\nmin = 2\nmax = 5\n");
    let without = parse("[app]\nname = \"web\"\nreplicas = 3\n");
    let (a, b) = (render_ok(&input(&with)), render_ok(&input(&without)));
    assert!(find(&a, "HorizontalPodAutoscaler", "web").is_some());
    assert!(
        deployment(&a).pointer("/spec/replicas").is_none(),
        "HPA owns replicas"
    );
    assert!(find(&b, "HorizontalPodAutoscaler", "web").is_none());
    assert_eq!(
        deployment(&b).pointer("/spec/replicas"),
        Some(&Value::from(3))
    );
}

#[test]
fn removing_a_domain_drops_it_everywhere() {
    let two = parse(
        "[app]\nname = \"web\"\n[[domains]]\nhost = \"a.example.com\"\n\
         [[domains]]\nhost = \"b.example.com\"\n",
    );
    let one = parse("[app]\nname = \"web\"\n[[domains]]\nhost = \"a.example.com\"\n");
    let none = parse("[app]\nname = \"web\"\n");
    let hostnames = |objects: &[Object]| {
        find(objects, "HTTPRoute", "web")
            .unwrap()
            .as_value()
            .pointer("/spec/hostnames")
            .cloned()
            .unwrap()
    };
    let (a, b, c) = (
        render_ok(&input(&two)),
        render_ok(&input(&one)),
        render_ok(&input(&none)),
    );
    assert_eq!(
        hostnames(&a),
        serde_json::json!([
            "web-acme.satusky.localhost",
            "a.example.com",
            "b.example.com"
        ])
    );
    assert_eq!(
        hostnames(&b),
        serde_json::json!(["web-acme.satusky.localhost", "a.example.com"])
    );
    assert!(find(&b, "Certificate", "web.b.example.com").is_none());
    let listeners = find(&b, "ListenerSet", "web")
        .unwrap()
        .as_value()
        .pointer("/spec/listeners")
        .and_then(Value::as_array)
        .unwrap()
        .len();
    assert_eq!(listeners, 1);
    // The last custom domain gone: no ListenerSet, no Certificate, no ListenerSet parent.
    assert_eq!(
        hostnames(&c),
        serde_json::json!(["web-acme.satusky.localhost"])
    );
    assert!(
        kinds(&c)
            .iter()
            .all(|(k, _)| k != "ListenerSet" && k != "Certificate")
    );
    assert!(!to_yaml(&c).unwrap().contains("ListenerSet"));
}

#[test]
fn domain_order_does_not_change_the_objects() {
    let ab = parse(
        "[app]\nname = \"web\"\n[[domains]]\nhost = \"a.example.com\"\n\
         [[domains]]\nhost = \"b.example.com\"\n",
    );
    let ba = parse(
        "[app]\nname = \"web\"\n[[domains]]\nhost = \"b.example.com\"\n\
         [[domains]]\nhost = \"a.example.com\"\n",
    );
    assert_eq!(render_ok(&input(&ab)), render_ok(&input(&ba)));
}

#[test]
fn both_outputs_read_back_as_the_objects() {
    let app = fixture("full");
    let objects = render_ok(&input(&app));
    let yaml = to_yaml(&objects).unwrap();
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    let values: Vec<&Value> = objects.iter().map(Object::as_value).collect();
    assert_eq!(docs.iter().collect::<Vec<_>>(), values);
    let list: Value = serde_json::from_str(&to_json_list(&objects).unwrap()).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(
        list["items"].as_array().unwrap().iter().collect::<Vec<_>>(),
        values
    );
}

#[test]
fn inexpressible_input_is_an_error_not_a_wrong_object() {
    let query = parse(
        "[app]\nname = \"web\"\n[[domains]]\nhost = \"old.example.com\"\n\
         redirect_to = \"https://new.example.com/?from=old\"\n",
    );
    assert!(matches!(
        render(&input(&query)),
        Err(RenderError::UnsupportedRedirect { .. })
    ));
    let mut toml = String::from("[app]\nname = \"web\"\n");
    for i in 0..16 {
        toml.push_str(&format!("[[domains]]\nhost = \"h{i}.example.com\"\n"));
    }
    let many = parse(&toml);
    assert!(matches!(
        render(&input(&many)),
        Err(RenderError::TooManyHostnames { count: 17, .. })
    ));
    let app = parse(BASE);
    let mut bad = input(&app);
    bad.secrets = secrets(&[("NOT-A-KEY", 1)]);
    assert!(matches!(
        render(&bad),
        Err(RenderError::InvalidInput { .. })
    ));
    let mut bad = input(&app);
    bad.org = "Acme".to_owned();
    assert!(matches!(
        render(&bad),
        Err(RenderError::InvalidInput { .. })
    ));
}

#[test]
fn every_object_carries_the_labels_and_namespace() {
    let app = fixture("full");
    let mut input = input(&app);
    input.secrets = secrets(&[("K", 1)]);
    for object in render_ok(&input) {
        let labels = object.labels();
        for (key, value) in [
            ("app.kubernetes.io/managed-by", "satusky"),
            ("app.kubernetes.io/name", "my-api"),
            ("satusky.io/org", "acme"),
            ("satusky.io/app", "my-api"),
        ] {
            assert!(
                labels.contains(&(key, value)),
                "{} {} lacks {key}={value}",
                object.kind(),
                object.name()
            );
        }
        assert_eq!(object.namespace(), Some("satusky-acme"));
        assert!(object.annotations().contains(&("satusky.io/release", "1")));
    }
}

#[test]
fn each_host_outside_the_zone_gets_a_certificate_whose_secret_its_listener_serves() {
    use satusky_core::AppHostnames;
    use satusky_kube::IssuerRef;
    use satusky_types::{Hostname, HostnameKind};
    let app = parse("[app]\nname = \"web\"\n");
    let host = |name: &str, kind| Hostname {
        hostname: name.into(),
        kind,
        redirect_to: (kind == HostnameKind::Redirect).then(|| "https://shop.example.com".into()),
    };
    // The server hands over proven hostnames only; render adds nothing beyond them, and
    // `Zone::contains` alone tells platform from custom (a name under the zone is served by
    // the Gateway's own wildcard listener, whatever its role).
    let hostnames = AppHostnames::new(vec![
        host("web-acme.satusky.localhost", HostnameKind::Generated),
        host("shop.example.com", HostnameKind::Alias),
        host("old.example.com", HostnameKind::Redirect),
        host("extra.satusky.localhost", HostnameKind::Alias),
    ])
    .unwrap();
    let mut input = satusky_kube::RenderInput::new(common::ORG, &app, 1, "img:1", hostnames);
    assert_eq!(
        input.zone.as_str(),
        common::ZONE,
        "the generated host's zone"
    );
    input.issuer = IssuerRef::parse("Issuer/org-acme").unwrap();
    let objects = render_ok(&input);
    let certs: Vec<String> = kinds(&objects)
        .into_iter()
        .filter(|(k, _)| k == "Certificate")
        .map(|(_, n)| n)
        .collect();
    assert_eq!(certs, ["web.old.example.com", "web.shop.example.com"]);
    let listeners = find(&objects, "ListenerSet", "web")
        .unwrap()
        .as_value()
        .pointer("/spec/listeners")
        .and_then(Value::as_array)
        .cloned()
        .unwrap();
    assert_eq!(listeners.len(), 2, "no listener for a name in the zone");
    for l in &listeners {
        let h = l["hostname"].as_str().unwrap();
        let cert = find(&objects, "Certificate", &format!("web.{h}")).unwrap();
        let c = cert.as_value();
        assert_eq!(c["apiVersion"], "cert-manager.io/v1");
        assert_eq!(c["metadata"]["namespace"], "satusky-acme");
        assert_eq!(c["spec"]["dnsNames"], serde_json::json!([h]));
        assert_eq!(
            c["spec"]["secretName"], l["tls"]["certificateRefs"][0]["name"],
            "the listener serves the Secret the Certificate writes"
        );
        assert_eq!(
            c["spec"]["issuerRef"],
            serde_json::json!({"group": "cert-manager.io", "kind": "Issuer", "name": "org-acme"})
        );
        let labels = cert.labels();
        for key in [
            "app.kubernetes.io/managed-by",
            "satusky.io/org",
            "satusky.io/app",
        ] {
            assert!(
                labels.iter().any(|(k, _)| *k == key),
                "{key} (prune finds it)"
            );
        }
    }
    // The redirect host outside the zone attaches to the ListenerSet too.
    let redirect = find(&objects, "HTTPRoute", "web.old.example.com").unwrap();
    let parents = redirect.as_value()["spec"]["parentRefs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(parents, 2);
    // Told the zone is another one, every name outside it is custom.
    input.zone = "apps.example.net".parse().unwrap();
    let objects = render_ok(&input);
    assert!(find(&objects, "Certificate", "web.extra.satusky.localhost").is_some());
}

#[test]
fn issuer_references_parse() {
    use satusky_kube::IssuerRef;
    let parsed = IssuerRef::parse("letsencrypt").unwrap();
    assert_eq!(
        (parsed.kind.as_str(), parsed.name.as_str()),
        ("ClusterIssuer", "letsencrypt")
    );
    let parsed = IssuerRef::parse("Issuer/acme-dns").unwrap();
    assert_eq!(parsed.kind, "Issuer");
    for bad in ["Foo/x", "ClusterIssuer/", "Issuer/Bad_Name", ""] {
        assert!(IssuerRef::parse(bad).is_err(), "{bad}");
    }
    let toml: IssuerRef = serde_json::from_value(serde_json::json!({"name": "le"})).unwrap();
    assert_eq!(
        toml,
        IssuerRef::parse("le").unwrap(),
        "kind defaults to ClusterIssuer"
    );
}

#[test]
fn a_volume_is_one_writers_claim_and_its_deployment_recreates() {
    let app = parse(&format!(
        "{BASE}[volume]\nsize = \"5Gi\"\nmount = \"/data\"\n"
    ));
    let objects = render_ok(&input(&app));
    let claim = find(&objects, "PersistentVolumeClaim", "web-data")
        .unwrap()
        .as_value();
    assert_eq!(
        claim["spec"]["accessModes"],
        serde_json::json!(["ReadWriteOnce"])
    );
    // Two pods cannot share a ReadWriteOnce claim: the old pod goes before the new one
    // starts, so the rollout cannot wait forever on a claim the old pod holds.
    let strategy = &deployment(&objects)["spec"]["strategy"];
    assert_eq!(strategy, &serde_json::json!({"type": "Recreate"}));
    let without = render_ok(&input(&parse(BASE)));
    assert_eq!(
        deployment(&without)["spec"]["strategy"]["type"],
        "RollingUpdate"
    );
}

#[test]
fn a_tcp_app_gets_a_tcp_probe_a_service_on_its_port_and_no_route() {
    let app = fixture("tcp");
    let objects = render_ok(&input(&app));
    assert_eq!(
        kinds(&objects),
        [
            ("ConfigMap".to_owned(), "cache-env".to_owned()),
            ("Deployment".to_owned(), "cache".to_owned()),
            ("Service".to_owned(), "cache".to_owned()),
        ],
        "no HTTPRoute, ListenerSet or Certificate, though it was handed its generated hostname"
    );
    let probe = deployment(&objects)
        .pointer("/spec/template/spec/containers/0/readinessProbe")
        .unwrap();
    assert_eq!(probe["tcpSocket"]["port"], "http", "{probe}");
    assert!(probe.get("httpGet").is_none(), "{probe}");
    let service = find(&objects, "Service", "cache").unwrap().as_value();
    assert_eq!(service["spec"]["ports"][0]["port"], 6379, "{service}");
    assert_eq!(
        satusky_kube::render::internal_address("cache", "satusky-acme", app.spec()).to_string(),
        "cache.satusky-acme.svc.cluster.local:6379"
    );
}

#[test]
fn an_app_exposed_as_none_has_no_readiness_probe_and_an_http_app_keeps_port_80() {
    let none = parse("[app]\nname = \"worker\"\nexpose = \"none\"\nimage = \"w:1\"\n");
    let objects = render_ok(&input(&none));
    assert!(
        deployment(&objects)
            .pointer("/spec/template/spec/containers/0/readinessProbe")
            .is_none()
    );
    assert!(objects.iter().all(|o| o.kind() != "HTTPRoute"));
    let web = parse(BASE);
    let objects = render_ok(&input(&web));
    let probe = deployment(&objects)
        .pointer("/spec/template/spec/containers/0/readinessProbe")
        .unwrap();
    assert_eq!(probe["httpGet"]["path"], "/");
    assert!(objects.iter().any(|o| o.kind() == "HTTPRoute"));
    let service = find(&objects, "Service", "web").unwrap().as_value();
    assert_eq!(service["spec"]["ports"][0]["port"], 80);
    assert_eq!(
        satusky_kube::render::internal_address("web", "satusky-acme", web.spec()).to_string(),
        "web.satusky-acme.svc.cluster.local:80"
    );
}

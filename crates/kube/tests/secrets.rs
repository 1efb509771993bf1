//! The app's secrets on Kubernetes, end to end against fakekube: `KubeRuntime::apply` fills
//! the Secret `{app}-secrets` with the values and no other object holds one (whole-cluster
//! dump, managedFields and annotations included; nor any tracing event or error message); a
//! new version or env value rolls the pods through the config hash; the same secrets apply as
//! a no-op; a heal keeps (and takes back) the data.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use fakekube::{FakeKube, Fault};
use k8s_openapi::ByteString;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use ring::rand::{SecureRandom, SystemRandom};
use satusky_core::runtime::{DesiredWorkload, Runtime};
use satusky_core::secrets::{SecretEntry, SecretValue, Secrets};
use satusky_core::{AppHostnames, Overrides, error_chain, parse_str};
use satusky_kube::apply::{Applier, ApplyError};
use satusky_kube::runtime::{KubeConfig, KubeRuntime};
use satusky_kube::{RenderInput, SecretRef, render};
use serde_json::{Value, json};

const ORG: &str = "acme";
const NS: &str = "satusky-acme";
const ZONE: &str = "apps.example.net";
const CONFIG_HASH: &str = "satusky.io/config-hash";

/// `s3cr3t-` and 16 random hex digits: a value no fixture or default could hold.
fn random_value() -> String {
    let mut bytes = [0u8; 8];
    SystemRandom::new().fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("s3cr3t-{hex}")
}

fn base64(value: &str) -> String {
    serde_json::to_value(ByteString(value.as_bytes().to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

fn secrets(pairs: &[(&str, u64, &str)]) -> Secrets {
    pairs
        .iter()
        .map(|(k, version, v)| {
            (
                (*k).to_owned(),
                SecretEntry {
                    version: *version,
                    value: SecretValue::new(*v),
                },
            )
        })
        .collect()
}

fn desired(release: u64, log: &str, secrets: Secrets) -> DesiredWorkload {
    let toml =
        format!("[app]\nname = \"web\"\nimage = \"nginx:1.27\"\n\n[env]\nLOG_LEVEL = \"{log}\"\n");
    let spec = parse_str(&toml, Path::new("satusky.toml"), &Overrides::default()).unwrap();
    let hostnames = AppHostnames::of_app(ORG, ZONE, &spec).unwrap();
    DesiredWorkload {
        org: ORG.into(),
        app: "web".into(),
        release,
        spec,
        artifact: None,
        hostnames,
        secrets,
        restarted_at_ms: None,
    }
}

fn runtime(fake: &FakeKube) -> KubeRuntime {
    KubeRuntime::new(
        fake.client(),
        KubeConfig {
            zone: ZONE.parse().unwrap(),
            gateway: Default::default(),
            issuer: Default::default(),
            probe_addr: None,
        },
        None,
    )
}

fn secret(fake: &FakeKube) -> Value {
    fake.object("v1", "Secret", NS, "web-secrets")
        .expect("the app's Secret")
}

fn deployment(fake: &FakeKube) -> Value {
    fake.object("apps/v1", "Deployment", NS, "web")
        .expect("the Deployment")
}

/// The Secret's `data` decoded.
fn secret_data(fake: &FakeKube) -> Vec<(String, String)> {
    let s: k8s_openapi::api::core::v1::Secret = serde_json::from_value(secret(fake)).unwrap();
    s.data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

fn config_hash(fake: &FakeKube) -> String {
    deployment(fake)["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]
        .as_str()
        .expect("the pod template's config hash")
        .to_owned()
}

fn generation(fake: &FakeKube) -> u64 {
    deployment(fake)["metadata"]["generation"].as_u64().unwrap()
}

fn resource_version(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every object fakekube holds that mentions `value` or its base64 form, by `Kind/ns/name`;
/// the Secret's `data` excepted (every other part of it — annotations, managedFields — is
/// looked at).
fn holders(fake: &FakeKube, value: &str) -> Vec<String> {
    let encoded = base64(value);
    let all = fake.all_objects();
    assert!(all.len() > 5, "the dump holds the cluster: {}", all.len());
    all.into_iter()
        .filter_map(|mut o| {
            let id = format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["namespace"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            );
            if id == format!("Secret/{NS}/web-secrets") {
                o.as_object_mut().unwrap().remove("data");
            }
            let text = o.to_string();
            (text.contains(value) || text.contains(&encoded)).then_some(id)
        })
        .collect()
}

/// Every tracing event and span field of this test binary, as text, at every level: the
/// global subscriber (a thread-local one misses callsites whose interest another test's
/// thread cached first).
#[derive(Default)]
struct Recorder(Mutex<String>);

fn traced() -> String {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    let recorder = RECORDER.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::default());
        tracing::subscriber::set_global_default(Fwd(recorder)).expect("the only subscriber");
        recorder
    });
    recorder.0.lock().unwrap().clone()
}

/// Installs the recorder (call first in each test).
fn record() {
    traced();
}

/// Neither `values` nor their base64 forms were traced by anyone, Satusky, kube-rs, hyper
/// or fakekube.
fn assert_untraced(values: &[&str]) {
    let traced = traced();
    for value in values {
        assert!(
            !traced.contains(value) && !traced.contains(&base64(value)),
            "a value was traced"
        );
    }
}

struct Fwd(&'static Recorder);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Fwd {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Fields(&mut self.0.0.lock().unwrap()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.0.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut out = self.0.0.lock().unwrap();
        out.push_str(event.metadata().target());
        out.push(' ');
        event.record(&mut Fields(&mut out));
        out.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A write to the app's Secret `data` by another field manager.
async fn tamper(fake: &FakeKube) {
    let api: Api<DynamicObject> = Api::namespaced_with(
        fake.client(),
        NS,
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Secret"), "secrets"),
    );
    api.patch(
        "web-secrets",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"API_KEY": base64("edited")}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn secret_values_reach_the_secret_and_nothing_else() {
    record();
    let fake = FakeKube::new();
    let rt = runtime(&fake);
    let v1 = random_value();
    let v2 = random_value();

    // (a) Release 1 with API_KEY v1.
    rt.apply(desired(1, "info", secrets(&[("API_KEY", 1, &v1)])))
        .await
        .expect("apply");
    assert_eq!(secret_data(&fake), vec![("API_KEY".into(), v1.clone())]);
    let s = secret(&fake);
    assert_eq!(
        s["metadata"]["annotations"]["satusky.io/secret-versions"],
        "API_KEY=1"
    );
    let d = deployment(&fake);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["envFrom"][1]["secretRef"]["name"],
        "web-secrets"
    );
    let hash1 = config_hash(&fake);
    assert!(hash1.starts_with("sha256:"), "{hash1}");
    assert_eq!(holders(&fake, &v1), Vec::<String>::new());
    let generation1 = generation(&fake);

    // (b) Release 2 with API_KEY v2: the data changes, and the pods roll.
    rt.apply(desired(2, "info", secrets(&[("API_KEY", 2, &v2)])))
        .await
        .expect("apply v2");
    assert_eq!(secret_data(&fake), vec![("API_KEY".into(), v2.clone())]);
    let hash2 = config_hash(&fake);
    assert_ne!(hash1, hash2, "a new secret version changes the config hash");
    assert_eq!(generation(&fake), generation1 + 1, "the Deployment rolls");
    assert_eq!(holders(&fake, &v1), Vec::<String>::new(), "v1 is gone");
    assert_eq!(holders(&fake, &v2), Vec::<String>::new());

    // (c) The same secrets and versions again (a redeploy of the release): nothing is sent.
    let (secret_rv, deployment_rv) = (
        resource_version(&secret(&fake)),
        resource_version(&deployment(&fake)),
    );
    fake.reset_stats();
    rt.apply(desired(2, "info", secrets(&[("API_KEY", 2, &v2)])))
        .await
        .expect("no-op apply");
    let stats = fake.stats();
    assert_eq!(
        stats.patch + stats.create + stats.update + stats.delete,
        0,
        "{stats:?}"
    );
    assert_eq!(stats.total, 0, "not even a prune LIST: {stats:?}");
    assert_eq!(resource_version(&secret(&fake)), secret_rv);
    assert_eq!(resource_version(&deployment(&fake)), deployment_rv);

    // (d) A heal sends everything again and keeps the data; edited out of band, it takes the
    // data back (the conflict rule forces: the Secret is ours).
    fake.reset_stats();
    rt.heal(desired(2, "info", secrets(&[("API_KEY", 2, &v2)])))
        .await
        .expect("heal");
    assert!(fake.stats().patch > 0, "a heal sends again");
    assert_eq!(secret_data(&fake), vec![("API_KEY".into(), v2.clone())]);
    assert_eq!(config_hash(&fake), hash2, "a heal does not roll the pods");
    tamper(&fake).await;
    assert_eq!(
        secret_data(&fake),
        vec![("API_KEY".into(), "edited".into())]
    );
    rt.heal(desired(2, "info", secrets(&[("API_KEY", 2, &v2)])))
        .await
        .expect("heal after an edit");
    assert_eq!(secret_data(&fake), vec![("API_KEY".into(), v2.clone())]);
    assert_eq!(holders(&fake, &v2), Vec::<String>::new());

    let traced = traced();
    assert!(
        traced.contains("applied") && traced.contains("taking them back"),
        "the recorder saw the applies and the conflict"
    );
    assert_untraced(&[&v1, &v2]);
}

#[tokio::test]
async fn a_changed_env_value_rolls_the_pods_and_secrets_come_and_go() {
    record();
    let fake = FakeKube::new();
    let rt = runtime(&fake);
    let value = random_value();
    rt.apply(desired(1, "info", Secrets::new())).await.unwrap();
    assert!(
        fake.object("v1", "Secret", NS, "web-secrets").is_none(),
        "no secrets, no Secret"
    );
    let env_from = &deployment(&fake)["spec"]["template"]["spec"]["containers"][0]["envFrom"];
    assert_eq!(env_from.as_array().unwrap().len(), 1, "{env_from}");
    let no_secrets = config_hash(&fake);

    rt.apply(desired(2, "debug", Secrets::new())).await.unwrap();
    let debug = config_hash(&fake);
    assert_ne!(no_secrets, debug, "an env value changes the config hash");

    rt.apply(desired(3, "debug", secrets(&[("API_KEY", 1, &value)])))
        .await
        .unwrap();
    assert_eq!(secret_data(&fake), vec![("API_KEY".into(), value.clone())]);
    assert_ne!(config_hash(&fake), debug);

    // The last secret unset: the Secret is pruned and the pods no longer reference it.
    rt.apply(desired(4, "debug", Secrets::new())).await.unwrap();
    assert!(fake.object("v1", "Secret", NS, "web-secrets").is_none());
    let env_from = &deployment(&fake)["spec"]["template"]["spec"]["containers"][0]["envFrom"];
    assert_eq!(env_from.as_array().unwrap().len(), 1, "{env_from}");
    assert_eq!(config_hash(&fake), debug);
    assert_eq!(holders(&fake, &value), Vec::<String>::new());
    assert_untraced(&[&value]);
}

#[tokio::test]
async fn an_error_about_the_secret_never_quotes_a_value() {
    record();
    let fake = FakeKube::new();
    let rt = runtime(&fake);
    let value = random_value();
    // A server that echoes what it was sent.
    fake.inject(Fault {
        path: format!("/api/v1/namespaces/{NS}/secrets"),
        method: Some("PATCH".into()),
        count: 1,
        code: 422,
        message: Some(format!("bad value {value} ({})", base64(&value))),
    });
    let err = rt
        .apply(desired(1, "info", secrets(&[("API_KEY", 1, &value)])))
        .await
        .expect_err("refused");
    let text = error_chain(&err);
    assert!(text.contains("bad value <redacted> (<redacted>)"), "{text}");
    assert!(!text.contains(&value) && !text.contains(&base64(&value)));
    // kube-rs itself traces a refusal's Status at debug level, echo included (a real API
    // server does not echo Secret data); Satusky's own events must not.
    let ours: Vec<String> = traced()
        .lines()
        .filter(|l| l.starts_with("satusky"))
        .map(str::to_owned)
        .collect();
    assert!(ours.iter().all(|l| !l.contains(&value)), "{ours:?}");
}

#[tokio::test]
async fn the_applier_refuses_values_of_other_versions_than_the_render_pins() {
    let fake = FakeKube::new();
    let applier = Applier::new(fake.client());
    let desired = desired(1, "info", Secrets::new());
    let mut input = RenderInput::new(
        ORG,
        &desired.spec,
        1,
        "nginx:1.27",
        desired.hostnames.clone(),
    );
    input.secrets = vec![SecretRef {
        key: "API_KEY".into(),
        version: 2,
    }];
    let objects = render(&input).unwrap();
    for given in [Secrets::new(), secrets(&[("API_KEY", 1, "x")])] {
        fake.reset_stats();
        let err = applier
            .apply_with_secrets(ORG, "web", NS, &objects, &given)
            .await
            .expect_err("versions disagree");
        assert!(
            matches!(&err, ApplyError::SecretVersions { rendered, .. } if rendered == "API_KEY=2"),
            "{err}"
        );
        assert_eq!(fake.stats().total, 0, "nothing sent");
    }
}

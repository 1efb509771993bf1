//! Unit tests of the build Job and token Secret rendering.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use proptest::prelude::*;

use super::*;
use crate::build::BuildConfig;

const CONTEXT: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const TOKEN: &str = "sbt_YWNtZXxzaGEyNTY6MDEyM3wxNzAwMDAwMDAwMDAw.c2lnbmF0dXJl";

fn config() -> BuildConfig {
    BuildConfig::new(
        "http://satusky.satusky-system:8080/",
        "registry.example.com/builds",
    )
}

fn input<'a>(config: &'a BuildConfig, app: &'a str, release: u64) -> BuildJobInput<'a> {
    BuildJobInput {
        org: "acme",
        app,
        namespace: "satusky-acme",
        release,
        context: CONTEXT,
        dockerfile: "./docker//Dockerfile",
        build_env: &NO_ENV,
        config,
    }
}

static NO_ENV: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();

#[test]
fn build_env_becomes_build_args_and_nothing_else_does() {
    let config = config();
    let env =
        std::collections::BTreeMap::from([("NODE_ENV".to_string(), "production".to_string())]);
    let with_env = BuildJobInput {
        build_env: &env,
        ..input(&config, "web", 7)
    };
    let job = render_build_job(&with_env).unwrap();
    let text = job.as_value().to_string();
    assert!(text.contains("--build-arg=NODE_ENV=production"), "{text}");
    let plain = render_build_job(&input(&config, "web", 7))
        .unwrap()
        .as_value()
        .to_string();
    assert!(!plain.contains("--build-arg"), "{plain}");
}

#[test]
fn job_snapshot() {
    let config = config();
    let job = render_build_job(&input(&config, "web", 7)).unwrap();
    insta::assert_json_snapshot!("build_job", job.as_value());
}

#[test]
fn job_snapshot_with_registry_secret_and_no_cache() {
    let mut config = config();
    config.registry_secret = Some("registry-push".into());
    config.cache = false;
    let job = render_build_job(&input(&config, "web", 7)).unwrap();
    insta::assert_json_snapshot!("build_job_registry_secret", job.as_value());
}

#[test]
fn the_job_is_a_valid_batch_v1_job() {
    let config = config();
    let job = render_build_job(&input(&config, "web", 7)).unwrap();
    // Every field we wrote is a field of the real type (nothing dropped on a round trip).
    let typed: Job = serde_json::from_value(job.as_value().clone()).unwrap();
    let mut back = serde_json::to_value(&typed).unwrap();
    back["apiVersion"] = "batch/v1".into();
    back["kind"] = "Job".into();
    assert_eq!(crate::render::canonical(back), *job.as_value());
    let spec = typed.spec.unwrap();
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(spec.active_deadline_seconds, Some(30 * 60));
    assert_eq!(spec.ttl_seconds_after_finished, Some(24 * 60 * 60));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let kaniko = &pod.containers[0];
    assert_eq!(kaniko.image.as_deref(), Some(DEFAULT_KANIKO_IMAGE));
    assert_eq!(kaniko.termination_message_policy.as_deref(), Some("File"));
    let args = kaniko.args.clone().unwrap();
    assert!(args.contains(&"--context=dir:///workspace".to_owned()));
    assert!(args.contains(&"--dockerfile=/workspace/docker/Dockerfile".to_owned()));
    assert!(args.contains(&"--destination=registry.example.com/builds/acme/web:v7".to_owned()));
    assert!(args.contains(&"--digest-file=/dev/termination-log".to_owned()));
    let fetch = &pod.init_containers.unwrap()[0];
    assert_eq!(fetch.image.as_deref(), Some(DEFAULT_FETCH_IMAGE));
    let env = fetch.env.clone().unwrap();
    let token = env.iter().find(|e| e.name == TOKEN_ENV).unwrap();
    assert!(token.value.is_none(), "the token comes from the Secret");
    let key = token
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .unwrap();
    assert_eq!(key.name, "web-build-v7-token");
    assert_eq!(key.key, TOKEN_KEY);
    let api = env.iter().find(|e| e.name == "SATUSKY_API").unwrap();
    assert_eq!(
        api.value.as_deref(),
        Some("http://satusky.satusky-system:8080"),
        "no trailing slash"
    );
}

#[test]
fn the_token_is_only_in_the_secret() {
    let config = config();
    let input = input(&config, "web", 7);
    let job = render_build_job(&input).unwrap().as_value().to_string();
    let secret = render_build_secret(&input, TOKEN).unwrap();
    assert!(!job.contains(TOKEN));
    assert!(!job.contains("YWNtZXxzaGEyNTY6"), "not even part of it");
    let typed: Secret = serde_json::from_value(secret.as_value().clone()).unwrap();
    assert_eq!(typed.metadata.name.as_deref(), Some("web-build-v7-token"));
    let data = typed.data.unwrap();
    assert_eq!(data[TOKEN_KEY].0, TOKEN.as_bytes());
}

#[test]
fn labels_mark_builds_and_keep_build_pods_out_of_the_app() {
    let config = config();
    let input = input(&config, "web", 7);
    let job = render_build_job(&input).unwrap();
    let secret = render_build_secret(&input, TOKEN).unwrap();
    for object in [&job, &secret] {
        let labels = object.labels();
        for key in [MANAGED_BY, ORG, labels::APP, BUILD_LABEL] {
            assert!(
                labels.iter().any(|(k, _)| *k == key),
                "{key} on {}",
                object.kind()
            );
        }
    }
    let pod_labels = job.as_value()["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    assert!(
        !pod_labels.contains_key(labels::APP),
        "a build pod must not match the app's Service selector"
    );
    assert_eq!(
        job.annotations(),
        vec![(CONTEXT_ANNOTATION, CONTEXT), (RELEASE, "7")]
    );
}

#[test]
fn bad_inputs_are_refused() {
    let config = config();
    let refused = |f: &dyn Fn(&mut BuildJobInput<'_>)| {
        let mut i = input(&config, "web", 1);
        f(&mut i);
        render_build_job(&i).unwrap_err().to_string()
    };
    assert!(refused(&|i| i.dockerfile = "../Dockerfile").contains("build.dockerfile"));
    assert!(refused(&|i| i.dockerfile = "/etc/Dockerfile").contains("build.dockerfile"));
    assert!(refused(&|i| i.context = "sha256:abc").contains("context"));
    assert!(refused(&|i| i.context = "$(reboot)").contains("context"));
    assert!(refused(&|i| i.app = "Web").contains("app"));
    let mut bad = config.clone();
    bad.registry = "https://registry.example.com".into();
    assert!(
        render_build_job(&input(&bad, "web", 1))
            .unwrap_err()
            .to_string()
            .contains("build.registry")
    );
    let mut bad = config.clone();
    bad.api_url = "satusky:8080".into();
    assert!(
        render_build_job(&input(&bad, "web", 1))
            .unwrap_err()
            .to_string()
            .contains("build.api_url")
    );
}

#[test]
fn a_job_name_must_also_be_a_label_value() {
    // 64 characters: a valid object name, too long for the pod's `job-name` label.
    let body = json!({"metadata": {"name": "a".repeat(64)}});
    let job = Object::new("batch/v1", "Job", &body).unwrap();
    assert!(matches!(
        checked(job),
        Err(RenderError::InvalidObject { kind, .. }) if kind == "Job"
    ));
    let secret = Object::new("v1", "Secret", &body).unwrap();
    assert!(
        checked(secret).is_ok(),
        "a Secret's name is not copied into a label"
    );
}

#[test]
fn digests_are_parsed_strictly() {
    let hex = "0123456789abcdef".repeat(4);
    let digest = format!("sha256:{hex}");
    assert_eq!(parse_digest(&format!(" {digest}\n")), Some(digest.as_str()));
    assert_eq!(
        parse_digest(&format!("sha256:{}", hex.to_uppercase())),
        None
    );
    assert_eq!(parse_digest(&format!("sha512:{hex}")), None);
    assert_eq!(parse_digest(&digest[..70]), None);
    assert_eq!(parse_digest(""), None);
}

#[test]
fn long_names_are_cut_and_hashed() {
    let app = format!("a{}", "b".repeat(39));
    let name = job_name(&app, u64::MAX);
    assert!(name.len() <= MAX_LABEL, "{name}");
    assert!(name.ends_with(&format!("-build-v{}", u64::MAX)), "{name}");
    let other = job_name(&format!("a{}c", "b".repeat(38)), u64::MAX);
    assert_ne!(name, other);
    assert_eq!(job_name("web", 3), "web-build-v3");
}

fn app_name() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,38}[a-z0-9])?"
}

proptest! {
    #[test]
    fn names_are_valid_and_deterministic(app in app_name(), release in any::<u64>()) {
        let config = config();
        let input = input(&config, &app, release);
        let job = render_build_job(&input).unwrap();
        let secret = render_build_secret(&input, TOKEN).unwrap();
        prop_assert!(names::is_dns1123_label(job.name()), "{}", job.name());
        prop_assert!(names::is_dns1123_subdomain(secret.name()), "{}", secret.name());
        prop_assert_eq!(secret.name(), token_secret_name(job.name()));
        prop_assert_eq!(&job, &render_build_job(&input).unwrap());
    }
}

//! Apps deployed from a template, on every backend: the deploy remembers the template and
//! writes its secrets in its own transaction (a refused deploy writes neither), an upgrade
//! reads the stored values back — the secret ones opened —, a deploy from a file forgets the
//! template, and a binding writes the target's secret as a config release with its row,
//! listed on both apps and removed with either.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Ctx, generated, on_each_backend, spec};
use satusky_core::secrets::{KeyRing, SecretValue};
use satusky_store::{BindingRecord, DeployInput, StoreError, TemplateDeploy, TemplateUse};
use satusky_types::ReleaseStatus;

const T0: i64 = 1_795_000_000_000;

fn ring() -> Arc<KeyRing> {
    Arc::new(KeyRing::new(vec![("k1".to_string(), [7; 32])]).unwrap())
}

fn redis_use(version: u32, memory: &str) -> TemplateUse {
    TemplateUse {
        name: "redis".into(),
        version,
        plain: BTreeMap::from([("memory".into(), memory.into())]),
        secrets: BTreeMap::from([("password".into(), "REDIS_PASSWORD".into())]),
    }
}

fn cache_spec() -> satusky_types::AppSpec {
    let mut s = spec("cache");
    s.image = Some("redis:7".into());
    s.secrets.required = vec!["REDIS_PASSWORD".into()];
    s
}

async fn deploy_template(
    store: &satusky_store::Store,
    used: &TemplateUse,
    password: &str,
    now: i64,
) -> Result<satusky_store::DeployRecord, StoreError> {
    let secrets = BTreeMap::from([("REDIS_PASSWORD".to_string(), SecretValue::new(password))]);
    let s = cache_spec();
    let source = used.source();
    let input = DeployInput {
        spec: &s,
        hostnames: &[generated("cache-acme.test")],
        source: &source,
        context: None,
        start_work: false,
        sets_replicas: true,
        template: Some(TemplateDeploy {
            used,
            secrets: &secrets,
        }),
    };
    store.record_deploy_with("acme", &input, now).await
}

#[tokio::test]
async fn a_template_deploy_remembers_its_values_and_writes_its_secrets_in_one_transaction() {
    on_each_backend(|Ctx { store, .. }| async move {
        let store = store.with_keys(ring());
        store.ensure_org("acme").await.unwrap();
        // The spec requires REDIS_PASSWORD, which only the template deploy writes: the same
        // transaction must write it before the check.
        let rec = deploy_template(&store, &redis_use(1, "256Mi"), "pw-one-1234567890", T0)
            .await
            .unwrap();
        assert_eq!(rec.release, 1);
        let releases = store.list_releases("acme", "cache").await.unwrap();
        assert_eq!(releases[0].source, "template(redis@1)");

        let stored = store.template_of("acme", "cache").await.unwrap().unwrap();
        assert_eq!(stored.used, redis_use(1, "256Mi"));
        assert_eq!(
            stored.secret_values["password"].expose(),
            "pw-one-1234567890"
        );
        let listed = store.list_secrets("acme", "cache").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "REDIS_PASSWORD");

        // The same password again: no new secret version.
        deploy_template(&store, &redis_use(2, "512Mi"), "pw-one-1234567890", T0 + 1)
            .await
            .unwrap();
        let listed = store.list_secrets("acme", "cache").await.unwrap();
        assert_eq!(
            listed[0].version, 1,
            "an unchanged value is not written again"
        );
        let stored = store.template_of("acme", "cache").await.unwrap().unwrap();
        assert_eq!(stored.used.version, 2);
        assert_eq!(stored.used.plain["memory"], "512Mi");
        let releases = store.list_releases("acme", "cache").await.unwrap();
        assert_eq!(releases[0].source, "template(redis@2)");

        // A deploy from a file forgets the template (the secret stays).
        store
            .record_deploy(
                "acme",
                &cache_spec(),
                &[generated("cache-acme.test")],
                "deploy",
                T0 + 2,
            )
            .await
            .unwrap();
        assert!(store.template_use("acme", "cache").await.unwrap().is_none());
        assert_eq!(store.list_secrets("acme", "cache").await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_refused_template_deploy_writes_no_secret_and_remembers_nothing() {
    on_each_backend(|Ctx { store, .. }| async move {
        let bare = store.clone();
        let store = store.with_keys(ring());
        store.ensure_org("acme").await.unwrap();
        // The password's name is already an env key of the app: the deploy is refused whole.
        store
            .change_env(
                "acme",
                "cache",
                &BTreeMap::from([("REDIS_PASSWORD".into(), "plain".into())]),
                &[],
                false,
                false,
                T0,
            )
            .await
            .unwrap();
        let err = deploy_template(&store, &redis_use(1, "256Mi"), "pw-two-1234567890", T0 + 1)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::KeyClash { .. }), "{err:?}");
        assert!(store.get_app("acme", "cache").await.unwrap().is_none());
        assert!(
            store
                .list_secrets("acme", "cache")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.template_use("acme", "cache").await.unwrap().is_none());

        // Without a key ring a template with secrets cannot be deployed at all.
        let err = deploy_template(&bare, &redis_use(1, "256Mi"), "pw", T0 + 2)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NoKeyRing), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn a_binding_is_a_config_release_of_its_target_listed_on_both_and_gone_with_either() {
    on_each_backend(|Ctx { store, .. }| async move {
        let store = store.with_keys(ring());
        store.ensure_org("acme").await.unwrap();
        deploy_template(&store, &redis_use(1, "256Mi"), "pw-three-1234567890", T0)
            .await
            .unwrap();
        let mut web = spec("web");
        web.image = Some("registry.example/web:1".into());
        store
            .record_deploy("acme", &web, &[generated("web-acme.test")], "deploy", T0)
            .await
            .unwrap();
        store
            .transition_releases(
                "acme",
                "web",
                &[(1, ReleaseStatus::Active)],
                Some(1),
                None,
                T0,
            )
            .await
            .unwrap();

        let binding = BindingRecord {
            service: "cache".into(),
            output: "url".into(),
            target: "web".into(),
            secret: "REDIS_URL".into(),
            created_at_ms: T0 + 1,
        };
        let url = SecretValue::new("redis://:pw-three-1234567890@127.0.0.1:7001");
        let out = store.bind("acme", &binding, &url, false).await.unwrap();
        assert_eq!(out.changed, ["REDIS_URL"]);
        assert_eq!(out.release, Some(2), "the target rolls the value out");
        let opened = store.open_secrets("acme", "web").await.unwrap();
        assert_eq!(opened["REDIS_URL"].value.expose(), url.expose());
        assert_eq!(
            store.bindings_of("acme", "web").await.unwrap(),
            std::slice::from_ref(&binding)
        );
        assert_eq!(
            store.bindings_of("acme", "cache").await.unwrap(),
            std::slice::from_ref(&binding)
        );

        // The same value again: the binding is recorded, nothing rolls.
        let again = store.bind("acme", &binding, &url, false).await.unwrap();
        assert!(again.changed.is_empty());
        assert_eq!(again.release, None);

        // A target that does not exist is refused, and nothing is recorded.
        let nowhere = BindingRecord {
            target: "nowhere".into(),
            ..binding.clone()
        };
        let err = store.bind("acme", &nowhere, &url, false).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
        assert!(
            store
                .bindings_of("acme", "nowhere")
                .await
                .unwrap()
                .is_empty()
        );

        // Destroying the service removes the binding and says so; the target keeps its secret.
        let deleted = store.delete_app("acme", "cache").await.unwrap().unwrap();
        assert_eq!(deleted.bindings, [binding]);
        assert!(store.bindings_of("acme", "web").await.unwrap().is_empty());
        assert!(
            store
                .open_secrets("acme", "web")
                .await
                .unwrap()
                .contains_key("REDIS_URL")
        );
    })
    .await;
}

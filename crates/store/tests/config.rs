//! An app's env and secrets on every backend: a deploy merges `[env]` (CLI keys kept and
//! named), a key is env or secret never both, required secrets refuse a deploy without
//! recording anything, a change of a running app is a `config` release of the active artifact
//! (none while a deploy is in flight, none when nothing changed), a rollback restores the
//! snapshot's env and keeps the secrets, a sealed value copied to another row does not open,
//! and re-sealing under a new key can stop after any batch with every value still opening.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Ctx, generated, on_each_backend, spec};
use satusky_core::secrets::{KeyRing, SecretValue};
use satusky_store::StoreError;
use satusky_types::{ReleaseStatus, VarSource};
use sqlx::Executor;

const T0: i64 = 1_795_000_000_000;

fn ring(keys: &[(&str, u8)]) -> Arc<KeyRing> {
    Arc::new(
        KeyRing::new(
            keys.iter()
                .map(|(id, b)| (id.to_string(), [*b; 32]))
                .collect(),
        )
        .unwrap(),
    )
}

fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), SecretValue::new(*v)))
        .collect()
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `web` deployed from an image with `[env]` = `file_env`, and v1 active.
async fn running(store: &satusky_store::Store, file_env: &[(&str, &str)]) {
    store.ensure_org("acme").await.unwrap();
    let mut s = spec("web");
    s.image = Some("registry.example/web:1".into());
    s.env = env(file_env);
    store
        .record_deploy("acme", &s, &[generated("web-acme.test")], "deploy", T0)
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
}

#[tokio::test]
async fn a_deploy_merges_env_keeping_cli_keys_and_a_key_is_env_or_secret() {
    on_each_backend(|Ctx { store, .. }| async move {
        let store = store.with_keys(ring(&[("k1", 1)]));
        running(&store, &[("A", "1"), ("B", "2")]).await;
        let out = store
            .change_env("acme", "web", &env(&[("CLI", "x")]), &[], false, false, T0 + 1)
            .await
            .unwrap();
        assert_eq!(out.changed, ["CLI"]);
        assert_eq!(out.release, Some(2), "a running app gets a config release");
        assert_eq!(out.from, Some(1));
        let v2 = store.get_release("acme", "web", 2).await.unwrap().unwrap();
        assert_eq!(v2.source, "config");
        assert_eq!(v2.image.as_deref(), Some("registry.example/web:1"));
        assert_eq!(v2.spec.env, env(&[("A", "1"), ("B", "2"), ("CLI", "x")]));

        // The file drops B and changes A: A updated, B removed, CLI kept and named.
        let mut s = spec("web");
        s.image = Some("registry.example/web:1".into());
        s.env = env(&[("A", "10")]);
        let rec = store
            .record_deploy("acme", &s, &[generated("web-acme.test")], "deploy", T0 + 2)
            .await
            .unwrap();
        assert_eq!(rec.kept_env, ["CLI"]);
        let v3 = store.get_release("acme", "web", 3).await.unwrap().unwrap();
        assert_eq!(v3.spec.env, env(&[("A", "10"), ("CLI", "x")]));
        let listed = store.list_env("acme", "web").await.unwrap();
        let sources: Vec<_> = listed.iter().map(|v| (v.name.as_str(), v.source)).collect();
        assert_eq!(sources, [("A", VarSource::File), ("CLI", VarSource::Cli)]);

        // A key is env or secret: either way round, refused with its name, nothing written.
        store
            .transition_releases("acme", "web", &[(3, ReleaseStatus::Active)], Some(3), None, T0)
            .await
            .unwrap();
        store.set_work("acme", "web", None).await.unwrap();
        let err = store
            .change_secrets("acme", "web", &secrets(&[("CLI", "s")]), &[], false, false, T0 + 3)
            .await
            .unwrap_err();
        assert!(matches!(&err, StoreError::KeyClash { name, .. } if name == "CLI"), "{err}");
        store
            .change_secrets("acme", "web", &secrets(&[("TOKEN", "s")]), &[], false, false, T0 + 3)
            .await
            .unwrap();
        store.set_work("acme", "web", None).await.unwrap();
        let err = store
            .change_env("acme", "web", &env(&[("TOKEN", "plain")]), &[], false, false, T0 + 4)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "TOKEN is already a secret of this app: a key is either an env value or a secret, never both"
        );
        let mut s2 = s.clone();
        s2.env.insert("TOKEN".into(), "plain".into());
        let err = store
            .record_deploy("acme", &s2, &[generated("web-acme.test")], "deploy", T0 + 5)
            .await
            .unwrap_err();
        assert!(matches!(&err, StoreError::KeyClash { name, .. } if name == "TOKEN"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_change_is_refused_in_flight_and_a_no_op_records_nothing() {
    on_each_backend(|Ctx { store, .. }| async move {
        let store = store.with_keys(ring(&[("k1", 1)]));
        running(&store, &[("A", "1")]).await;
        // v2 is being deployed (its work pending, v1 active): a change is refused.
        let mut s = spec("web");
        s.image = Some("registry.example/web:2".into());
        s.env = env(&[("A", "1")]);
        store
            .record_deploy("acme", &s, &[generated("web-acme.test")], "deploy", T0 + 1)
            .await
            .unwrap();
        let work = satusky_core::engine::Work::new(2);
        store.set_work("acme", "web", Some(&work)).await.unwrap();
        let err = store
            .change_secrets(
                "acme",
                "web",
                &secrets(&[("K", "v")]),
                &[],
                false,
                true,
                T0 + 1,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::DeployInFlight { release: 2 }),
            "{err}"
        );
        assert!(
            store.list_secrets("acme", "web").await.unwrap().is_empty(),
            "nothing written"
        );
        // Once v2 is active and only its endpoints are checked, the change goes on top of it.
        store
            .transition_releases(
                "acme",
                "web",
                &[(2, ReleaseStatus::Active)],
                Some(2),
                None,
                T0,
            )
            .await
            .unwrap();
        let out = store
            .change_secrets(
                "acme",
                "web",
                &secrets(&[("K", "v")]),
                &[],
                false,
                true,
                T0 + 2,
            )
            .await
            .unwrap();
        assert_eq!((out.release, out.from), (Some(3), Some(2)));
        let v3 = store.get_release("acme", "web", 3).await.unwrap().unwrap();
        assert_eq!(v3.secrets, BTreeMap::from([("K".to_string(), 1)]));
        assert_eq!(v3.image.as_deref(), Some("registry.example/web:2"));
        store.set_work("acme", "web", None).await.unwrap();
        // The same value, an unset of what is not set, the same env value: nothing.
        let same = store
            .change_secrets(
                "acme",
                "web",
                &secrets(&[("K", "v")]),
                &["NOPE".into()],
                false,
                true,
                T0 + 3,
            )
            .await
            .unwrap();
        assert_eq!((same.changed.len(), same.release), (0, None));
        assert_eq!(same.unchanged, ["K", "NOPE"]);
        let same = store
            .change_env("acme", "web", &env(&[("A", "1")]), &[], false, true, T0 + 3)
            .await
            .unwrap();
        assert_eq!((same.changed.len(), same.release), (0, None));
        assert_eq!(store.list_releases("acme", "web").await.unwrap().len(), 3);
        // A new value is version 2; unset, then set again, continues the count.
        store
            .change_secrets(
                "acme",
                "web",
                &secrets(&[("K", "w")]),
                &[],
                false,
                false,
                T0 + 4,
            )
            .await
            .unwrap();
        store
            .change_secrets(
                "acme",
                "web",
                &BTreeMap::new(),
                &["K".into()],
                false,
                false,
                T0 + 5,
            )
            .await
            .unwrap();
        assert!(store.open_secrets("acme", "web").await.unwrap().is_empty());
        store
            .change_secrets(
                "acme",
                "web",
                &secrets(&[("K", "z")]),
                &[],
                false,
                false,
                T0 + 6,
            )
            .await
            .unwrap();
        let open = store.open_secrets("acme", "web").await.unwrap();
        assert_eq!((open["K"].version, open["K"].value.expose()), (3, "z"));
    })
    .await;
}

#[tokio::test]
async fn required_secrets_refuse_a_deploy_and_a_rollback_keeps_secrets_but_restores_env() {
    on_each_backend(|Ctx { store, .. }| async move {
        let store = store.with_keys(ring(&[("k1", 1)]));
        store.ensure_org("acme").await.unwrap();
        let mut s = spec("web");
        s.image = Some("registry.example/web:1".into());
        s.secrets.required = vec!["DB".into(), "KEY".into()];
        let err = store
            .record_deploy("acme", &s, &[generated("web-acme.test")], "deploy", T0)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::MissingSecrets { names } if names == &["DB", "KEY"]),
            "{err}"
        );
        assert!(
            store.get_app("acme", "web").await.unwrap().is_none(),
            "nothing recorded"
        );
        // Set before the app exists: kept for its first deploy.
        let out = store
            .change_secrets(
                "acme",
                "web",
                &secrets(&[("DB", "d"), ("KEY", "k")]),
                &[],
                false,
                true,
                T0,
            )
            .await
            .unwrap();
        assert!(!out.app_exists && out.release.is_none());
        s.env = env(&[("LOG", "info")]);
        store
            .record_deploy("acme", &s, &[generated("web-acme.test")], "deploy", T0 + 1)
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
        store.set_work("acme", "web", None).await.unwrap();
        store
            .change_env(
                "acme",
                "web",
                &env(&[("LOG", "debug")]),
                &[],
                false,
                false,
                T0 + 2,
            )
            .await
            .unwrap();
        store
            .change_secrets(
                "acme",
                "web",
                &secrets(&[("KEY", "k2")]),
                &[],
                false,
                false,
                T0 + 3,
            )
            .await
            .unwrap();
        store
            .record_rollback("acme", "web", 1, false, T0 + 4)
            .await
            .unwrap();
        let env_now: BTreeMap<_, _> = store
            .list_env("acme", "web")
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.name, v.value))
            .collect();
        assert_eq!(env_now, env(&[("LOG", "info")]), "the snapshot's env");
        let open = store.open_secrets("acme", "web").await.unwrap();
        assert_eq!(open["KEY"].value.expose(), "k2", "the current secret");
        let v4 = store.get_release("acme", "web", 4).await.unwrap().unwrap();
        assert_eq!(
            v4.secrets["KEY"], 2,
            "the rollback records the versions it runs with"
        );
    })
    .await;
}

#[tokio::test]
async fn a_sealed_value_copied_to_another_row_does_not_open() {
    on_each_backend(|Ctx { store, url }| async move {
        let store = store.with_keys(ring(&[("k1", 1)]));
        store.ensure_org("acme").await.unwrap();
        store
            .change_secrets(
                "acme",
                "a",
                &secrets(&[("API_KEY", "for-a")]),
                &[],
                false,
                false,
                T0,
            )
            .await
            .unwrap();
        store
            .change_secrets(
                "acme",
                "b",
                &secrets(&[("API_KEY", "for-b")]),
                &[],
                false,
                false,
                T0,
            )
            .await
            .unwrap();
        let ctx = Ctx {
            store: store.clone(),
            url,
        };
        let mut raw = ctx.raw().await;
        let copy = "UPDATE app_secrets SET \
             key_id = (SELECT key_id FROM app_secrets WHERE app = 'a'), \
             nonce = (SELECT nonce FROM app_secrets WHERE app = 'a'), \
             ciphertext = (SELECT ciphertext FROM app_secrets WHERE app = 'a') WHERE app = 'b'";
        raw.execute(copy).await.unwrap();
        assert_eq!(
            store.open_secrets("acme", "a").await.unwrap()["API_KEY"]
                .value
                .expose(),
            "for-a"
        );
        let err = store.open_secrets("acme", "b").await.unwrap_err();
        let text = satusky_core::error_chain(&err);
        assert!(
            text.starts_with(
                "cannot open secret API_KEY of acme/b (v1): it does not open with key \"k1\""
            ) && text.contains("it belongs to another row"),
            "{text}"
        );
        // Stored as hex ciphertext only: no row holds the plaintext.
        let rows = sqlx::query("SELECT ciphertext FROM app_secrets")
            .fetch_all(&mut raw)
            .await
            .unwrap();
        for r in rows {
            let c: String = sqlx::Row::get(&r, "ciphertext");
            assert!(!c.contains("for-"), "{c}");
        }
    })
    .await;
}

#[tokio::test]
async fn resealing_can_stop_after_any_batch_and_every_value_still_opens() {
    on_each_backend(|Ctx { store, .. }| async move {
        let old = store.clone().with_keys(ring(&[("k1", 1)]));
        old.ensure_org("acme").await.unwrap();
        let many: Vec<(String, String)> =
            (0..7).map(|i| (format!("S{i}"), format!("v{i}"))).collect();
        let set: BTreeMap<_, _> = many
            .iter()
            .map(|(k, v)| (k.clone(), SecretValue::new(v.as_str())))
            .collect();
        old.change_secrets("acme", "web", &set, &[], false, false, T0)
            .await
            .unwrap();
        let both = store.clone().with_keys(ring(&[("k2", 2), ("k1", 1)]));
        assert_eq!(
            both.reseal_secrets(3).await.unwrap(),
            3,
            "one batch, then stopped"
        );
        assert_eq!(
            both.secrets_by_key().await.unwrap(),
            BTreeMap::from([("k1".to_string(), 4), ("k2".to_string(), 3)])
        );
        let open = both.open_secrets("acme", "web").await.unwrap();
        assert!(
            many.iter().all(|(k, v)| open[k].value.expose() == v),
            "mixed keys all open"
        );
        assert!(
            matches!(
                store
                    .clone()
                    .with_keys(ring(&[("k2", 2)]))
                    .open_secrets("acme", "web")
                    .await,
                Err(StoreError::Unsealable { .. })
            ),
            "k1 is still needed"
        );
        while both.reseal_secrets(3).await.unwrap() > 0 {}
        let new_only = store.clone().with_keys(ring(&[("k2", 2)]));
        let open = new_only.open_secrets("acme", "web").await.unwrap();
        assert!(
            many.iter().all(|(k, v)| open[k].value.expose() == v),
            "k1 left the ring"
        );
        assert!(matches!(
            store.open_secrets("acme", "web").await,
            Err(StoreError::NoKeyRing)
        ));
    })
    .await;
}

#[tokio::test]
async fn a_staged_change_waits_for_the_next_deploy_which_applies_it() {
    on_each_backend(|Ctx { store, .. }| async move {
        let store = store.with_keys(ring(&[("k1", 1)]));
        running(&store, &[("A", "1")]).await;
        // v1's work is pending (a deploy in flight): staging is still accepted.
        let work = satusky_core::engine::Work::new(2);
        store.set_work("acme", "web", Some(&work)).await.unwrap();
        let env_out = store
            .change_env(
                "acme",
                "web",
                &env(&[("B", "2")]),
                &["A".into()],
                true,
                true,
                T0 + 1,
            )
            .await
            .unwrap();
        assert!(env_out.staged && env_out.release.is_none(), "{env_out:?}");
        let sec_out = store
            .change_secrets(
                "acme",
                "web",
                &secrets(&[("K", "staged-v")]),
                &[],
                true,
                true,
                T0 + 1,
            )
            .await
            .unwrap();
        assert!(sec_out.staged && sec_out.release.is_none());
        let listed: Vec<_> = store
            .list_env("acme", "web")
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.name, v.value, v.staged))
            .collect();
        use satusky_types::StagedOp;
        assert_eq!(
            listed,
            [
                ("A".to_string(), "1".to_string(), None),
                ("A".to_string(), String::new(), Some(StagedOp::Unset)),
                ("B".to_string(), "2".to_string(), Some(StagedOp::Set)),
            ]
        );
        let secret_rows = store.list_secrets("acme", "web").await.unwrap();
        assert_eq!(secret_rows.len(), 1);
        assert_eq!(
            (secret_rows[0].version, secret_rows[0].staged),
            (0, Some(StagedOp::Set))
        );
        assert!(
            store.open_secrets("acme", "web").await.unwrap().is_empty(),
            "not yet"
        );

        let mut s = spec("web");
        s.image = Some("registry.example/web:2".into());
        let rec = store
            .record_deploy("acme", &s, &[generated("web-acme.test")], "deploy", T0 + 2)
            .await
            .unwrap();
        assert_eq!(
            rec.staged_applied,
            ["env A unset", "env B set", "secret K set"]
        );
        let release = store
            .get_release("acme", "web", rec.release)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(release.spec.env, env(&[("B", "2")]));
        assert_eq!(release.secrets["K"], 1);
        assert_eq!(
            store.open_secrets("acme", "web").await.unwrap()["K"]
                .value
                .expose(),
            "staged-v"
        );
        assert!(
            store
                .list_env("acme", "web")
                .await
                .unwrap()
                .iter()
                .all(|v| v.staged.is_none()),
            "nothing staged any more"
        );
    })
    .await;
}

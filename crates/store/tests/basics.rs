//! Orgs, tokens, migrations, events and corrupt rows, on every backend the harness offers.

mod common;

use common::{Ctx, generated, on_each_backend, spec};
use ring::digest::{SHA256, digest};
use satusky_store::{Store, StoreError};
use satusky_types::{EventType, Role};
use serde_json::json;
use sqlx::Row;

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    on_each_backend(|Ctx { store, url }| async move {
        assert!(store.ensure_org("acme").await.unwrap());
        store.migrate().await.unwrap();
        // A second instance migrating the same database changes nothing either.
        let other = Store::open(&url).await.unwrap();
        other.migrate().await.unwrap();
        assert!(other.org_exists("acme").await.unwrap());
        let mut raw = Ctx {
            store: other.clone(),
            url,
        }
        .raw()
        .await;
        let applied: i64 = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations")
            .fetch_one(&mut raw)
            .await
            .unwrap()
            .get("n");
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
            .unwrap()
            .count();
        assert_eq!(applied, i64::try_from(files).unwrap());
        other.close().await;
    })
    .await;
}

#[tokio::test]
async fn orgs_are_created_once_and_listed_in_order() {
    on_each_backend(|Ctx { store, .. }| async move {
        assert!(!store.org_exists("beta").await.unwrap());
        assert!(store.ensure_org("beta").await.unwrap());
        assert!(!store.ensure_org("beta").await.unwrap());
        assert!(store.ensure_org("a-z").await.unwrap());
        assert!(store.ensure_org("az").await.unwrap());
        assert!(store.org_exists("beta").await.unwrap());
        assert_eq!(store.list_orgs().await.unwrap(), ["a-z", "az", "beta"]);
    })
    .await;
}

#[tokio::test]
async fn tokens_round_trip_and_are_stored_hashed() {
    on_each_backend(|ctx: Ctx| async move {
        let store = &ctx.store;
        let missing = store.create_token("nobody", Role::Admin).await.unwrap_err();
        assert!(
            matches!(missing, StoreError::NotFound { .. }),
            "{missing:?}"
        );

        store.ensure_org("acme").await.unwrap();
        let admin = store.create_token("acme", Role::Admin).await.unwrap();
        let member = store.create_token("acme", Role::Member).await.unwrap();
        for token in [&admin, &member] {
            let secret = token.strip_prefix("sky_").expect("sky_ prefix");
            assert_eq!(secret.len(), 64);
            assert!(
                secret
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
        assert_ne!(admin, member);

        let who = store
            .authenticate(&admin)
            .await
            .unwrap()
            .expect("known token");
        assert_eq!((who.org.as_str(), who.role), ("acme", Role::Admin));
        let who2 = store
            .authenticate(&member)
            .await
            .unwrap()
            .expect("known token");
        assert_eq!(who2.role, Role::Member);
        assert_ne!(who.id, who2.id);

        assert_eq!(store.authenticate("sky_0000").await.unwrap(), None);
        assert_eq!(store.authenticate("").await.unwrap(), None);
        let mut tampered = admin.clone();
        tampered.pop();
        tampered.push(if admin.ends_with('0') { '1' } else { '0' });
        assert_eq!(store.authenticate(&tampered).await.unwrap(), None);

        // Nowhere in the table is the plaintext (or its secret part); the hash is SHA-256.
        let mut raw = ctx.raw().await;
        let rows = sqlx::query(
            "SELECT id, org, role, token_hash, CAST(created_at AS TEXT) AS created_at FROM tokens",
        )
        .fetch_all(&mut raw)
        .await
        .unwrap();
        assert_eq!(rows.len(), 2);
        let mut hashes = Vec::new();
        for row in &rows {
            for col in ["id", "org", "role", "token_hash", "created_at"] {
                let value: String = row.get(col);
                for token in [&admin, &member] {
                    assert!(!value.contains(&token[4..]), "{col} holds a token");
                }
            }
            hashes.push(row.get::<String, _>("token_hash"));
        }
        let expected = hex(digest(&SHA256, admin.as_bytes()).as_ref());
        assert!(hashes.contains(&expected), "{hashes:?} lacks {expected}");
    })
    .await;
}

#[tokio::test]
async fn events_have_independent_per_app_sequences() {
    on_each_backend(|Ctx { store, .. }| async move {
        let missing = store
            .append_event("acme", "web", EventType::Drift, &json!({}), 1)
            .await
            .unwrap_err();
        assert!(
            matches!(missing, StoreError::NotFound { .. }),
            "{missing:?}"
        );

        store.ensure_org("acme").await.unwrap();
        store.ensure_org("other").await.unwrap();
        let t0 = 1_795_000_000_000;
        store
            .record_deploy(
                "acme",
                &spec("web"),
                &[generated("web-acme.test")],
                "deploy",
                t0,
            )
            .await
            .unwrap();
        store
            .record_deploy("acme", &spec("api"), &[], "deploy", t0)
            .await
            .unwrap();
        store
            .record_deploy("other", &spec("web"), &[], "deploy", t0)
            .await
            .unwrap();

        // A deploy writes `release` then `phase`.
        let first = store.events_after("acme", "web", 0, 100).await.unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!((first[0].seq, first[0].kind), (1, EventType::Release));
        assert_eq!(
            first[0].data,
            json!({"version": 1, "status": "pending", "source": "deploy",
                   "image": "registry.example/web:1"})
        );
        assert_eq!((first[1].seq, first[1].kind), (2, EventType::Phase));
        assert_eq!(first[1].data, json!({"phase": "accepted", "generation": 1}));
        assert_eq!(first[0].at, "2026-11-18T11:06:40.000Z");
        assert_eq!(first[0].app, "web");

        for i in 0..3 {
            let data = json!({"desired": 2, "ready": i});
            let e = store
                .append_event("acme", "web", EventType::Rollout, &data, t0 + 5 + i)
                .await
                .unwrap();
            assert_eq!(e.seq, 3 + u64::try_from(i).unwrap());
            assert_eq!(e.data, data);
        }
        let api = store
            .append_event(
                "acme",
                "api",
                EventType::BuildLog,
                &json!({"line": "x"}),
                t0,
            )
            .await
            .unwrap();
        assert_eq!(api.seq, 3);
        let other = store
            .append_event("other", "web", EventType::Plane, &json!({}), t0)
            .await
            .unwrap();
        assert_eq!(other.seq, 3);

        let seqs = |events: Vec<satusky_types::Event>| -> Vec<u64> {
            events.iter().map(|e| e.seq).collect()
        };
        assert_eq!(
            seqs(store.events_after("acme", "web", 2, 100).await.unwrap()),
            [3, 4, 5]
        );
        assert_eq!(
            seqs(store.events_after("acme", "web", 0, 2).await.unwrap()),
            [1, 2]
        );
        assert_eq!(
            seqs(store.events_after("acme", "web", 3, 1).await.unwrap()),
            [4]
        );
        assert!(
            store
                .events_after("acme", "web", 5, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .events_after("acme", "web", u64::MAX, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .events_after("acme", "nope", 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let tail = store.events_after("acme", "web", 4, 10).await.unwrap();
        assert_eq!(tail[0].at, "2026-11-18T11:06:40.007Z");
        assert_eq!(
            seqs(store.events_after("acme", "api", 0, 10).await.unwrap()),
            [1, 2, 3]
        );
    })
    .await;
}

#[tokio::test]
async fn corrupt_rows_are_reported_not_hidden() {
    on_each_backend(|ctx: Ctx| async move {
        let store = &ctx.store;
        store.ensure_org("acme").await.unwrap();
        store
            .record_deploy("acme", &spec("web"), &[], "deploy", 1)
            .await
            .unwrap();
        let mut raw = ctx.raw().await;
        sqlx::query("UPDATE apps SET spec = '{not json' WHERE name = 'web'")
            .execute(&mut raw)
            .await
            .unwrap();
        let err = store.get_app("acme", "web").await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        sqlx::query("UPDATE releases SET status = 'bogus'")
            .execute(&mut raw)
            .await
            .unwrap();
        let err = store.list_releases("acme", "web").await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn bad_urls_are_rejected_without_echoing_secrets() {
    for url in [
        "mysql://x",
        "sqlite::memory:",
        "sqlite://",
        "sqlite:/tmp/x.db?mode=ro",
    ] {
        let err = Store::open(url).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
    let err = Store::open("redis://u:hunter2@h/0").await.unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let missing_dir = Store::open("sqlite:///nonexistent-dir-satusky/x.db").await;
    assert!(
        matches!(missing_dir, Err(StoreError::Database(_))),
        "{missing_dir:?}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_can_migrate_a_new_sqlite_file_at_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("fresh.db").display());
        let (a, b) = (
            Store::open(&url).await.unwrap(),
            Store::open(&url).await.unwrap(),
        );
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        ra.unwrap();
        rb.unwrap();
        assert!(a.ensure_org("acme").await.unwrap());
        assert!(b.org_exists("acme").await.unwrap());
        a.close().await;
        b.close().await;
    }
}

//! Token lifecycle on every backend the harness offers: names, expiry, revocation (refused at
//! once, idempotent, scoped to the org), last use to the minute, the live-token limit and the
//! list order.

mod common;

use common::{Ctx, on_each_backend};
use satusky_store::{NewToken, Store, StoreError, TokenCheck};
use satusky_types::Role;
use sqlx::Row;

const T0: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;

fn new(role: Role) -> NewToken<'static> {
    NewToken {
        role,
        name: None,
        expires_at_ms: None,
        created_by: None,
        max_live: None,
    }
}

async fn org(store: &Store, name: &str) {
    store.ensure_org(name).await.unwrap();
}

#[tokio::test]
async fn revoked_tokens_are_refused_at_once_and_revoking_is_idempotent_and_org_scoped() {
    on_each_backend(|Ctx { store, .. }| async move {
        org(&store, "acme").await;
        org(&store, "other").await;
        let spec = NewToken {
            name: Some("ci"),
            created_by: Some("tok_creator"),
            ..new(Role::Member)
        };
        let (token, rec) = store.create_token_with("acme", &spec, T0).await.unwrap();
        assert_eq!(rec.name.as_deref(), Some("ci"));
        assert_eq!(rec.created_by.as_deref(), Some("tok_creator"));
        assert_eq!((rec.role, rec.created_at_ms), (Role::Member, T0));
        let listed = store.list_tokens("acme", T0, 100).await.unwrap();
        assert_eq!(
            listed,
            std::slice::from_ref(&rec),
            "the list holds what create returned"
        );

        let TokenCheck::Valid(info) = store.check_token(&token, T0 + 1).await.unwrap() else {
            panic!("a new token is valid");
        };
        assert_eq!(
            (info.org.as_str(), info.id.as_str()),
            ("acme", rec.id.as_str())
        );

        // Another org cannot revoke it (same answer as for an unknown id); it keeps working.
        assert_eq!(
            store.revoke_token("other", &rec.id, T0 + 2).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .revoke_token("acme", "tok_nope", T0 + 2)
                .await
                .unwrap(),
            None
        );
        assert!(store.authenticate(&token).await.unwrap().is_some());

        let revoked = store
            .revoke_token("acme", &rec.id, T0 + 3)
            .await
            .unwrap()
            .expect("acme's token");
        assert_eq!(revoked.revoked_at_ms, Some(T0 + 3));
        assert_eq!(
            store.check_token(&token, T0 + 4).await.unwrap(),
            TokenCheck::Revoked {
                id: rec.id.clone(),
                at_ms: T0 + 3
            }
        );
        assert_eq!(store.authenticate(&token).await.unwrap(), None);

        // Again: still revoked, the first time kept.
        let again = store.revoke_token("acme", &rec.id, T0 + 9).await.unwrap();
        assert_eq!(again.and_then(|r| r.revoked_at_ms), Some(T0 + 3));

        let missing = store
            .create_token_with("nobody", &new(Role::Admin), T0)
            .await
            .unwrap_err();
        assert!(
            matches!(missing, StoreError::NotFound { .. }),
            "{missing:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn tokens_expire_at_their_expiry() {
    on_each_backend(|Ctx { store, .. }| async move {
        org(&store, "acme").await;
        let spec = NewToken {
            expires_at_ms: Some(T0 + 1000),
            ..new(Role::Admin)
        };
        let (token, rec) = store.create_token_with("acme", &spec, T0).await.unwrap();
        assert!(matches!(
            store.check_token(&token, T0 + 999).await.unwrap(),
            TokenCheck::Valid(_)
        ));
        assert_eq!(
            store.check_token(&token, T0 + 1000).await.unwrap(),
            TokenCheck::Expired {
                id: rec.id,
                at_ms: T0 + 1000
            }
        );
        // `authenticate` reads the real clock: a token whose expiry has passed is refused.
        let (past, _) = store
            .create_token_with(
                "acme",
                &NewToken {
                    expires_at_ms: Some(satusky_core::time::now_ms() - 1),
                    ..new(Role::Admin)
                },
                T0,
            )
            .await
            .unwrap();
        assert_eq!(store.authenticate(&past).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn last_use_is_recorded_to_the_minute() {
    on_each_backend(|Ctx { store, url }| async move {
        org(&store, "acme").await;
        let (token, rec) = store
            .create_token_with("acme", &new(Role::Admin), T0)
            .await
            .unwrap();
        let last_used =
            || async { store.list_tokens("acme", T0, 10).await.unwrap()[0].last_used_at_ms };
        assert_eq!(last_used().await, None);
        store.check_token(&token, T0 + MINUTE).await.unwrap();
        assert_eq!(last_used().await, Some(T0 + MINUTE));
        store
            .check_token(&token, T0 + MINUTE + 59_000)
            .await
            .unwrap();
        assert_eq!(
            last_used().await,
            Some(T0 + MINUTE),
            "not rewritten within a minute"
        );
        store.check_token(&token, T0 + 2 * MINUTE).await.unwrap();
        assert_eq!(last_used().await, Some(T0 + 2 * MINUTE));

        // The list never carries the hash; the row does, and it is not the token.
        let mut raw = Ctx {
            store: store.clone(),
            url,
        }
        .raw()
        .await;
        let hash: String = sqlx::query("SELECT token_hash FROM tokens WHERE id = $1")
            .bind(&rec.id)
            .fetch_one(&mut raw)
            .await
            .unwrap()
            .get("token_hash");
        assert!(!hash.contains(&token[4..]));
    })
    .await;
}

#[tokio::test]
async fn the_live_limit_counts_only_live_tokens_and_lists_put_live_first() {
    on_each_backend(|Ctx { store, .. }| async move {
        org(&store, "acme").await;
        org(&store, "other").await;
        let capped = NewToken {
            max_live: Some(2),
            ..new(Role::Member)
        };
        let (_, a) = store.create_token_with("acme", &capped, T0).await.unwrap();
        let expiring = NewToken {
            expires_at_ms: Some(T0 + 10),
            ..capped
        };
        let (_, b) = store
            .create_token_with("acme", &expiring, T0 + 1)
            .await
            .unwrap();
        // Another org's tokens do not count.
        store.create_token_with("other", &capped, T0).await.unwrap();
        store.create_token_with("other", &capped, T0).await.unwrap();

        let full = store
            .create_token_with("acme", &capped, T0 + 2)
            .await
            .unwrap_err();
        match full {
            StoreError::LimitReached { limit, .. } => assert_eq!(limit, 2),
            other => panic!("expected LimitReached, got {other:?}"),
        }
        // Once b has expired it no longer counts.
        let (_, c) = store
            .create_token_with("acme", &capped, T0 + 20)
            .await
            .unwrap();
        // Revoking frees a place too.
        store.revoke_token("acme", &a.id, T0 + 21).await.unwrap();
        let (_, d) = store
            .create_token_with("acme", &capped, T0 + 22)
            .await
            .unwrap();

        let ids = |list: Vec<satusky_store::TokenRecord>| -> Vec<String> {
            list.into_iter().map(|t| t.id).collect()
        };
        let listed = ids(store.list_tokens("acme", T0 + 30, 100).await.unwrap());
        // Live first (newest first), then revoked or expired (newest first).
        assert_eq!(listed, [d.id.clone(), c.id.clone(), b.id, a.id]);
        let capped_list = ids(store.list_tokens("acme", T0 + 30, 2).await.unwrap());
        assert_eq!(capped_list, [d.id, c.id]);
    })
    .await;
}

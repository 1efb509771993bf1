//! Idempotency-Key records on both backends: one claim wins, a finished request's answer is
//! kept, a re-claim or completion only applies to the row the caller saw, and the purge
//! deletes only old rows, a bounded number at a time.

mod common;

use common::on_each_backend;
use satusky_store::StoredResponse;
use sqlx::Row;

const SCOPE: &str = "scope-a";
const KEY: &str = "key-1";

fn answer(body: &str) -> StoredResponse {
    StoredResponse {
        status: 202,
        content_type: Some("application/json".into()),
        body: body.into(),
    }
}

#[tokio::test]
async fn one_claim_wins_and_its_answer_is_kept() {
    on_each_backend(|ctx| async move {
        let s = ctx.store;
        assert_eq!(s.idempotency_record(SCOPE, KEY).await.unwrap(), None);
        assert!(
            s.claim_idempotency_key(SCOPE, KEY, "h1", 1_000)
                .await
                .unwrap()
        );
        assert!(
            !s.claim_idempotency_key(SCOPE, KEY, "h2", 1_001)
                .await
                .unwrap()
        );
        // Another scope or key is another row.
        assert!(
            s.claim_idempotency_key("scope-b", KEY, "h1", 1_000)
                .await
                .unwrap()
        );
        assert!(
            s.claim_idempotency_key(SCOPE, "key-2", "h1", 1_000)
                .await
                .unwrap()
        );

        let rec = s.idempotency_record(SCOPE, KEY).await.unwrap().unwrap();
        assert_eq!(rec.request_hash, "h1", "the first claim's hash stays");
        assert_eq!(rec.created_at_ms, 1_000);
        assert_eq!(rec.response, None, "in progress");

        // Only the claim that owns the row completes it.
        assert!(
            !s.complete_idempotency_key(SCOPE, KEY, 999, &answer("{}"))
                .await
                .unwrap()
        );
        assert!(
            s.complete_idempotency_key(SCOPE, KEY, 1_000, &answer(r#"{"release":1}"#))
                .await
                .unwrap()
        );
        let rec = s.idempotency_record(SCOPE, KEY).await.unwrap().unwrap();
        assert_eq!(rec.response, Some(answer(r#"{"release":1}"#)));
        // A done row is neither completed again nor released.
        assert!(
            !s.complete_idempotency_key(SCOPE, KEY, 1_000, &answer("{}"))
                .await
                .unwrap()
        );
        assert!(!s.release_idempotency_key(SCOPE, KEY, 1_000).await.unwrap());
        assert!(s.idempotency_record(SCOPE, KEY).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn concurrent_claims_have_exactly_one_winner() {
    on_each_backend(|ctx| async move {
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let s = ctx.store.clone();
                tokio::spawn(async move {
                    s.claim_idempotency_key(SCOPE, KEY, &format!("h{i}"), 5_000)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
    })
    .await;
}

#[tokio::test]
async fn a_released_claim_can_be_claimed_again() {
    on_each_backend(|ctx| async move {
        let s = ctx.store;
        assert!(
            s.claim_idempotency_key(SCOPE, KEY, "h1", 1_000)
                .await
                .unwrap()
        );
        assert!(
            !s.release_idempotency_key(SCOPE, KEY, 2_000).await.unwrap(),
            "not that claim"
        );
        assert!(s.release_idempotency_key(SCOPE, KEY, 1_000).await.unwrap());
        assert_eq!(s.idempotency_record(SCOPE, KEY).await.unwrap(), None);
        assert!(
            s.claim_idempotency_key(SCOPE, KEY, "h2", 3_000)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn a_reclaim_applies_only_to_the_row_that_was_seen() {
    on_each_backend(|ctx| async move {
        let s = ctx.store;
        assert!(
            s.claim_idempotency_key(SCOPE, KEY, "old", 1_000)
                .await
                .unwrap()
        );
        assert!(
            s.complete_idempotency_key(SCOPE, KEY, 1_000, &answer("old"))
                .await
                .unwrap()
        );

        assert!(
            !s.reclaim_idempotency_key(SCOPE, KEY, 999, "new", 9_000)
                .await
                .unwrap()
        );
        assert!(
            s.reclaim_idempotency_key(SCOPE, KEY, 1_000, "new", 9_000)
                .await
                .unwrap()
        );
        // A second taker that saw the same old row loses.
        assert!(
            !s.reclaim_idempotency_key(SCOPE, KEY, 1_000, "other", 9_001)
                .await
                .unwrap()
        );
        let rec = s.idempotency_record(SCOPE, KEY).await.unwrap().unwrap();
        assert_eq!(
            (rec.request_hash.as_str(), rec.created_at_ms),
            ("new", 9_000)
        );
        assert_eq!(rec.response, None, "the old answer is gone");
        // The old claim cannot complete the new one's row.
        assert!(
            !s.complete_idempotency_key(SCOPE, KEY, 1_000, &answer("x"))
                .await
                .unwrap()
        );
        assert!(
            s.complete_idempotency_key(SCOPE, KEY, 9_000, &answer("new"))
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn the_purge_deletes_old_rows_a_batch_at_a_time() {
    on_each_backend(|ctx| async move {
        let s = ctx.store.clone();
        for i in 0..5 {
            assert!(
                s.claim_idempotency_key(SCOPE, &format!("old-{i}"), "h", 1_000 + i)
                    .await
                    .unwrap()
            );
        }
        assert!(
            s.claim_idempotency_key(SCOPE, "young", "h", 50_000)
                .await
                .unwrap()
        );
        assert_eq!(s.purge_idempotency_keys(10_000, 3).await.unwrap(), 3);
        assert_eq!(s.purge_idempotency_keys(10_000, 3).await.unwrap(), 2);
        assert_eq!(s.purge_idempotency_keys(10_000, 3).await.unwrap(), 0);
        let left: Vec<String> =
            sqlx::query("SELECT idempotency_key FROM idempotency_keys ORDER BY idempotency_key")
                .fetch_all(&mut ctx.raw().await)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get("idempotency_key"))
                .collect();
        assert_eq!(left, ["young"]);
    })
    .await;
}

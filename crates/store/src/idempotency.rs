//! Idempotency-Key records (SPEC §6): one row per (scope, key) holding a keyed hash of the
//! first request and, once it finished, the answer to replay.
//!
//! The store only keeps rows and makes each change atomic: a claim is an insert the primary
//! key lets exactly one caller win; re-claiming (an expired or abandoned row), completing and
//! releasing are compare-and-set on the `created_at` the caller saw or claimed with, so a
//! holder that lost its row to a re-claim cannot overwrite the new holder's. What a row means
//! for an incoming request (replay, mismatch, wait, expired) is decided by the server, and
//! neither the request body nor the token is ever stored: callers pass hashes.

use sqlx::Row;

use crate::Store;
use crate::codec::to_i64;
use crate::error::{Result, StoreError};

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";

/// A stored Idempotency-Key row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The keyed hash of the first request (query and body).
    pub request_hash: String,
    /// When the first request (or the one that re-claimed the row) started, epoch ms.
    pub created_at_ms: i64,
    /// Its answer; `None` while it is still running.
    pub response: Option<StoredResponse>,
}

/// An answer kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

impl Store {
    /// Records that a request with `key` in `scope` has started; `false` when a row for them
    /// already exists (whoever inserted it first owns it). `now_ms` is the claim's identity
    /// for [`Store::complete_idempotency_key`] and [`Store::release_idempotency_key`].
    pub async fn claim_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, idempotency_key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(IN_PROGRESS)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The row of `key` in `scope`, expired or not.
    pub async fn idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        let row = sqlx::query(
            "SELECT request_hash, state, response_status, response_type, response_body, created_at \
             FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state: String = row.try_get("state")?;
        let response = match state.as_str() {
            IN_PROGRESS => None,
            DONE => {
                let status: Option<i64> = row.try_get("response_status")?;
                let body: Option<String> = row.try_get("response_body")?;
                let (Some(status), Some(body)) = (status, body) else {
                    return Err(StoreError::corrupt(
                        "idempotency record",
                        "a done row without a response",
                    ));
                };
                let status = u16::try_from(status).map_err(|_| {
                    StoreError::corrupt("idempotency response status", status.to_string())
                })?;
                Some(StoredResponse {
                    status,
                    content_type: row.try_get("response_type")?,
                    body,
                })
            }
            other => {
                return Err(StoreError::corrupt(
                    "idempotency state",
                    format!("unknown value {other:?}"),
                ));
            }
        };
        Ok(Some(IdempotencyRecord {
            request_hash: row.try_get("request_hash")?,
            created_at_ms: row.try_get("created_at")?,
            response,
        }))
    }

    /// Takes over a row the caller saw with `seen_created_at_ms` (expired, or abandoned by a
    /// request that never finished) for a new request; `false` when the row changed since
    /// (someone else took it over, or it is gone: claim again).
    pub async fn reclaim_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        seen_created_at_ms: i64,
        request_hash: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE idempotency_keys SET request_hash = $1, state = $2, response_status = NULL, \
             response_type = NULL, response_body = NULL, created_at = $3 \
             WHERE scope = $4 AND idempotency_key = $5 AND created_at = $6",
        )
        .bind(request_hash)
        .bind(IN_PROGRESS)
        .bind(now_ms)
        .bind(scope)
        .bind(key)
        .bind(seen_created_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores the answer of the request that claimed the row at `claimed_at_ms`; `false` when
    /// the row is no longer that claim's.
    pub async fn complete_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        claimed_at_ms: i64,
        response: &StoredResponse,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE idempotency_keys SET state = $1, response_status = $2, response_type = $3, \
             response_body = $4 \
             WHERE scope = $5 AND idempotency_key = $6 AND created_at = $7 AND state = $8",
        )
        .bind(DONE)
        .bind(i64::from(response.status))
        .bind(response.content_type.as_deref())
        .bind(&response.body)
        .bind(scope)
        .bind(key)
        .bind(claimed_at_ms)
        .bind(IN_PROGRESS)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets the claim made at `claimed_at_ms` (its request failed or its answer is not
    /// kept), so the next request with the key runs again.
    pub async fn release_idempotency_key(
        &self,
        scope: &str,
        key: &str,
        claimed_at_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = $1 AND idempotency_key = $2 AND created_at = $3 AND state = $4",
        )
        .bind(scope)
        .bind(key)
        .bind(claimed_at_ms)
        .bind(IN_PROGRESS)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes at most `limit` rows created before `before_ms`; returns how many.
    pub async fn purge_idempotency_keys(&self, before_ms: i64, limit: u64) -> Result<u64> {
        let limit = to_i64(limit).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (scope, idempotency_key) IN \
             (SELECT scope, idempotency_key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
        )
        .bind(before_ms)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

//! API tokens: minted from the system's CSPRNG, shown once, stored only as a SHA-256 digest.
//! A token belongs to one org and carries one role; authenticating is a lookup by digest
//! that refuses revoked and expired tokens at once (nothing is cached). Tokens have a name,
//! an optional expiry, a creator and a last-used time (to the minute); they are revoked, never
//! deleted, so a list shows what existed.
//!
//! What a valid name or lifetime is, and how many tokens an org may hold, is the caller's
//! policy ([`satusky_core::tokens`], the server); this module keeps the rows consistent.

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use satusky_core::digest::hex;
use satusky_types::Role;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::codec::parse_enum;
use crate::error::{Result, StoreError};

/// Every token starts with this, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "sky_";
/// Random bytes in a token (64 hex characters after the prefix).
const TOKEN_BYTES: usize = 32;
/// Random bytes in a token's id (not secret; names the row).
const TOKEN_ID_BYTES: usize = 8;
/// `last_used_at` is rewritten only when it is older than this, so a busy token costs one
/// write a minute, not one per request.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The columns every token query reads (never the hash), as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, org, role, name, created_at, expires_at, revoked_at, last_used_at, created_by"
    };
}

/// Who a presented token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub org: String,
    pub role: Role,
}

/// What [`Store::check_token`] found for a presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// A live token.
    Valid(TokenInfo),
    /// No token has this secret.
    Unknown,
    /// The token was revoked at `at_ms`.
    Revoked { id: String, at_ms: i64 },
    /// The token expired at `at_ms`.
    Expired { id: String, at_ms: i64 },
}

/// A new token's attributes.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub role: Role,
    pub name: Option<&'a str>,
    /// When it stops working (epoch ms); `None`: never.
    pub expires_at_ms: Option<i64>,
    /// The creating token's id, or the command that created it.
    pub created_by: Option<&'a str>,
    /// Refuse with [`StoreError::LimitReached`] when the org already holds this many live
    /// (unrevoked, unexpired) tokens; `None`: no limit.
    pub max_live: Option<u64>,
}

/// One token row, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub org: String,
    pub role: Role,
    pub name: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
    pub created_by: Option<String>,
}

impl TokenRecord {
    /// Neither revoked nor expired at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms.is_none_or(|at| at > now_ms)
    }

    fn from_row(row: &AnyRow) -> Result<Self> {
        let role: String = row.try_get("role")?;
        Ok(TokenRecord {
            id: row.try_get("id")?,
            org: row.try_get("org")?,
            role: parse_enum("token role", &role, Role::parse)?,
            name: row.try_get("name")?,
            created_at_ms: row.try_get("created_at")?,
            expires_at_ms: row.try_get("expires_at")?,
            revoked_at_ms: row.try_get("revoked_at")?,
            last_used_at_ms: row.try_get("last_used_at")?,
            created_by: row.try_get("created_by")?,
        })
    }
}

impl Store {
    /// Mints a token for `org` with `role` (no name, no expiry) and returns its plaintext,
    /// which is not kept. Fails with [`StoreError::NotFound`] when the org does not exist.
    pub async fn create_token(&self, org: &str, role: Role) -> Result<String> {
        let new = NewToken {
            role,
            name: None,
            expires_at_ms: None,
            created_by: None,
            max_live: None,
        };
        let (token, _) = self
            .create_token_with(org, &new, satusky_core::time::now_ms())
            .await?;
        Ok(token)
    }

    /// Mints a token for `org` and returns its plaintext (not kept) and its row. Fails with
    /// [`StoreError::NotFound`] when the org does not exist and
    /// [`StoreError::LimitReached`] when it would exceed `new.max_live`.
    pub async fn create_token_with(
        &self,
        org: &str,
        new: &NewToken<'_>,
        now_ms: i64,
    ) -> Result<(String, TokenRecord)> {
        let token = format!("{TOKEN_PREFIX}{}", random_hex(TOKEN_BYTES)?);
        let id = format!("tok_{}", random_hex(TOKEN_ID_BYTES)?);
        let mut tx = self.begin_write().await?;
        // A write first: on PostgreSQL it locks the org's row, so concurrent creations count
        // the live tokens one after the other.
        let org_row = sqlx::query("UPDATE orgs SET name = name WHERE name = $1")
            .bind(org)
            .execute(&mut *tx)
            .await?;
        if org_row.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("org {org}")));
        }
        if let Some(max) = new.max_live {
            let live: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM tokens WHERE org = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(org)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if u64::try_from(live).unwrap_or(0) >= max {
                return Err(StoreError::LimitReached {
                    what: format!("live tokens of org {org}"),
                    limit: max,
                });
            }
        }
        sqlx::query(
            "INSERT INTO tokens (id, org, role, token_hash, created_at, name, expires_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(org)
        .bind(new.role.as_str())
        .bind(token_hash(&token))
        .bind(now_ms)
        .bind(new.name)
        .bind(new.expires_at_ms)
        .bind(new.created_by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let record = TokenRecord {
            id,
            org: org.to_string(),
            role: new.role,
            name: new.name.map(str::to_string),
            created_at_ms: now_ms,
            expires_at_ms: new.expires_at_ms,
            revoked_at_ms: None,
            last_used_at_ms: None,
            created_by: new.created_by.map(str::to_string),
        };
        Ok((token, record))
    }

    /// The org and role of `token` when it is live now; `None` when it is unknown, revoked
    /// or expired.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TokenInfo>> {
        match self
            .check_token(token, satusky_core::time::now_ms())
            .await?
        {
            TokenCheck::Valid(info) => Ok(Some(info)),
            _ => Ok(None),
        }
    }

    /// What `token` is at `now_ms`: live (its `last_used_at` brought up to date, at most once
    /// a minute), unknown, revoked or expired. Read from the store every time.
    pub async fn check_token(&self, token: &str, now_ms: i64) -> Result<TokenCheck> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM tokens WHERE token_hash = $1"
        ))
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(TokenCheck::Unknown);
        };
        let rec = TokenRecord::from_row(&row)?;
        if let Some(at_ms) = rec.revoked_at_ms {
            return Ok(TokenCheck::Revoked { id: rec.id, at_ms });
        }
        if let Some(at_ms) = rec.expires_at_ms.filter(|at| *at <= now_ms) {
            return Ok(TokenCheck::Expired { id: rec.id, at_ms });
        }
        let stale = now_ms - LAST_USED_RESOLUTION_MS;
        if rec.last_used_at_ms.is_none_or(|at| at <= stale) {
            sqlx::query(
                "UPDATE tokens SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(now_ms)
            .bind(&rec.id)
            .bind(stale)
            .execute(&self.pool)
            .await?;
        }
        Ok(TokenCheck::Valid(TokenInfo {
            id: rec.id,
            org: rec.org,
            role: rec.role,
        }))
    }

    /// Whether token `id` of `org` is still live at `now_ms` (not revoked, not expired): for
    /// long-lived connections that authenticated once.
    pub async fn token_live(&self, org: &str, id: &str, now_ms: i64) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS live FROM tokens WHERE org = $1 AND id = $2 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(org)
        .bind(id)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The org's tokens: every live one first, then revoked and expired ones; newest first
    /// within each, at most `limit` in all.
    pub async fn list_tokens(
        &self,
        org: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM tokens WHERE org = $1 \
             ORDER BY CASE WHEN revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) \
             THEN 0 ELSE 1 END, created_at DESC, id LIMIT $3"
        ))
        .bind(org)
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(TokenRecord::from_row).collect()
    }

    /// Revokes token `id` of `org` at `now_ms` and returns its row; `None` when `org` has no
    /// such token (another org's id included). Revoking again changes nothing: the first
    /// revocation time stays.
    pub async fn revoke_token(
        &self,
        org: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<TokenRecord>> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE org = $2 AND id = $3",
        )
        .bind(now_ms)
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM tokens WHERE org = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        TokenRecord::from_row(&row).map(Some)
    }
}

/// Lowercase hex SHA-256 of the whole token (prefix included).
fn token_hash(token: &str) -> String {
    hex(digest(&SHA256, token.as_bytes()).as_ref())
}

fn random_hex(len: usize) -> Result<String> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::corrupt("randomness", "the system CSPRNG failed"))?;
    Ok(hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_hex_has_the_requested_length() -> Result<()> {
        let a = random_hex(TOKEN_BYTES)?;
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, random_hex(TOKEN_BYTES)?);
        Ok(())
    }
}

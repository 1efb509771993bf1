//! API tokens: minted from the system's CSPRNG, shown once, stored only as a SHA-256 digest.
//! A token belongs to one org and carries one role; authenticating is a lookup by digest.

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use satusky_types::Role;
use sqlx::Row;

use crate::Store;
use crate::codec::parse_enum;
use crate::error::{Result, StoreError};

/// Every token starts with this, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "sky_";
/// Random bytes in a token (64 hex characters after the prefix).
const TOKEN_BYTES: usize = 32;
/// Random bytes in a token's id (not secret; names the row).
const TOKEN_ID_BYTES: usize = 8;

/// Who a presented token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub org: String,
    pub role: Role,
}

impl Store {
    /// Mints a token for `org` with `role` and returns its plaintext, which is not kept.
    /// Fails with [`StoreError::NotFound`] when the org does not exist.
    pub async fn create_token(&self, org: &str, role: Role) -> Result<String> {
        let token = format!("{TOKEN_PREFIX}{}", random_hex(TOKEN_BYTES)?);
        let id = format!("tok_{}", random_hex(TOKEN_ID_BYTES)?);
        // INSERT … SELECT inserts nothing when the org is missing, so the check and the write
        // are one statement.
        let done = sqlx::query(
            "INSERT INTO tokens (id, org, role, token_hash, created_at) \
             SELECT $1, name, $2, $3, $4 FROM orgs WHERE name = $5",
        )
        .bind(&id)
        .bind(role.as_str())
        .bind(token_hash(&token))
        .bind(satusky_core::time::now_ms())
        .bind(org)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("org {org}")));
        }
        Ok(token)
    }

    /// The org and role of `token`, or `None` when no such token exists.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TokenInfo>> {
        let row = sqlx::query("SELECT id, org, role FROM tokens WHERE token_hash = $1")
            .bind(token_hash(token))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let role: String = row.try_get("role")?;
        Ok(Some(TokenInfo {
            id: row.try_get("id")?,
            org: row.try_get("org")?,
            role: parse_enum("token role", &role, Role::parse)?,
        }))
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

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
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

//! Orgs: the tenants that own tokens, apps and hostnames. An org is just a name here; what a
//! valid name is belongs to `satusky-core`.

use sqlx::Row;

use crate::Store;
use crate::error::Result;

impl Store {
    /// Creates the org if it does not exist; `true` when it was created by this call.
    pub async fn ensure_org(&self, org: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO orgs (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(org)
        .bind(satusky_core::time::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether the org exists.
    pub async fn org_exists(&self, org: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM orgs WHERE name = $1")
            .bind(org)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// All org names, sorted bytewise (the same on both backends, whatever PostgreSQL's
    /// collation).
    pub async fn list_orgs(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM orgs")
            .fetch_all(&self.pool)
            .await?;
        let mut names = rows
            .iter()
            .map(|r| r.try_get::<String, _>("name"))
            .collect::<Result<Vec<_>, _>>()?;
        names.sort();
        Ok(names)
    }
}

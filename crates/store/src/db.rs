//! Opening the database and keeping its schema current: URL parsing, the connection pool with
//! SQLite's per-connection PRAGMAs, the embedded migrations of each backend, and the helper
//! that starts a write transaction. No domain logic lives here.

use std::path::Path;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::error::{Result, StoreError};

/// SQLite's migrations, embedded at build time.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// PostgreSQL's migrations, embedded at build time (same tables and columns as SQLite's).
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer (possibly another process, such as
/// `satusky token create` next to a running server) before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite has one writer at a time; a few connections are enough for concurrent readers.
const SQLITE_MAX_CONNECTIONS: u32 = 8;
/// PostgreSQL pool size: enough for the API, the engine loops and the event streams.
const POSTGRES_MAX_CONNECTIONS: u32 = 16;
/// How long a caller waits for a pooled connection before the operation fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Satusky's durable state. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// The key ring secrets are sealed and opened with (see `config.rs`); `None` until the
    /// composition root gives one ([`Store::with_keys`]).
    pub(crate) keys: Option<std::sync::Arc<satusky_core::secrets::KeyRing>>,
}

/// How many times a SQLite migration is tried when another process migrates concurrently
/// (one rerun per migration that can collide, with room to spare).
const SQLITE_MIGRATE_ATTEMPTS: u64 = 8;

impl Store {
    /// This store, sealing and opening secrets with `keys` (the first key seals).
    pub fn with_keys(mut self, keys: std::sync::Arc<satusky_core::secrets::KeyRing>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The key ring, if one was given.
    pub fn keys(&self) -> Option<&satusky_core::secrets::KeyRing> {
        self.keys.as_deref()
    }

    /// The key ring, if one was given, shared: for what else the control plane seals with it
    /// (the local runtime's ACME keys).
    pub fn shared_keys(&self) -> Option<std::sync::Arc<satusky_core::secrets::KeyRing>> {
        self.keys.clone()
    }

    /// Opens `sqlite://PATH`, `sqlite:PATH` (the file is created if missing; its directory must
    /// exist) or `postgres://…` / `postgresql://…`. Does not migrate: call [`Store::migrate`].
    pub async fn open(url: &str) -> Result<Store> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if !query.is_empty() {
                return Err(invalid_url(url, "SQLite URLs take no query parameters"));
            }
            if path.is_empty() || path == ":memory:" {
                return Err(invalid_url(
                    url,
                    "an in-memory SQLite database is per connection; use a file path",
                ));
            }
            return Store::open_sqlite_file(Path::new(path)).await;
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            sqlx::any::install_default_drivers();
            let pool = AnyPoolOptions::new()
                .max_connections(POSTGRES_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            return Ok(Store {
                keys: None,
                pool,
                backend: Backend::Postgres,
            });
        }
        Err(invalid_url(
            url,
            "expected sqlite://PATH, sqlite:PATH or postgres://…",
        ))
    }

    /// Opens (creating if missing) the SQLite database at `path`, in WAL mode with foreign keys
    /// on and a busy timeout, so several processes can share the file.
    pub async fn open_sqlite_file(path: &Path) -> Result<Store> {
        let display = path.display().to_string();
        let absolute = std::path::absolute(path).map_err(|e| StoreError::InvalidUrl {
            url: redact(&display),
            reason: "cannot resolve the path".to_owned(),
            source: Some(e),
        })?;
        let url = sqlite_url(&absolute)
            .ok_or_else(|| invalid_url(&display, "the path is not valid UTF-8"))?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(SQLITE_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _meta| Box::pin(sqlite_pragmas(conn)))
            .connect(&url)
            .await?;
        Ok(Store {
            keys: None,
            pool,
            backend: Backend::Sqlite,
        })
    }

    /// Which engine this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the embedded migrations of this backend; already-applied ones are skipped.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        // SQLite has no migration lock: when two processes migrate one file at once, the
        // loser fails on something the winner just created. Each rerun sees the winner's
        // finished migrations, so a few reruns always converge.
        let mut attempt = 1;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(e) if self.backend == Backend::Sqlite && attempt < SQLITE_MIGRATE_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "retrying SQLite migration");
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which takes the write lock
    /// up front (waiting out the busy timeout) instead of failing when a reader upgrades; every
    /// caller also makes its first statement a write, which gives PostgreSQL the row lock first.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// Per-connection SQLite settings. The busy timeout comes first so the journal-mode switch
/// can wait for other processes.
async fn sqlite_pragmas(conn: &mut AnyConnection) -> std::result::Result<(), sqlx::Error> {
    let busy = format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
    conn.execute(sqlx::AssertSqlSafe(busy)).await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    Ok(())
}

/// `sqlite://` + the percent-encoded absolute path + `?mode=rwc` (create if missing).
fn sqlite_url(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    let mut url = String::from("sqlite://");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    Some(url)
}

/// An [`StoreError::InvalidUrl`] that never echoes a password.
fn invalid_url(url: &str, reason: &str) -> StoreError {
    StoreError::InvalidUrl {
        url: redact(url),
        reason: reason.to_string(),
        source: None,
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_url_encodes_odd_characters() {
        let url = sqlite_url(Path::new("/tmp/a b/c?#%.db"));
        assert_eq!(
            url.as_deref(),
            Some("sqlite:///tmp/a%20b/c%3F%23%25.db?mode=rwc")
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:hunter2@db:5432/x?sslmode=require"),
            "postgres://u:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redact("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }
}

//! The store's one error type. It names what went wrong in domain terms (not found, hostname
//! taken, corrupt row) and wraps driver errors as sources; it knows nothing about HTTP.
//! `Display` never repeats the source: callers that log print the whole chain.

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The org, app or release the operation needs does not exist.
    #[error("{what} not found")]
    NotFound { what: String },

    /// The hostname already belongs to another app (possibly in another org).
    #[error("hostname {hostname} is already used by app {owner_app} in org {owner_org}")]
    HostnameTaken {
        hostname: String,
        owner_org: String,
        owner_app: String,
    },

    /// The operation would take the org past a limit its caller set (e.g. live tokens).
    #[error("{what}: the limit of {limit} is reached")]
    LimitReached { what: String, limit: u64 },

    /// A stored row could not be decoded (bad JSON, unknown enum value, out-of-range number).
    #[error("corrupt {what} in the store: {detail}")]
    Corrupt { what: String, detail: String },

    /// The database failed or refused the statement.
    #[error("database error")]
    Database(#[from] sqlx::Error),

    /// Running the embedded migrations failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// The database URL is not one the store can open.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

//! The store's one error type. It names what went wrong in domain terms (not found, hostname
//! taken, corrupt row) and wraps driver errors as sources; it knows nothing about HTTP.
//! `Display` never repeats the source: callers that log print the whole chain.

use satusky_core::ForeignError;

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

    /// A key is set as one kind (`is`: "a secret" / "an env key") and was given as the other:
    /// a key is either an env value or a secret, never both.
    #[error(
        "{name} is already {is} of this app: a key is either an env value or a secret, never both"
    )]
    KeyClash { name: String, is: &'static str },

    /// A change of env or secrets while release `release` is being deployed.
    #[error("release v{release} is being deployed: change the app after it settles")]
    DeployInFlight { release: u64 },

    /// An operation (scale, restart) on an app that has no active release yet.
    #[error("{app} has no running release yet")]
    NotRunning { app: String },

    /// A scale the rules refuse.
    #[error("cannot scale")]
    ScaleRefused(#[source] satusky_core::operate::ScaleRefusal),

    /// A deploy whose spec requires secrets the app does not have.
    #[error("the app has no secret {}", names.join(", "))]
    MissingSecrets { names: Vec<String> },

    /// The app has secrets, and no key ring was given to open them.
    #[error("the app has secrets and the control plane has no secret key (secret_keys)")]
    NoKeyRing,

    /// A sealed value did not open (`what` names it; the source says why).
    #[error("cannot open {what}")]
    Unsealable {
        what: String,
        #[source]
        source: satusky_core::secrets::OpenError,
    },

    /// Sealing a value failed.
    #[error("cannot seal a secret")]
    Sealing(#[source] satusky_core::secrets::SealError),

    /// A stored row could not be decoded (bad JSON, unknown enum value, out-of-range number);
    /// `detail` says how (the decoder's error, or a description).
    #[error("corrupt {what} in the store")]
    Corrupt {
        what: String,
        #[source]
        detail: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The database failed or refused the statement. sqlx's errors repeat their source in
    /// `Display`, so the error is kept as a [`ForeignError`] (see `From<sqlx::Error>`).
    #[error("database error")]
    Database(#[source] ForeignError),

    /// Running the embedded migrations failed (kept as [`StoreError::Database`] keeps its
    /// error).
    #[error("database migration failed")]
    Migrate(#[source] ForeignError),

    /// The database URL is not one the store can open.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl {
        url: String,
        reason: String,
        #[source]
        source: Option<std::io::Error>,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(ForeignError::new(&e))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(ForeignError::new(&e))
    }
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    pub(crate) fn corrupt(
        what: impl Into<String>,
        detail: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

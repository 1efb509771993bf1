//! The seam between the API and wherever uploaded build contexts are kept: a
//! [`ContextStore`] takes an upload as a stream of chunks ([`ContextUpload`]), inspects and
//! keeps it per org under its digest, and gives back verified bytes. The API holds an
//! `Arc<dyn ContextStore>` and maps [`ContextError`] to HTTP answers; the local runtime's
//! content store implements it. Blocking calls: callers run them off their async threads.
//!
//! Owns the shape of the calls and of their errors only: no files, no archive rules here.

/// What an accepted upload holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSummary {
    /// `sha256:HEX` of the compressed bytes (the name the context is stored under).
    pub digest: String,
    pub entries: u64,
    /// Bytes of file contents actually decompressed (not what headers claim).
    pub unpacked_bytes: u64,
}

/// Why a context could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The org never uploaded this digest (or it is another org's).
    #[error("the build context {digest} is not stored for org {org}; upload it again")]
    NotFound { org: String, digest: String },
    /// Not a `sha256:HEX` digest.
    #[error("{what:?} is not a context digest (sha256:HEX from POST /v1/orgs/{{org}}/builds)")]
    InvalidDigest { what: String },
    /// The archive, compressed or unpacked, is over a size limit (the message names it).
    #[error(transparent)]
    TooLarge(Box<dyn std::error::Error + Send + Sync>),
    /// The archive breaks a rule: not a tar.gz, an entry leaving the tree, a special file, …
    /// (the message names the entry and the rule).
    #[error(transparent)]
    InvalidArchive(Box<dyn std::error::Error + Send + Sync>),
    /// The store itself failed (a file operation, a damaged stored file): not the caller's
    /// fault.
    #[error("the build context store failed")]
    Io(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// One upload in progress. Dropping it without [`ContextUpload::commit`] discards it.
pub trait ContextUpload: Send + 'static {
    /// Append a chunk. Refuses once the compressed limit is passed.
    fn write(&mut self, chunk: &[u8]) -> Result<(), ContextError>;

    /// Inspect the whole archive and keep it under its digest.
    fn commit(self: Box<Self>) -> Result<ContextSummary, ContextError>;
}

/// Where uploaded contexts are kept, per org.
pub trait ContextStore: std::fmt::Debug + Send + Sync + 'static {
    /// Start an upload for `org`.
    fn begin(&self, org: &str) -> Result<Box<dyn ContextUpload>, ContextError>;

    /// Whether `org` uploaded `digest`.
    fn exists(&self, org: &str, digest: &str) -> Result<bool, ContextError>;

    /// The bytes of `org`'s context `digest`, after checking they still hash to it.
    fn read_verified(&self, org: &str, digest: &str) -> Result<Vec<u8>, ContextError>;
}

//! The content store for uploaded build contexts, owned per org: `DIR/ORG/sha256-HEX.tar.gz`.
//!
//! An upload streams into its own temporary file in the org's folder (same filesystem) while
//! its SHA-256 is computed; it is inspected from disk, fsynced and renamed into place
//! atomically, so concurrent uploads never see or overwrite each other's bytes. A stored file
//! is trusted only after its digest verifies: [`ContextStore::read_verified`] re-hashes it
//! before every build and download, and an upload replaces a stored file that no longer
//! matches its name. A digest one org uploaded does not exist for any other org.
//!
//! The API reaches it through `satusky_core::contexts::ContextStore`, implemented here with
//! its errors mapped to the seam's kinds.
//!
//! Owns only the files under its directory. It must not run builds (that is [`crate::build`])
//! or decide who may read what (the API checks the caller's org before calling in).

use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ring::digest::{Context, SHA256};
use satusky_core::names::validate_org_name;

use satusky_core::contexts as seam;
use satusky_core::digest::{hex, sha256_hex};

use crate::unpack::{self, ContextSummary, Limits, UnpackError};

/// Stored contexts are the control plane's alone (apps never read them; see
/// [`crate::isolation`]).
const CONTEXT_FILE_MODE: u32 = 0o600;

/// Where uploaded contexts live. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ContextStore {
    dir: PathBuf,
    limits: Limits,
}

/// Why a context could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The archive breaks a rule (the message names the entry and the rule).
    #[error(transparent)]
    Refused(#[from] UnpackError),
    #[error("{what:?} is not a context digest (sha256:HEX from POST /v1/orgs/{{org}}/builds)")]
    BadDigest { what: String },
    #[error("{org:?} is not an org name")]
    BadOrg { org: String },
    #[error("the build context {digest} is not stored for org {org}; upload it again")]
    NotFound { org: String, digest: String },
    /// The stored file no longer hashes to its name (disk corruption or tampering); it has
    /// been removed so the next upload stores it again.
    #[error(
        "the stored context {digest} is damaged (its content no longer matches its digest); upload it again"
    )]
    Corrupt { digest: String },
    #[error("could not {action} {path}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

impl ContextError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ContextError {
        let path = path.display().to_string();
        move |source| ContextError::Io {
            action,
            path,
            source,
        }
    }
}

impl ContextStore {
    pub fn new(dir: PathBuf) -> Self {
        ContextStore {
            dir,
            limits: Limits::default(),
        }
    }

    /// The same store with other archive limits (tests use small ones).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The file of `org`'s context `digest` (`sha256:HEX`), whether or not it exists.
    pub fn path(&self, org: &str, digest: &str) -> Result<PathBuf, ContextError> {
        let hex = sha256_hex(digest).ok_or_else(|| ContextError::BadDigest {
            what: digest.to_string(),
        })?;
        Ok(self.org_dir(org)?.join(format!("sha256-{hex}.tar.gz")))
    }

    fn org_dir(&self, org: &str) -> Result<PathBuf, ContextError> {
        validate_org_name(org).map_err(|_| ContextError::BadOrg {
            org: org.to_string(),
        })?;
        Ok(self.dir.join(org))
    }

    /// Whether `org` uploaded `digest` (the file exists; its content is verified on read).
    pub fn exists(&self, org: &str, digest: &str) -> Result<bool, ContextError> {
        Ok(self.path(org, digest)?.is_file())
    }

    /// Start an upload for `org`: a fresh temporary file in the org's folder.
    pub fn begin(&self, org: &str) -> Result<Upload, ContextError> {
        let dir = self.org_dir(org)?;
        std::fs::create_dir_all(&dir).map_err(ContextError::io("create", &dir))?;
        let tmp = dir.join(format!(".upload-{}", crate::build::unique()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(CONTEXT_FILE_MODE)
            .open(&tmp)
            .map_err(ContextError::io("create", &tmp))?;
        Ok(Upload {
            store: self.clone(),
            org: org.to_string(),
            file: Some(file),
            tmp,
            hash: Context::new(&SHA256),
            size: 0,
        })
    }

    /// Store `bytes` as one upload of `org` (blocking; for callers that hold the whole body).
    pub fn put(&self, org: &str, bytes: &[u8]) -> Result<ContextSummary, ContextError> {
        let mut upload = self.begin(org)?;
        upload.write(bytes)?;
        upload.commit()
    }

    /// The bytes of `org`'s context `digest`, after checking they still hash to it. A damaged
    /// file is removed and reported as [`ContextError::Corrupt`]. Blocking.
    pub fn read_verified(&self, org: &str, digest: &str) -> Result<Vec<u8>, ContextError> {
        let path = self.path(org, digest)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContextError::NotFound {
                    org: org.to_string(),
                    digest: digest.to_string(),
                });
            }
            Err(e) => return Err(ContextError::io("read", &path)(e)),
        };
        if digest_of(&bytes) != digest {
            tracing::error!(path = %path.display(), "a stored context does not match its digest; removing it");
            let _ = std::fs::remove_file(&path);
            return Err(ContextError::Corrupt {
                digest: digest.to_string(),
            });
        }
        Ok(bytes)
    }
}

/// One upload in progress. Dropping it without [`Upload::commit`] removes its temporary file.
pub struct Upload {
    store: ContextStore,
    org: String,
    file: Option<std::fs::File>,
    tmp: PathBuf,
    hash: Context,
    size: u64,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("org", &self.org)
            .field("tmp", &self.tmp)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Upload {
    /// Append a chunk. Refuses (and stops writing) once the compressed limit is passed, so a
    /// client cannot fill the disk with one endless body. Blocking (a plain file write).
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ContextError> {
        self.size = self.size.saturating_add(chunk.len() as u64);
        if self.size > self.store.limits.max_compressed {
            return Err(UnpackError::CompressedTooLarge {
                size: self.size,
                limit: self.store.limits.max_compressed,
            }
            .into());
        }
        self.hash.update(chunk);
        let file = self.file.as_mut().ok_or_else(|| ContextError::Io {
            action: "write",
            path: self.tmp.display().to_string(),
            source: io::Error::other("the upload was already committed"),
        })?;
        file.write_all(chunk)
            .map_err(ContextError::io("write", &self.tmp))
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Inspect the whole archive from disk, make it durable and move it into place under its
    /// digest. Blocking.
    pub fn commit(mut self) -> Result<ContextSummary, ContextError> {
        let file = self.file.take().ok_or_else(|| ContextError::Io {
            action: "commit",
            path: self.tmp.display().to_string(),
            source: io::Error::other("the upload was already committed"),
        })?;
        file.sync_all()
            .map_err(ContextError::io("sync", &self.tmp))?;
        drop(file);
        let hash = std::mem::replace(&mut self.hash, Context::new(&SHA256));
        let digest = format!("sha256:{}", hex(hash.finish().as_ref()));
        let summary = unpack::inspect_file(&self.tmp, digest, self.size, &self.store.limits)?;
        let dest = self.store.path(&self.org, &summary.digest)?;
        if !stored_matches(&dest, &summary.digest) {
            std::fs::rename(&self.tmp, &dest).map_err(ContextError::io("store", &dest))?;
            if let Some(dir) = dest.parent() {
                // Make the rename itself durable.
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(summary)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // After a successful rename the temporary name is gone and this is a no-op.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Whether `path` exists and hashes to `digest` (an identical upload stored it before).
fn stored_matches(path: &Path, digest: &str) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut reader = io::BufReader::new(f);
    let mut hash = Context::new(&SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hash.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    format!("sha256:{}", hex(hash.finish().as_ref())) == digest
}

/// `sha256:HEX` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex(ring::digest::digest(&SHA256, bytes).as_ref())
    )
}

impl From<ContextError> for seam::ContextError {
    fn from(e: ContextError) -> Self {
        match e {
            ContextError::Refused(
                u @ (UnpackError::CompressedTooLarge { .. } | UnpackError::UnpackedTooLarge { .. }),
            ) => seam::ContextError::TooLarge(Box::new(u)),
            ContextError::Refused(u) => seam::ContextError::InvalidArchive(Box::new(u)),
            ContextError::BadDigest { what } => seam::ContextError::InvalidDigest { what },
            ContextError::NotFound { org, digest } => seam::ContextError::NotFound { org, digest },
            e @ (ContextError::BadOrg { .. }
            | ContextError::Corrupt { .. }
            | ContextError::Io { .. }) => seam::ContextError::Io(Box::new(e)),
        }
    }
}

impl seam::ContextUpload for Upload {
    fn write(&mut self, chunk: &[u8]) -> Result<(), seam::ContextError> {
        Upload::write(self, chunk).map_err(Into::into)
    }

    fn commit(self: Box<Self>) -> Result<ContextSummary, seam::ContextError> {
        Upload::commit(*self).map_err(Into::into)
    }
}

impl seam::ContextStore for ContextStore {
    fn begin(&self, org: &str) -> Result<Box<dyn seam::ContextUpload>, seam::ContextError> {
        let upload = ContextStore::begin(self, org)?;
        Ok(Box::new(upload))
    }

    fn exists(&self, org: &str, digest: &str) -> Result<bool, seam::ContextError> {
        ContextStore::exists(self, org, digest).map_err(Into::into)
    }

    fn read_verified(&self, org: &str, digest: &str) -> Result<Vec<u8>, seam::ContextError> {
        ContextStore::read_verified(self, org, digest).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn contexts_are_owned_per_org() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContextStore::new(dir.path().to_path_buf());
        let bytes = tar_gz(&[("a.txt", "alpha")]);
        let s = store.put("acme", &bytes).unwrap();
        assert_eq!(s.digest, digest_of(&bytes));
        assert_eq!(store.read_verified("acme", &s.digest).unwrap(), bytes);
        assert!(!store.exists("bobco", &s.digest).unwrap());
        assert!(matches!(
            store.read_verified("bobco", &s.digest),
            Err(ContextError::NotFound { .. })
        ));
        assert!(matches!(
            store.path("../x", &s.digest),
            Err(ContextError::BadOrg { .. })
        ));
    }

    #[test]
    fn a_damaged_file_is_never_served_and_the_next_upload_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContextStore::new(dir.path().to_path_buf());
        let bytes = tar_gz(&[("a.txt", "alpha")]);
        let s = store.put("acme", &bytes).unwrap();
        let path = store.path("acme", &s.digest).unwrap();
        std::fs::write(&path, tar_gz(&[("a.txt", "other")])).unwrap();
        assert!(matches!(
            store.read_verified("acme", &s.digest),
            Err(ContextError::Corrupt { .. })
        ));
        std::fs::write(&path, tar_gz(&[("a.txt", "other")])).unwrap();
        store.put("acme", &bytes).unwrap();
        assert_eq!(store.read_verified("acme", &s.digest).unwrap(), bytes);
    }

    #[test]
    fn an_upload_over_the_limit_stops_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContextStore::new(dir.path().to_path_buf()).with_limits(Limits {
            max_compressed: 10,
            ..Limits::default()
        });
        let mut up = store.begin("acme").unwrap();
        let err = up.write(&[0u8; 11]).unwrap_err();
        assert!(err.to_string().contains("the limit is 10 bytes"), "{err}");
        drop(up);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("acme"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

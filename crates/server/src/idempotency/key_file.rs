//! The server's idempotency key: 32 random bytes in `STATE_DIR/idempotency.key` (mode 0600),
//! made on first start and kept, so fingerprints stay comparable across restarts.
//!
//! Why a file and not a row: the key's job is to make a leaked database useless for
//! confirming guesses of request bodies (which carry secret values); a key stored in the same
//! database would leak with it. Servers that share one PostgreSQL must share this file too
//! (copy it), or a retry that lands on another server is refused as another request.

use std::io::Write;
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};

/// The key's file name in the state dir.
pub const KEY_FILE: &str = "idempotency.key";
/// Key length: HMAC-SHA256's block-size-independent recommendation (the hash's output size).
const KEY_BYTES: usize = 32;

/// Why the key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the idempotency key {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the idempotency key {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the idempotency key {} holds {len} bytes, fewer than {KEY_BYTES}: delete it and a new one is made (retries of requests sent before then are refused as another request for 24 h)",
        path.display()
    )]
    TooShort { path: PathBuf, len: usize },
    #[error("the system's random number generator failed while making an idempotency key")]
    Random,
}

/// The key in `state_dir`, made (atomically, 0600) if there is none.
pub fn load_or_create(state_dir: &Path) -> Result<Vec<u8>, KeyFileError> {
    let path = state_dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => return checked(path, bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(KeyFileError::Read { path, source }),
    }
    let mut key = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| KeyFileError::Random)?;
    // Written in full to a private temporary name, then linked into place: another process
    // starting at the same time either wins the link or reads the winner's complete file.
    let mut suffix = [0u8; 8];
    SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| KeyFileError::Random)?;
    let tmp = state_dir.join(format!(
        ".{KEY_FILE}.{}",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let written = write_private(&tmp, &key).and_then(|()| std::fs::hard_link(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(key.to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes = std::fs::read(&path).map_err(|source| KeyFileError::Read {
                path: path.clone(),
                source,
            })?;
            checked(path, bytes)
        }
        Err(source) => Err(KeyFileError::Write { path, source }),
    }
}

fn checked(path: PathBuf, bytes: Vec<u8>) -> Result<Vec<u8>, KeyFileError> {
    if bytes.len() < KEY_BYTES {
        return Err(KeyFileError::TooShort {
            path,
            len: bytes.len(),
        });
    }
    Ok(bytes)
}

/// Creates `path` readable by its owner only (from the first byte) and writes `bytes` durably.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert_eq!(first.len(), KEY_BYTES);
        assert_eq!(load_or_create(dir.path()).unwrap(), first, "kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [KEY_FILE]);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create(other.path()).unwrap(), first, "random");
    }

    #[test]
    fn concurrent_starts_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(dir.path()).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]));
    }

    #[test]
    fn a_truncated_key_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("idempotency.key") && message.contains("delete it"),
            "{message}"
        );
    }
}

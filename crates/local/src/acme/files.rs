//! The issuer's files under `STATE_DIR/acme/` (the directory `0700`, every file `0600`, each
//! written to a temporary name and renamed, so a crash never leaves half a key):
//! - `account.json`: the directory URL and the ACME account's credentials (its private key);
//! - `certs/HOST.pem` and `certs/HOST.key`: each hostname's certificate chain and key.
//!
//! Owns those files only; it decides nothing (what to issue and when is the issuer's).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use instant_acme::AccountCredentials;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

use super::plan::CertInfo;

const ACCOUNT_FILE: &str = "account.json";
const CERTS_DIR: &str = "certs";

/// A file of the issuer that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a usable {what}: {reason}")]
    Invalid {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
}

/// What `account.json` holds.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredAccount {
    pub directory: String,
    pub credentials: AccountCredentials,
}

/// A certificate read back from its files.
pub(crate) struct StoredCert {
    pub host: String,
    pub certified: Arc<CertifiedKey>,
    pub info: CertInfo,
}

/// `STATE_DIR/acme/`.
#[derive(Debug, Clone)]
pub(crate) struct AcmeFiles {
    root: PathBuf,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FilesError + 'a {
    move |source| FilesError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

impl AcmeFiles {
    /// Creates `dir` and `dir/certs` (0700).
    pub fn open(dir: &Path) -> Result<AcmeFiles, FilesError> {
        let certs = dir.join(CERTS_DIR);
        fs::create_dir_all(&certs).map_err(io("create", &certs))?;
        for d in [dir, certs.as_path()] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o700)).map_err(io("chmod", d))?;
        }
        Ok(AcmeFiles {
            root: dir.to_path_buf(),
        })
    }

    /// The stored account, if there is one.
    pub fn account(&self) -> Result<Option<StoredAccount>, FilesError> {
        let path = self.root.join(ACCOUNT_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| FilesError::Invalid {
                        path,
                        what: "ACME account file",
                        reason: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    pub fn save_account(&self, account: &StoredAccount) -> Result<(), FilesError> {
        let path = self.root.join(ACCOUNT_FILE);
        let json = serde_json::to_vec_pretty(account).map_err(|e| FilesError::Invalid {
            path: path.clone(),
            what: "ACME account",
            reason: e.to_string(),
        })?;
        write_private(&path, &json)
    }

    pub fn remove_account(&self) -> Result<(), FilesError> {
        let path = self.root.join(ACCOUNT_FILE);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    fn cert_paths(&self, host: &str) -> (PathBuf, PathBuf) {
        let dir = self.root.join(CERTS_DIR);
        (
            dir.join(format!("{host}.pem")),
            dir.join(format!("{host}.key")),
        )
    }

    /// Stores a hostname's chain and key (the key first: a chain without its key is useless,
    /// a key without its chain is ignored on load).
    pub fn save_cert(&self, host: &str, chain_pem: &str, key_pem: &str) -> Result<(), FilesError> {
        let (chain, key) = self.cert_paths(host);
        write_private(&key, key_pem.as_bytes())?;
        write_private(&chain, chain_pem.as_bytes())
    }

    /// Every stored certificate that parses; the others are reported and skipped (they are
    /// issued again).
    pub fn load_certs(&self) -> Vec<StoredCert> {
        let dir = self.root.join(CERTS_DIR);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(host) = name.strip_suffix(".pem") else {
                continue;
            };
            match self.load_cert(host) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!(
                    error = %satusky_core::error_chain(&e),
                    "ignoring a stored ACME certificate; it will be issued again"
                ),
            }
        }
        out
    }

    fn load_cert(&self, host: &str) -> Result<StoredCert, FilesError> {
        let (chain_path, key_path) = self.cert_paths(host);
        let chain_pem = fs::read(&chain_path).map_err(io("read", &chain_path))?;
        let key_pem = fs::read(&key_path).map_err(io("read", &key_path))?;
        let invalid = |path: &Path, reason: String| FilesError::Invalid {
            path: path.to_path_buf(),
            what: "certificate",
            reason,
        };
        let (certified, info) =
            certified_key(&chain_pem, &key_pem).map_err(|r| invalid(&chain_path, r))?;
        Ok(StoredCert {
            host: host.to_string(),
            certified,
            info,
        })
    }
}

/// A PEM chain (leaf first) and PEM key as rustls serves them, with what the leaf says.
pub(crate) fn certified_key(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<(Arc<CertifiedKey>, CertInfo), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the chain does not parse: {e}"))?;
    let leaf = chain.first().ok_or("the chain holds no certificate")?;
    let info = CertInfo::parse(leaf).ok_or("the leaf is not an X.509 certificate")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("the key: {e}"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("the key: {e}"))?;
    Ok((Arc::new(CertifiedKey::new(chain, signing)), info))
}

/// Writes `bytes` to `path` with mode 0600, through a temporary file renamed into place.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FilesError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("sync", &tmp))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io("chmod", &tmp))?;
    fs::rename(&tmp, path).map_err(io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn certificates_round_trip_with_owner_only_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = AcmeFiles::open(&dir.path().join("acme")).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["shop.example.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        files
            .save_cert("shop.example.test", &cert.pem(), &key.serialize_pem())
            .unwrap();
        let loaded = files.load_certs();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].host, "shop.example.test");
        for f in ["certs/shop.example.test.pem", "certs/shop.example.test.key"] {
            let mode = fs::metadata(dir.path().join("acme").join(f))
                .unwrap()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let mode = fs::metadata(dir.path().join("acme")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o700);
        // A broken file is skipped, not fatal.
        fs::write(dir.path().join("acme/certs/bad.test.pem"), "nope").unwrap();
        assert_eq!(files.load_certs().len(), 1);
        assert!(files.account().unwrap().is_none());
    }
}

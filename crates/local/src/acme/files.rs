//! The issuer's files under `STATE_DIR/acme/` (the directory `0700`, every file `0600`, each
//! written to a temporary name and renamed, so a crash never leaves half a key):
//! - `account.json`: the directory URL and the ACME account's credentials (its private key);
//! - `certs/HOST.pem` and `certs/HOST.key`: each hostname's certificate chain and key.
//!
//! With a key ring (`secret_keys`; `satusky dev` always has one) the private-key material —
//! `account.json` and every `certs/HOST.key` — is sealed with the ring's first key
//! (AES-256-GCM, `satusky_core::secrets`), bound to the file's path relative to the state dir
//! (`Binding::File { path: "acme/certs/HOST.key" }`), so a sealed file copied over another
//! does not open. A sealed file is a one-line JSON envelope, versioned and self-describing:
//!
//! ```text
//! {"sealed":1,"key_id":"k1","nonce":"<24 hex>","ciphertext":"<hex, the 16-byte tag last>"}
//! ```
//!
//! Anything else is a legacy plaintext file (the JSON account, a PEM key): it is read as
//! before and, when a ring is given, written back sealed once it parsed — so upgrading seals
//! the keys already on disk. A sealed file that does not open (no ring, a key id not in the
//! ring, altered bytes) is [`FilesError::NoKeyRing`] or [`FilesError::Open`], naming the file
//! and `secret_keys`; the issuer refuses to start on them rather than silently ordering again.
//! Without a ring, files are written in plaintext as before. Certificate chains
//! (`certs/HOST.pem`) are public and stay plaintext PEM. [`reseal_all`] (for `satusky
//! secrets rotate-key`) re-seals every key file under the ring's first key.
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
use satusky_core::secrets::{Binding, KeyRing, OpenError, SealError, Sealed};
use serde::{Deserialize, Serialize};

use super::plan::CertInfo;

/// `STATE_DIR/acme`, relative to the state dir.
const ACME_DIR: &str = "acme";
const ACCOUNT_FILE: &str = "account.json";
const CERTS_DIR: &str = "certs";
/// The sealed-file format this code writes and reads (`"sealed": 1`).
const SEALED_VERSION: u32 = 1;
/// Bytes of an AES-GCM nonce.
const NONCE_LEN: usize = 12;

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
    #[error(
        "{path} is sealed with key {key_id:?} and no secret key is configured: set secret_keys in server.toml (or SATUSKY_SECRET_KEYS) to the keys it was sealed with, or remove the file ({consequence})"
    )]
    NoKeyRing {
        path: PathBuf,
        key_id: String,
        consequence: &'static str,
    },
    #[error(
        "cannot open {path} with the secret_keys key ring (if its key is lost for good, remove the file: {consequence})"
    )]
    Open {
        path: PathBuf,
        consequence: &'static str,
        #[source]
        source: OpenError,
    },
    #[error("cannot seal {path}")]
    Seal {
        path: PathBuf,
        #[source]
        source: SealError,
    },
    #[error(
        "{path} changed while it was being re-sealed (the running server renewed it): run rotate-key again"
    )]
    Changed { path: PathBuf },
}

impl FilesError {
    /// The key ring does not open a sealed file: the operator's `secret_keys` is wrong, which
    /// no retry and no new order fixes.
    pub fn is_key_ring(&self) -> bool {
        matches!(self, FilesError::NoKeyRing { .. } | FilesError::Open { .. })
    }
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

/// `STATE_DIR/acme/`, and the ring its private files are sealed with (if any).
#[derive(Debug, Clone)]
pub(crate) struct AcmeFiles {
    state_dir: PathBuf,
    root: PathBuf,
    keys: Option<Arc<KeyRing>>,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FilesError + 'a {
    move |source| FilesError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A private file: its path, its path relative to the state dir (what a seal is bound to),
/// and what removing it costs (for the error that suggests it).
struct PrivateFile {
    path: PathBuf,
    rel: String,
    consequence: &'static str,
}

impl PrivateFile {
    fn account(state_dir: &Path) -> PrivateFile {
        let rel = format!("{ACME_DIR}/{ACCOUNT_FILE}");
        PrivateFile {
            path: state_dir.join(&rel),
            rel,
            consequence: "a new ACME account is made on the next order",
        }
    }

    fn cert_key(state_dir: &Path, host: &str) -> PrivateFile {
        let rel = format!("{ACME_DIR}/{CERTS_DIR}/{host}.key");
        PrivateFile {
            path: state_dir.join(&rel),
            rel,
            consequence: "its certificate is issued again",
        }
    }

    fn binding(&self) -> Binding<'_> {
        Binding::File { path: &self.rel }
    }

    /// `plain` as written to disk: sealed under the ring's first key, or as is without one.
    fn encode(&self, ring: Option<&KeyRing>, plain: &[u8]) -> Result<Vec<u8>, FilesError> {
        let Some(ring) = ring else {
            return Ok(plain.to_vec());
        };
        let sealed = ring
            .seal(&self.binding(), plain)
            .map_err(|source| FilesError::Seal {
                path: self.path.clone(),
                source,
            })?;
        let mut out = serde_json::to_vec(&Envelope {
            sealed: SEALED_VERSION,
            key_id: sealed.key_id,
            nonce: satusky_core::digest::hex(&sealed.nonce),
            ciphertext: satusky_core::digest::hex(&sealed.ciphertext),
        })
        .expect("an envelope serializes");
        out.push(b'\n');
        Ok(out)
    }

    /// The plaintext of the file's bytes `raw`: opened with `ring` when sealed, as is when not.
    fn decode(&self, ring: Option<&KeyRing>, raw: &[u8]) -> Result<Opened, FilesError> {
        let Some(sealed) = parse_envelope(&self.path, raw)? else {
            return Ok(Opened {
                plain: raw.to_vec(),
                sealed_with: None,
            });
        };
        let Some(ring) = ring else {
            return Err(FilesError::NoKeyRing {
                path: self.path.clone(),
                key_id: sealed.key_id,
                consequence: self.consequence,
            });
        };
        let plain = ring
            .open(&self.binding(), &sealed)
            .map_err(|source| FilesError::Open {
                path: self.path.clone(),
                consequence: self.consequence,
                source,
            })?;
        Ok(Opened {
            plain,
            sealed_with: Some(sealed.key_id),
        })
    }
}

/// A private file's plaintext, and the key it was sealed with (`None`: a plaintext file).
struct Opened {
    plain: Vec<u8>,
    sealed_with: Option<String>,
}

/// A sealed file's text (see the module docs).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    sealed: u32,
    key_id: String,
    nonce: String,
    ciphertext: String,
}

/// `Some` when `raw` is a sealed envelope (a JSON object with a `"sealed"` field), `None`
/// when it is a plaintext file; an envelope that does not parse, or of a newer format, is
/// [`FilesError::Invalid`].
fn parse_envelope(path: &Path, raw: &[u8]) -> Result<Option<Sealed>, FilesError> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(raw) else {
        return Ok(None);
    };
    let Some(version) = fields.get("sealed") else {
        return Ok(None);
    };
    let invalid = |reason: String| FilesError::Invalid {
        path: path.to_path_buf(),
        what: "sealed file",
        reason,
    };
    if version.as_u64() != Some(u64::from(SEALED_VERSION)) {
        return Err(invalid(format!(
            "its format is \"sealed\": {version}, and this satusky reads format {SEALED_VERSION} (was it written by a newer satusky?)"
        )));
    }
    let envelope: Envelope = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| invalid(e.to_string()))?;
    let nonce = unhex(&envelope.nonce)
        .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
        .ok_or_else(|| invalid(format!("nonce is not {} hex digits", NONCE_LEN * 2)))?;
    let ciphertext =
        unhex(&envelope.ciphertext).ok_or_else(|| invalid("ciphertext is not hex".into()))?;
    Ok(Some(Sealed {
        key_id: envelope.key_id,
        nonce,
        ciphertext,
    }))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

impl AcmeFiles {
    /// Creates `STATE_DIR/acme` and `STATE_DIR/acme/certs` (0700). With `keys`, private
    /// files are written sealed and plaintext ones are sealed as they are read.
    pub fn open(state_dir: &Path, keys: Option<Arc<KeyRing>>) -> Result<AcmeFiles, FilesError> {
        let dir = state_dir.join(ACME_DIR);
        let certs = dir.join(CERTS_DIR);
        fs::create_dir_all(&certs).map_err(io("create", &certs))?;
        for d in [dir.as_path(), certs.as_path()] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o700)).map_err(io("chmod", d))?;
        }
        Ok(AcmeFiles {
            state_dir: state_dir.to_path_buf(),
            root: dir,
            keys,
        })
    }

    fn ring(&self) -> Option<&KeyRing> {
        self.keys.as_deref()
    }

    /// Writes a private file, sealed when there is a ring.
    fn write(&self, file: &PrivateFile, plain: &[u8]) -> Result<(), FilesError> {
        write_private(&file.path, &file.encode(self.ring(), plain)?, None)
    }

    /// A plaintext file that parsed, written back sealed when there is a ring.
    fn seal_legacy(&self, file: &PrivateFile, opened: &Opened) -> Result<(), FilesError> {
        if opened.sealed_with.is_none()
            && let Some(ring) = self.ring()
        {
            self.write(file, &opened.plain)?;
            tracing::info!(file = %file.path.display(), key = ring.primary(),
                "sealed a plaintext ACME key file with the secret key ring");
        }
        Ok(())
    }

    /// The stored account, if there is one.
    pub fn account(&self) -> Result<Option<StoredAccount>, FilesError> {
        let file = PrivateFile::account(&self.state_dir);
        let raw = match fs::read(&file.path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &file.path)(e)),
        };
        let opened = file.decode(self.ring(), &raw)?;
        let account = serde_json::from_slice(&opened.plain).map_err(|e| FilesError::Invalid {
            path: file.path.clone(),
            what: "ACME account file",
            reason: e.to_string(),
        })?;
        self.seal_legacy(&file, &opened)?;
        Ok(Some(account))
    }

    pub fn save_account(&self, account: &StoredAccount) -> Result<(), FilesError> {
        let file = PrivateFile::account(&self.state_dir);
        let json = serde_json::to_vec_pretty(account).map_err(|e| FilesError::Invalid {
            path: file.path.clone(),
            what: "ACME account",
            reason: e.to_string(),
        })?;
        self.write(&file, &json)
    }

    pub fn remove_account(&self) -> Result<(), FilesError> {
        let path = PrivateFile::account(&self.state_dir).path;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    fn chain_path(&self, host: &str) -> PathBuf {
        self.root.join(CERTS_DIR).join(format!("{host}.pem"))
    }

    /// Stores a hostname's chain and key (the key first: a chain without its key is useless,
    /// a key without its chain is ignored on load).
    pub fn save_cert(&self, host: &str, chain_pem: &str, key_pem: &str) -> Result<(), FilesError> {
        self.write(
            &PrivateFile::cert_key(&self.state_dir, host),
            key_pem.as_bytes(),
        )?;
        write_private(&self.chain_path(host), chain_pem.as_bytes(), None)
    }

    /// Every stored certificate that parses; the others are reported and skipped (they are
    /// issued again) — except a key the ring does not open ([`FilesError::is_key_ring`]),
    /// which is returned: ordering again would not fix `secret_keys`.
    pub fn load_certs(&self) -> Result<Vec<StoredCert>, FilesError> {
        let dir = self.root.join(CERTS_DIR);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(host) = name.strip_suffix(".pem") else {
                continue;
            };
            match self.load_cert(host) {
                Ok(c) => out.push(c),
                Err(e) if e.is_key_ring() => return Err(e),
                Err(e) => tracing::warn!(
                    error = %satusky_core::error_chain(&e),
                    "ignoring a stored ACME certificate; it will be issued again"
                ),
            }
        }
        Ok(out)
    }

    fn load_cert(&self, host: &str) -> Result<StoredCert, FilesError> {
        let chain_path = self.chain_path(host);
        let key_file = PrivateFile::cert_key(&self.state_dir, host);
        let chain_pem = fs::read(&chain_path).map_err(io("read", &chain_path))?;
        let raw_key = fs::read(&key_file.path).map_err(io("read", &key_file.path))?;
        let key = key_file.decode(self.ring(), &raw_key)?;
        let invalid = |path: &Path, reason: String| FilesError::Invalid {
            path: path.to_path_buf(),
            what: "certificate",
            reason,
        };
        let (certified, info) =
            certified_key(&chain_pem, &key.plain).map_err(|r| invalid(&chain_path, r))?;
        self.seal_legacy(&key_file, &key)?;
        Ok(StoredCert {
            host: host.to_string(),
            certified,
            info,
        })
    }
}

/// `satusky secrets rotate-key` for the ACME issuer: every private file under
/// `STATE_DIR/acme` (the account, each certificate's key) sealed under `ring`'s first key —
/// files sealed with another key of the ring are opened and sealed again, plaintext files are
/// sealed, files already under the first key are left alone. Each file is its own atomic
/// write, so this can stop anywhere and run again. Returns how many private files are now
/// sealed under the first key (0 without `STATE_DIR/acme`).
///
/// A file the ring does not open is an error naming it, as is one that changed while it was
/// re-sealed (the running server renewed it: run again).
pub fn reseal_all(state_dir: &Path, ring: &KeyRing) -> Result<u64, FilesError> {
    let root = state_dir.join(ACME_DIR);
    if !root.is_dir() {
        return Ok(0);
    }
    let mut files = vec![PrivateFile::account(state_dir)];
    let certs = root.join(CERTS_DIR);
    match fs::read_dir(&certs) {
        Ok(entries) => {
            let mut hosts: Vec<String> = entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".key").map(str::to_string)
                })
                .collect();
            hosts.sort();
            files.extend(hosts.iter().map(|h| PrivateFile::cert_key(state_dir, h)));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("list", &certs)(e)),
    }
    let mut count = 0;
    for file in files {
        let raw = match fs::read(&file.path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("read", &file.path)(e)),
        };
        let opened = file.decode(Some(ring), &raw)?;
        if opened.sealed_with.as_deref() != Some(ring.primary()) {
            let sealed = file.encode(Some(ring), &opened.plain)?;
            write_private(&file.path, &sealed, Some(&raw))?;
        }
        count += 1;
    }
    Ok(count)
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
/// `expected`: the file must still hold these bytes when the new ones are renamed over it
/// ([`FilesError::Changed`] otherwise; the temporary file is removed).
fn write_private(path: &Path, bytes: &[u8], expected: Option<&[u8]>) -> Result<(), FilesError> {
    // Another name for a re-seal: `rotate-key` runs beside a server that may be writing.
    let tmp = path.with_extension(if expected.is_some() {
        "reseal.tmp"
    } else {
        "tmp"
    });
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
    if let Some(expected) = expected
        && fs::read(path).ok().as_deref() != Some(expected)
    {
        let _ = fs::remove_file(&tmp);
        return Err(FilesError::Changed {
            path: path.to_path_buf(),
        });
    }
    fs::rename(&tmp, path).map_err(io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    const HOST: &str = "shop.example.test";
    /// `credentials.key_pkcs8` is base64 of "secret-key-bytes".
    const ACCOUNT: &str = r#"{"directory":"https://acme.test/dir","credentials":{"id":"https://acme.test/acct/1","key_pkcs8":"c2VjcmV0LWtleS1ieXRlcw","directory":"https://acme.test/dir"}}"#;

    fn ring(ids: &[(&str, u8)]) -> Arc<KeyRing> {
        Arc::new(
            KeyRing::new(
                ids.iter()
                    .map(|(id, b)| (id.to_string(), [*b; 32]))
                    .collect(),
            )
            .unwrap(),
        )
    }

    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![HOST.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn read(dir: &Path, rel: &str) -> String {
        fs::read_to_string(dir.join(rel)).unwrap()
    }

    /// No private key material in clear: no PEM key, no credential fields.
    fn assert_sealed(dir: &Path, rel: &str, key_id: &str) {
        let text = read(dir, rel);
        for clear in [
            "PRIVATE KEY",
            "key_pkcs8",
            "credentials",
            "acct/1",
            "c2VjcmV0",
        ] {
            assert!(
                !text.contains(clear),
                "{rel} holds {clear:?} in clear: {text}"
            );
        }
        assert!(
            text.starts_with(&format!(
                "{{\"sealed\":1,\"key_id\":\"{key_id}\",\"nonce\":\""
            )),
            "{rel}: {text}"
        );
        let mode = fs::metadata(dir.join(rel)).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600, "{rel}");
    }

    fn write_account(files: &AcmeFiles) {
        let account: StoredAccount = serde_json::from_str(ACCOUNT).unwrap();
        files.save_account(&account).unwrap();
    }

    #[test]
    fn certificates_round_trip_with_owner_only_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = AcmeFiles::open(dir.path(), None).unwrap();
        let (chain, key) = self_signed();
        files.save_cert(HOST, &chain, &key).unwrap();
        let loaded = files.load_certs().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].host, HOST);
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
        assert_eq!(files.load_certs().unwrap().len(), 1);
        assert!(files.account().unwrap().is_none());
        // Without a ring, everything stays plaintext, as before.
        assert_eq!(read(dir.path(), "acme/certs/shop.example.test.key"), key);
        write_account(&files);
        assert!(read(dir.path(), "acme/account.json").contains("key_pkcs8"));
    }

    #[test]
    fn with_a_ring_the_keys_are_sealed_and_read_back_and_the_chain_stays_pem() {
        let dir = tempfile::tempdir().unwrap();
        let files = AcmeFiles::open(dir.path(), Some(ring(&[("k1", 1)]))).unwrap();
        let (chain, key) = self_signed();
        files.save_cert(HOST, &chain, &key).unwrap();
        write_account(&files);
        assert_sealed(dir.path(), "acme/certs/shop.example.test.key", "k1");
        assert_sealed(dir.path(), "acme/account.json", "k1");
        assert_eq!(read(dir.path(), "acme/certs/shop.example.test.pem"), chain);

        let again = AcmeFiles::open(dir.path(), Some(ring(&[("k2", 2), ("k1", 1)]))).unwrap();
        let loaded = again.load_certs().unwrap();
        assert_eq!(loaded.len(), 1);
        let account = again.account().unwrap().unwrap();
        assert_eq!(account.directory, "https://acme.test/dir");
        // Reading a file sealed under a second key does not rewrite it (rotate-key does).
        assert_sealed(dir.path(), "acme/account.json", "k1");
    }

    #[test]
    fn legacy_plaintext_files_are_read_and_sealed_when_a_ring_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let plain = AcmeFiles::open(dir.path(), None).unwrap();
        let (chain, key) = self_signed();
        plain.save_cert(HOST, &chain, &key).unwrap();
        write_account(&plain);
        assert!(read(dir.path(), "acme/certs/shop.example.test.key").contains("PRIVATE KEY"));

        let files = AcmeFiles::open(dir.path(), Some(ring(&[("k1", 1)]))).unwrap();
        assert_eq!(files.load_certs().unwrap().len(), 1);
        assert_sealed(dir.path(), "acme/certs/shop.example.test.key", "k1");
        assert!(files.account().unwrap().is_some());
        assert_sealed(dir.path(), "acme/account.json", "k1");
        // And they still read back.
        assert_eq!(files.load_certs().unwrap().len(), 1);
        assert!(files.account().unwrap().is_some());
        // A plaintext file that does not parse is not sealed (it stays as it was, to look at).
        fs::write(dir.path().join("acme/account.json"), "{").unwrap();
        assert!(matches!(files.account(), Err(FilesError::Invalid { .. })));
        assert_eq!(read(dir.path(), "acme/account.json"), "{");
    }

    #[test]
    fn a_sealed_file_the_ring_cannot_open_is_a_typed_error_naming_it_and_secret_keys() {
        let dir = tempfile::tempdir().unwrap();
        let files = AcmeFiles::open(dir.path(), Some(ring(&[("k1", 1)]))).unwrap();
        let (chain, key) = self_signed();
        files.save_cert(HOST, &chain, &key).unwrap();
        write_account(&files);
        let key_path = dir.path().join("acme/certs/shop.example.test.key");
        let account_path = dir.path().join("acme/account.json");

        // A ring without k1.
        let other = AcmeFiles::open(dir.path(), Some(ring(&[("k2", 2)]))).unwrap();
        let e = other.load_certs().err().expect("k1 is missing");
        assert!(
            matches!(&e, FilesError::Open { path, source: OpenError::UnknownKey(id), .. }
                if *path == key_path && id == "k1"),
            "{e:?}"
        );
        let text = satusky_core::error_chain(&e);
        assert!(
            text.starts_with(&format!("cannot open {}", key_path.display()))
                && text.contains("secret_keys")
                && text.contains("\"k1\""),
            "{text}"
        );
        println!("{text}");
        let e = other.account().err().expect("k1 is missing");
        assert!(e.is_key_ring(), "{e:?}");
        assert!(e.to_string().contains(&account_path.display().to_string()));

        // The right id with other bytes: a mismatch, still naming the file and secret_keys.
        let impostor = AcmeFiles::open(dir.path(), Some(ring(&[("k1", 9)]))).unwrap();
        let e = impostor.load_certs().err().expect("wrong bytes");
        assert!(
            matches!(
                &e,
                FilesError::Open {
                    source: OpenError::Mismatch(_),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("secret_keys"), "{e}");

        // No ring at all.
        let none = AcmeFiles::open(dir.path(), None).unwrap();
        let e = none.account().err().expect("no ring");
        assert!(
            matches!(&e, FilesError::NoKeyRing { path, key_id, .. }
                if *path == account_path && key_id == "k1"),
            "{e:?}"
        );
        assert!(e.to_string().contains("set secret_keys"), "{e}");
        assert!(none.load_certs().err().is_some_and(|e| e.is_key_ring()));

        // A sealed key copied over another host's does not open: it is bound to its path.
        fs::copy(&key_path, dir.path().join("acme/certs/other.test.key")).unwrap();
        fs::write(dir.path().join("acme/certs/other.test.pem"), &chain).unwrap();
        fs::remove_file(&key_path).unwrap();
        fs::remove_file(dir.path().join("acme/certs/shop.example.test.pem")).unwrap();
        assert!(matches!(
            files.load_certs(),
            Err(FilesError::Open {
                source: OpenError::Mismatch(_),
                ..
            })
        ));

        // A newer format is named, not mistaken for a plaintext key.
        fs::write(&account_path, r#"{"sealed":2,"key_id":"k1"}"#).unwrap();
        let e = files.account().err().expect("format 2");
        assert!(e.to_string().contains("newer satusky"), "{e}");
    }

    #[test]
    fn reseal_all_moves_every_key_file_under_the_first_key() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(reseal_all(dir.path(), &ring(&[("k1", 1)])).unwrap(), 0);
        let old = AcmeFiles::open(dir.path(), Some(ring(&[("k1", 1)]))).unwrap();
        let (chain, key) = self_signed();
        old.save_cert(HOST, &chain, &key).unwrap();
        write_account(&old);
        // A legacy plaintext key beside them.
        let plain = AcmeFiles::open(dir.path(), None).unwrap();
        let (chain2, key2) = self_signed();
        plain.save_cert("legacy.test", &chain2, &key2).unwrap();

        let both = ring(&[("k2", 2), ("k1", 1)]);
        assert_eq!(reseal_all(dir.path(), &both).unwrap(), 3);
        for rel in [
            "acme/account.json",
            "acme/certs/shop.example.test.key",
            "acme/certs/legacy.test.key",
        ] {
            assert_sealed(dir.path(), rel, "k2");
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("acme/certs"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // Running again rewrites nothing, and k1 can leave the ring.
        let before = read(dir.path(), "acme/account.json");
        assert_eq!(reseal_all(dir.path(), &both).unwrap(), 3);
        assert_eq!(read(dir.path(), "acme/account.json"), before);
        let new_only = AcmeFiles::open(dir.path(), Some(ring(&[("k2", 2)]))).unwrap();
        assert_eq!(new_only.load_certs().unwrap().len(), 2);
        assert!(new_only.account().unwrap().is_some());
        // A file the ring does not open stops it, naming the file.
        let e = reseal_all(dir.path(), &ring(&[("k3", 3)])).unwrap_err();
        assert!(e.is_key_ring(), "{e:?}");
        assert!(e.to_string().contains("account.json"), "{e}");
    }
}

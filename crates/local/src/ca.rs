//! The local certificate authority: a CA kept in the state dir (`ca.pem`, `ca-key.pem`, the key
//! readable by its owner only) that issues a server certificate per hostname, for the embedded
//! edge (by SNI) and for anything else that needs files. The same CA is reloaded on every
//! start, so a client that trusts `ca.pem` once keeps trusting the edge.
//!
//! Owns those two files and an in-memory cache of issued leaves; it must not touch anything
//! else in the state dir, and it never decides *which* hostnames deserve a certificate (the
//! edge asks only for hostnames it routes).

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

/// The CA certificate's file name in the state dir.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA key's file name in the state dir (mode 0600).
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The CA's common name. A CA made here also gets an organizational unit derived from its key
/// ([`ca_unit`]), so two local CAs (two state dirs, two machines) never share a subject: a
/// client that trusts one reports the other's leaves as from an unknown issuer, not as
/// carrying a bad signature.
pub const CA_COMMON_NAME: &str = "Satusky local CA";

/// A CA made today is good for ten years: long enough that nobody re-trusts it during a
/// project's life, and the key never leaves this machine.
const CA_VALIDITY: Duration = Duration::days(3650);
/// Leaves live 90 days, like the public ACME CAs, so the TLS plane's expiry rules behave the
/// same locally.
const LEAF_VALIDITY: Duration = Duration::days(90);
/// Backdating absorbs small clock differences between this machine and a client.
const LEAF_BACKDATE: Duration = Duration::hours(1);
/// A cached leaf this close to its end is replaced, well before the TLS plane's 14-day
/// `ExpiringSoon` warning could fire for a long-running `satusky dev`.
const REISSUE_BEFORE: Duration = Duration::days(7);
/// The cache holds at most this many hostnames; past it, it is emptied and refilled on
/// demand (re-issuing costs a key generation and a signature, well under a millisecond).
const MAX_CACHED: usize = 10_000;

/// What can go wrong with the CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot create the CA directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{cert} exists but its key {key} does not: remove {cert} to create a new CA (clients \
         must then trust the new one)"
    )]
    MissingKey { cert: PathBuf, key: PathBuf },
    #[error("{path} is not a usable CA: {reason}")]
    Invalid {
        path: PathBuf,
        reason: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("cannot generate a certificate for {name:?}")]
    Generate {
        name: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("{name:?} is not a hostname a certificate can be issued for")]
    BadHostname { name: String },
    #[error("the issued key for {name:?} is not usable by rustls")]
    Key {
        name: String,
        #[source]
        source: rustls::Error,
    },
}

/// One issued leaf, in both forms callers need.
struct Issued {
    certified: Arc<CertifiedKey>,
    chain_pem: String,
    key_pem: String,
    not_after: OffsetDateTime,
}

/// The local CA. Cheap to share behind an `Arc`; issuing is synchronous and fast.
pub struct LocalCa {
    dir: PathBuf,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    cache: Mutex<HashMap<String, Arc<Issued>>>,
}

impl fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("LocalCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads the CA from `dir`, or creates it there (and `dir` itself) on first use.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, CaError> {
        fs::create_dir_all(dir).map_err(|source| CaError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::load(dir, &cert_path, &key_path),
            (true, false) => Err(CaError::MissingKey {
                cert: cert_path,
                key: key_path,
            }),
            // No certificate: nobody can trust this CA yet, so a lone key (a crash between the
            // two writes) is simply replaced.
            (false, _) => Self::create(dir, &cert_path, &key_path),
        }
    }

    fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<LocalCa, CaError> {
        let generate = |source| CaError::Generate {
            name: CA_COMMON_NAME.to_string(),
            source,
        };
        let key = KeyPair::generate().map_err(generate)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, CA_COMMON_NAME);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, ca_unit(&key));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - LEAF_BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key).map_err(generate)?;
        // Key first: a crash between the writes leaves a key without a certificate, which the
        // next start replaces; never a certificate without its key.
        write_file(key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(cert_path, cert.pem().as_bytes(), 0o644)?;
        Ok(LocalCa {
            dir: dir.to_path_buf(),
            ca_pem: cert.pem(),
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn load(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<LocalCa, CaError> {
        let ca_pem = read_file(cert_path)?;
        let key_pem = read_file(key_path)?;
        let invalid = |path: &Path, reason: String| CaError::Invalid {
            path: path.to_path_buf(),
            reason,
            source: None,
        };
        let unreadable =
            |path: &Path, reason: &str, e: Box<dyn std::error::Error + Send + Sync>| {
                CaError::Invalid {
                    path: path.to_path_buf(),
                    reason: reason.to_owned(),
                    source: Some(e),
                }
            };
        let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|e| unreadable(cert_path, "no PEM certificate", e.into()))?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| unreadable(key_path, "no PEM private key", e.into()))?;
        // The SubjectPublicKeyInfo is embedded verbatim in the certificate: if it is not there,
        // the key belongs to another certificate and every leaf would fail to verify.
        let spki = key.subject_public_key_info();
        if !ca_der.windows(spki.len()).any(|w| w == spki.as_slice()) {
            return Err(invalid(
                key_path,
                format!("this key does not belong to {}", cert_path.display()),
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&ca_der, key)
            .map_err(|e| unreadable(cert_path, "cannot read the certificate", e.into()))?;
        // Keep the key private even if something loosened its mode.
        if let Ok(meta) = fs::metadata(key_path)
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ = fs::set_permissions(key_path, fs::Permissions::from_mode(0o600));
        }
        Ok(LocalCa {
            dir: dir.to_path_buf(),
            ca_pem,
            ca_der,
            issuer,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate, DER (for a rustls root store).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// Where the CA certificate is stored (what `--cacert` and `dev.json`'s `ca_pem` point at).
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    /// A certificate for `hostname` (chain = leaf, CA) with its key, ready for rustls. Cached
    /// per hostname; replaced when it comes within 7 days of its end.
    pub fn issue(&self, hostname: &str) -> Result<Arc<CertifiedKey>, CaError> {
        Ok(self.issued(hostname)?.certified.clone())
    }

    /// The same certificate as [`LocalCa::issue`], as PEM: `(leaf + CA chain, PKCS#8 key)`.
    pub fn issue_pem(&self, hostname: &str) -> Result<(String, String), CaError> {
        let issued = self.issued(hostname)?;
        Ok((issued.chain_pem.clone(), issued.key_pem.clone()))
    }

    fn issued(&self, hostname: &str) -> Result<Arc<Issued>, CaError> {
        let name = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        let now = OffsetDateTime::now_utc();
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(issued) = cache.get(&name)
                && issued.not_after - now > REISSUE_BEFORE
            {
                return Ok(issued.clone());
            }
        }
        // Issued outside the lock: two handshakes racing for a new name both issue, one wins
        // the cache; both certificates are valid.
        let issued = Arc::new(self.sign_leaf(&name, now - LEAF_BACKDATE, now + LEAF_VALIDITY)?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED && !cache.contains_key(&name) {
            cache.clear();
        }
        cache.insert(name, issued.clone());
        Ok(issued)
    }

    /// A certificate for `hostname` valid from `not_before` to `not_after` (e.g. one that has
    /// already ended), chain = leaf, CA. Never cached, so the edge never serves it on its own:
    /// it is for tests and drift tooling that install a certificate the edge must *not* serve
    /// (see [`crate::routes::RouteTable::install_certificate`]).
    pub fn issue_with_validity(
        &self,
        hostname: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Arc<CertifiedKey>, CaError> {
        let name = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
        let issued = self.sign_leaf(&name, not_before.into(), not_after.into())?;
        Ok(issued.certified)
    }

    fn sign_leaf(
        &self,
        name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued, CaError> {
        if !is_hostname(name) {
            return Err(CaError::BadHostname {
                name: name.to_string(),
            });
        }
        let generate = |source| CaError::Generate {
            name: name.to_string(),
            source,
        };
        let mut params = CertificateParams::new(vec![name.to_string()]).map_err(generate)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate().map_err(generate)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(generate)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing_key =
            rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|source| {
                CaError::Key {
                    name: name.to_string(),
                    source,
                }
            })?;
        let chain = vec![cert.der().clone(), self.ca_der.clone()];
        Ok(Issued {
            certified: Arc::new(CertifiedKey::new(chain, signing_key)),
            chain_pem: format!("{}{}", cert.pem(), self.ca_pem),
            key_pem: key.serialize_pem(),
            not_after: params.not_after,
        })
    }
}

/// The organizational unit of a new CA: `key ` and the first 8 bytes of the SHA-256 of its
/// key's SubjectPublicKeyInfo, in hex.
fn ca_unit(key: &KeyPair) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
    format!("key {}", satusky_core::digest::hex(&digest.as_ref()[..8]))
}

/// A DNS hostname (letters, digits, `-`, `_`, dots; labels 1–63, total ≤ 253) or an IP address.
fn is_hostname(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn read_file(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(|source| CaError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes through a temporary file and a rename, so a crash never leaves half a PEM.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let err = |source| CaError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("pem.tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(contents).map_err(err)?;
    file.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(is_hostname("web-acme.satusky.localhost"));
        assert!(is_hostname("_acme.example"));
        assert!(is_hostname("127.0.0.1"));
        assert!(!is_hostname(""));
        assert!(!is_hostname("a..b"));
        assert!(!is_hostname("a b.example"));
        assert!(!is_hostname(&"a".repeat(64)));
    }

    #[test]
    fn leaves_are_cached_per_hostname() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let a = ca.issue("a.test").unwrap();
        let again = ca.issue("A.test.").unwrap();
        assert!(Arc::ptr_eq(&a, &again), "same hostname, same certificate");
        let b = ca.issue("b.test").unwrap();
        assert_ne!(a.cert[0], b.cert[0]);
        assert_eq!(a.cert.len(), 2, "chain is leaf + CA");
        assert_eq!(&a.cert[1], ca.ca_der());
        assert!(ca.issue("not a host").is_err());
    }

    #[test]
    fn a_leaf_near_its_end_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let first = ca.issue("a.test").unwrap();
        {
            let mut cache = ca.cache.lock().unwrap();
            let old = cache.get("a.test").unwrap().clone();
            let ending = Issued {
                certified: old.certified.clone(),
                chain_pem: old.chain_pem.clone(),
                key_pem: old.key_pem.clone(),
                not_after: OffsetDateTime::now_utc() + Duration::days(6),
            };
            cache.insert("a.test".into(), Arc::new(ending));
        }
        let second = ca.issue("a.test").unwrap();
        assert!(!Arc::ptr_eq(&first, &second), "re-issued within 7 days");
        let third = ca.issue("a.test").unwrap();
        assert!(Arc::ptr_eq(&second, &third), "the fresh one is kept");
    }

    #[test]
    fn leaves_of_another_validity_or_another_local_ca_are_rejected() {
        use rustls::client::WebPkiServerVerifier;
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{ServerName, UnixTime};
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let day = std::time::Duration::from_secs(86_400);
        let now = SystemTime::now();
        let ended = ca
            .issue_with_validity("a.test", now - 91 * day, now - day)
            .unwrap();
        let cached = ca.issue("a.test").unwrap();
        assert_ne!(ended.cert[0], cached.cert[0], "not the cached one");
        assert!(Arc::ptr_eq(&cached, &ca.issue("a.test").unwrap()));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.ca_der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let name = ServerName::try_from("a.test").unwrap();
        let verify = |leaf: &CertifiedKey| {
            verifier.verify_server_cert(&leaf.cert[0], &[], &name, &[], UnixTime::now())
        };
        assert!(verify(&cached).is_ok());
        let stranger = tempfile::tempdir().unwrap();
        let stranger = LocalCa::load_or_create(stranger.path()).unwrap();
        assert!(
            matches!(
                verify(&stranger.issue("a.test").unwrap()),
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "another local CA is an unknown issuer, not a bad signature"
        );
        assert!(
            matches!(
                verify(&ended),
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                        | rustls::CertificateError::ExpiredContext { .. }
                ))
            ),
            "{:?}",
            verify(&ended).err()
        );
    }
}

//! Secrets: their names, their values in memory (never printed), and the key ring that seals
//! them at rest.
//!
//! A value is sealed with AES-256-GCM (ring) under the ring's first key, with a fresh random
//! 96-bit nonce, and associated data binding it to where it belongs ([`Binding`]: org, app,
//! name and version for an app's secret). A sealed value moved to another row, or one whose
//! version was edited, fails to open with [`OpenError::Mismatch`] — never garbage. Each sealed
//! value names the key that sealed it ([`Sealed::key_id`]), so a ring with several keys opens
//! values sealed under any of them, and re-sealing under the first key (`rotate-key`) is a
//! per-value step that can stop anywhere.
//!
//! Pure apart from drawing nonces from the operating system's random source: no files (the
//! composition root reads key files and hands the ring their bytes).

use std::collections::BTreeMap;
use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes of a key (AES-256).
pub const KEY_LEN: usize = 32;
/// The longest value a secret may hold (the same bound as an env value).
pub const MAX_SECRET_BYTES: usize = 32 * 1024;
/// The longest secret or env name.
pub const MAX_NAME_LEN: usize = 128;

/// What an environment variable may be called: `[A-Za-z_][A-Za-z0-9_]*`, at most
/// [`MAX_NAME_LEN`] characters. `Err` says what is wrong, for a message naming the key.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(
            "a name is letters, digits and underscores, not starting with a digit (e.g. DATABASE_URL)"
                .into(),
        );
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("a name is at most {MAX_NAME_LEN} characters"));
    }
    Ok(())
}

/// A secret's value in memory. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    /// The value itself: only for handing to a workload (a replica's environment, the
    /// cluster's Secret).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// One secret of an app as a workload receives it: name, version, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEntry {
    pub version: u64,
    pub value: SecretValue,
}

/// An app's secrets by name.
pub type Secrets = BTreeMap<String, SecretEntry>;

/// The versions of `secrets`, by name: what a release records and a config hash covers.
pub fn versions(secrets: &Secrets) -> BTreeMap<String, u64> {
    secrets
        .iter()
        .map(|(k, e)| (k.clone(), e.version))
        .collect()
}

/// Where a sealed value belongs; part of the associated data, so a value opens only where it
/// was sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding<'a> {
    /// An app's secret at one version.
    AppSecret {
        org: &'a str,
        app: &'a str,
        name: &'a str,
        version: u64,
    },
    /// A secret value staged for the app's next deploy (`--stage`).
    Staged {
        org: &'a str,
        app: &'a str,
        name: &'a str,
    },
    /// A file of the control plane's own (e.g. an ACME account or certificate key), by its
    /// path relative to the state dir.
    File { path: &'a str },
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        // NUL-separated: names never contain NUL, so two bindings never encode alike.
        match self {
            Binding::AppSecret {
                org,
                app,
                name,
                version,
            } => format!("satusky-secret\0{org}\0{app}\0{name}\0{version}").into_bytes(),
            Binding::Staged { org, app, name } => {
                format!("satusky-staged\0{org}\0{app}\0{name}").into_bytes()
            }
            Binding::File { path } => format!("satusky-file\0{path}").into_bytes(),
        }
    }
}

/// How an error names the value: `secret API_KEY of acme/web (v3)`.
impl fmt::Display for Binding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binding::AppSecret {
                org,
                app,
                name,
                version,
            } => write!(f, "secret {name} of {org}/{app} (v{version})"),
            Binding::Staged { org, app, name } => {
                write!(f, "the staged secret {name} of {org}/{app}")
            }
            Binding::File { path } => write!(f, "{path}"),
        }
    }
}

/// A sealed value as stored: the key that sealed it, the nonce, and ciphertext with its tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("bytes", &self.ciphertext.len())
            .finish()
    }
}

/// Why a key ring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("the key ring is empty: list at least one key")]
    Empty,
    #[error("key id {0:?} is listed twice")]
    DuplicateId(String),
    #[error("key id {0:?} is not valid: use 1–32 characters of a–z, 0–9, '-' and '_'")]
    BadId(String),
    #[error(
        "key {id:?} is not a key: a key file holds 64 hex characters (32 random bytes), e.g. from `openssl rand -hex 32`"
    )]
    BadKey { id: String },
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "it was sealed with key {0:?}, which is not in the key ring: add that key to secret_keys"
    )]
    UnknownKey(String),
    #[error(
        "it does not open with key {0:?}: it was altered, or it belongs to another row (a sealed value opens only where it was written)"
    )]
    Mismatch(String),
    #[error("the opened value is not UTF-8 text")]
    NotText,
}

/// Why a value could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct SealError;

struct RingKey {
    id: String,
    key: LessSafeKey,
}

/// The keys secrets are sealed with: the first seals, every one opens.
pub struct KeyRing {
    keys: Vec<RingKey>,
    random: SystemRandom,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("ids", &self.ids()).finish()
    }
}

/// A key id: 1–32 of `a–z 0–9 - _`.
pub fn check_key_id(id: &str) -> Result<(), KeyRingError> {
    let ok = (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(KeyRingError::BadId(id.to_string()))
    }
}

/// A key file's text → the key: 64 hex characters, surrounding whitespace ignored.
pub fn parse_key(id: &str, text: &str) -> Result<[u8; KEY_LEN], KeyRingError> {
    let text = text.trim();
    let bad = || KeyRingError::BadKey { id: id.to_string() };
    if text.len() != KEY_LEN * 2 || !text.is_ascii() {
        return Err(bad());
    }
    let mut key = [0u8; KEY_LEN];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// A new random key, as a key file holds it (64 hex characters and a newline).
pub fn new_key_text() -> Result<String, SealError> {
    let mut key = [0u8; KEY_LEN];
    SystemRandom::new().fill(&mut key).map_err(|_| SealError)?;
    Ok(format!("{}\n", crate::digest::hex(&key)))
}

impl KeyRing {
    /// The ring of `keys` (id, key bytes), the first one sealing.
    pub fn new(keys: Vec<(String, [u8; KEY_LEN])>) -> Result<Self, KeyRingError> {
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        let mut ring = Vec::with_capacity(keys.len());
        for (id, bytes) in keys {
            check_key_id(&id)?;
            if ring.iter().any(|k: &RingKey| k.id == id) {
                return Err(KeyRingError::DuplicateId(id));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| KeyRingError::BadKey { id: id.clone() })?;
            ring.push(RingKey {
                id,
                key: LessSafeKey::new(unbound),
            });
        }
        Ok(KeyRing {
            keys: ring,
            random: SystemRandom::new(),
        })
    }

    /// The id of the key that seals.
    pub fn primary(&self) -> &str {
        &self.keys[0].id
    }

    /// Every key id, the sealing one first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Seal `plaintext` for `binding` under the first key, with a fresh random nonce.
    pub fn seal(&self, binding: &Binding<'_>, plaintext: &[u8]) -> Result<Sealed, SealError> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| SealError)?;
        let mut in_out = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(binding.associated_data()),
                &mut in_out,
            )
            .map_err(|_| SealError)?;
        Ok(Sealed {
            key_id: key.id.clone(),
            nonce,
            ciphertext: in_out,
        })
    }

    /// Open `sealed`, which must have been sealed for `binding` by a key of this ring.
    pub fn open(&self, binding: &Binding<'_>, sealed: &Sealed) -> Result<Vec<u8>, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
        let mut in_out = sealed.ciphertext.clone();
        let plain = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(sealed.nonce),
                Aad::from(binding.associated_data()),
                &mut in_out,
            )
            .map_err(|_| OpenError::Mismatch(sealed.key_id.clone()))?;
        Ok(plain.to_vec())
    }

    /// [`KeyRing::open`] for a text value.
    pub fn open_text(
        &self,
        binding: &Binding<'_>,
        sealed: &Sealed,
    ) -> Result<SecretValue, OpenError> {
        let bytes = self.open(binding, sealed)?;
        String::from_utf8(bytes)
            .map(SecretValue)
            .map_err(|_| OpenError::NotText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[(&str, u8)]) -> KeyRing {
        KeyRing::new(
            ids.iter()
                .map(|(id, b)| (id.to_string(), [*b; KEY_LEN]))
                .collect(),
        )
        .unwrap()
    }

    fn at<'a>(app: &'a str, version: u64) -> Binding<'a> {
        Binding::AppSecret {
            org: "acme",
            app,
            name: "API_KEY",
            version,
        }
    }

    #[test]
    fn a_value_opens_where_it_was_sealed_and_nowhere_else() {
        let r = ring(&[("k1", 1)]);
        let sealed = r.seal(&at("web", 3), b"s3cr3t").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(r.open(&at("web", 3), &sealed).unwrap(), b"s3cr3t");
        assert_eq!(
            r.open(&at("api", 3), &sealed),
            Err(OpenError::Mismatch("k1".into())),
            "moved to another app's row"
        );
        assert_eq!(
            r.open(&at("web", 4), &sealed),
            Err(OpenError::Mismatch("k1".into())),
            "its version edited"
        );
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(
            r.open(&at("web", 3), &flipped),
            Err(OpenError::Mismatch(_))
        ));
    }

    #[test]
    fn two_seals_of_one_value_differ_by_their_nonce() {
        let r = ring(&[("k1", 1)]);
        let a = r.seal(&at("web", 1), b"x").unwrap();
        let b = r.seal(&at("web", 1), b"x").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let old = ring(&[("old", 1)]);
        let sealed_old = old.seal(&at("web", 1), b"v").unwrap();
        let both = ring(&[("new", 2), ("old", 1)]);
        assert_eq!(both.primary(), "new");
        assert_eq!(both.open(&at("web", 1), &sealed_old).unwrap(), b"v");
        let sealed_new = both.seal(&at("web", 1), b"v").unwrap();
        assert_eq!(sealed_new.key_id, "new");
        let new_only = ring(&[("new", 2)]);
        assert_eq!(new_only.open(&at("web", 1), &sealed_new).unwrap(), b"v");
        let err = new_only.open(&at("web", 1), &sealed_old).unwrap_err();
        assert_eq!(err, OpenError::UnknownKey("old".into()));
        assert!(err.to_string().contains("secret_keys"), "{err}");
    }

    #[test]
    fn a_key_with_the_right_id_but_other_bytes_does_not_open() {
        let sealed = ring(&[("k1", 1)]).seal(&at("web", 1), b"v").unwrap();
        let impostor = ring(&[("k1", 9)]);
        assert!(matches!(
            impostor.open(&at("web", 1), &sealed),
            Err(OpenError::Mismatch(_))
        ));
    }

    #[test]
    fn rings_and_key_files_are_checked() {
        assert_eq!(KeyRing::new(vec![]).unwrap_err(), KeyRingError::Empty);
        let dup = KeyRing::new(vec![("a".into(), [1; 32]), ("a".into(), [2; 32])]);
        assert_eq!(dup.unwrap_err(), KeyRingError::DuplicateId("a".into()));
        assert!(matches!(
            KeyRing::new(vec![("A B".into(), [1; 32])]),
            Err(KeyRingError::BadId(_))
        ));
        let text = new_key_text().unwrap();
        assert_eq!(text.len(), 65);
        assert!(parse_key("k", &text).is_ok());
        assert_ne!(text, new_key_text().unwrap());
        let err = parse_key("k", "not hex").unwrap_err();
        assert!(err.to_string().contains("openssl rand -hex 32"), "{err}");
        assert!(parse_key("k", &"zz".repeat(32)).is_err());
    }

    #[test]
    fn names_follow_the_environment_variable_rule() {
        assert!(check_name("DATABASE_URL").is_ok());
        assert!(check_name("_x1").is_ok());
        for bad in ["", "1A", "A-B", "A B", "É"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"A".repeat(129)).is_err());
    }

    #[test]
    fn a_value_is_never_printed() {
        let v = SecretValue::new("s3cr3t");
        let entry = SecretEntry {
            version: 1,
            value: v,
        };
        assert!(!format!("{entry:?}").contains("s3cr3t"));
    }
}

//! The app's configuration objects: the ConfigMap `{app}-env` holding `[env]`, the Secret
//! `{app}-secrets`, and the config hash that rolls the pods when either changes.
//!
//! The Secret is rendered **without `data`**: values are not an input of rendering at all. It
//! carries the keys' versions in the `satusky.io/secret-versions` annotation; the applier adds
//! `data` from the store immediately before applying, so values live only in the store and in
//! the cluster. The hash covers env values and secret *versions* — a `1ctl secret set` bumps a
//! version, which changes the hash, which rolls the pods — and never a secret value.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde::Serialize;

use super::labels::SECRET_VERSIONS;
use super::names::{self, sha256_hex};
use super::{Ctx, Object, RenderError, SecretRef};

/// A secret key: what an environment variable name may be, `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_secret_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `sha256:<hex>` of the env values and the secrets' versions, in a canonical encoding (JSON of
/// sorted maps, so no two different inputs encode alike).
pub fn config_hash(env: &BTreeMap<String, String>, secrets: &[SecretRef]) -> String {
    #[derive(Serialize)]
    struct HashInput<'a> {
        env: &'a BTreeMap<String, String>,
        secret_versions: BTreeMap<&'a str, u64>,
    }
    let input = HashInput {
        env,
        secret_versions: secrets
            .iter()
            .map(|s| (s.key.as_str(), s.version))
            .collect(),
    };
    // Serializing maps of strings and integers cannot fail; an empty encoding would still
    // hash deterministically.
    let bytes = serde_json::to_vec(&input).unwrap_or_default();
    format!("sha256:{}", sha256_hex(&bytes))
}

pub fn config_map(ctx: &Ctx<'_>) -> Result<Object, RenderError> {
    let cm = ConfigMap {
        metadata: ctx.meta(&names::config_map(ctx.app)),
        data: Some(ctx.spec.env.clone()),
        ..ConfigMap::default()
    };
    Object::new("v1", "ConfigMap", &cm)
}

/// `KEY=VERSION,…` in key order.
fn versions(secrets: &[SecretRef]) -> String {
    let mut sorted: Vec<&SecretRef> = secrets.iter().collect();
    sorted.sort();
    sorted
        .iter()
        .map(|s| format!("{}={}", s.key, s.version))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn secret(ctx: &Ctx<'_>, secrets: &[SecretRef]) -> Result<Object, RenderError> {
    let secret = Secret {
        metadata: ctx.meta_with(
            &names::secret(ctx.app),
            &[(SECRET_VERSIONS, versions(secrets))],
        ),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    };
    Object::new("v1", "Secret", &secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn secret(key: &str, version: u64) -> SecretRef {
        SecretRef {
            key: key.to_owned(),
            version,
        }
    }

    #[test]
    fn env_values_and_secret_versions_change_the_hash() {
        let base = config_hash(&env(&[("A", "1")]), &[secret("K", 1)]);
        assert!(
            base.starts_with("sha256:") && base.len() == 7 + 64,
            "{base}"
        );
        assert_ne!(base, config_hash(&env(&[("A", "2")]), &[secret("K", 1)]));
        assert_ne!(base, config_hash(&env(&[("B", "1")]), &[secret("K", 1)]));
        assert_ne!(base, config_hash(&env(&[("A", "1")]), &[secret("K", 2)]));
        assert_ne!(base, config_hash(&env(&[("A", "1")]), &[]));
        assert_eq!(
            base,
            config_hash(&env(&[("A", "1")]), &[secret("K", 1)]),
            "deterministic"
        );
    }

    #[test]
    fn secret_order_does_not_matter() {
        let e = env(&[]);
        assert_eq!(
            config_hash(&e, &[secret("A", 1), secret("B", 2)]),
            config_hash(&e, &[secret("B", 2), secret("A", 1)])
        );
        assert_eq!(versions(&[secret("B", 2), secret("A", 1)]), "A=1,B=2");
    }

    #[test]
    fn encoding_is_unambiguous() {
        // A key/value split that a naive concatenation would confuse.
        assert_ne!(
            config_hash(&env(&[("AB", "C")]), &[]),
            config_hash(&env(&[("A", "BC")]), &[])
        );
    }

    #[test]
    fn secret_keys() {
        assert!(is_secret_key("API_KEY"));
        assert!(is_secret_key("_x1"));
        assert!(!is_secret_key("1X"));
        assert!(!is_secret_key("A-B"));
        assert!(!is_secret_key(""));
    }
}

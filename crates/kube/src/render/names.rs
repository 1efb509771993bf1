//! Object names, and the Kubernetes syntax rules every rendered name and label must pass.
//!
//! One name pattern per kind per app keeps names unique within the org's namespace:
//! `{app}` (Deployment, Service, HPA, VPA, PDB, HTTPRoute, ListenerSet), `{app}-env`
//! (ConfigMap), `{app}-secrets` (Secret), `{app}-data` (PVC). Kinds with one object per custom
//! domain (Certificate, the redirect HTTPRoutes) use `{app}.{host}`: app names never contain a
//! dot, so such a name can never equal another app's. Names longer than [`MAX_LABEL`] are cut
//! and end in a hash of the whole host, so they stay unique and deterministic. Pure functions.

use ring::digest::{SHA256, digest};

/// Longest DNS-1123 label, and longest label value.
pub const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain (most object names).
pub const MAX_SUBDOMAIN: usize = 253;
/// Hex digits of a hash kept in a shortened name: 32 bits, ample within one app's domains.
const SHORT_HASH_LEN: usize = 8;

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest(&SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The ConfigMap holding the app's `[env]`.
pub fn config_map(app: &str) -> String {
    format!("{app}-env")
}

/// The Secret the applier fills with the app's secret values.
pub fn secret(app: &str) -> String {
    format!("{app}-secrets")
}

/// The PersistentVolumeClaim of `[volume]`.
pub fn volume_claim(app: &str) -> String {
    format!("{app}-data")
}

/// The name of an object that exists once per custom domain of an app (its Certificate, and
/// the HTTPRoute of a redirect host): `{app}.{host}`, kept to [`MAX_LABEL`] characters because
/// cert-manager copies a Certificate's name into label values.
pub fn per_host(app: &str, host: &str) -> String {
    let full = format!("{app}.{host}");
    if full.len() <= MAX_LABEL {
        return full;
    }
    let hash = &sha256_hex(host.as_bytes())[..SHORT_HASH_LEN];
    // `{app}.` + cut host + `-` + hash ≤ MAX_LABEL.
    let room = MAX_LABEL.saturating_sub(app.len() + 2 + SHORT_HASH_LEN);
    let cut = host.get(..room.min(host.len())).unwrap_or_default();
    let cut = cut.trim_end_matches(['.', '-']);
    if cut.is_empty() {
        format!("{app}.{hash}")
    } else {
        format!("{app}.{cut}-{hash}")
    }
}

/// The Secret cert-manager writes a custom domain's certificate into.
pub fn tls_secret(certificate: &str) -> String {
    format!("{certificate}-tls")
}

/// The namespace of an org when the server is not told another.
pub fn default_namespace(org: &str) -> String {
    format!("satusky-{org}")
}

fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, starting and ending alphanumeric (namespaces,
/// Services, container and port names).
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= MAX_LABEL && is_label_chars(s)
}

/// A DNS-1123 subdomain: dot-separated labels, 253 characters at most (most object names).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= MAX_SUBDOMAIN && s.split('.').all(is_label_chars)
}

/// A label (or annotation) key: an optional DNS subdomain prefix and `/`, then a name of 1–63
/// alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric.
pub fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns1123_subdomain) && !name.is_empty() && is_label_value(name)
}

/// A label value: empty, or 1–63 alphanumerics, `-`, `_` or `.`, starting and ending
/// alphanumeric.
pub fn is_label_value(value: &str) -> bool {
    let b = value.as_bytes();
    b.is_empty()
        || (b.len() <= MAX_LABEL
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hosts_keep_their_name() {
        assert_eq!(per_host("web", "api.example.com"), "web.api.example.com");
    }

    #[test]
    fn long_hosts_are_cut_and_hashed() {
        let host = format!("{}.example.com", "a".repeat(60));
        let name = per_host("my-api", &host);
        assert!(name.len() <= MAX_LABEL, "{name}");
        assert!(name.starts_with("my-api.aaaa"), "{name}");
        assert!(is_dns1123_subdomain(&name), "{name}");
        let other = per_host("my-api", &format!("{}.example.org", "a".repeat(60)));
        assert_ne!(name, other, "hosts sharing a long prefix still differ");
        assert_eq!(name, per_host("my-api", &host), "deterministic");
    }

    #[test]
    fn a_cut_never_ends_in_a_dot_or_hyphen() {
        let app = "a".repeat(40);
        for host in ["abcdefghijklm.n-o.example.com", "abcdefghijkl-.example.com"] {
            let name = per_host(&app, &format!("{host}{}", ".x".repeat(20)));
            assert!(is_dns1123_subdomain(&name), "{name}");
        }
    }

    #[test]
    fn syntax_rules() {
        assert!(is_dns1123_label("satusky-acme"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("web.api.example.com"));
        assert!(!is_dns1123_subdomain("web..com"));
        assert!(is_label_key("satusky.io/org"));
        assert!(is_label_key("app.kubernetes.io/managed-by"));
        assert!(!is_label_key("satusky.io/"));
        assert!(!is_label_key("a/b/c"));
        assert!(is_label_value(""));
        assert!(is_label_value("my_api.v2"));
        assert!(!is_label_value("-x"));
    }

    #[test]
    fn sha256_of_nothing() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

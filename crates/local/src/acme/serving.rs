//! What the edge reads from the issuer, and nothing else: the certificates issued so far by
//! hostname (the SNI resolver serves them to routed custom domains) and the key
//! authorizations of pending HTTP-01 challenges by token (the plain-HTTP listener answers
//! `GET /.well-known/acme-challenge/TOKEN` with them before routing).
//!
//! Replacing a hostname's certificate is one map insert of a new `Arc`: a handshake already
//! under way keeps the old one, the next gets the new one, so a renewal fails no request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::sign::CertifiedKey;

use crate::routes::normalize_host;

/// The path prefix of HTTP-01 challenge requests (RFC 8555 §8.3).
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// The token of an HTTP-01 challenge request path, if it is one.
pub fn challenge_token(path: &str) -> Option<&str> {
    let token = path.strip_prefix(CHALLENGE_PREFIX)?;
    let ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(token)
}

/// Shared between the issuer (writes) and the edge (reads).
#[derive(Debug, Default)]
pub struct AcmeServing {
    certs: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    tokens: RwLock<HashMap<String, String>>,
}

impl AcmeServing {
    pub fn new() -> AcmeServing {
        AcmeServing::default()
    }

    /// The issued certificate for an SNI value, if any.
    pub fn certificate(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.read().unwrap_or_else(|e| e.into_inner());
        certs.get(&normalize_host(host)).cloned()
    }

    /// The key authorization for a pending challenge's token.
    pub fn key_authorization(&self, token: &str) -> Option<String> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens.get(token).cloned()
    }

    pub(crate) fn install(&self, host: &str, certified: Arc<CertifiedKey>) {
        let mut certs = self.certs.write().unwrap_or_else(|e| e.into_inner());
        certs.insert(normalize_host(host), certified);
    }

    pub(crate) fn add_token(&self, token: &str, key_authorization: String) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.insert(token.to_string(), key_authorization);
    }

    pub(crate) fn remove_token(&self, token: &str) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.remove(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_challenge_paths_yield_a_token() {
        assert_eq!(
            challenge_token("/.well-known/acme-challenge/abc-_9"),
            Some("abc-_9")
        );
        for path in [
            "/.well-known/acme-challenge/",
            "/.well-known/acme-challenge/a/b",
            "/.well-known/acme-challenge/..",
            "/.well-known/other/abc",
            "/",
        ] {
            assert_eq!(challenge_token(path), None, "{path}");
        }
    }

    #[test]
    fn tokens_are_answered_until_removed() {
        let s = AcmeServing::new();
        s.add_token("t1", "t1.thumb".into());
        assert_eq!(s.key_authorization("t1").as_deref(), Some("t1.thumb"));
        s.remove_token("t1");
        assert_eq!(s.key_authorization("t1"), None);
    }
}

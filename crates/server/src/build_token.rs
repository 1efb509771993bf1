//! Short-lived build tokens: what a Kaniko Job's init container presents to fetch exactly one
//! uploaded context. Stateless — `sbt_` + base64url(`org|context|expiry_ms`) + `.` + HMAC-SHA256
//! of that payload under a server key — so nothing is stored and a token cannot be widened to
//! another org, another context or a later time. The key lives in the state dir (or comes from
//! configuration); rotating it revokes every outstanding build token.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Prefix of a build token (user tokens are `sky_`).
pub const PREFIX: &str = "sbt_";

/// Signs and checks build tokens.
#[derive(Clone)]
pub struct BuildTokens {
    key: hmac::Key,
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub org: String,
    pub context: String,
    pub expires_ms: i64,
}

impl BuildTokens {
    pub fn new(secret: &[u8]) -> Self {
        BuildTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A fresh random key (32 bytes).
    pub fn generate_secret() -> Result<[u8; 32], ring::error::Unspecified> {
        let mut k = [0u8; 32];
        SystemRandom::new().fill(&mut k)?;
        Ok(k)
    }

    pub fn mint(&self, org: &str, context: &str, expires_ms: i64) -> String {
        let payload = format!("{org}|{context}|{expires_ms}");
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!("{PREFIX}{}.{}", b64(payload.as_bytes()), b64(tag.as_ref()))
    }

    /// The grant of a genuine, unexpired token.
    pub fn check(&self, token: &str, now_ms: i64) -> Option<Grant> {
        let rest = token.strip_prefix(PREFIX)?;
        let (payload, tag) = rest.split_once('.')?;
        let payload = unb64(payload)?;
        let tag = unb64(tag)?;
        hmac::verify(&self.key, &payload, &tag).ok()?;
        let text = String::from_utf8(payload).ok()?;
        let mut parts = text.splitn(3, '|');
        let (org, context, expires) = (parts.next()?, parts.next()?, parts.next()?);
        let expires_ms: i64 = expires.parse().ok()?;
        (now_ms < expires_ms).then(|| Grant {
            org: org.to_string(),
            context: context.to_string(),
            expires_ms,
        })
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let t = BuildTokens::new(b"k1");
        let tok = t.mint("acme", "sha256:abc", 10_000);
        assert!(tok.starts_with(PREFIX));
        assert_eq!(
            t.check(&tok, 9_999),
            Some(Grant {
                org: "acme".into(),
                context: "sha256:abc".into(),
                expires_ms: 10_000
            })
        );
        assert_eq!(t.check(&tok, 10_000), None, "expired");
        assert_eq!(BuildTokens::new(b"k2").check(&tok, 0), None, "another key");
        // Tampering with the payload (another org) breaks the signature.
        let forged = t.mint("evil", "sha256:abc", 10_000);
        let (_, forged_payload) = forged.split_once('_').unwrap();
        let (_, tag) = tok.split_once('.').unwrap();
        let mixed = format!(
            "{PREFIX}{}.{tag}",
            forged_payload.split_once('.').unwrap().0
        );
        assert_eq!(t.check(&mixed, 0), None);
        assert_eq!(t.check("sky_user_token", 0), None);
    }

    #[test]
    fn base64url_round_trips() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(unb64(&b64(&data)).unwrap(), data);
        }
    }
}

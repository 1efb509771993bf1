//! Retrying mutations safely (SPEC §6 `Idempotency-Key`): every POST/PUT/PATCH/DELETE gets
//! one random key that all its attempts carry, so the control plane runs it once and answers
//! a retry with the first answer. Owns the key, which failures are worth another attempt, and
//! the pauses between attempts; [`crate::client`] sends.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use satusky_types::ApiError;

use crate::exit::CliError;

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// Random bytes in a key (32 hex characters): unguessable and unique per request.
const KEY_BYTES: usize = 16;
/// Pauses before each retry of a mutation: about 4 s in all, enough to ride through a restart
/// of the control plane, short enough that a real outage is reported promptly.
pub const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Whether requests with this method change something (and so carry a key).
pub fn is_mutation(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A fresh key: 32 lowercase hex characters from the system's CSPRNG.
pub fn new_key() -> Result<String, CliError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CliError::Unexpected("the system's random number generator failed".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// How one attempt ended.
pub enum Outcome<'a> {
    /// No complete answer: the connection failed, was cut or timed out.
    Transport(&'a reqwest::Error),
    /// An answer.
    Answer { status: StatusCode, body: &'a [u8] },
}

/// Whether another attempt with the same key can succeed where this one did not. Safe for
/// mutations only because the key makes the server run the request at most once.
pub fn worth_retrying(outcome: &Outcome<'_>) -> bool {
    match outcome {
        // A request that could not be built or an answer that could not be decoded will
        // not change; anything else on the wire might.
        Outcome::Transport(e) => !(e.is_builder() || e.is_decode() || e.is_redirect()),
        Outcome::Answer { status, body } => match *status {
            // A proxy in front, or the control plane restarting.
            StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => true,
            // The first attempt is still running on the server: ask again for its answer.
            StatusCode::CONFLICT => about_the_key(body),
            _ => false,
        },
    }
}

/// An error answer about the Idempotency-Key itself (`details.header`).
fn about_the_key(body: &[u8]) -> bool {
    serde_json::from_slice::<ApiError>(body)
        .ok()
        .and_then(|e| e.error.details)
        .is_some_and(|d| d.get("header").and_then(|h| h.as_str()) == Some(HEADER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_32_random_hex_characters() {
        let a = new_key().expect("key");
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, new_key().expect("key"));
    }

    #[test]
    fn only_mutations_carry_a_key() {
        assert!(!is_mutation(&Method::GET));
        assert!(!is_mutation(&Method::HEAD));
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_mutation(&m), "{m}");
        }
    }

    #[test]
    fn answers_worth_another_attempt() {
        let in_progress = br#"{"error":{"code":"conflict","message":"a request with this Idempotency-Key is still in progress","details":{"header":"Idempotency-Key"}}}"#;
        let taken = br#"{"error":{"code":"conflict","message":"hostname taken","details":{"hostname":"x.example"}}}"#;
        let cases: [(u16, &[u8], bool); 8] = [
            (503, b"", true),
            (502, b"<html>bad gateway</html>", true),
            (504, b"", true),
            (409, in_progress, true),
            (409, taken, false),
            (500, b"", false),
            (422, b"", false),
            (401, b"", false),
        ];
        for (status, body, want) in cases {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(
                worth_retrying(&Outcome::Answer { status, body }),
                want,
                "{status}"
            );
        }
    }
}

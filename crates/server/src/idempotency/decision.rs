//! The pure half of Idempotency-Key handling: reading the header, naming a request's scope
//! and fingerprint, deciding what a stored row means for an incoming request, and whether an
//! answer may be kept. No I/O and no clock: the caller passes `now`.

use axum::http::header::GetAll;
use axum::http::{HeaderValue, Method, StatusCode};
use ring::digest::{SHA256, digest};
use ring::hmac;
use satusky_core::digest::hex;
use satusky_store::IdempotencyRecord;

/// The request header (RFC draft `httpapi-idempotency-key-header`).
pub const HEADER: &str = "idempotency-key";
/// The header added to a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotency-replayed";
/// Longest accepted key: a UUID or 32 random hex characters fit many times over, and the key
/// is part of the row's primary key, so it must stay small.
pub const MAX_KEY_LEN: usize = 255;
/// How long a key is remembered (SPEC §6: 24 h); older rows are ignored, then purged.
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// An in-progress row older than this belongs to a request that will never finish (the server
/// was killed while running it): the next request with the key takes it over. Far longer than
/// any handler runs (a few store calls, each bounded by the pool's 30 s acquire timeout).
pub const ABANDONED_AFTER_MS: i64 = 2 * 60 * 1000;
/// The largest answer kept for replay. Mutations answer small JSON documents; anything bigger
/// is served once and not kept (so a retry runs again).
pub const MAX_STORED_RESPONSE: usize = 1024 * 1024;

/// Why an `Idempotency-Key` header is refused (400; nothing runs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the Idempotency-Key header is empty; send 1 to {MAX_KEY_LEN} printable ASCII characters, e.g. a random UUID"
    )]
    Empty,
    #[error(
        "the Idempotency-Key header is {len} characters long; the limit is {MAX_KEY_LEN} (e.g. a random UUID)"
    )]
    TooLong { len: usize },
    #[error(
        "the Idempotency-Key header has a character that is not printable ASCII at position {position}; use letters, digits and punctuation (e.g. a random UUID)"
    )]
    NotPrintable { position: usize },
    #[error("the Idempotency-Key header is sent more than once; send it once per request")]
    Repeated,
}

/// The key of a request, `None` when it sends none.
pub fn parse_key(values: GetAll<'_, HeaderValue>) -> Result<Option<String>, KeyError> {
    let mut values = values.iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(KeyError::Repeated);
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(KeyError::Empty);
    }
    if let Some(position) = bytes.iter().position(|b| !(b' '..=b'~').contains(b)) {
        return Err(KeyError::NotPrintable { position });
    }
    if bytes.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong { len: bytes.len() });
    }
    // Printable ASCII is valid UTF-8.
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Whether requests with this method change anything (and so may carry a key).
pub fn is_mutation(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The scope a key lives in: the presented token, the method and the path, as hex SHA-256.
/// The token enters only as its own SHA-256, so the stored scope cannot be turned back into
/// it; each part is length-prefixed so no two triples share a scope.
pub fn scope(token: &str, method: &Method, path: &str) -> String {
    let token_hash = digest(&SHA256, token.as_bytes());
    let mut input = Vec::with_capacity(64 + method.as_str().len() + path.len());
    for part in [
        token_hash.as_ref(),
        method.as_str().as_bytes(),
        path.as_bytes(),
    ] {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part);
    }
    hex(digest(&SHA256, &input).as_ref())
}

/// The request's fingerprint: hex HMAC-SHA256 of its query string and body under the
/// server's key. Keyed, so a leaked table cannot be used to confirm a guess of a body (bodies
/// carry secret values) without the key file as well.
pub fn request_hash(key: &hmac::Key, query: Option<&str>, body: &[u8]) -> String {
    let query = query.unwrap_or("").as_bytes();
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(&(query.len() as u64).to_be_bytes());
    ctx.update(query);
    ctx.update(body);
    hex(ctx.sign().as_ref())
}

/// What to do with a request that carries a key, given the row stored for it (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No row: claim one and run the request.
    Proceed,
    /// The row is expired, or abandoned by a request that never finished: take it over (if it
    /// is still the row seen at `seen_created_at_ms`) and run the request.
    TakeOver { seen_created_at_ms: i64 },
    /// The same request already finished: answer what it answered.
    Replay,
    /// The key was used for another request (body or query): 422.
    Mismatch,
    /// The same request is still running: poll again shortly.
    Wait,
    /// The same request is still running and the caller has waited long enough: 409.
    StillInProgress,
}

/// Decides what a stored row means for an incoming request with fingerprint `request_hash`.
/// `waited_out` says the caller has polled an in-progress row for as long as it may.
pub fn decide(
    stored: Option<&IdempotencyRecord>,
    request_hash: &str,
    now_ms: i64,
    waited_out: bool,
) -> Decision {
    let Some(row) = stored else {
        return Decision::Proceed;
    };
    let age = now_ms.saturating_sub(row.created_at_ms);
    if age >= RETENTION_MS {
        return Decision::TakeOver {
            seen_created_at_ms: row.created_at_ms,
        };
    }
    if row.request_hash != request_hash {
        return Decision::Mismatch;
    }
    match (&row.response, age >= ABANDONED_AFTER_MS, waited_out) {
        (Some(_), _, _) => Decision::Replay,
        (None, true, _) => Decision::TakeOver {
            seen_created_at_ms: row.created_at_ms,
        },
        (None, false, true) => Decision::StillInProgress,
        (None, false, false) => Decision::Wait,
    }
}

/// Why an answer is not kept for replay (the row is released so a retry runs again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotKept {
    /// 5xx: the request failed on the server's side and may succeed when retried.
    ServerError,
    /// Over [`MAX_STORED_RESPONSE`].
    TooLarge,
    /// Marked `Cache-Control: no-store`: it carries a secret (a new token's plaintext), which
    /// is never written to the store. A retry with the key runs again.
    Secret,
}

/// Whether the answer's headers forbid keeping it (`Cache-Control: no-store`).
pub fn is_no_store(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
}

/// Whether an answer with `status` and a body of `len` bytes is kept.
pub fn keep(status: StatusCode, len: usize) -> Result<(), NotKept> {
    if status.is_server_error() {
        Err(NotKept::ServerError)
    } else if len > MAX_STORED_RESPONSE {
        Err(NotKept::TooLarge)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use satusky_store::StoredResponse;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn key_of(values: &[&[u8]]) -> Result<Option<String>, KeyError> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(HEADER, HeaderValue::from_bytes(v).unwrap());
        }
        parse_key(headers.get_all(HEADER))
    }

    fn row(hash: &str, age_ms: i64, done: bool) -> IdempotencyRecord {
        IdempotencyRecord {
            request_hash: hash.into(),
            created_at_ms: NOW - age_ms,
            response: done.then(|| StoredResponse {
                status: 202,
                content_type: None,
                body: "{}".into(),
            }),
        }
    }

    #[test]
    fn keys_are_short_printable_ascii_sent_once() {
        assert_eq!(key_of(&[]), Ok(None));
        assert_eq!(key_of(&[b"a b-C_9:{}"]), Ok(Some("a b-C_9:{}".into())));
        let longest = vec![b'k'; MAX_KEY_LEN];
        assert_eq!(key_of(&[&longest]), Ok(Some("k".repeat(MAX_KEY_LEN))));
        let long = vec![b'k'; MAX_KEY_LEN + 1];
        assert_eq!(key_of(&[&long]), Err(KeyError::TooLong { len: 256 }));
        assert_eq!(key_of(&[b""]), Err(KeyError::Empty));
        assert_eq!(
            key_of(&[b"ab\tc"]),
            Err(KeyError::NotPrintable { position: 2 })
        );
        assert_eq!(
            key_of(&[b"\xc3\xa9"]),
            Err(KeyError::NotPrintable { position: 0 })
        );
        assert_eq!(key_of(&[b"a", b"b"]), Err(KeyError::Repeated));
        let message = KeyError::TooLong { len: 300 }.to_string();
        assert!(
            message.contains("Idempotency-Key") && message.contains("255"),
            "{message}"
        );
    }

    #[test]
    fn only_reads_are_not_mutations() {
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!is_mutation(&m), "{m}");
        }
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_mutation(&m), "{m}");
        }
    }

    #[test]
    fn scopes_differ_by_token_method_and_path() {
        let a = scope("sky_a", &Method::PUT, "/v1/orgs/acme/apps/web");
        assert_eq!(a, scope("sky_a", &Method::PUT, "/v1/orgs/acme/apps/web"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("sky_a"));
        for other in [
            scope("sky_b", &Method::PUT, "/v1/orgs/acme/apps/web"),
            scope("sky_a", &Method::POST, "/v1/orgs/acme/apps/web"),
            scope("sky_a", &Method::PUT, "/v1/orgs/acme/apps/api"),
            // Moving bytes between the parts is another scope.
            scope("sky_aP", &Method::PUT, "/v1/orgs/acme/apps/web"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn fingerprints_cover_query_and_body_and_depend_on_the_key() {
        let k = hmac::Key::new(hmac::HMAC_SHA256, b"server key one, thirty-two bytes");
        let h = request_hash(&k, None, b"{\"a\":1}");
        assert_eq!(h, request_hash(&k, Some(""), b"{\"a\":1}"));
        assert_eq!(h.len(), 64);
        assert_ne!(h, request_hash(&k, None, b"{\"a\":2}"));
        assert_ne!(h, request_hash(&k, Some("force=true"), b"{\"a\":1}"));
        // The query/body boundary is part of the fingerprint.
        assert_ne!(
            request_hash(&k, Some("ab"), b"c"),
            request_hash(&k, Some("a"), b"bc")
        );
        let other = hmac::Key::new(hmac::HMAC_SHA256, b"server key two, thirty-two bytes");
        assert_ne!(h, request_hash(&other, None, b"{\"a\":1}"));
        // Not a plain digest of the body.
        assert_ne!(h, hex(digest(&SHA256, b"{\"a\":1}").as_ref()));
    }

    #[test]
    fn decisions() {
        use Decision::*;
        let cases = [
            (None, "h", false, Proceed),
            (Some(row("h", 10, true)), "h", false, Replay),
            (Some(row("h", 10, true)), "h", true, Replay),
            (Some(row("h", 10, true)), "x", false, Mismatch),
            (Some(row("h", 10, false)), "x", false, Mismatch),
            (Some(row("h", 10, false)), "h", false, Wait),
            (Some(row("h", 10, false)), "h", true, StillInProgress),
            (
                Some(row("h", ABANDONED_AFTER_MS, false)),
                "h",
                false,
                TakeOver {
                    seen_created_at_ms: NOW - ABANDONED_AFTER_MS,
                },
            ),
            // A done row is replayed for its whole retention, however old.
            (Some(row("h", RETENTION_MS - 1, true)), "h", false, Replay),
            // Expired: a new request, whatever it carries.
            (
                Some(row("h", RETENTION_MS, true)),
                "x",
                false,
                TakeOver {
                    seen_created_at_ms: NOW - RETENTION_MS,
                },
            ),
        ];
        for (stored, hash, waited_out, want) in cases {
            assert_eq!(
                decide(stored.as_ref(), hash, NOW, waited_out),
                want,
                "{stored:?} {hash} {waited_out}"
            );
        }
    }

    #[test]
    fn server_errors_and_large_answers_are_not_kept() {
        assert_eq!(keep(StatusCode::ACCEPTED, 100), Ok(()));
        assert_eq!(keep(StatusCode::UNPROCESSABLE_ENTITY, 100), Ok(()));
        assert_eq!(keep(StatusCode::CONFLICT, MAX_STORED_RESPONSE), Ok(()));
        assert_eq!(
            keep(StatusCode::INTERNAL_SERVER_ERROR, 10),
            Err(NotKept::ServerError)
        );
        assert_eq!(
            keep(StatusCode::SERVICE_UNAVAILABLE, 10),
            Err(NotKept::ServerError)
        );
        assert_eq!(
            keep(StatusCode::OK, MAX_STORED_RESPONSE + 1),
            Err(NotKept::TooLarge)
        );
    }
}

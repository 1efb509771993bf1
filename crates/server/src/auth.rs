//! Bearer-token authentication, org isolation and the role check.
//!
//! A token belongs to one org. A request for another org's resources answers 404 — the same
//! answer as for something that does not exist — so tokens cannot probe other tenants. Only
//! then is the role checked ([`crate::roles`]): a token of the org without the role gets 403.
//! Revoked and expired tokens are refused (401) from the next request on: every request reads
//! the token from the store.

use axum::http::header::AUTHORIZATION;
use satusky_core::time::{now_ms, rfc3339_ms};
use satusky_store::{Store, TokenCheck};
use satusky_types::Role;

use crate::error::ApiErrorResponse;
use crate::roles::{Action, allowed};

/// The caller, authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: String,
    pub role: Role,
    /// The id of the token the request came with (`tok_…`).
    pub token_id: String,
}

impl Caller {
    /// Allow `action` on `org`: another org is 404 (first, so nothing about it leaks), a role
    /// that may not is 403.
    pub fn authorize(&self, org: &str, action: Action) -> Result<(), ApiErrorResponse> {
        self.check_org(org)?;
        self.require(action)
    }

    /// Allow `action` only if the caller's role may perform it (403 otherwise).
    pub fn require(&self, action: Action) -> Result<(), ApiErrorResponse> {
        if allowed(self.role, action) {
            return Ok(());
        }
        Err(ApiErrorResponse::forbidden(format!(
            "a {} token cannot {}; ask an admin of org {} (1ctl token create --role admin)",
            self.role,
            action.describe(),
            self.org
        )))
    }

    /// Allow access to `org` only if it is the caller's. Private: handlers call
    /// [`Caller::authorize`], which names the action too.
    fn check_org(&self, org: &str) -> Result<(), ApiErrorResponse> {
        if self.org == org {
            Ok(())
        } else {
            Err(ApiErrorResponse::not_found(format!(
                "org \"{org}\" not found"
            )))
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` header (the scheme is case-insensitive,
/// RFC 9110 §11.1).
pub fn bearer(headers: &axum::http::HeaderMap) -> Result<&str, ApiErrorResponse> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| {
            ApiErrorResponse::unauthenticated(
                "missing Authorization header; send `Authorization: Bearer TOKEN` (create one with `satusky token create --org ORG`)",
            )
        })?
        .to_str()
        .map_err(|_| ApiErrorResponse::unauthenticated("the Authorization header is not valid text"))?;
    let (scheme, token) = header.trim().split_once(' ').unwrap_or((header, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiErrorResponse::unauthenticated(
            "the Authorization header must be `Bearer TOKEN`",
        ));
    }
    Ok(token)
}

/// The caller a live user token names, or 401 saying whether it is unknown, revoked or
/// expired.
pub async fn authenticate(store: &Store, token: &str) -> Result<Caller, ApiErrorResponse> {
    let fix = "ask an admin of your org for a new one (`1ctl token create`, or `satusky token create --org ORG` on the server)";
    match store.check_token(token, now_ms()).await? {
        TokenCheck::Valid(info) => Ok(Caller {
            org: info.org,
            role: info.role,
            token_id: info.id,
        }),
        TokenCheck::Unknown => Err(ApiErrorResponse::unauthenticated(format!(
            "the token is not valid (unknown); {fix}"
        ))),
        TokenCheck::Revoked { id, at_ms } => Err(ApiErrorResponse::unauthenticated(format!(
            "the token {id} was revoked at {}; {fix}",
            rfc3339_ms(at_ms)
        ))),
        TokenCheck::Expired { id, at_ms } => Err(ApiErrorResponse::unauthenticated(format!(
            "the token {id} expired at {}; {fix}",
            rfc3339_ms(at_ms)
        ))),
    }
}

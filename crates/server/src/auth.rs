//! Bearer-token authentication and org isolation.
//!
//! A token belongs to one org. A request for another org's resources answers 404 — the same
//! answer as for something that does not exist — so tokens cannot probe other tenants.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use satusky_types::Role;

use crate::error::ApiErrorResponse;
use crate::state::AppState;

/// The caller, authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: String,
    pub role: Role,
}

impl Caller {
    /// Allow access to `org` only if it is the caller's.
    pub fn check_org(&self, org: &str) -> Result<(), ApiErrorResponse> {
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

/// The caller a user token names, or 401.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiErrorResponse> {
    match state.store.authenticate(token).await? {
        Some(info) => Ok(Caller {
            org: info.org,
            role: info.role,
        }),
        None => Err(ApiErrorResponse::unauthenticated(
            "the token is not valid (unknown or revoked); create one with `satusky token create --org ORG`",
        )),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiErrorResponse;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?;
        authenticate(state, token).await
    }
}

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

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiErrorResponse;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| {
                ApiErrorResponse::unauthenticated(
                    "missing Authorization header; send `Authorization: Bearer TOKEN` (create one with `satusky token create --org ORG`)",
                )
            })?
            .to_str()
            .map_err(|_| ApiErrorResponse::unauthenticated("the Authorization header is not valid text"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiErrorResponse::unauthenticated("the Authorization header must be `Bearer TOKEN`")
            })?;
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
}

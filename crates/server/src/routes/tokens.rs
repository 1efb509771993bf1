//! `GET/POST /v1/orgs/{org}/tokens` and `DELETE /v1/orgs/{org}/tokens/{id}`: an org's API
//! tokens, for admins only. A new token's secret is in the creation answer and nowhere else
//! (only its hash is kept). Revoking takes effect at the next request (nothing caches tokens)
//! and is idempotent. A token may revoke itself: that is how a leaked admin token is killed
//! with nothing else at hand, and the answer to that request is its last.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use satusky_core::time::{now_ms, rfc3339_ms};
use satusky_core::tokens::{parse_token_lifetime, validate_token_name};
use satusky_store::{NewToken, StoreError, TokenRecord};
use satusky_types::{ApiError, ApiToken, CreateTokenRequest, Role, TokenCreated};

use super::extract::{ApiJson, ApiPath};
use crate::auth::Caller;
use crate::error::ApiErrorResponse;
use crate::roles::Action;
use crate::state::AppState;

/// Live (unrevoked, unexpired) tokens an org may hold: a real org has a handful (people, CI
/// jobs); a hundred is generous and keeps a runaway script from filling the table.
const MAX_LIVE_TOKENS: u64 = 100;
/// Tokens a list returns: every live one (at most [`MAX_LIVE_TOKENS`]) and then the most
/// recently created revoked or expired ones, so the answer stays bounded however many were
/// revoked over the years.
const MAX_LISTED_TOKENS: u32 = 500;

/// The org's tokens: live ones first, then revoked and expired ones; newest first within
/// each. Never their secrets.
#[utoipa::path(get, path = "/v1/orgs/{org}/tokens", tag = "tokens",
    params(("org" = String, Path, description = "org name")),
    responses(
        (status = 200, body = Vec<ApiToken>),
        (status = 401, body = ApiError),
        (status = 403, description = "a member token: only admins manage tokens", body = ApiError),
        (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
) -> Result<Json<Vec<ApiToken>>, ApiErrorResponse> {
    caller.authorize(&org, Action::ManageTokens)?;
    let tokens = state
        .store
        .list_tokens(&org, now_ms(), MAX_LISTED_TOKENS)
        .await?;
    Ok(Json(tokens.iter().map(to_wire).collect()))
}

/// Create a token: its secret is in this answer only.
#[utoipa::path(post, path = "/v1/orgs/{org}/tokens", tag = "tokens",
    params(("org" = String, Path, description = "org name")),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "created; `token` is the secret, shown this once", body = TokenCreated),
        (status = 400, description = "the body is not JSON", body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, description = "a member token: only admins manage tokens", body = ApiError),
        (status = 404, body = ApiError),
        (status = 413, description = "the body is over 1 MiB", body = ApiError),
        (status = 415, description = "the body is not sent as application/json", body = ApiError),
        (status = 422, description = "a field is invalid (`name` 1–64 characters, `expires_in` 1h–365d) or the org holds 100 live tokens", body = ApiError)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(org): ApiPath<String>,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<
    (
        StatusCode,
        [(axum::http::HeaderName, &'static str); 1],
        Json<TokenCreated>,
    ),
    ApiErrorResponse,
> {
    caller.authorize(&org, Action::ManageTokens)?;
    let now = now_ms();
    if let Some(name) = &req.name {
        validate_token_name(name).map_err(|e| field_error("name", e))?;
    }
    let expires_at_ms = match &req.expires_in {
        Some(text) => {
            let ms = parse_token_lifetime(text).map_err(|e| field_error("expires_in", e))?;
            // At most a year: it fits.
            Some(now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
        }
        None => None,
    };
    let new = NewToken {
        role: req.role.unwrap_or(Role::Member),
        name: req.name.as_deref(),
        expires_at_ms,
        created_by: Some(&caller.token_id),
        max_live: Some(MAX_LIVE_TOKENS),
    };
    let (token, record) = state
        .store
        .create_token_with(&org, &new, now)
        .await
        .map_err(|e| match e {
            StoreError::LimitReached { limit, .. } => ApiErrorResponse::invalid(format!(
                "org {org} already holds {limit} live tokens, the most it may: revoke unused ones first (`1ctl token list`, `1ctl token revoke ID`)"
            ))
            .with_details(serde_json::json!({ "limit": limit })),
            other => other.into(),
        })?;
    tracing::info!(%org, token = %record.id, role = %record.role, by = %caller.token_id, "token created");
    Ok((
        StatusCode::CREATED,
        // The plaintext token must not be kept anywhere: not by caches, and not by the
        // Idempotency-Key store (a retry with the same key mints a new token instead).
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(TokenCreated {
            token,
            info: to_wire(&record),
        }),
    ))
}

/// Revoke a token: refused from the next request on. Revoking a revoked token changes
/// nothing (the first revocation time stays). A token may revoke itself.
#[utoipa::path(delete, path = "/v1/orgs/{org}/tokens/{id}", tag = "tokens",
    params(("org" = String, Path, description = "org name"), ("id" = String, Path, description = "token id (`tok_…`)")),
    responses(
        (status = 200, description = "revoked (now or before); the token's metadata", body = ApiToken),
        (status = 401, body = ApiError),
        (status = 403, description = "a member token: only admins manage tokens", body = ApiError),
        (status = 404, description = "the org has no token with this id", body = ApiError)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, id)): ApiPath<(String, String)>,
) -> Result<Json<ApiToken>, ApiErrorResponse> {
    caller.authorize(&org, Action::ManageTokens)?;
    let record = state
        .store
        .revoke_token(&org, &id, now_ms())
        .await?
        .ok_or_else(|| {
            ApiErrorResponse::not_found(format!(
                "org {org} has no token with this id; `1ctl token list` shows them"
            ))
        })?;
    tracing::info!(%org, token = %record.id, by = %caller.token_id, "token revoked");
    Ok(Json(to_wire(&record)))
}

fn field_error(field: &str, error: impl std::fmt::Display) -> ApiErrorResponse {
    let message = error.to_string();
    ApiErrorResponse::invalid(format!("{field}: {message}")).with_details(serde_json::json!({
        "fields": [{"field": field, "message": message}]
    }))
}

fn to_wire(t: &TokenRecord) -> ApiToken {
    ApiToken {
        id: t.id.clone(),
        name: t.name.clone(),
        role: t.role,
        created_at: rfc3339_ms(t.created_at_ms),
        expires_at: t.expires_at_ms.map(rfc3339_ms),
        revoked_at: t.revoked_at_ms.map(rfc3339_ms),
        last_used_at: t.last_used_at_ms.map(rfc3339_ms),
        created_by: t.created_by.clone(),
    }
}

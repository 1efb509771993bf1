//! `Idempotency-Key` on every mutation (SPEC §6): one axum middleware on the `/v1` routes.
//!
//! A POST/PUT/PATCH/DELETE that carries the header is scoped to the presented token, the
//! method and the path. The first such request claims a row in the store and runs; its answer
//! (unless 5xx, or too large) is kept for 24 h and replayed, status and body, with
//! `Idempotency-Replayed: true`, to the same request sent again; the same key with another
//! body or query is 422. Duplicates that arrive while the first runs wait for its answer
//! ([`IN_PROGRESS_WAIT`]), then get 409. The claimed request runs in its own task, so a client
//! that disconnects (and retries) does not leave it half-done. Requests without the header,
//! reads, and unauthenticated requests pass through untouched.
//!
//! Context uploads ([`STREAMED_UPLOAD`]) are excluded: their bodies are up to 100 MiB and are
//! streamed to disk, not buffered, and an upload is content-addressed, so sending it twice
//! stores the same thing under the same digest anyway.
//!
//! The decisions are pure ([`decision`]); the store holds the rows; the key that makes request
//! fingerprints unguessable is in [`key_file`].

pub mod decision;
pub mod key_file;
pub(crate) mod openapi;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use ring::hmac;
use satusky_core::time::now_ms;
use satusky_store::{Store, StoredResponse};
use satusky_types::ErrorCode;

use crate::error::{ApiErrorResponse, error_chain};
use decision::{Decision, HEADER, MAX_STORED_RESPONSE, REPLAYED_HEADER};

/// The route whose body is streamed, not buffered, and which is therefore not covered.
pub const STREAMED_UPLOAD: (Method, &str) = (Method::POST, "/v1/orgs/{org}/builds");
/// The largest body buffered to fingerprint it: the API's JSON limit (bodies are app specs
/// and small documents).
const MAX_BODY: usize = crate::settings::MAX_JSON_BODY;
/// How long a duplicate waits for the first request's answer before 409. Handlers answer in
/// milliseconds; this stays well under 1ctl's 30 s request timeout so the client hears it.
pub const IN_PROGRESS_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting duplicate looks at the row again.
const POLL: Duration = Duration::from_millis(50);
/// Expired rows are purged at most this often per server (one bounded delete each time).
const PURGE_EVERY_MS: i64 = 60 * 1000;
/// At most this many expired rows go per purge, so one purge never holds the write lock long.
const PURGE_BATCH: u64 = 1000;

/// The server's idempotency state: the key fingerprints are signed with, and the purge clock.
pub struct Idempotency {
    key: hmac::Key,
    next_purge_ms: AtomicI64,
}

impl Idempotency {
    /// With `secret` (see [`key_file::load_or_create`]).
    pub fn new(secret: &[u8]) -> Self {
        Idempotency {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            next_purge_ms: AtomicI64::new(0),
        }
    }

    /// With the key kept in `state_dir`, made on first use.
    pub fn from_state_dir(state_dir: &std::path::Path) -> Result<Self, key_file::KeyFileError> {
        Ok(Self::new(&key_file::load_or_create(state_dir)?))
    }

    /// With a random key that lasts as long as the process (tests, embedding without a state
    /// dir): a retry after a restart is then refused as another request.
    pub fn ephemeral() -> Result<Self, ring::error::Unspecified> {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)?;
        Ok(Idempotency {
            key,
            next_purge_ms: AtomicI64::new(0),
        })
    }

    /// Whether this caller should purge now (at most once per [`PURGE_EVERY_MS`]).
    fn purge_due(&self, now: i64) -> bool {
        let next = self.next_purge_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_purge_ms
                .compare_exchange(
                    next,
                    now + PURGE_EVERY_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

/// What the middleware needs of the server: the store (for the keyed rows and the caller's
/// token) and the fingerprint key (`None`: no randomness at start; keyed requests fail).
#[derive(Clone)]
pub struct Keyed {
    pub store: Store,
    pub idempotency: Option<Arc<Idempotency>>,
}

/// The middleware (`axum::middleware::from_fn_with_state`) on the `/v1` routes.
pub async fn middleware(State(state): State<Keyed>, req: Request, next: Next) -> Response {
    if !decision::is_mutation(req.method()) || is_streamed_upload(&req) {
        return next.run(req).await;
    }
    let key = match decision::parse_key(req.headers().get_all(HEADER)) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(req).await,
        Err(e) => {
            return ApiErrorResponse::bad_request(e.to_string())
                .with_details(serde_json::json!({ "header": "Idempotency-Key" }))
                .into_response();
        }
    };
    // Only a caller the API knows gets a row: anyone else is answered (401) by the handler
    // as usual, and cannot fill the table.
    let Ok(token) = crate::auth::bearer(req.headers()).map(str::to_owned) else {
        return next.run(req).await;
    };
    let Ok(caller) = crate::auth::authenticate(&state.store, &token).await else {
        return next.run(req).await;
    };
    // The handler's `Caller` extractor takes this one instead of asking the store again.
    let mut req = req;
    req.extensions_mut().insert(caller);
    let Some(idem) = state.idempotency.clone() else {
        tracing::error!("a request carries an Idempotency-Key but the server has no key");
        return ApiErrorResponse::internal().into_response();
    };
    let scope = decision::scope(&token, req.method(), req.uri().path());
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let request_hash = decision::request_hash(&idem.key, parts.uri.query(), &body);
    let req = Request::from_parts(parts, Body::from(body));
    let claim = Claim {
        store: state.store.clone(),
        scope,
        key,
    };
    match claim.run(idem, request_hash, req, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn is_streamed_upload(req: &Request) -> bool {
    let (method, path) = &STREAMED_UPLOAD;
    req.method() == method
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| m.as_str() == *path)
}

/// The body, up to [`MAX_BODY`] (413 beyond, like the JSON extractor).
async fn read_body(body: Body) -> Result<Vec<u8>, ApiErrorResponse> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiErrorResponse::bad_request(format!("the request body was interrupted: {e}"))
        })?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(ApiErrorResponse::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("the request body is over the {MAX_BODY}-byte limit"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// One key in one scope.
#[derive(Clone)]
struct Claim {
    store: Store,
    scope: String,
    key: String,
}

impl Claim {
    /// Claims the row and runs the request, or answers from the row someone else holds.
    async fn run(
        self,
        idem: Arc<Idempotency>,
        request_hash: String,
        req: Request,
        next: Next,
    ) -> Result<Response, ApiErrorResponse> {
        let deadline = Instant::now() + IN_PROGRESS_WAIT;
        loop {
            let now = now_ms();
            let stored = self
                .store
                .idempotency_record(&self.scope, &self.key)
                .await?;
            let waited_out = Instant::now() >= deadline;
            let claimed = match decision::decide(stored.as_ref(), &request_hash, now, waited_out) {
                Decision::Proceed => {
                    self.store
                        .claim_idempotency_key(&self.scope, &self.key, &request_hash, now)
                        .await?
                }
                Decision::TakeOver { seen_created_at_ms } => {
                    self.store
                        .reclaim_idempotency_key(
                            &self.scope,
                            &self.key,
                            seen_created_at_ms,
                            &request_hash,
                            now,
                        )
                        .await?
                }
                Decision::Replay => {
                    tracing::debug!(key = %self.key, "replaying the answer to an Idempotency-Key");
                    let response = stored.and_then(|s| s.response);
                    return response.map_or_else(|| Err(ApiErrorResponse::internal()), replay);
                }
                Decision::Mismatch => return Err(self.mismatch()),
                Decision::StillInProgress => return Err(self.in_progress()),
                Decision::Wait => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            if claimed {
                return Ok(self.execute(idem, now, req, next).await);
            }
            // Someone changed the row between the read and the write: look again, unless
            // that keeps happening for longer than a duplicate may wait.
            if waited_out {
                return Err(self.in_progress());
            }
        }
    }

    /// Runs the claimed request in its own task (a client that goes away does not cancel it
    /// halfway) and keeps or releases its answer.
    async fn execute(
        self,
        idem: Arc<Idempotency>,
        claimed_at: i64,
        req: Request,
        next: Next,
    ) -> Response {
        let claim = self.clone();
        let task = tokio::spawn(async move {
            let response = next.run(req).await;
            claim.settle(&idem, claimed_at, response).await
        });
        match task.await {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(error = %e, "a request with an Idempotency-Key failed");
                self.release(claimed_at).await;
                ApiErrorResponse::internal().into_response()
            }
        }
    }

    /// Stores the answer for replay, or releases the row so a retry runs again.
    async fn settle(&self, idem: &Idempotency, claimed_at: i64, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        let keep = if decision::is_no_store(&parts.headers) {
            Err(decision::NotKept::Secret)
        } else {
            decision::keep(parts.status, 0)
        };
        if let Err(why) = keep {
            tracing::debug!(status = %parts.status, ?why, "answer not kept for replay");
            self.release(claimed_at).await;
            return Response::from_parts(parts, body);
        }
        let mut stream = body.into_data_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    tracing::error!(error = %e, "the answer's body failed");
                    self.release(claimed_at).await;
                    return ApiErrorResponse::internal().into_response();
                }
            };
            if decision::keep(parts.status, buf.len() + chunk.len()).is_err() {
                tracing::warn!(
                    status = %parts.status,
                    limit = MAX_STORED_RESPONSE,
                    "an answer over the limit is not kept for Idempotency-Key replay"
                );
                self.release(claimed_at).await;
                buf.extend_from_slice(&chunk);
                let rest = futures_util::stream::once(async move { Ok(buf.into()) }).chain(stream);
                return Response::from_parts(parts, Body::from_stream(rest));
            }
            buf.extend_from_slice(&chunk);
        }
        let body = match String::from_utf8(buf) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!("an answer that is not text is not kept for Idempotency-Key replay");
                self.release(claimed_at).await;
                return Response::from_parts(parts, Body::from(e.into_bytes()));
            }
        };
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body,
        };
        match self
            .store
            .complete_idempotency_key(&self.scope, &self.key, claimed_at, &stored)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("an Idempotency-Key row was taken over while its request ran")
            }
            Err(e) => {
                // The request did run; a duplicate will wait, then take the row over.
                tracing::error!(error = %error_chain(&e), "cannot keep an answer for Idempotency-Key replay");
            }
        }
        self.purge_expired(idem);
        Response::from_parts(parts, Body::from(stored.body))
    }

    async fn release(&self, claimed_at: i64) {
        if let Err(e) = self
            .store
            .release_idempotency_key(&self.scope, &self.key, claimed_at)
            .await
        {
            tracing::error!(error = %error_chain(&e), "cannot release an Idempotency-Key row");
        }
    }

    /// Deletes a batch of expired rows in the background, at most once a minute.
    fn purge_expired(&self, idem: &Idempotency) {
        let now = now_ms();
        if !idem.purge_due(now) {
            return;
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            match store
                .purge_idempotency_keys(now - decision::RETENTION_MS, PURGE_BATCH)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, "expired Idempotency-Key rows purged"),
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "cannot purge expired Idempotency-Key rows")
                }
            }
        });
    }

    fn mismatch(&self) -> ApiErrorResponse {
        ApiErrorResponse::invalid(format!(
            "Idempotency-Key {} was already used with another request body (or query) on this path in the last 24 h; send a new key for a new request",
            self.key
        ))
        .with_details(serde_json::json!({ "header": "Idempotency-Key" }))
    }

    fn in_progress(&self) -> ApiErrorResponse {
        ApiErrorResponse::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!(
                "a request with this Idempotency-Key is still in progress (key {}); retry later with the same key to get its answer",
                self.key
            ),
        )
        .with_details(serde_json::json!({ "header": "Idempotency-Key" }))
    }
}

/// The kept answer, as first sent, marked as a replay.
fn replay(stored: StoredResponse) -> Result<Response, ApiErrorResponse> {
    let status = StatusCode::from_u16(stored.status).map_err(|_| {
        tracing::error!(
            status = stored.status,
            "a kept answer has an invalid status"
        );
        ApiErrorResponse::internal()
    })?;
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.remove(CONTENT_TYPE);
    if let Some(ct) = stored
        .content_type
        .and_then(|ct| HeaderValue::from_str(&ct).ok())
    {
        headers.insert(CONTENT_TYPE, ct);
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    Ok(response)
}

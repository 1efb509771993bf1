//! `GET …/apps/{app}/events?after=SEQ`: a WebSocket that replays the app's events after SEQ
//! from the store, then follows new ones. Each text frame is one `Event` as JSON.
//!
//! Memory per follower is bounded whatever the history or the client: the replay reads the
//! store in pages of at most [`PAGE_BYTES`] of event data, and reads the next page only once
//! the socket took every frame of the previous one (no read-ahead). A client that does not
//! take a frame within [`SEND_TIMEOUT`] is dropped with a close frame saying so and naming the
//! seq to resume after; it reconnects with `?after=SEQ` and loses nothing.
//!
//! Followers are woken by the in-process hub and also re-read on a short timer, so events
//! written by another process sharing the store arrive too. Handshake errors (a bad `after`, a
//! request that is not a WebSocket upgrade) answer with the API's JSON error body.
//!
//! The `101` answer carries [`LAST_SEQ_HEADER`]: the seq of the app's last event when the
//! stream was opened, so a client can tell the replayed history (seqs up to it) from events
//! that happen while it watches.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use satusky_core::ForeignError;
use satusky_store::StoreError;
use satusky_types::{ApiError, ErrorCode};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::apps::load_app;
use super::extract::ApiPath;
use crate::auth::Caller;
use crate::error::{ApiErrorResponse, error_chain};
use crate::roles::Action;
use crate::state::AppState;

/// Bytes of event `data` read from the store per page: what one follower holds at most
/// (parsed, plus the frame being sent): ~0.5 MB per follower that does not read
/// (`events-bench`), while a page is still large enough for a fast replay.
const PAGE_BYTES: usize = 256 * 1024;
/// How often a follower re-reads even without a wake-up (events from other processes).
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How often a follower checks that its token is still live: a revoked or expired token's
/// stream ends within this time, not when the client hangs up.
const REAUTH_EVERY: Duration = Duration::from_secs(2);
/// A frame the client does not take within this time gets the client dropped: long enough for
/// a slow link to take one frame, short enough that a stuck client holds nothing for long.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a dropped client gets to take the close frame (and what was queued before it).
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Largest message a client may send: it only ever sends pings and a close.
const MAX_INCOMING: usize = 64 * 1024;
/// The `101` answer's header naming the seq of the app's last event at the handshake.
pub const LAST_SEQ_HEADER: &str = "x-satusky-last-seq";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Replay events with a sequence number greater than this (0 = from the start). Seqs are
    /// stored as signed 64-bit integers, so larger values are refused.
    #[serde(default)]
    #[param(minimum = 0, maximum = 9223372036854775807_i64, required = false)]
    after: u64,
}

/// Live lifecycle events (WebSocket upgrade).
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/events", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"), EventsQuery),
    responses((status = 101, description = "switching to WebSocket; text frames carry Event JSON. \
        A client that does not read for 10 s is closed with code 1013 and a reason naming the seq to resume after",
            headers(("x-satusky-last-seq" = u64, description = "the seq of the app's last event when the stream opened: \
                events up to it are replayed history, later ones happen while the client watches"))),
        (status = 400, description = "`after` is not a whole number", body = ApiError),
        (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 426, description = "not a WebSocket upgrade request", body = ApiError)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    query: Result<Query<EventsQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Response> {
    let bad_after = || {
        ApiErrorResponse::bad_request(
            "after: must be a whole number from 0 to 9223372036854775807 — the seq of the last \
             event you saw, e.g. ?after=42 (0 replays everything)",
        )
        .into_response()
    };
    let Query(q) = query.map_err(|_| bad_after())?;
    if i64::try_from(q.after).is_err() {
        return Err(bad_after());
    }
    // What is asked for is checked before how: an unknown app is 404 with or without upgrade.
    load_app(&state, &caller, &org, &app, Action::Read)
        .await
        .map_err(IntoResponse::into_response)?;
    let ws = ws.map_err(upgrade_error)?;
    let ws = ws
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING);
    // Read before the upgrade: every event up to it is in the replay the follower sends.
    let last_seq = state
        .store
        .last_event_seq(&org, &app)
        .await
        .map_err(|e| ApiErrorResponse::from(e).into_response())?
        .unwrap_or(0);
    let token_id = caller.token_id.clone();
    let mut res = ws.on_upgrade(move |socket| async move {
        if let Err(e) = follow(state, org.clone(), app.clone(), token_id, q.after, socket).await {
            tracing::debug!(%org, %app, error = %error_chain(&e), "event stream ended");
        }
    });
    res.headers_mut()
        .insert(LAST_SEQ_HEADER, HeaderValue::from(last_seq));
    Ok(res)
}

/// Not a WebSocket handshake: 426 (with the `Upgrade: websocket` header RFC 9110 asks for)
/// when the upgrade headers are missing, the rejection's own status (400, 405) when they are
/// there but wrong; the API's JSON error body either way.
pub(super) fn upgrade_error(rejection: WebSocketUpgradeRejection) -> Response {
    match rejection {
        WebSocketUpgradeRejection::InvalidConnectionHeader(_)
        | WebSocketUpgradeRejection::InvalidUpgradeHeader(_) => {
            let mut res = ApiErrorResponse::new(
                StatusCode::UPGRADE_REQUIRED,
                ErrorCode::InvalidInput,
                "this endpoint is a WebSocket: connect with a WebSocket client \
                 (`Connection: Upgrade`, `Upgrade: websocket`)",
            )
            .into_response();
            res.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            res
        }
        other => ApiErrorResponse::new(
            other.status(),
            ErrorCode::InvalidInput,
            format!(
                "not a valid WebSocket handshake ({}): connect with a WebSocket client",
                other.body_text()
            ),
        )
        .into_response(),
    }
}

/// Why a follower stopped.
enum End {
    /// The client closed, or the server is shutting down.
    Done,
    /// The client did not take a frame in time; it should resume after this seq.
    TooSlow { after: u64 },
    /// The token was revoked or expired while the stream was open.
    TokenGone { after: u64 },
    /// Anything else (a store error, a broken connection), for the log.
    Failed(FollowError),
}

/// Why a follower's stream ended other than by the client closing it (for the log).
#[derive(Debug, thiserror::Error)]
enum FollowError {
    #[error("token {token_id} no longer live; stream closed")]
    TokenGone { token_id: String },
    #[error("client too slow; dropped after seq {after}")]
    TooSlow { after: u64 },
    #[error("cannot read the store")]
    Store(#[source] StoreError),
    #[error("cannot encode an event")]
    Encode(#[source] serde_json::Error),
    /// axum's error repeats its source in `Display`: kept as a [`ForeignError`].
    #[error("send")]
    Send(#[source] ForeignError),
}

async fn follow(
    state: AppState,
    org: String,
    app: String,
    token_id: String,
    after: u64,
    mut socket: WebSocket,
) -> Result<(), FollowError> {
    match stream(&state, &org, &app, &token_id, after, &mut socket).await {
        End::Done => Ok(()),
        End::TokenGone { after } => {
            let reason = format!(
                "the token was revoked or has expired; reconnect with a valid token and ?after={after}"
            );
            close(&mut socket, close_code::POLICY, reason).await;
            Err(FollowError::TokenGone { token_id })
        }
        End::TooSlow { after } => {
            let reason = format!(
                "too slow: a frame was not read within {} s; reconnect with ?after={after}",
                SEND_TIMEOUT.as_secs()
            );
            close(&mut socket, close_code::AGAIN, reason).await;
            Err(FollowError::TooSlow { after })
        }
        End::Failed(e) => {
            let reason = "internal error; the server log has the details".to_owned();
            close(&mut socket, close_code::ERROR, reason).await;
            Err(e)
        }
    }
}

/// Sends a close frame, giving the client [`CLOSE_GRACE`] to take it.
async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, socket.send(Message::Close(Some(frame)))).await;
}

/// Replays page by page, then follows; returns why it stopped.
async fn stream(
    state: &AppState,
    org: &str,
    app: &str,
    token_id: &str,
    mut after: u64,
    socket: &mut WebSocket,
) -> End {
    // Subscribe before the first read so nothing written in between is missed.
    let mut wake = state.hub.subscribe();
    let mut authed_at = tokio::time::Instant::now();
    loop {
        if authed_at.elapsed() >= REAUTH_EVERY {
            match state
                .store
                .token_live(org, token_id, satusky_core::time::now_ms())
                .await
            {
                Ok(true) => authed_at = tokio::time::Instant::now(),
                Ok(false) => return End::TokenGone { after },
                Err(e) => return End::Failed(FollowError::Store(e)),
            }
        }
        let page = match state.store.events_page(org, app, after, PAGE_BYTES).await {
            Ok(page) => page,
            Err(e) => return End::Failed(FollowError::Store(e)),
        };
        for ev in page.events {
            let text = match serde_json::to_string(&ev) {
                Ok(text) => text,
                Err(e) => return End::Failed(FollowError::Encode(e)),
            };
            match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await
            {
                Ok(Ok(())) => after = ev.seq,
                Ok(Err(e)) => return End::Failed(FollowError::Send(ForeignError::new(&e))),
                // The frame is queued ahead of the close frame: a client that reads the close
                // has it, so it resumes after it.
                Err(_) => return End::TooSlow { after: ev.seq },
            }
        }
        if page.more {
            continue;
        }
        loop {
            tokio::select! {
                woke = wake.recv() => match woke {
                    Ok(key) if key.org == org && key.app == app => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return End::Done,
                },
                _ = tokio::time::sleep(POLL_EVERY) => break,
                msg = socket.recv() => match msg {
                    None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return End::Done,
                    Some(Ok(_)) => continue,
                },
            }
        }
    }
}

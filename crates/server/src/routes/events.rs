//! `GET …/apps/{app}/events?after=SEQ`: a WebSocket that replays the app's events after SEQ
//! from the store, then follows new ones. Each text frame is one `Event` as JSON.
//!
//! Followers are woken by the in-process hub and also re-read on a short timer, so events
//! written by another process sharing the store arrive too. A client that cannot keep up is
//! dropped; it reconnects with its last sequence and loses nothing.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::Response;
use satusky_types::ApiError;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::apps::load_app;
use super::extract::ApiPath;
use crate::auth::Caller;
use crate::error::{ApiErrorResponse, error_chain};
use crate::roles::Action;
use crate::state::AppState;

/// Events read from the store per batch.
const BATCH: u32 = 500;
/// How often a follower re-reads even without a wake-up (events from other processes).
const POLL_EVERY: Duration = Duration::from_secs(1);
/// A frame the client does not take within this time gets the client dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Replay events with a sequence number greater than this (0 = from the start).
    #[serde(default)]
    after: u64,
}

/// Live lifecycle events (WebSocket upgrade).
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/events", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"), EventsQuery),
    responses((status = 101, description = "switching to WebSocket; text frames carry Event JSON"),
        (status = 401, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    Query(q): Query<EventsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiErrorResponse> {
    load_app(&state, &caller, &org, &app, Action::Read).await?;
    Ok(ws.on_upgrade(move |socket| async move {
        if let Err(e) = follow(state, org.clone(), app.clone(), q.after, socket).await {
            tracing::debug!(%org, %app, error = %e, "event stream ended");
        }
    }))
}

async fn follow(
    state: AppState,
    org: String,
    app: String,
    mut after: u64,
    mut socket: WebSocket,
) -> Result<(), String> {
    // Subscribe before the first read so nothing written in between is missed.
    let mut wake = state.hub.subscribe();
    loop {
        let batch = state
            .store
            .events_after(&org, &app, after, BATCH)
            .await
            .map_err(|e| error_chain(&e))?;
        let full = batch.len() == BATCH as usize;
        for ev in batch {
            let text = serde_json::to_string(&ev).map_err(|e| e.to_string())?;
            match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await
            {
                Ok(Ok(())) => after = ev.seq,
                Ok(Err(e)) => return Err(format!("send: {e}")),
                Err(_) => return Err("client too slow; dropped".into()),
            }
        }
        if full {
            continue;
        }
        loop {
            tokio::select! {
                woke = wake.recv() => match woke {
                    Ok(key) if key.org == org && key.app == app => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = tokio::time::sleep(POLL_EVERY) => break,
                msg = socket.recv() => match msg {
                    None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return Ok(()),
                    Some(Ok(_)) => continue,
                },
            }
        }
    }
}

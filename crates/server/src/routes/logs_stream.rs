//! `GET …/apps/{app}/logs/stream`: a WebSocket carrying the app's runtime log lines (issue
//! 15) — first the newest `tail` lines that match (with `after=SEQ` instead: every line after
//! SEQ, how a client resumes), then each new line as the runtime writes it. Each text frame is
//! one `LogLine` as JSON. The filters (`since`, `release`, `replica`) and their bounds are
//! those of `GET …/logs` ([`super::logs::log_query`]: a 422 names the parameter).
//!
//! Memory per follower is bounded whatever the log or the client: the runtime is read in
//! pages of at most [`PAGE_LINES`] lines, the next page only once the socket took every frame
//! of the last (no read-ahead). On a runtime that keeps the log itself
//! (`Runtime::log_follower`: the local runtime) the pages run forward from the last line
//! sent, so a follower however far behind misses nothing, and it is woken as soon as lines are
//! written. Other runtimes (Kubernetes) are re-read every [`POLL_EVERY`], each read answering
//! the newest lines after the last one sent: there a follower more than a page behind skips
//! ahead (as `GET …/logs` pollers do), and the tail replay is one read of `tail` lines.
//!
//! The rest mirrors the event stream (`routes/events.rs`): what is asked for is checked
//! before how — 404 for an unknown app or another org's, 422, 501 when the runtime keeps no
//! logs, then 426 when the request is not an upgrade; the token is re-checked every
//! [`REAUTH_EVERY`]; a client that does not take a frame within [`SEND_TIMEOUT`] is dropped
//! with a close frame naming `?after=SEQ`, from which it resumes losing nothing.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use satusky_core::ForeignError;
use satusky_core::runtime::{LogFollower, LogQuery, RuntimeError};
use satusky_core::time::now_ms;
use satusky_store::StoreError;
use satusky_types::{ApiError, LogLine};
use tokio::time::{Instant, sleep_until, timeout};

use super::apps::load_app;
use super::events::upgrade_error;
use super::extract::ApiPath;
use super::logs::{LogsQuery, log_query, no_logs, read_error};
use crate::auth::Caller;
use crate::engine::Engine;
use crate::error::{ApiErrorResponse, error_chain};
use crate::roles::Action;
use crate::state::AppState;

/// The most lines read from the runtime at once: what one follower holds at most (plus the
/// frame being sent) — ~16 MiB with every line at the capture's 16 KiB cap, ~100 KiB for
/// ordinary lines — while a far-behind follower still catches up in few reads.
const PAGE_LINES: u32 = 1_000;
/// How often a follower re-reads a runtime that cannot tell when lines are written.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// How often a follower checks that its token is still live (and, on a runtime that tells,
/// re-reads anyway): a revoked or expired token's stream ends within this time.
const REAUTH_EVERY: Duration = Duration::from_secs(2);
/// A frame the client does not take within this time gets the client dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a dropped client gets to take the close frame (and what was queued before it).
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Largest message a client may send: it only ever sends pings and a close.
const MAX_INCOMING: usize = 64 * 1024;

/// Live log lines (WebSocket upgrade).
#[utoipa::path(get, path = "/v1/orgs/{org}/apps/{app}/logs/stream", tag = "apps",
    params(("org" = String, Path, description = "org name"), ("app" = String, Path, description = "app name"), LogsQuery),
    responses((status = 101, description = "switching to WebSocket; text frames carry LogLine JSON: the newest `tail` \
        matching lines (with `after`: every line after it instead), then each new line. A client that does not read \
        for 10 s is closed with code 1013 and a reason naming `?after=SEQ` to resume with"),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 422, body = ApiError),
        (status = 426, description = "not a WebSocket upgrade request", body = ApiError),
        (status = 501, description = "this control plane's runtime keeps no logs", body = ApiError),
        (status = 503, description = "the runtime cannot read the logs now", body = ApiError)),
    security(("bearer" = [])))]
pub async fn logs_stream(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((org, app)): ApiPath<(String, String)>,
    query: Result<Query<LogsQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Response> {
    let Query(q) =
        query.map_err(|e| ApiErrorResponse::bad_request(e.body_text()).into_response())?;
    load_app(&state, &caller, &org, &app, Action::Read)
        .await
        .map_err(IntoResponse::into_response)?;
    let query = log_query(&q, now_ms()).map_err(IntoResponse::into_response)?;
    let Some(engine) = state.engine.clone() else {
        let e = no_logs("this control plane runs no runtime (--runtime none): there are no logs");
        return Err(e.into_response());
    };
    let ws = ws.map_err(upgrade_error)?;
    let start = start(&engine, &org, &app, &query)
        .await
        .map_err(|e| read_error(&org, &app, &e).into_response())?;
    let ws = ws
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING);
    let follower = Follower {
        state,
        engine,
        org,
        app,
        token_id: caller.token_id.clone(),
        query,
    };
    Ok(ws.on_upgrade(move |socket| async move {
        let (org, app) = (follower.org.clone(), follower.app.clone());
        if let Err(e) = follower.run(start, socket).await {
            tracing::debug!(%org, %app, error = %error_chain(&e), "log stream ended");
        }
    }))
}

/// How a follower learns of new lines and reads them.
enum Source {
    /// The runtime tells, and pages forward.
    Follower(Box<dyn LogFollower>),
    /// The runtime is re-read on a timer.
    Poll,
}

/// Where a stream begins, read before the upgrade (so a runtime without logs answers 501).
struct Start {
    source: Source,
    /// The seq to read on after (`None`: from the oldest line kept).
    after: Option<u64>,
    /// Lines already read for the client (a polled runtime's tail replay).
    first: Option<Vec<LogLine>>,
}

async fn start(
    engine: &Engine,
    org: &str,
    app: &str,
    query: &LogQuery,
) -> Result<Start, RuntimeError> {
    if let Some(follower) = engine.log_follower(org, app) {
        let after = match query.after_seq {
            Some(after) => Some(after),
            None => follower.tail_start(query.clone()).await?,
        };
        return Ok(Start {
            source: Source::Follower(follower),
            after,
            first: None,
        });
    }
    let mut first = query.clone();
    if first.after_seq.is_some() {
        first.tail = Some(PAGE_LINES);
    }
    let lines = engine.logs(org, app, first).await?;
    Ok(Start {
        source: Source::Poll,
        after: lines.last().map(|l| l.seq).or(query.after_seq),
        first: Some(lines),
    })
}

/// Why a follower stopped.
enum End {
    /// The client closed, or the server is shutting down.
    Done,
    /// The app's log was removed (the app was deleted).
    LogGone,
    /// The client did not take a frame in time; it should resume after this seq.
    TooSlow { after: u64 },
    /// The token was revoked or expired while the stream was open.
    TokenGone { after: Option<u64> },
    /// Anything else, for the log; the client may resume after `after`.
    Failed {
        error: FollowError,
        after: Option<u64>,
    },
}

/// Why a follower's stream ended other than by the client closing it (for the log).
#[derive(Debug, thiserror::Error)]
enum FollowError {
    #[error("token {token_id} no longer live; stream closed")]
    TokenGone { token_id: String },
    #[error("client too slow; dropped after seq {after}")]
    TooSlow { after: u64 },
    #[error("the app's log was removed")]
    LogGone,
    #[error("cannot read the logs")]
    Runtime(#[source] RuntimeError),
    #[error("cannot check the token")]
    Store(#[source] StoreError),
    #[error("cannot encode a log line")]
    Encode(#[source] serde_json::Error),
    /// axum's error repeats its source in `Display`: kept as a [`ForeignError`].
    #[error("send")]
    Send(#[source] ForeignError),
}

/// ` and ?after=SEQ` when a line was sent, for a close reason.
fn resume(after: Option<u64>) -> String {
    after.map_or_else(String::new, |a| format!(" and ?after={a}"))
}

struct Follower {
    state: AppState,
    engine: Engine,
    org: String,
    app: String,
    token_id: String,
    query: LogQuery,
}

impl Follower {
    async fn run(self, start: Start, mut socket: WebSocket) -> Result<(), FollowError> {
        let (code, reason, error) = match self.stream(start, &mut socket).await {
            End::Done => return Ok(()),
            End::LogGone => (
                close_code::NORMAL,
                "the app's log was removed".to_owned(),
                FollowError::LogGone,
            ),
            End::TooSlow { after } => (
                close_code::AGAIN,
                format!(
                    "too slow: a line was not read within {} s; reconnect with ?after={after}",
                    SEND_TIMEOUT.as_secs()
                ),
                FollowError::TooSlow { after },
            ),
            End::TokenGone { after } => (
                close_code::POLICY,
                format!(
                    "the token was revoked or has expired; reconnect with a valid token{}",
                    resume(after)
                ),
                FollowError::TokenGone {
                    token_id: self.token_id.clone(),
                },
            ),
            End::Failed { error, after } => {
                let reason = match &error {
                    FollowError::Runtime(_) => "the runtime cannot read the logs now",
                    _ => "internal error; the server log has the details",
                };
                let reason = format!("{reason}; reconnect{}", resume(after));
                (close_code::ERROR, reason, error)
            }
        };
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = timeout(CLOSE_GRACE, socket.send(Message::Close(Some(frame)))).await;
        Err(error)
    }

    /// Sends page after page, waiting between them; returns why it stopped.
    async fn stream(&self, start: Start, socket: &mut WebSocket) -> End {
        let Start {
            mut source,
            mut after,
            mut first,
        } = start;
        let mut authed_at = Instant::now();
        loop {
            if authed_at.elapsed() >= REAUTH_EVERY {
                let live = self
                    .state
                    .store
                    .token_live(&self.org, &self.token_id, now_ms());
                match live.await {
                    Ok(true) => authed_at = Instant::now(),
                    Ok(false) => return End::TokenGone { after },
                    Err(e) => {
                        let error = FollowError::Store(e);
                        return End::Failed { error, after };
                    }
                }
            }
            let page = match first.take() {
                Some(lines) => lines,
                None => match self.read(&mut source, after).await {
                    Ok(page) => page,
                    Err(e) => {
                        let error = FollowError::Runtime(e);
                        return End::Failed { error, after };
                    }
                },
            };
            let full = page.len() >= PAGE_LINES as usize;
            if let Err(end) = send_all(socket, page, &mut after).await {
                return end;
            }
            if full {
                continue;
            }
            let tick = match source {
                Source::Follower(_) => REAUTH_EVERY,
                Source::Poll => POLL_EVERY,
            };
            let deadline = Instant::now() + tick;
            loop {
                tokio::select! {
                    told = changed(&mut source) => {
                        if !told {
                            return End::LogGone;
                        }
                        break;
                    }
                    _ = sleep_until(deadline) => break,
                    msg = socket.recv() => match msg {
                        None | Some(Ok(Message::Close(_))) | Some(Err(_)) => return End::Done,
                        Some(Ok(_)) => continue,
                    },
                }
            }
        }
    }

    /// The next page after `after`.
    async fn read(
        &self,
        source: &mut Source,
        after: Option<u64>,
    ) -> Result<Vec<LogLine>, RuntimeError> {
        let query = LogQuery {
            tail: Some(PAGE_LINES),
            after_seq: after,
            ..self.query.clone()
        };
        match source {
            Source::Follower(f) => f.page(query).await,
            Source::Poll => self.engine.logs(&self.org, &self.app, query).await,
        }
    }
}

/// Resolves when the runtime says lines were written (`false`: it will not say any more);
/// never for a polled runtime.
async fn changed(source: &mut Source) -> bool {
    match source {
        Source::Follower(f) => f.changed().await,
        Source::Poll => std::future::pending().await,
    }
}

/// Sends every line of `page`, each within [`SEND_TIMEOUT`], moving `after` past each one.
async fn send_all(
    socket: &mut WebSocket,
    page: Vec<LogLine>,
    after: &mut Option<u64>,
) -> Result<(), End> {
    for line in page {
        let text = serde_json::to_string(&line).map_err(|e| End::Failed {
            error: FollowError::Encode(e),
            after: *after,
        })?;
        match timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => *after = Some(line.seq),
            Ok(Err(e)) => {
                let error = FollowError::Send(ForeignError::new(&e));
                return Err(End::Failed {
                    error,
                    after: *after,
                });
            }
            // The frame is queued ahead of the close frame: a client that reads the close
            // has it, so it resumes after it.
            Err(_) => return Err(End::TooSlow { after: line.seq }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_names_where_to_resume_and_fits_a_frame() {
        assert_eq!(resume(Some(42)), " and ?after=42");
        assert_eq!(resume(None), "");
        let longest = format!(
            "the token was revoked or has expired; reconnect with a valid token{}",
            resume(Some(u64::MAX))
        );
        // RFC 6455: a close frame's reason is at most 123 bytes.
        assert!(longest.len() <= 123, "{}", longest.len());
    }
}

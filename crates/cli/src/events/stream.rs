//! The app's event stream (`GET …/apps/{app}/events?after=SEQ`, a WebSocket) as a
//! background task that never gives up on a transient failure: it reconnects from the last
//! sequence number it delivered (so nothing is lost or repeated) with a capped backoff, and
//! hands each event, and each connection change, to the caller over a channel.
//!
//! It stops for good only when the server refuses the stream (401/403/404/4xx: retrying
//! would not help) or when the receiver is dropped. Nothing here prints or decides.

use std::time::Duration;

use futures_util::StreamExt;
use satusky_types::Event;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::client::Client;
use crate::exit::CliError;

/// First wait before reconnecting: short, a restarting control plane is back quickly.
const RETRY_MIN: Duration = Duration::from_millis(250);
/// Longest wait between reconnects: the display should catch up within seconds.
const RETRY_MAX: Duration = Duration::from_secs(3);

/// The `101` answer's header naming the seq of the app's last event when the stream opened.
const LAST_SEQ_HEADER: &str = "x-satusky-last-seq";

/// What the task tells its receiver.
#[derive(Debug)]
pub enum Msg {
    /// A connection is open (the first one, or again after a loss). `last_seq`: the seq of
    /// the app's last event at that moment, when the server says (events up to it are
    /// replayed history).
    Connected { last_seq: Option<u64> },
    /// The next event (its `seq` is above every one delivered before).
    Event(Event),
    /// The connection dropped or could not be opened; the task retries.
    Lost(String),
    /// The server refused the stream; the task has stopped.
    Gone(CliError),
}

/// A running stream; dropping it stops the task.
#[derive(Debug)]
pub struct Stream {
    pub rx: mpsc::UnboundedReceiver<Msg>,
    task: JoinHandle<()>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts following the events of `org/app` after sequence number `after`.
pub fn follow(client: Client, org: String, app: String, after: u64) -> Stream {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(client, org, app, after, tx));
    Stream { rx, task }
}

async fn run(
    client: Client,
    org: String,
    app: String,
    mut after: u64,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let path = ["v1", "orgs", org.as_str(), "apps", app.as_str(), "events"];
    let mut backoff = RETRY_MIN;
    loop {
        let seq = after.to_string();
        match client.websocket(&path, &[("after", seq.as_str())]).await {
            Ok((mut ws, headers)) => {
                let last_seq = headers
                    .get(LAST_SEQ_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                if tx.send(Msg::Connected { last_seq }).is_err() {
                    return;
                }
                backoff = RETRY_MIN;
                let why = loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(text))) => {
                            // A frame that is not an event is skipped: display only.
                            let Ok(event) = serde_json::from_str::<Event>(text.as_str()) else {
                                continue;
                            };
                            if event.seq <= after {
                                continue;
                            }
                            after = event.seq;
                            if tx.send(Msg::Event(event)).is_err() {
                                return;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => {
                            break "closed by the control plane".to_string();
                        }
                        // Pings are answered by tungstenite on the next read.
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break e.to_string(),
                    }
                };
                if tx.send(Msg::Lost(why)).is_err() {
                    return;
                }
            }
            Err(e) if retryable(&e) => {
                if tx.send(Msg::Lost(e.to_string())).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Msg::Gone(e));
                return;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}

/// The control plane being down or failing briefly is worth retrying; a refusal is not.
fn retryable(e: &CliError) -> bool {
    matches!(e, CliError::Unreachable(_) | CliError::Unexpected(_))
}

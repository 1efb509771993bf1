//! `1ctl logs -f` on the log stream (`GET …/apps/{app}/logs/stream`, a WebSocket): the newest
//! `--tail` lines, then each new line as the runtime writes it. A dropped connection is said
//! once on stderr and reopened with `after=` the last seq printed (capped backoff), so nothing
//! is printed twice or lost; "log stream back" once it is open again. A server that has no
//! such path (404 at the first handshake: an older server) is handed back to the caller, which
//! polls `GET …/logs` instead. The connection itself (auth header, TLS and CA) is the client's
//! ([`Client::websocket`], the same as the event stream's).

use std::time::Duration;

use futures_util::StreamExt;
use satusky_types::LogLine;
use tokio_tungstenite::tungstenite::Message;

use crate::client::Client;
use crate::exit::CliError;
use crate::output;

/// First wait before reconnecting: short, a restarting control plane is back quickly.
const RETRY_MIN: Duration = Duration::from_millis(250);
/// Longest wait between reconnects.
const RETRY_MAX: Duration = Duration::from_secs(3);

/// The server has no log stream (an older server): poll instead.
#[derive(Debug)]
pub struct NoStream;

/// Follows `org/app`'s log until the process is stopped, printing each line with `print`.
/// `filters` are the query's `since`, `release` and `replica`; `since` only applies to the
/// first connection (a reconnection resumes after the last line printed).
pub async fn stream(
    client: &Client,
    org: &str,
    app: &str,
    tail: u32,
    filters: &[(&'static str, String)],
    mut print: impl FnMut(&LogLine) -> Result<(), CliError>,
) -> Result<NoStream, CliError> {
    let path = ["v1", "orgs", org, "apps", app, "logs", "stream"];
    let mut after: Option<u64> = None;
    let mut opened = false;
    let mut lost = false;
    let mut backoff = RETRY_MIN;
    loop {
        let query = query(tail, filters, after);
        let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match client.websocket(&path, &q).await {
            Ok((mut ws, _)) => {
                opened = true;
                if lost {
                    output::note("log stream back");
                    lost = false;
                }
                backoff = RETRY_MIN;
                let why = loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(text))) => {
                            let Ok(line) = serde_json::from_str::<LogLine>(text.as_str()) else {
                                continue;
                            };
                            if after.is_some_and(|a| line.seq <= a) {
                                continue;
                            }
                            print(&line)?;
                            after = Some(line.seq);
                        }
                        Some(Ok(Message::Close(frame))) => {
                            break frame
                                .map(|f| f.reason.to_string())
                                .filter(|r| !r.is_empty())
                                .unwrap_or_else(|| "closed by the control plane".into());
                        }
                        None => break "closed by the control plane".into(),
                        // Pings are answered by tungstenite on the next read.
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break e.to_string(),
                    }
                };
                if !lost {
                    output::note(&format!("log stream lost ({why}): reconnecting…"));
                    lost = true;
                }
            }
            Err(CliError::NotFound(_)) if !opened => return Ok(NoStream),
            Err(e @ (CliError::Unreachable(_) | CliError::Unexpected(_))) => {
                if !lost {
                    output::note(&format!("log stream lost ({e}): reconnecting…"));
                    lost = true;
                }
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}

/// The stream's query: the tail and every filter at first, `after` and the filters but
/// `since` once a line was printed.
fn query(
    tail: u32,
    filters: &[(&'static str, String)],
    after: Option<u64>,
) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = match after {
        None => vec![("tail", tail.to_string())],
        Some(seq) => vec![("after", seq.to_string())],
    };
    let keep = |k: &&str| after.is_none() || *k != "since";
    q.extend(filters.iter().filter(|(k, _)| keep(k)).cloned());
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnection_resumes_after_the_last_line_without_since() {
        let filters = [("since", "10m".to_string()), ("release", "v2".to_string())];
        assert_eq!(
            query(5, &filters, None),
            vec![
                ("tail", "5".to_string()),
                ("since", "10m".to_string()),
                ("release", "v2".to_string())
            ]
        );
        assert_eq!(
            query(5, &filters, Some(41)),
            vec![("after", "41".to_string()), ("release", "v2".to_string())]
        );
    }
}

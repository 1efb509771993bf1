//! `1ctl app events [APP] [--last N] [--follow]`: the app's event stream in readable form —
//! phases, releases, build log lines, rollouts, planes, drift, domains — one line each with
//! its time (with `-o json`: each event as one JSON line). The last N events come first,
//! framed as history; `--follow` then stays on the live stream (Ctrl-C ends it), resuming
//! after a dropped connection without losing or repeating an event.
//!
//! The history is bounded: the stream's handshake names the app's last seq, and only the N
//! events before it are replayed.

use satusky_types::Event;

use crate::cli::AppTarget;
use crate::commands::{Env, target};
use crate::events::replay::{EARLIER, NOW};
use crate::events::stream::{self, Msg};
use crate::events::{Update, clock};
use crate::exit::{self, CliError};
use crate::output;

pub async fn run(target: &AppTarget, last: u64, follow: bool, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = target::resolve(target, env).await?;
    // The app must exist (the stream of an unknown app is refused: exit 5).
    let _: satusky_types::AppDetail = session
        .client
        .get(&["v1", "orgs", &org, "apps", &app])
        .await?;
    let until = last_seq(&session.client, &org, &app).await?;
    let after = until.saturating_sub(last);
    let marker = |text: &str| match env.json() {
        true => output::note(text),
        false => output::line(text),
    };
    // Events up to `until` are history; the rest arrive live.
    let mut history = until > after;
    if until == 0 {
        marker("(no events yet)");
    }
    if history {
        marker(EARLIER);
    } else if follow {
        marker(NOW);
    } else {
        return Ok(exit::OK);
    }
    let mut stream = stream::follow(session.client.clone(), org, app, after);
    let mut lost = false;
    while let Some(msg) = stream.rx.recv().await {
        match msg {
            Msg::Connected { .. } => {
                if lost {
                    output::note("event stream back");
                }
                lost = false;
            }
            Msg::Event(e) => {
                if env.json() {
                    output::line(&serde_json::to_string(&e).map_err(|err| {
                        CliError::Unexpected(format!("cannot encode an event: {err}"))
                    })?);
                } else {
                    output::line(&line(&e));
                }
                if history && e.seq >= until {
                    history = false;
                    if !follow {
                        return Ok(exit::OK);
                    }
                    marker(NOW);
                }
            }
            Msg::Lost(why) => {
                if !lost {
                    output::note(&format!("event stream lost ({why}): reconnecting…"));
                }
                lost = true;
            }
            Msg::Gone(e) => return Err(e),
        }
    }
    Ok(exit::OK)
}

/// The seq of the app's last event now: a stream opened past every event replays nothing and
/// names it on its handshake.
async fn last_seq(client: &crate::client::Client, org: &str, app: &str) -> Result<u64, CliError> {
    let mut probe = stream::follow(client.clone(), org.into(), app.into(), i64::MAX as u64);
    let rx = &mut probe.rx;
    loop {
        match rx.recv().await {
            Some(Msg::Connected { last_seq }) => return Ok(last_seq.unwrap_or(0)),
            Some(Msg::Gone(e)) => return Err(e),
            Some(Msg::Lost(why)) => {
                return Err(CliError::Unexpected(format!(
                    "cannot open the app's event stream: {why}"
                )));
            }
            Some(Msg::Event(_)) => {}
            None => {
                return Err(CliError::Unexpected(
                    "the event stream ended before it opened".into(),
                ));
            }
        }
    }
}

/// `HH:MM:SS v3 phase ready`: the time, the release when the event names one, and what
/// happened; an event this `1ctl` does not know is shown by its type and data.
pub fn line(e: &Event) -> String {
    match Update::parse(e) {
        Some(u) => match u.release() {
            Some(r) if !matches!(u, Update::Release { .. }) => {
                format!("{} v{r} {}", clock(&e.at), u.line())
            }
            _ => format!("{} {}", clock(&e.at), u.line()),
        },
        None => format!("{} {} {}", clock(&e.at), e.kind, e.data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use satusky_types::EventType;
    use serde_json::json;

    fn event(kind: EventType, data: serde_json::Value) -> Event {
        Event {
            seq: 7,
            app: "web".into(),
            kind,
            at: "2026-12-07T13:45:01.123Z".into(),
            data,
        }
    }

    #[test]
    fn each_event_is_one_readable_line() {
        let phase = event(EventType::Phase, json!({"phase": "ready", "release": 3}));
        assert_eq!(line(&phase), "13:45:01 v3 phase ready");
        let log = event(
            EventType::BuildLog,
            json!({"release": 2, "line": "cargo build"}),
        );
        assert_eq!(line(&log), "13:45:01 v2 build │ cargo build");
        let unknown = event(EventType::Phase, json!({"what": 1}));
        assert_eq!(line(&unknown), "13:45:01 phase {\"what\":1}");
    }
}

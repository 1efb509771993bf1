//! `1ctl logs [APP] [--tail N] [--since D] [--release vN] [--replica R] [-f] [--build [vN]]`:
//! an app's runtime log lines, one per line with a short prefix naming the release, replica
//! and (for stderr) the stream — coloured on a terminal, plain when piped, JSON lines with
//! `-o json`. `--follow` reads the log stream ([`follow`]: the tail, then each new line; a
//! dropped connection resumes after the last line shown, nothing is shown twice or lost); a
//! server without the stream is polled for lines after the last one seen instead. `--build`
//! prints a release's build log instead (the target release by default), also after the
//! deploy that ran it has exited.

use std::time::Duration;

use satusky_types::{AppDetail, BuildReport, LogLine, LogStream, PlaneState};

use crate::cli::LogsArgs;
use crate::commands::{Env, target};
use crate::exit::{self, CliError};
use crate::output;

mod follow;

/// How often `--follow` asks for new lines of a server without the log stream.
const FOLLOW_EVERY: Duration = Duration::from_millis(150);

pub async fn run(args: &LogsArgs, env: &Env) -> Result<u8, CliError> {
    let (session, org, app) = target::resolve(&args.target, env).await?;
    let client = &session.client;
    if let Some(which) = &args.build {
        return build_log(client, &org, &app, which.as_deref(), env).await;
    }
    let mut filters: Vec<(&str, String)> = Vec::new();
    if let Some(s) = &args.since {
        filters.push(("since", s.clone()));
    }
    if let Some(r) = &args.release {
        filters.push(("release", r.clone()));
    }
    if let Some(r) = &args.replica {
        filters.push(("replica", r.clone()));
    }
    let colour = output::colour();
    if args.follow {
        let print = |l: &LogLine| print(l, env, colour);
        // Returns only when the server has no stream: then it is polled below.
        let follow::NoStream =
            follow::stream(client, &org, &app, args.tail, &filters, print).await?;
    }
    let mut query: Vec<(&str, String)> = vec![("tail", args.tail.to_string())];
    query.extend(filters);
    let path = ["v1", "orgs", org.as_str(), "apps", app.as_str(), "logs"];
    let first: Vec<LogLine> = get(client, &path, &query).await?;
    let mut last = first.last().map(|l| l.seq);
    for l in &first {
        print(l, env, colour)?;
    }
    if !args.follow {
        return Ok(exit::OK);
    }
    query.retain(|(k, _)| *k != "since" && *k != "tail");
    query.push(("tail", "10000".into()));
    let mut lost = false;
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let mut q = query.clone();
        if let Some(seq) = last {
            q.push(("after", seq.to_string()));
        }
        match get::<Vec<LogLine>>(client, &path, &q).await {
            Ok(lines) => {
                if lost {
                    output::note("log stream back");
                    lost = false;
                }
                for l in &lines {
                    print(l, env, colour)?;
                }
                if let Some(l) = lines.last() {
                    last = Some(l.seq);
                }
            }
            Err(e @ (CliError::Unreachable(_) | CliError::Unexpected(_))) => {
                if !lost {
                    output::note(&format!("log stream lost ({e}): retrying…"));
                    lost = true;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

async fn get<T: serde::de::DeserializeOwned>(
    client: &crate::client::Client,
    path: &[&str],
    query: &[(&'static str, String)],
) -> Result<T, CliError> {
    let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    client.get_query(path, &q).await
}

fn print(l: &LogLine, env: &Env, colour: bool) -> Result<(), CliError> {
    if env.json() {
        let text = serde_json::to_string(l)
            .map_err(|e| CliError::Unexpected(format!("cannot encode a log line: {e}")))?;
        output::line(&text);
    } else {
        output::line(&format_line(l, colour));
    }
    Ok(())
}

/// `v3#0| text`, `v3#0 err| text` for stderr; the prefix dim (stdout) or red (stderr) on a
/// terminal.
pub fn format_line(l: &LogLine, colour: bool) -> String {
    let prefix = match l.stream {
        LogStream::Stdout => format!("v{}#{}", l.release, l.replica),
        LogStream::Stderr => format!("v{}#{} err", l.release, l.replica),
    };
    match (colour, l.stream) {
        (false, _) => format!("{prefix}| {}", l.line),
        (true, LogStream::Stdout) => format!("\x1b[2m{prefix}|\x1b[0m {}", l.line),
        (true, LogStream::Stderr) => format!("\x1b[31m{prefix}|\x1b[0m {}", l.line),
    }
}

/// `--build [vN]`: the release's build log (the target release by default).
async fn build_log(
    client: &crate::client::Client,
    org: &str,
    app: &str,
    which: Option<&str>,
    env: &Env,
) -> Result<u8, CliError> {
    let version = match which {
        Some(v) => v
            .trim_start_matches('v')
            .parse::<u64>()
            .map_err(|_| CliError::Invalid(format!("--build {v}: not a release such as v3")))?,
        None => {
            let detail: AppDetail = client.get(&["v1", "orgs", org, "apps", app]).await?;
            detail
                .target_release
                .or(detail.active_release)
                .ok_or_else(|| CliError::Invalid(format!("{app} has no release yet")))?
        }
    };
    let v = version.to_string();
    let report: BuildReport = client
        .get(&["v1", "orgs", org, "apps", app, "releases", &v, "build"])
        .await?;
    if env.json() {
        return output::json(&report).map(|()| exit::OK);
    }
    let state = match report.state {
        PlaneState::Ready => "ready",
        PlaneState::Failed => "failed",
        PlaneState::InProgress => "in progress",
        PlaneState::Pending => "pending",
        PlaneState::NotApplicable => "nothing to build",
        PlaneState::Unknown => "unknown",
    };
    output::note(&format!("v{version} build: {state} — {}", report.message));
    if report.log.is_empty() {
        output::note("(no build log lines were kept for this release)");
    }
    for line in &report.log {
        output::line(line);
    }
    if report.truncated {
        output::note("(more lines were kept than one answer holds)");
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_its_release_replica_and_stream() {
        let mut l = LogLine {
            seq: 1,
            at: "2026-12-07T13:00:00.000Z".into(),
            release: 3,
            replica: "0".into(),
            stream: LogStream::Stdout,
            line: "GET / 200".into(),
        };
        assert_eq!(format_line(&l, false), "v3#0| GET / 200");
        l.stream = LogStream::Stderr;
        assert_eq!(format_line(&l, false), "v3#0 err| GET / 200");
        assert_eq!(format_line(&l, true), "\x1b[31mv3#0 err|\x1b[0m GET / 200");
    }
}

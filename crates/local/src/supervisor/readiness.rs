//! The readiness probe of a replica: `GET http://127.0.0.1:PORT{checks.path}` until it answers
//! a status matching `checks.expect` (`[app] expose = "tcp"`: a TCP connect to the port
//! succeeding; `"none"`: the process running for [`RUNNING_SETTLE`]); ready from the first
//! success, not ready after [`READY_FAILURES_TO_UNREADY`] failed re-checks in a row. While not ready, the replica's
//! `waiting` says why, with what to do: nothing listens, the app listens elsewhere (found in
//! `/proc` by [`listening`]), the status and first bytes of the body, or no answer within
//! `[checks] timeout`. Owns only the probe and the replica's `ready` flag and cause; it must
//! not restart or stop anything.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use satusky_core::expect::ExpectedStatus;
use satusky_types::Expose;
use tokio::net::TcpStream;

use super::{READY_FAILURES_TO_UNREADY, Replica, STABLE_AFTER, Timings, listening};

/// The most of an unhealthy answer's body a probe reads.
pub const BODY_LIMIT: usize = 1024;
/// The most of that body a cause quotes.
pub const QUOTED_CHARS: usize = 200;

/// Failed checks of a replica not ready yet before its cause is shown (~0.5 s at the poll
/// interval).
const CHECKS_BEFORE_CAUSE: u32 = 3;

/// How long a replica of an app with `expose = "none"` must run without exiting to be ready:
/// it has no port to check, and a process that exits at once is not ready.
pub const RUNNING_SETTLE: Duration = Duration::from_secs(1);

/// Probe forever, keeping `rep.status.ready` up to date. Dropped (ending the probe) when the
/// replica's process exits.
pub(super) async fn watch(rep: &Replica, t: &Timings, ever_ready: &mut bool) -> Infallible {
    if rep.spec.expose == Expose::None {
        return running(rep, ever_ready).await;
    }
    let checks = &rep.spec.checks;
    let tcp = rep.spec.expose == Expose::Tcp;
    // Specs are validated before they get here; a bad one falls back to 2xx.
    let expect = ExpectedStatus::parse(&checks.expect).ok();
    let healthy = |code: u16| expect.as_ref().map_or(code / 100 == 2, |e| e.matches(code));
    let timeout = Duration::from_millis(checks.timeout_ms.max(1));
    let mut failures = 0;
    let mut waiting_checks = 0;
    let mut ready_since: Option<Instant> = None;
    loop {
        let result = if tcp {
            connect(rep.port, timeout).await
        } else {
            probe(rep.port, &checks.path, timeout, healthy).await
        };
        let ok = result.as_ref().is_ok_and(|a| tcp || healthy(a.status));
        let pgid = rep.status.borrow().pid;
        let was_ready = rep.status.borrow().ready;
        if ok {
            failures = 0;
            if !was_ready {
                *ever_ready = true;
                ready_since = Some(Instant::now());
                rep.update(|s| {
                    s.ready = true;
                    s.crash_loop = None;
                    s.waiting = None;
                });
            } else if ready_since.is_some_and(|at| at.elapsed() >= STABLE_AFTER)
                && rep.status.borrow().last_exit.is_some()
            {
                // Up long enough: its last exit no longer says anything about it.
                rep.update(|s| s.last_exit = None);
            }
        } else if !was_ready {
            // Say why while waiting — from the third failed check on: an app still starting
            // (not listening for its first few hundred ms) is not "failing".
            waiting_checks += 1;
            if waiting_checks >= CHECKS_BEFORE_CAUSE {
                let cause = cause_of(tcp, &result, rep.port, pgid, checks).await;
                rep.update(|s| s.waiting = Some(cause));
            }
        } else {
            failures += 1;
            if failures >= READY_FAILURES_TO_UNREADY {
                failures = 0;
                ready_since = None;
                let cause = cause_of(tcp, &result, rep.port, pgid, checks).await;
                rep.update(|s| {
                    s.ready = false;
                    s.waiting = Some(cause);
                });
            }
        }
        // A ready replica is re-checked slowly; once a re-check failed, quickly, so a health
        // path that turned bad shows within seconds (and one slow answer still is forgiven).
        let ready = rep.status.borrow().ready;
        let pause = if ready && failures == 0 {
            t.ready_recheck
        } else {
            t.ready_poll
        };
        tokio::time::sleep(pause).await;
    }
}

/// A replica with nothing to check (`expose = "none"`): ready once it has run for
/// [`RUNNING_SETTLE`] (this future is dropped when the process exits, so it never is then).
async fn running(rep: &Replica, ever_ready: &mut bool) -> Infallible {
    tokio::time::sleep(RUNNING_SETTLE).await;
    *ever_ready = true;
    rep.update(|s| {
        s.ready = true;
        s.crash_loop = None;
        s.waiting = None;
    });
    std::future::pending().await
}

/// Why the check of `expose` failed: the TCP connect's or the HTTP GET's cause.
async fn cause_of(
    tcp: bool,
    result: &Result<Answer, ProbeError>,
    port: u16,
    pgid: Option<u32>,
    checks: &satusky_types::ChecksSpec,
) -> String {
    match result {
        Err(ProbeError::Timeout(limit)) if tcp => format!(
            "the TCP readiness check could not connect to 127.0.0.1:{port} ($PORT) within {} ([checks] timeout)",
            humantime::format_duration(*limit)
        ),
        _ => cause(result, port, pgid, &checks.path, &checks.expect).await,
    }
}

/// The TCP readiness check (`expose = "tcp"`): a connection to `127.0.0.1:port` opens within
/// `timeout`, and is closed at once. Its answer has no status (0).
pub async fn connect(port: u16, timeout: Duration) -> Result<Answer, ProbeError> {
    tokio::time::timeout(timeout, TcpStream::connect(("127.0.0.1", port)))
        .await
        .map_err(|_| ProbeError::Timeout(timeout))?
        .map_err(ProbeError::Connect)?;
    Ok(Answer {
        status: 0,
        body: Vec::new(),
    })
}

/// What a failed readiness check saw, for the workload plane, each with what to do: nothing
/// listens on the replica's port, the app listens elsewhere (the port or address found in
/// `/proc` for the replica's process group `pgid`), the health path's status and the first
/// bytes of its body, or no answer within the limit.
pub async fn cause(
    result: &Result<Answer, ProbeError>,
    port: u16,
    pgid: Option<u32>,
    path: &str,
    expect: &str,
) -> String {
    if !matches!(result, Err(ProbeError::Connect(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused)
    {
        return answered_cause(result, path, expect);
    }
    let found = match pgid {
        Some(pgid) => tokio::task::spawn_blocking(move || listening::of_group(pgid))
            .await
            .unwrap_or_else(|e| Ok(unknown(&e)))
            .unwrap_or_else(|e| unknown(&e)),
        None => Vec::new(),
    };
    refused_cause(port, &found)
}

/// Where a replica listens is unknown: say only what the probe saw.
fn unknown(e: &(dyn std::error::Error + 'static)) -> Vec<SocketAddr> {
    tracing::debug!(
        error = %satusky_core::error_chain(e),
        "cannot tell where a replica listens"
    );
    Vec::new()
}

/// The cause of a refused connection to `127.0.0.1:port`, given where the replica's
/// processes listen (`found`).
fn refused_cause(port: u16, found: &[SocketAddr]) -> String {
    let list = |addrs: &[SocketAddr]| {
        let shown: Vec<String> = addrs.iter().take(5).map(|a| a.to_string()).collect();
        let more = addrs.len().saturating_sub(5);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!("{}{more}", shown.join(", "))
    };
    let reachable = |a: &SocketAddr| {
        a.port() == port && (a.ip() == Ipv4Addr::LOCALHOST || a.ip() == Ipv4Addr::UNSPECIFIED)
    };
    let on_port: Vec<SocketAddr> = found.iter().copied().filter(|a| a.port() == port).collect();
    if found.is_empty() {
        format!("nothing listens on 127.0.0.1:{port} ($PORT) \u{2014} the app must listen on $PORT")
    } else if on_port.iter().any(reachable) {
        // It started listening between the check and the look at /proc.
        format!("nothing listened on 127.0.0.1:{port} ($PORT) yet; the app listens there now")
    } else if !on_port.is_empty() {
        format!(
            "the app listens on {} only; the readiness check and the edge connect to \
             127.0.0.1: listen on 127.0.0.1 or 0.0.0.0",
            list(&on_port)
        )
    } else {
        format!(
            "the app listens on {}, not on $PORT={port}: it must listen on $PORT",
            list(found)
        )
    }
}

/// The cause of a check that connected: the status and the body's first bytes, no answer
/// within the limit, or the error.
fn answered_cause(result: &Result<Answer, ProbeError>, path: &str, expect: &str) -> String {
    match result {
        Ok(Answer { status, body }) => {
            let quoted = quote(body)
                .map(|b| format!(": \"{b}\""))
                .unwrap_or_default();
            format!("the readiness check GET {path} answered {status}, not {expect}{quoted}")
        }
        Err(ProbeError::Timeout(limit)) => format!(
            "the readiness check GET {path} got no answer within {} ([checks] timeout): make \
             it answer sooner or raise the limit",
            humantime::format_duration(*limit)
        ),
        Err(e) => format!(
            "the readiness check GET {path} failed: {}",
            satusky_core::error_chain(e)
        ),
    }
}

/// A body's first [`QUOTED_CHARS`] characters on one line, printable only; `None` if that
/// leaves nothing.
fn quote(body: &[u8]) -> Option<String> {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    if line.chars().count() <= QUOTED_CHARS {
        return Some(line);
    }
    let mut cut: String = line.chars().take(QUOTED_CHARS - 1).collect();
    cut.push('\u{2026}');
    Some(cut)
}

/// What a readiness GET got: the status, and when that status is not healthy the first
/// bytes of the body (at most [`BODY_LIMIT`], what arrived within the same time limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a readiness GET got no status code.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect")]
    Connect(#[source] std::io::Error),
    #[error("the HTTP/1.1 handshake failed")]
    Handshake(#[source] hyper::Error),
    #[error("cannot build the request")]
    Request(#[source] hyper::http::Error),
    #[error("no answer")]
    Answer(#[source] hyper::Error),
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
}

/// One HTTP/1.1 GET within `timeout`: the status and, when `healthy` says it is not, the
/// body's first bytes; or why there is no status.
pub async fn probe(
    port: u16,
    path: &str,
    timeout: Duration,
    healthy: impl Fn(u16) -> bool,
) -> Result<Answer, ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let late = |_| ProbeError::Timeout(timeout);
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(("127.0.0.1", port)))
        .await
        .map_err(late)?
        .map_err(ProbeError::Connect)?;
    let (mut sender, conn) = tokio::time::timeout_at(
        deadline,
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)),
    )
    .await
    .map_err(late)?
    .map_err(ProbeError::Handshake)?;
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
        .header(hyper::header::USER_AGENT, "satusky-readiness")
        .body(Empty::new())
        .map_err(ProbeError::Request)?;
    let mut conn = std::pin::pin!(conn);
    let mut conn_done = false;
    let head = async {
        let send = sender.send_request(req);
        tokio::pin!(send);
        tokio::select! {
            r = &mut send => r,
            // The connection ended (e.g. `connection: close`): the answer, if any, is in.
            _ = &mut conn => {
                conn_done = true;
                send.await
            }
        }
    };
    let resp = tokio::time::timeout_at(deadline, head)
        .await
        .map_err(late)?
        .map_err(ProbeError::Answer)?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    if !healthy(status) {
        let mut incoming = resp.into_body();
        let read = async {
            while body.len() < BODY_LIMIT {
                tokio::select! {
                    frame = incoming.frame() => match frame {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                body.extend_from_slice(&data);
                            }
                        }
                        // The end, or a broken body: what arrived is enough.
                        Some(Err(_)) | None => break,
                    },
                    _ = &mut conn, if !conn_done => conn_done = true,
                }
            }
        };
        // Out of time: the status stands with what arrived.
        let _ = tokio::time::timeout_at(deadline, read).await;
        body.truncate(BODY_LIMIT);
    }
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot server on 127.0.0.1 that answers `answer` (after `delay`); its port.
    fn serve_once(answer: &'static [u8], delay: Duration) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            std::thread::sleep(delay);
            let _ = s.write_all(answer);
        });
        port
    }

    fn two_xx(code: u16) -> bool {
        code / 100 == 2
    }

    #[tokio::test]
    async fn probe_reads_the_status_and_no_body_when_healthy() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
        let port = serve_once(answer, Duration::ZERO);
        let got = probe(port, "/healthz", Duration::from_secs(2), two_xx).await;
        assert_eq!(
            got.unwrap(),
            Answer {
                status: 200,
                body: Vec::new()
            }
        );
    }

    #[tokio::test]
    async fn probe_reads_the_first_bytes_of_an_unhealthy_body() {
        let answer = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 21\r\n\r\ndb connection refused";
        let port = serve_once(answer, Duration::ZERO);
        let got = probe(port, "/healthz", Duration::from_secs(2), two_xx).await;
        let got = got.unwrap();
        assert_eq!(
            (got.status, &got.body[..]),
            (500, &b"db connection refused"[..])
        );
    }

    #[tokio::test]
    async fn probe_reads_at_most_the_limit_of_a_long_body() {
        let mut answer = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n".to_vec();
        answer.extend(std::iter::repeat_n(b'x', 64 * 1024));
        let port = serve_once(answer.leak(), Duration::ZERO);
        let got = probe(port, "/", Duration::from_secs(2), two_xx)
            .await
            .unwrap();
        assert_eq!((got.status, got.body.len()), (503, BODY_LIMIT));
    }

    #[tokio::test]
    async fn a_body_that_stalls_keeps_the_status_and_what_arrived() {
        // The status and a first chunk, then nothing more until after the limit.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 500 Oops\r\ncontent-length: 100\r\n\r\npartial");
            std::thread::sleep(Duration::from_secs(2));
        });
        let got = probe(port, "/", Duration::from_millis(300), two_xx)
            .await
            .unwrap();
        assert_eq!((got.status, &got.body[..]), (500, &b"partial"[..]));
    }

    #[tokio::test]
    async fn probe_times_out_with_the_limit() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let port = serve_once(answer, Duration::from_secs(2));
        let got = probe(port, "/", Duration::from_millis(200), two_xx).await;
        assert!(
            matches!(got, Err(ProbeError::Timeout(d)) if d == Duration::from_millis(200)),
            "{got:?}"
        );
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_refused_connection_says_where_the_app_listens_instead() {
        assert_eq!(
            refused_cause(41234, &[]),
            "nothing listens on 127.0.0.1:41234 ($PORT) \u{2014} the app must listen on $PORT"
        );
        assert_eq!(
            refused_cause(41234, &addrs(&["127.0.0.1:8080"])),
            "the app listens on 127.0.0.1:8080, not on $PORT=41234: it must listen on $PORT"
        );
        assert_eq!(
            refused_cause(41234, &addrs(&["[::1]:41234", "127.0.0.1:9000"])),
            "the app listens on [::1]:41234 only; the readiness check and the edge connect to \
             127.0.0.1: listen on 127.0.0.1 or 0.0.0.0"
        );
        assert!(
            refused_cause(41234, &addrs(&["10.1.2.3:41234"]))
                .starts_with("the app listens on 10.1.2.3:41234 only;")
        );
        assert!(
            refused_cause(41234, &addrs(&["0.0.0.0:41234"])).ends_with("the app listens there now")
        );
        let many: Vec<String> = (1..=7).map(|p| format!("127.0.0.1:{p}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(
            refused_cause(41234, &addrs(&many))
                .starts_with("the app listens on 127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, 127.0.0.1:4, 127.0.0.1:5 and 2 more, not on $PORT=41234")
        );
    }

    #[test]
    fn an_unhealthy_status_is_quoted_with_the_first_bytes_of_its_body() {
        let answered = |body: &[u8]| {
            let answer = Answer {
                status: 500,
                body: body.to_vec(),
            };
            answered_cause(&Ok(answer), "/healthz", "2xx")
        };
        assert_eq!(
            answered(b"db connection refused\n"),
            "the readiness check GET /healthz answered 500, not 2xx: \"db connection refused\""
        );
        assert_eq!(
            answered(b""),
            "the readiness check GET /healthz answered 500, not 2xx"
        );
        // One line, printable, at most QUOTED_CHARS characters.
        assert_eq!(
            answered(b"<h1>oops</h1>\r\n\tstack:\x1b[31m  boom\x00"),
            "the readiness check GET /healthz answered 500, not 2xx: \"<h1>oops</h1> stack: [31m boom\""
        );
        let long = answered(&[b'y'; 1024]);
        let quoted = long.split('"').nth(1).unwrap();
        assert_eq!(quoted.chars().count(), QUOTED_CHARS);
        assert!(quoted.ends_with('\u{2026}'));
    }

    #[test]
    fn a_timeout_names_the_limit_and_the_setting() {
        let cause = answered_cause(
            &Err(ProbeError::Timeout(Duration::from_secs(1))),
            "/healthz",
            "2xx",
        );
        assert_eq!(
            cause,
            "the readiness check GET /healthz got no answer within 1s ([checks] timeout): make \
             it answer sooner or raise the limit"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_explained_from_proc() {
        // A port nobody listens on, and this test process's group listening elsewhere.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let pgid = listening::parse_pgrp(&stat);
        let result = probe(port, "/healthz", Duration::from_secs(1), two_xx).await;
        let cause = cause(&result, port, pgid, "/healthz", "2xx").await;
        // (Other tests of this process may listen too: only the first few are named.)
        assert!(
            cause.starts_with("the app listens on 127.0.0.1:"),
            "{cause}"
        );
        assert!(cause.contains(&format!("not on $PORT={port}")), "{cause}");
        drop(busy);
    }
}

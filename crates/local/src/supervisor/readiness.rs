//! The readiness probe of a replica: `GET http://127.0.0.1:PORT{checks.path}` until it answers
//! a status matching `checks.expect`; ready from the first success, not ready after
//! [`READY_FAILURES_TO_UNREADY`] failed re-checks in a row. Owns only the probe and the
//! replica's `ready` flag; it must not restart or stop anything.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use satusky_core::expect::ExpectedStatus;

use super::{READY_FAILURES_TO_UNREADY, Replica, STABLE_AFTER, Timings};

/// Probe forever, keeping `rep.status.ready` up to date.
pub(super) async fn watch(rep: &Replica, t: &Timings, ever_ready: &mut bool) -> Infallible {
    let checks = &rep.spec.checks;
    // Specs are validated before they get here; a bad one falls back to 2xx.
    let expect = ExpectedStatus::parse(&checks.expect).ok();
    let healthy = |code: u16| expect.as_ref().map_or(code / 100 == 2, |e| e.matches(code));
    let timeout = Duration::from_millis(checks.timeout_ms.max(1));
    let mut failures = 0;
    let mut ready_since: Option<Instant> = None;
    loop {
        let result = probe(rep.port, &checks.path, timeout).await;
        let ok = result.as_ref().is_ok_and(|code| healthy(*code));
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
            } else if ready_since.is_some_and(|at| at.elapsed() >= STABLE_AFTER) {
                // Up long enough: its last exit no longer says anything about it.
                rep.update(|s| s.last_exit = None);
            }
        } else if !was_ready {
            // Say why while waiting: the cause shows in the workload plane at once.
            let cause = cause(&result, rep.port, &checks.path, &checks.expect);
            rep.update(|s| s.waiting = Some(cause));
        } else {
            failures += 1;
            if failures >= READY_FAILURES_TO_UNREADY {
                failures = 0;
                ready_since = None;
                let cause = cause(&result, rep.port, &checks.path, &checks.expect);
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

/// What a failed readiness check saw, for the workload plane: the status and what was
/// expected, nothing listening on the replica's port, or no answer within the limit.
pub fn cause(result: &Result<u16, ProbeError>, port: u16, path: &str, expect: &str) -> String {
    match result {
        Ok(code) => format!("the readiness check GET {path} answered {code}, not {expect}"),
        Err(ProbeError::Connect(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!(
                "nothing listens on 127.0.0.1:{port}, the replica's $PORT: the app must listen \
                 on $PORT"
            )
        }
        Err(ProbeError::Timeout(limit)) => format!(
            "the readiness check GET {path} got no answer within {} ([checks] timeout)",
            humantime::format_duration(*limit)
        ),
        Err(e) => format!(
            "the readiness check GET {path} failed: {}",
            satusky_core::error_chain(e)
        ),
    }
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

/// One HTTP/1.1 GET; the status code, or why there is none.
pub async fn probe(port: u16, path: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(ProbeError::Connect)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(ProbeError::Handshake)?;
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
            .header(hyper::header::USER_AGENT, "satusky-readiness")
            .body(Empty::new())
            .map_err(ProbeError::Request)?;
        let send = sender.send_request(req);
        tokio::pin!(conn, send);
        let resp = tokio::select! {
            r = &mut send => r,
            // The connection ended (e.g. `connection: close`): the answer, if any, is in.
            _ = &mut conn => send.await,
        };
        resp.map(|r| r.status().as_u16())
            .map_err(ProbeError::Answer)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ProbeError::Timeout(timeout))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[tokio::test]
    async fn probe_reads_the_status() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
        });
        let status = probe(port, "/healthz", Duration::from_secs(2)).await;
        assert!(matches!(status, Ok(204)), "{status:?}");
    }
}

//! HTTP I/O: one `GET https://HOST{path}` over the TLS session the TLS check opened (hyper's
//! HTTP/1.1 client connection), `Host` = hostname, `user-agent: satusky-probe`,
//! `x-satusky-probe: 1`. Reads the response head only (status, `Location`,
//! `x-satusky-release`); the body is never read. Bounded by the HTTP timeout.
//!
//! Each hop of a redirect host's chain is one more such request, on its own connection
//! ([`crate::prober`] dials it where [`crate::http_verdict::RedirectChain`] says to go).
//!
//! Must not decide readiness: [`crate::http_verdict`] judges the [`HttpObservation`].

use std::error::Error as _;
use std::time::Duration;

use crate::http_verdict::{HttpObservation, RELEASE_HEADER};
use crate::tls::TlsSession;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{CONNECTION, HOST, LOCATION, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// The user agent of every probe request, so edges and apps can tell probes apart.
pub const USER_AGENT_VALUE: &str = "satusky-probe";
/// Marks a request as a probe (e.g. to keep it out of an app's access metrics).
pub const PROBE_HEADER: &str = "x-satusky-probe";

/// Sends the request and reads the response head, within `limit`.
pub(crate) async fn get(
    stream: TlsSession,
    hostname: &str,
    path: &str,
    limit: Duration,
) -> HttpObservation {
    match tokio::time::timeout(limit, exchange(stream, hostname, path)).await {
        Err(_) => HttpObservation::Timeout(limit),
        Ok(obs) => obs,
    }
}

async fn exchange(stream: TlsSession, hostname: &str, path: &str) -> HttpObservation {
    let request = match Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(HOST, hostname.trim_end_matches('.'))
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(PROBE_HEADER, "1")
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
    {
        Ok(r) => r,
        Err(e) => return HttpObservation::Invalid(format!("cannot build the request: {e}")),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(pair) => pair,
        Err(e) => return observation_of_error(&e),
    };
    let send = sender.send_request(request);
    tokio::pin!(send);
    tokio::pin!(conn);
    // Drive the connection and the request together, on this task: no spawn per check.
    let response = tokio::select! {
        r = &mut send => r,
        c = &mut conn => match c {
            Err(e) => return observation_of_error(&e),
            Ok(()) => (&mut send).await,
        },
    };
    match response {
        Err(e) => observation_of_error(&e),
        Ok(res) => {
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            HttpObservation::Response {
                status: res.status().as_u16(),
                location: header(LOCATION.as_str()),
                release: header(RELEASE_HEADER),
            }
        }
    }
}

fn observation_of_error(e: &hyper::Error) -> HttpObservation {
    if e.is_parse() || e.is_parse_status() {
        return HttpObservation::Invalid(e.to_string());
    }
    // Walk the source chain for the I/O error underneath, for a precise message.
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return HttpObservation::Reset(format!("{}", io));
        }
        source = s.source();
    }
    HttpObservation::Reset(e.to_string())
}

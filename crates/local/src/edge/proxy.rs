//! What the edge does with one request, by the route of its Host (port, case and trailing dot
//! ignored) — except an ACME HTTP-01 challenge on plain HTTP whose token the issuer has
//! pending, which is answered with its key authorization whatever the Host:
//! - no route → `404 no app serves HOST`;
//! - [`Route::Redirect`] → `308` with `Location: TO + PATH?QUERY` (see [`redirect_location`]);
//! - [`Route::Serve`] with no upstream → `503 no ready replicas for HOST`;
//! - [`Route::Serve`] → proxied to a replica picked round-robin, over pooled keep-alive
//!   connections: method, path, query, headers (minus hop-by-hop ones) and the body, streamed,
//!   with `X-Forwarded-For` (the client's IP appended), `X-Forwarded-Proto` (`http`/`https`)
//!   and `X-Forwarded-Host` (the Host the client sent). The Host header itself is kept.
//!
//! The app's answer gets `x-satusky-release: ORG/APP@vN` (replacing any the app set): it is
//! proof that this release answered, so the edge's own answers (404, 502, 503, 504, redirects)
//! never carry it.
//!
//! Failures: a replica that cannot be reached (connect refused or timed out) is retried once on
//! another replica, re-reading the route first (a rollout may just have switched it), then
//! `502`. A replica that fails after the request was sent (e.g. an old replica closing a pooled
//! connection while it stops) is retried the same way for GET, HEAD, OPTIONS and TRACE, which
//! are safe to repeat. A request with a body is never retried, since its body was streamed
//! away. No answer head within [`UPSTREAM_RESPONSE_TIMEOUT`] → `504`.
//!
//! WebSocket and other `Connection: Upgrade` requests are forwarded with their upgrade
//! headers; when the app answers `101`, both connections are upgraded and bytes are copied
//! both ways until either side closes or the edge stops.

use satusky_core::error_chain;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::watch;

use super::headers::{
    Scheme, redirect_location, request_host, strip_hop_by_hop, upstream_headers, wants_upgrade,
};
use crate::acme::AcmeServing;
use crate::acme::serving::challenge_token;
use crate::routes::{Route, RouteTable, normalize_host};

/// The response header naming the release that answered.
pub const RELEASE_HEADER: &str = "x-satusky-release";
/// Connecting to a replica on this machine takes microseconds; a replica that does not accept
/// within this is as good as gone.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest an app may take to start its answer.
pub const UPSTREAM_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle pooled connections are closed after this: under Node.js's 5 s keep-alive default, so
/// the edge rarely reuses a connection the app is about to close.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Idle connections kept per replica.
const POOL_MAX_IDLE_PER_HOST: usize = 32;

/// The body of every message the edge sends.
pub(crate) type Body = UnsyncBoxBody<Bytes, hyper::Error>;

/// The request handler shared by every connection.
pub(crate) struct Proxy {
    routes: RouteTable,
    acme: Option<Arc<AcmeServing>>,
    client: Client<HttpConnector, Body>,
    signal: watch::Receiver<bool>,
}

impl Proxy {
    pub(crate) fn new(routes: RouteTable, signal: watch::Receiver<bool>) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(UPSTREAM_CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Proxy {
            routes,
            acme: None,
            client,
            signal,
        }
    }

    pub(crate) fn with_acme(mut self, acme: Option<Arc<AcmeServing>>) -> Proxy {
        self.acme = acme;
        self
    }

    /// The key authorization for a pending HTTP-01 challenge this request asks for.
    fn challenge_answer(&self, req: &Request<Incoming>, scheme: Scheme) -> Option<String> {
        let acme = self.acme.as_ref()?;
        if scheme != Scheme::Http || req.method() != Method::GET {
            return None;
        }
        acme.key_authorization(challenge_token(req.uri().path())?)
    }

    pub(crate) async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        scheme: Scheme,
    ) -> Response<Body> {
        if req.method() == Method::CONNECT {
            return text(StatusCode::METHOD_NOT_ALLOWED, "CONNECT is not supported\n");
        }
        if let Some(answer) = self.challenge_answer(&req, scheme) {
            return text(StatusCode::OK, answer);
        }
        let Some(raw_host) = request_host(&req) else {
            return text(StatusCode::BAD_REQUEST, "missing Host header\n");
        };
        let host = normalize_host(&raw_host);
        match self.routes.lookup(&host) {
            None => text(StatusCode::NOT_FOUND, format!("no app serves {host}\n")),
            Some(Route::Redirect { to, .. }) => redirect(&to, req.uri()),
            Some(Route::Static {
                release_id,
                root,
                index,
                ..
            }) => {
                let path = req.uri().path().to_string();
                super::files::serve(&root, &index, &release_id, req.method(), &path).await
            }
            Some(Route::Serve {
                release_id,
                upstreams,
                ..
            }) => {
                let target = Target {
                    raw_host,
                    host,
                    release_id,
                    upstreams,
                };
                self.forward(req, peer, scheme, target).await
            }
        }
    }

    async fn forward(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        scheme: Scheme,
        target: Target,
    ) -> Response<Body> {
        let Target {
            raw_host,
            host,
            mut release_id,
            upstreams,
        } = target;
        let Some(mut upstream) = self.routes.pick(&upstreams) else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("no ready replicas for {host}\n"),
            );
        };
        let client_upgrade = wants_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let headers = upstream_headers(&parts.headers, peer, scheme, &raw_host);
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let safe = matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        let mut body = (!body.is_end_stream()).then_some(body);
        let replayable = body.is_none();
        let mut retried = false;
        loop {
            let body = match body.take() {
                Some(body) => body.boxed_unsync(),
                None => empty(),
            };
            let request = match upstream_request(&parts.method, upstream, &path, &headers, body) {
                Ok(request) => request,
                Err(error) => {
                    tracing::debug!(%host, error = %error, "cannot build the upstream request");
                    return text(StatusCode::BAD_REQUEST, "bad request\n");
                }
            };
            let sent =
                tokio::time::timeout(UPSTREAM_RESPONSE_TIMEOUT, self.client.request(request)).await;
            let error = match sent {
                Ok(Ok(response)) => return self.respond(response, &release_id, client_upgrade),
                Ok(Err(error)) => error,
                Err(_) => {
                    tracing::info!(%host, %upstream, "upstream answer timed out");
                    return text(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!(
                            "the app serving {host} did not answer within {}s\n",
                            UPSTREAM_RESPONSE_TIMEOUT.as_secs()
                        ),
                    );
                }
            };
            let retry = !retried && replayable && (error.is_connect() || safe);
            tracing::info!(%host, %upstream, error = %error_chain(&error), retry, "upstream failed");
            let next = retry.then(|| self.next_upstream(&host, upstream)).flatten();
            let Some((next_upstream, next_release)) = next else {
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!("bad gateway: the app serving {host} did not answer\n"),
                );
            };
            retried = true;
            upstream = next_upstream;
            release_id = next_release;
        }
    }

    /// Where to retry: the route as it is now, another replica than `failed` if there is one.
    fn next_upstream(&self, host: &str, failed: SocketAddr) -> Option<(SocketAddr, String)> {
        let Some(Route::Serve {
            release_id,
            upstreams,
            ..
        }) = self.routes.lookup(host)
        else {
            return None;
        };
        let mut next = self.routes.pick(&upstreams)?;
        for _ in 1..upstreams.len() {
            if next != failed {
                break;
            }
            next = self.routes.pick(&upstreams)?;
        }
        Some((next, release_id))
    }

    fn respond(
        &self,
        mut response: Response<Incoming>,
        release_id: &str,
        client_upgrade: Option<OnUpgrade>,
    ) -> Response<Body> {
        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switching {
            let Some(client_upgrade) = client_upgrade else {
                return text(
                    StatusCode::BAD_GATEWAY,
                    "bad gateway: the app switched protocols unasked\n",
                );
            };
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(tunnel(
                client_upgrade,
                upstream_upgrade,
                self.signal.clone(),
            ));
        }
        let (mut parts, body) = response.into_parts();
        let upgrade = parts.headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut parts.headers);
        if let (true, Some(upgrade)) = (switching, upgrade) {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, upgrade);
        }
        match HeaderValue::from_str(release_id) {
            Ok(value) => {
                parts.headers.insert(RELEASE_HEADER, value);
            }
            Err(_) => tracing::warn!(release_id, "release id is not a valid header value"),
        }
        Response::from_parts(parts, body.boxed_unsync())
    }
}

/// The route's data for one proxied request.
struct Target {
    /// The Host as the client sent it (for `X-Forwarded-Host`).
    raw_host: String,
    /// The route key.
    host: String,
    release_id: String,
    upstreams: Vec<SocketAddr>,
}

/// Copies bytes both ways between an upgraded client and app until one closes or the edge
/// stops.
async fn tunnel(client: OnUpgrade, upstream: OnUpgrade, mut signal: watch::Receiver<bool>) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(error = %error, "upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(error) = copied {
                tracing::debug!(error = %error, "upgraded connection ended with an error");
            }
        }
        () = super::stopping(&mut signal) => {}
    }
}

fn upstream_request(
    method: &Method,
    upstream: SocketAddr,
    path: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Request<Body>, hyper::http::Error> {
    let uri = Uri::builder()
        .scheme("http")
        .authority(upstream.to_string())
        .path_and_query(path)
        .build()?;
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .version(Version::HTTP_11)
        .body(body)?;
    *request.headers_mut() = headers.clone();
    Ok(request)
}

fn redirect(to: &str, uri: &Uri) -> Response<Body> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = redirect_location(to, path);
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            let mut response = Response::new(empty());
            *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => {
            tracing::warn!(to, "redirect target is not a valid Location");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this redirect host has an invalid target\n",
            )
        }
    }
}

fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A short plain-text answer from the edge itself.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let body = Full::new(Bytes::from(body.into()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

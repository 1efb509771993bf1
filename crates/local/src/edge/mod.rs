//! The embedded edge: plain HTTP and HTTPS listeners (hyper 1, HTTP/1.1; tokio-rustls with a
//! certificate per SNI hostname from the local CA) serving the [`RouteTable`] by Host — proxy
//! to a release's replicas, a static site's files (`files.rs`), redirect, or a short error. `proxy.rs` says what a request gets
//! (status codes, headers, retries, WebSocket), `headers.rs` the header rules, `tls.rs` which
//! hostnames get a certificate. With an ACME issuer ([`start_with_acme`]), the plain-HTTP
//! listener answers its pending HTTP-01 challenges before anything is routed.
//!
//! This module owns the listeners and the connection tasks: they run until [`Edge::shutdown`]
//! (stop accepting, let requests in flight finish for up to [`DRAIN_TIMEOUT`]) or until the
//! [`Edge`] is dropped (everything stops at once, WebSocket tunnels included). It reads the
//! route table and never edits it; the runtime does.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] client connections at once (beyond that, new ones wait
//! in the listen backlog), [`TLS_HANDSHAKE_TIMEOUT`] per handshake, [`HEADER_READ_TIMEOUT`]
//! for a request head, [`UPSTREAM_CONNECT_TIMEOUT`] and [`UPSTREAM_RESPONSE_TIMEOUT`] towards
//! the app.

mod files;
mod headers;
mod proxy;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::acme::AcmeServing;
use crate::ca::LocalCa;
use crate::routes::RouteTable;

pub use files::{MAX_FILE_BYTES, count_files};
pub use proxy::{RELEASE_HEADER, UPSTREAM_CONNECT_TIMEOUT, UPSTREAM_RESPONSE_TIMEOUT};

/// Client connections served at once, HTTP and HTTPS together. Each proxied connection also
/// holds an upstream socket, so 512 keeps the edge within a default 1024-descriptor limit.
pub const MAX_CONNECTIONS: usize = 512;
/// A TLS client that has not finished its handshake by then is dropped.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not sent a whole request head by then is dropped (also bounds idle
/// keep-alive connections waiting for their next request).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// On shutdown, requests in flight get this long to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed `accept` (e.g. out of descriptors), wait this long before the next one
/// instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Where the edge listens. Port 0 picks a free port (see [`Edge::http_addr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeConfig {
    pub http_addr: SocketAddr,
    pub https_addr: SocketAddr,
}

/// What can go wrong starting the edge.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("cannot listen for {scheme} on {addr}")]
    Bind {
        scheme: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot configure TLS for the edge")]
    Tls(#[source] rustls::Error),
}

/// A running edge. Dropping it stops it.
pub struct Edge {
    http_addr: SocketAddr,
    https_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Edge {
    /// The bound plain-HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound HTTPS address.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// Stops accepting, lets requests in flight finish (at most [`DRAIN_TIMEOUT`]), then stops.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds both listeners and serves `routes` until the returned [`Edge`] is shut down or
/// dropped.
pub async fn start(
    config: EdgeConfig,
    routes: RouteTable,
    ca: Arc<LocalCa>,
) -> Result<Edge, EdgeError> {
    start_with_acme(config, routes, ca, None).await
}

/// [`start`], also serving what the ACME issuer publishes: its certificates by SNI and the
/// answers to its HTTP-01 challenges.
pub async fn start_with_acme(
    config: EdgeConfig,
    routes: RouteTable,
    ca: Arc<LocalCa>,
    acme: Option<Arc<AcmeServing>>,
) -> Result<Edge, EdgeError> {
    let http = bind("HTTP", config.http_addr).await?;
    let https = bind("HTTPS", config.https_addr).await?;
    let local = |l: &TcpListener, scheme, addr| {
        l.local_addr().map_err(|source| EdgeError::Bind {
            scheme,
            addr,
            source,
        })
    };
    let http_addr = local(&http, "HTTP", config.http_addr)?;
    let https_addr = local(&https, "HTTPS", config.https_addr)?;
    let acceptor = tls::acceptor(routes.clone(), ca, acme.clone()).map_err(EdgeError::Tls)?;
    let (shutdown, signal) = watch::channel(false);
    let proxy = Arc::new(proxy::Proxy::new(routes, signal.clone()).with_acme(acme));
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let tasks = vec![
        tokio::spawn(serve(
            http,
            None,
            proxy.clone(),
            limit.clone(),
            signal.clone(),
        )),
        tokio::spawn(serve(https, Some(acceptor), proxy, limit, signal)),
    ];
    tracing::info!(%http_addr, %https_addr, "edge listening");
    Ok(Edge {
        http_addr,
        https_addr,
        shutdown,
        tasks,
    })
}

async fn bind(scheme: &'static str, addr: SocketAddr) -> Result<TcpListener, EdgeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| EdgeError::Bind {
            scheme,
            addr,
            source,
        })
}

/// Resolves once shutdown is asked for (or the [`Edge`] is gone).
async fn stopping(signal: &mut watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}

/// One listener's accept loop. Connection tasks live in a [`JoinSet`], so they end with it.
async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    proxy: Arc<proxy::Proxy>,
    limit: Arc<Semaphore>,
    mut signal: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stopping(&mut signal) => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(error = %error, "edge cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stopping(&mut signal) => break,
        };
        conns.spawn(connection(
            tcp,
            peer,
            tls.clone(),
            proxy.clone(),
            signal.clone(),
            permit,
        ));
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(left = conns.len(), "edge drain timed out; closing the rest");
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    proxy: Arc<proxy::Proxy>,
    signal: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => {
            serve_http(
                TokioIo::new(tcp),
                peer,
                headers::Scheme::Http,
                proxy,
                signal,
            )
            .await
        }
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    serve_http(
                        TokioIo::new(stream),
                        peer,
                        headers::Scheme::Https,
                        proxy,
                        signal,
                    )
                    .await
                }
                Ok(Err(error)) => tracing::debug!(%peer, error = %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    scheme: headers::Scheme,
    proxy: Arc<proxy::Proxy>,
    mut signal: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let proxy = proxy.clone();
        async move { Ok::<_, Infallible>(proxy.handle(req, peer, scheme).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping(&mut signal) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, error = %error, "edge connection ended with an error");
    }
}

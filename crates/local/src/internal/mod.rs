//! Every app's internal address on the local runtime (SPEC §10 "Exposure"): a stable loopback
//! port per app (`127.0.0.1:PORT`, kept in [`ports::PortBook`] across deploys and restarts),
//! served as a plain TCP proxy to the app's serving replicas — whatever the app speaks, so
//! `expose = "tcp"` services (a database, a cache) and HTTP apps alike. Each replica keeps its
//! own `$PORT`; the proxy follows the route table's service entry ([`RouteTable::service`]),
//! which a rollout switches together with the routes. Connections are spread round robin, and
//! an upstream that refuses is skipped for the next one.
//!
//! Owns the listeners and the port book. It must not start or stop replicas, nor decide which
//! replicas serve (the rollout writes that into the route table).

pub mod ports;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use satusky_core::runtime::InternalAddress;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;

use crate::routes::RouteTable;
use ports::{PortBook, PortBookError};

/// The host of every internal address here.
pub const HOST: &str = "127.0.0.1";
/// How long a connection to one upstream may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections one app's internal address proxies at once; more are closed on arrival (each
/// holds two sockets of the control plane's open-files budget).
pub const MAX_CONNECTIONS: usize = 1_024;

/// Why an app has no internal address now.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error(transparent)]
    Book(#[from] PortBookError),
    /// The app's port is kept for it, but another process listens there now.
    #[error(
        "127.0.0.1:{port}, the internal address of {org}/{app}, is taken by another process: stop it (the address stays the app's)"
    )]
    Taken {
        org: String,
        app: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("no free port for an internal address is left in 127.0.0.1:{}–{}", ports::FROM, ports::TO - 1)]
    Exhausted,
}

struct Listening {
    port: u16,
    task: JoinHandle<()>,
}

/// The internal addresses of the runtime's apps. Cheap to share (`Arc` it).
pub struct InternalServices {
    book_path: PathBuf,
    routes: RouteTable,
    /// The port book and the apps served now; one lock, so two apps never take one port.
    state: Mutex<State>,
}

struct State {
    book: Option<PortBook>,
    serving: HashMap<(String, String), Listening>,
}

impl InternalServices {
    /// Addresses kept in `STATE_DIR/internal-ports.json`, forwarding to `routes`' services.
    pub fn new(state_dir: &std::path::Path, routes: RouteTable) -> InternalServices {
        InternalServices {
            book_path: PortBook::path(state_dir),
            routes,
            state: Mutex::new(State {
                book: None,
                serving: HashMap::new(),
            }),
        }
    }

    /// `org/app`'s internal address, served from now on: its kept port, or a new one
    /// recorded in the book before it is used.
    pub async fn ensure(&self, org: &str, app: &str) -> Result<InternalAddress, InternalError> {
        let mut st = self.state.lock().await;
        let key = (org.to_string(), app.to_string());
        if let Some(l) = st.serving.get(&key).filter(|l| !l.task.is_finished()) {
            return Ok(address(l.port));
        }
        if st.book.is_none() {
            let path = self.book_path.clone();
            st.book = Some(blocking(move || PortBook::load(&path)).await?);
        }
        let book = st.book.get_or_insert_with(PortBook::default);
        let (port, listener) = match book.ports.get(&ports::key(org, app)).copied() {
            Some(port) => {
                let l = bind(port).await.map_err(|source| InternalError::Taken {
                    org: org.into(),
                    app: app.into(),
                    port,
                    source,
                })?;
                (port, l)
            }
            None => {
                let (port, l) = allocate(book, org, app).await?;
                book.ports.insert(ports::key(org, app), port);
                let (copy, path) = (book.clone(), self.book_path.clone());
                if let Err(e) = blocking(move || copy.save(&path)).await {
                    book.ports.remove(&ports::key(org, app));
                    return Err(e.into());
                }
                tracing::info!(%org, %app, port, "internal address 127.0.0.1:{port}");
                (port, l)
            }
        };
        let task = tokio::spawn(serve(
            listener,
            self.routes.clone(),
            org.to_string(),
            app.to_string(),
        ));
        st.serving.insert(key, Listening { port, task });
        Ok(address(port))
    }

    /// Stop serving `org/app`'s address and give its port back (the app is destroyed).
    pub async fn remove(&self, org: &str, app: &str) -> Result<(), InternalError> {
        let mut st = self.state.lock().await;
        if let Some(l) = st.serving.remove(&(org.to_string(), app.to_string())) {
            l.task.abort();
        }
        if st.book.is_none() {
            let path = self.book_path.clone();
            st.book = Some(blocking(move || PortBook::load(&path)).await?);
        }
        let Some(book) = st.book.as_mut() else {
            return Ok(());
        };
        if book.ports.remove(&ports::key(org, app)).is_some() {
            let (copy, path) = (book.clone(), self.book_path.clone());
            blocking(move || copy.save(&path)).await?;
        }
        Ok(())
    }

    /// Stop every listener (the runtime shuts down); the book keeps the ports.
    pub async fn shutdown(&self) {
        let mut st = self.state.lock().await;
        for (_, l) in st.serving.drain() {
            l.task.abort();
        }
    }
}

fn address(port: u16) -> InternalAddress {
    InternalAddress {
        host: HOST.to_string(),
        port,
    }
}

async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((HOST, port)).await
}

/// The first candidate port of `org/app` that no app holds and that binds now.
async fn allocate(
    book: &PortBook,
    org: &str,
    app: &str,
) -> Result<(u16, TcpListener), InternalError> {
    for port in ports::candidates(org, app, |p| book.holds(p)) {
        if let Ok(l) = bind(port).await {
            return Ok((port, l));
        }
    }
    Err(InternalError::Exhausted)
}

/// The port book's file I/O, off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PortBookError> + Send + 'static,
) -> Result<T, PortBookError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PortBookError::Io {
            action: "use",
            path: ports::FILE.to_string(),
            source: std::io::Error::other(e),
        })?
}

/// Accept connections to one app's address and forward each to a serving replica.
async fn serve(listener: TcpListener, routes: RouteTable, org: String, app: String) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let inbound = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of files, usually: pause rather than spin.
                tracing::warn!(%org, %app, error = %e, "internal address: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            tracing::debug!(%org, %app, "internal address: at {MAX_CONNECTIONS} connections; closed one");
            continue;
        };
        let upstreams = routes.service(&org, &app);
        let first = routes.pick(&upstreams);
        tokio::spawn(async move {
            let _permit = permit;
            forward(inbound, &upstreams, first).await;
        });
    }
}

/// Connect to `first`, or the next upstream in order when it fails, and copy both ways until
/// either side closes. No upstream: the inbound connection is closed.
async fn forward(mut inbound: TcpStream, upstreams: &[SocketAddr], first: Option<SocketAddr>) {
    let start = first
        .and_then(|f| upstreams.iter().position(|u| *u == f))
        .unwrap_or(0);
    let order = upstreams.iter().cycle().skip(start).take(upstreams.len());
    for up in order {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(up)).await {
            Ok(Ok(mut outbound)) => {
                let _ = outbound.set_nodelay(true);
                let _ = inbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                return;
            }
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-line echo server; its address.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(addr: &InternalAddress, msg: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect((addr.host.as_str(), addr.port))
            .await
            .unwrap();
        s.write_all(msg).await.unwrap();
        let mut buf = vec![0u8; msg.len()];
        match s.read_exact(&mut buf).await {
            Ok(_) => buf,
            Err(_) => Vec::new(),
        }
    }

    #[tokio::test]
    async fn an_address_forwards_to_the_service_and_keeps_its_port_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let routes = RouteTable::new();
        let internal = InternalServices::new(dir.path(), routes.clone());
        let addr = internal.ensure("acme", "db").await.unwrap();
        assert!((ports::FROM..ports::TO).contains(&addr.port), "{addr}");
        assert_eq!(internal.ensure("acme", "db").await.unwrap(), addr);
        // Nothing serves yet: the connection is closed.
        assert!(round_trip(&addr, b"hi").await.is_empty());
        routes.set_service("acme", "db", vec![echo().await]);
        assert_eq!(round_trip(&addr, b"ping").await, b"ping");
        // A refusing upstream is skipped.
        let dead = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        routes.set_service("acme", "db", vec![dead, echo().await]);
        for _ in 0..4 {
            assert_eq!(round_trip(&addr, b"x").await, b"x");
        }
        // Another control plane on the same state dir gets the same port back.
        internal.shutdown().await;
        drop(internal);
        let again = InternalServices::new(dir.path(), routes.clone());
        let mut got = None;
        for _ in 0..50 {
            match again.ensure("acme", "db").await {
                Ok(a) => {
                    got = Some(a);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        assert_eq!(got, Some(addr.clone()));
        assert_ne!(again.ensure("acme", "web").await.unwrap().port, addr.port);
        again.remove("acme", "db").await.unwrap();
        let book = PortBook::load(&PortBook::path(dir.path())).unwrap();
        assert_eq!(book.ports.keys().collect::<Vec<_>>(), ["acme/web"]);
    }
}

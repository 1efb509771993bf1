//! The embedded edge over real sockets on 127.0.0.1: HTTPS with certificates from the local
//! CA (trusted alone by the client), plain HTTP, routing by Host, redirects, errors the edge
//! answers itself, failover between replicas, route switches and WebSocket pass-through.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use satusky_local::ca::LocalCa;
use satusky_local::edge::{self, Edge, EdgeConfig, RELEASE_HEADER};
use satusky_local::routes::{Route, RouteTable};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const HOST: &str = "web-acme.satusky.localhost";

struct Fixture {
    edge: Edge,
    ca: Arc<LocalCa>,
    routes: RouteTable,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(LocalCa::load_or_create(dir.path()).unwrap());
    let routes = RouteTable::new();
    let config = EdgeConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        https_addr: "127.0.0.1:0".parse().unwrap(),
    };
    let edge = edge::start(config, routes.clone(), ca.clone())
        .await
        .unwrap();
    Fixture {
        edge,
        ca,
        routes,
        _dir: dir,
    }
}

impl Fixture {
    fn serve(&self, host: &str, version: u32, upstreams: Vec<SocketAddr>) {
        self.routes.set_host(
            host,
            Route::Serve {
                org: "acme".into(),
                app: "web".into(),
                release_id: format!("acme/web@v{version}"),
                upstreams,
            },
        );
    }

    /// A client that trusts only the local CA and reaches `host` at the edge.
    fn https(&self, host: &str) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca.ca_pem().as_bytes()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .resolve(host, self.edge.https_addr())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap()
    }

    fn http(&self, host: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .resolve(host, self.edge.http_addr())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap()
    }
}

/// An app replica: answers `NAME METHOD PATH`, then the request's headers and body, one per
/// line, so tests see what the edge forwarded.
async fn app(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| echo(name, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

async fn echo(name: &str, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut text = format!("{name} {} {}\n", req.method(), req.uri());
    for (k, v) in req.headers() {
        text.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    text.push_str(&format!("body: {}\n", String::from_utf8_lossy(&body)));
    Ok(Response::builder()
        .header(RELEASE_HEADER, "forged@v0")
        .body(Full::new(Bytes::from(text)))
        .unwrap())
}

/// An address where nothing listens.
async fn dead() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Option<String>, String) {
    let res = client.get(url).send().await.unwrap();
    let status = res.status().as_u16();
    let release = res
        .headers()
        .get(RELEASE_HEADER)
        .map(|v| v.to_str().unwrap().to_string());
    (status, release, res.text().await.unwrap())
}

#[tokio::test]
async fn https_reaches_the_release_with_forwarded_headers() {
    let f = fixture().await;
    f.serve(HOST, 1, vec![app("replica-1").await]);
    let (status, release, body) = get(&f.https(HOST), &format!("https://{HOST}/hello?x=1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        release.as_deref(),
        Some("acme/web@v1"),
        "the edge's header wins"
    );
    assert!(body.starts_with("replica-1 GET /hello?x=1\n"), "{body}");
    assert!(
        body.contains(&format!("\nhost: {HOST}\n")),
        "Host is kept: {body}"
    );
    assert!(body.contains("\nx-forwarded-for: 127.0.0.1\n"), "{body}");
    assert!(body.contains("\nx-forwarded-proto: https\n"), "{body}");
    assert!(
        body.contains(&format!("\nx-forwarded-host: {HOST}\n")),
        "{body}"
    );
}

#[tokio::test]
async fn plain_http_serves_the_same_routes_and_streams_bodies() {
    let f = fixture().await;
    f.serve(HOST, 3, vec![app("replica-1").await]);
    let client = f.http(HOST);
    let res = client
        .post(format!("http://{HOST}/submit"))
        .header("x-forwarded-for", "203.0.113.7")
        .body("name=satusky")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[RELEASE_HEADER], "acme/web@v3");
    let body = res.text().await.unwrap();
    assert!(body.starts_with("replica-1 POST /submit\n"), "{body}");
    assert!(body.contains("\nx-forwarded-proto: http\n"), "{body}");
    assert!(
        body.contains("\nx-forwarded-for: 203.0.113.7, 127.0.0.1\n"),
        "the client's IP is appended: {body}"
    );
    assert!(body.contains("\nbody: name=satusky\n"), "{body}");
}

#[tokio::test]
async fn an_unknown_host_is_404_without_a_release() {
    let f = fixture().await;
    let (status, release, body) = get(&f.http("nobody.test"), "http://nobody.test/").await;
    assert_eq!(status, 404);
    assert_eq!(release, None);
    assert_eq!(body, "no app serves nobody.test\n");
}

#[tokio::test]
async fn a_redirect_host_answers_308_keeping_the_path() {
    let f = fixture().await;
    let redirect = |to: &str| Route::Redirect {
        org: "acme".into(),
        app: "web".into(),
        to: to.into(),
    };
    f.routes
        .set_host("old.test", redirect("https://new.example"));
    f.routes
        .set_host("base.test", redirect("https://new.example/base/"));
    let https = f.https("old.test");
    let res = https.get("https://old.test/a/b?c=1").send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "https://new.example/a/b?c=1");
    assert!(res.headers().get(RELEASE_HEADER).is_none());
    let res = f
        .http("base.test")
        .get("http://base.test/x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "https://new.example/base/x");
}

#[tokio::test]
async fn no_ready_replica_is_503() {
    let f = fixture().await;
    f.serve(HOST, 1, vec![]);
    let (status, release, body) = get(&f.https(HOST), &format!("https://{HOST}/")).await;
    assert_eq!(status, 503);
    assert_eq!(release, None);
    assert_eq!(body, format!("no ready replicas for {HOST}\n"));
}

#[tokio::test]
async fn a_dead_replica_is_502_and_a_live_one_takes_over() {
    let f = fixture().await;
    f.serve(HOST, 1, vec![dead().await]);
    let client = f.https(HOST);
    let (status, release, _) = get(&client, &format!("https://{HOST}/")).await;
    assert_eq!(status, 502);
    assert_eq!(release, None, "no release answered");

    // One dead, one live: every request is answered by the live one.
    f.serve(HOST, 1, vec![dead().await, app("live").await]);
    for _ in 0..6 {
        let (status, _, body) = get(&client, &format!("https://{HOST}/")).await;
        assert_eq!(status, 200);
        assert!(body.starts_with("live "), "{body}");
    }
}

#[tokio::test]
async fn switching_the_route_moves_traffic_to_the_new_release() {
    let f = fixture().await;
    let client = f.https(HOST);
    let url = format!("https://{HOST}/");
    f.routes.set_app(
        "acme",
        "web",
        vec![(
            HOST.into(),
            Route::Serve {
                org: "acme".into(),
                app: "web".into(),
                release_id: "acme/web@v1".into(),
                upstreams: vec![app("old-a").await, app("old-b").await],
            },
        )],
    );
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (_, release, body) = get(&client, &url).await;
        assert_eq!(release.as_deref(), Some("acme/web@v1"));
        seen.push(body.split(' ').next().unwrap().to_string());
    }
    assert!(seen.contains(&"old-a".to_string()) && seen.contains(&"old-b".to_string()));

    f.routes.set_app(
        "acme",
        "web",
        vec![(
            HOST.into(),
            Route::Serve {
                org: "acme".into(),
                app: "web".into(),
                release_id: "acme/web@v2".into(),
                upstreams: vec![app("new").await],
            },
        )],
    );
    for _ in 0..4 {
        let (status, release, body) = get(&client, &url).await;
        assert_eq!(status, 200);
        assert_eq!(release.as_deref(), Some("acme/web@v2"));
        assert!(body.starts_with("new "), "{body}");
    }
}

/// A replica that answers the first request of each connection with keep-alive, then closes
/// the connection on the next request without answering, as a replica does when it stops.
async fn closing_app(connections: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut tcp = BufReader::new(tcp);
                let mut line = String::new();
                for answered in [true, false] {
                    loop {
                        line.clear();
                        if tcp.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    if !answered {
                        return; // read the request, then gone
                    }
                    let reply = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n";
                    tcp.get_mut().write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_pooled_connection_closed_by_the_replica_is_not_an_error() {
    let f = fixture().await;
    let connections = Arc::new(AtomicUsize::new(0));
    f.serve(HOST, 1, vec![closing_app(connections.clone()).await]);
    let client = f.https(HOST);
    for i in 0..5 {
        let (status, release, body) = get(&client, &format!("https://{HOST}/")).await;
        assert_eq!((status, body.as_str()), (200, "ok\n"), "request {i}");
        assert_eq!(release.as_deref(), Some("acme/web@v1"));
    }
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the edge reused a pooled connection at least once"
    );
}

#[tokio::test]
async fn an_unknown_sni_gets_no_certificate() {
    let f = fixture().await;
    f.serve(HOST, 1, vec![app("replica").await]);
    let err = f
        .https("unknown.test")
        .get("https://unknown.test/")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "the TLS handshake fails: {err:?}");
    // The same edge, a routed name: the handshake succeeds.
    let (status, _, _) = get(&f.https(HOST), &format!("https://{HOST}/")).await;
    assert_eq!(status, 200);
}

/// A WebSocket replica: completes the upgrade and echoes every message.
async fn websocket_app() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn websockets_pass_through_over_tls() {
    let f = fixture().await;
    f.serve(HOST, 4, vec![websocket_app().await]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(f.ca.ca_der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(f.edge.https_addr()).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(HOST.try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(format!("wss://{HOST}/socket"), tls)
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()[RELEASE_HEADER], "acme/web@v4");
    for text in ["hello", "again"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn a_stopped_edge_refuses_connections() {
    let f = fixture().await;
    f.serve(HOST, 1, vec![app("replica").await]);
    let http = f.edge.http_addr();
    let (status, _, _) = get(&f.http(HOST), &format!("http://{HOST}/")).await;
    assert_eq!(status, 200);
    f.edge.shutdown().await;
    assert!(TcpStream::connect(http).await.is_err());
}

//! A test edge on 127.0.0.1, shared by the integration tests and the benchmark:
//! - an authoritative DNS server (hickory-server, UDP + TCP on one port) serving an in-memory
//!   zone (A, AAAA, CNAME, TXT records; sub-zones that answer SERVFAIL), editable while it runs;
//! - a TLS server (tokio-rustls) with an SNI certificate resolver and rcgen certificates from
//!   a test CA: valid, expired, not yet valid, for another name, from an unknown CA, expiring
//!   in N days;
//! - hyper HTTP/1.1 handlers per hostname (status, `x-satusky-release`, `Location`, or an
//!   answer that never comes, comes late, or a closed connection);
//! - a plain HTTP server (no TLS), to put where TLS is expected.
//!
//! Nothing here listens beyond loopback; everything stops when the [`TestEdge`] is dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AuthLookup, AxfrPolicy, Catalog, LookupControlFlow, LookupOptions, ZoneHandler, ZoneType,
};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request as HttpRequest, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use satusky_probe::{ProbeConfig, Timeouts};
use time::OffsetDateTime;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A certificate authority for tests.
pub struct TestCa {
    pub cert_der: CertificateDer<'static>,
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(common_name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            cert_der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, valid from `now + from_days` to `now + to_days`.
    pub fn issue(
        &self,
        names: &[&str],
        from_days: i64,
        to_days: i64,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let now = OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(to_days);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }
}

/// Which certificate the edge serves for a hostname.
#[derive(Debug, Clone)]
pub enum CertSpec {
    /// From the test CA, valid for 90 days.
    Valid,
    /// Expired two days ago.
    Expired,
    /// Valid only from ten days on.
    NotYetValid,
    /// Valid, but for another name.
    WrongName(String),
    /// Valid and for the name, but from a CA the prober does not trust.
    UnknownCa,
    /// Valid for the name, expiring in this many days.
    ExpiresInDays(i64),
}

/// How the edge answers HTTP for a hostname.
#[derive(Debug, Clone)]
pub enum Responder {
    Answer {
        status: u16,
        release: Option<String>,
        location: Option<String>,
    },
    /// Reads the request and never answers.
    Hang,
    /// Answers as the inner responder, after this long.
    Slow(Duration, Box<Responder>),
    /// Closes the connection without an answer.
    Close,
}

impl Responder {
    pub fn status(status: u16, release: Option<&str>) -> Responder {
        Responder::Answer {
            status,
            release: release.map(str::to_string),
            location: None,
        }
    }

    pub fn redirect(status: u16, location: &str) -> Responder {
        Responder::Answer {
            status,
            release: None,
            location: Some(location.to_string()),
        }
    }

    /// This answer, `delay` late.
    pub fn slow(delay: Duration, then: Responder) -> Responder {
        Responder::Slow(delay, Box::new(then))
    }
}

/// What the edge will serve, before it starts.
pub struct EdgeBuilder {
    zone: Name,
    records: Vec<Record>,
    servfail_zones: Vec<Name>,
    certs: Vec<(String, CertSpec)>,
    http: HashMap<String, Responder>,
}

impl EdgeBuilder {
    /// An edge authoritative for `zone` (e.g. `edge.test`).
    pub fn new(zone: &str) -> EdgeBuilder {
        EdgeBuilder {
            zone: fqdn(zone),
            records: Vec::new(),
            servfail_zones: Vec::new(),
            certs: Vec::new(),
            http: HashMap::new(),
        }
    }

    pub fn a(mut self, name: &str, ip: &str) -> Self {
        let rdata = match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.records.push(Record::from_rdata(fqdn(name), 0, rdata));
        self
    }

    pub fn cname(mut self, name: &str, target: &str) -> Self {
        self.records.push(Record::from_rdata(
            fqdn(name),
            0,
            RData::CNAME(CNAME(fqdn(target))),
        ));
        self
    }

    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.records.push(Record::from_rdata(
            fqdn(name),
            0,
            RData::TXT(TXT::new(vec![text.to_string()])),
        ));
        self
    }

    /// Every name under `zone` answers SERVFAIL (its zone handler never answers).
    pub fn servfail(mut self, zone: &str) -> Self {
        self.servfail_zones.push(fqdn(zone));
        self
    }

    pub fn cert(mut self, host: &str, spec: CertSpec) -> Self {
        self.certs.push((host.to_string(), spec));
        self
    }

    pub fn http(mut self, host: &str, responder: Responder) -> Self {
        self.http.insert(host.to_string(), responder);
        self
    }

    /// The usual healthy host: A → 127.0.0.1, a valid certificate, 200 with `release`.
    pub fn healthy(self, host: &str, release: &str) -> Self {
        self.a(host, "127.0.0.1")
            .cert(host, CertSpec::Valid)
            .http(host, Responder::status(200, Some(release)))
    }

    pub async fn start(self) -> TestEdge {
        let ca = TestCa::new("Satusky Test CA");
        let stranger = TestCa::new("Unknown Test CA");
        let provider = rustls::crypto::ring::default_provider();
        let mut keys = HashMap::new();
        for (host, spec) in &self.certs {
            let (chain, key) = match spec {
                CertSpec::Valid => ca.issue(&[host], -1, 90),
                CertSpec::Expired => ca.issue(&[host], -30, -2),
                CertSpec::NotYetValid => ca.issue(&[host], 10, 100),
                CertSpec::WrongName(other) => ca.issue(&[other], -1, 90),
                CertSpec::UnknownCa => stranger.issue(&[host], -1, 90),
                CertSpec::ExpiresInDays(days) => ca.issue(&[host], -1, *days),
            };
            let certified = CertifiedKey::from_der(chain, key, &provider).unwrap();
            keys.insert(host.to_ascii_lowercase(), Arc::new(certified));
        }
        let mut tasks = Vec::new();

        // DNS: one in-memory zone, plus handlers that never answer (→ SERVFAIL).
        let mut zone =
            InMemoryZoneHandler::empty(self.zone.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            Name::from_ascii(format!("ns.{}", self.zone)).unwrap(),
            Name::from_ascii(format!("admin.{}", self.zone)).unwrap(),
            1,
            3600,
            600,
            86_400,
            0,
        );
        zone.upsert_mut(Record::from_rdata(self.zone.clone(), 0, RData::SOA(soa)), 1);
        for record in self.records {
            assert!(zone.upsert_mut(record, 1), "record rejected by the zone");
        }
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(
            LowerName::new(&self.zone),
            vec![zone.clone() as Arc<dyn ZoneHandler>],
        );
        for sub in &self.servfail_zones {
            catalog.upsert(
                LowerName::new(sub),
                vec![Arc::new(NeverAnswers(LowerName::new(sub))) as Arc<dyn ZoneHandler>],
            );
        }
        let (udp, tcp) = bind_udp_and_tcp().await;
        let dns = udp.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 64 * 1024);
        tasks.push(tokio::spawn(async move {
            let _ = server.block_until_done().await;
        }));

        // TLS + HTTP.
        let resolver = Arc::new(SniResolver(keys));
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let https = listener.local_addr().unwrap();
        let routes = Arc::new(self.http);
        tasks.push(tokio::spawn(serve_https(listener, acceptor, routes)));

        TestEdge {
            dns,
            https,
            ca_pem: ca.pem.clone(),
            ca_der: ca.cert_der.clone(),
            zone,
            tasks,
        }
    }
}

/// A plain HTTP/1.1 server (no TLS) on 127.0.0.1 answering 200 to everything, as a
/// misconfigured edge would on its TLS port. Stops when the handle is aborted or dropped with
/// the runtime.
pub async fn plain_http_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req: HttpRequest<Incoming>| async {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"plain\n",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, task)
}

/// A running edge. Dropping it stops every server.
pub struct TestEdge {
    pub dns: SocketAddr,
    pub https: SocketAddr,
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    zone: Arc<InMemoryZoneHandler>,
    tasks: Vec<JoinHandle<()>>,
}

impl TestEdge {
    /// A prober configuration for this edge: its DNS server, its HTTPS address, its CA.
    pub fn config(&self, timeout: Duration) -> ProbeConfig {
        ProbeConfig {
            resolvers: vec![self.dns],
            edge: Some(self.https),
            extra_roots: vec![self.ca_der.clone()],
            timeouts: Timeouts::uniform(timeout),
            concurrency: 16,
        }
    }

    /// Adds an A/AAAA record while the edge runs.
    pub async fn add_address(&self, name: &str, ip: &str) {
        let rdata = match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        assert!(
            self.zone
                .upsert(Record::from_rdata(fqdn(name), 0, rdata), 2)
                .await
        );
    }
}

impl Drop for TestEdge {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn fqdn(name: &str) -> Name {
    let mut n = name.to_string();
    if !n.ends_with('.') {
        n.push('.');
    }
    Name::from_ascii(n).unwrap()
}

async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            return (udp, tcp);
        }
    }
    panic!("no free UDP+TCP port pair on 127.0.0.1");
}

/// Picks the certificate by SNI; no certificate → the handshake is refused.
#[derive(Debug)]
struct SniResolver(HashMap<String, Arc<CertifiedKey>>);

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        self.0.get(&name).cloned()
    }
}

async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    routes: Arc<HashMap<String, Responder>>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let routes = routes.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| respond(req, routes.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closing without an answer")
    }
}

impl std::error::Error for CloseConnection {}

async fn respond(
    req: HttpRequest<Incoming>,
    routes: Arc<HashMap<String, Responder>>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut responder = routes
        .get(&host)
        .cloned()
        .unwrap_or(Responder::status(404, None));
    while let Responder::Slow(delay, then) = responder {
        tokio::time::sleep(delay).await;
        responder = *then;
    }
    match responder {
        Responder::Slow(..) => unreachable!("unwrapped above"),
        Responder::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Err(CloseConnection)
        }
        Responder::Close => Err(CloseConnection),
        Responder::Answer {
            status,
            release,
            location,
        } => {
            let mut res = Response::builder().status(status);
            if let Some(r) = release {
                res = res.header("x-satusky-release", r);
            }
            if let Some(l) = location {
                res = res.header(hyper::header::LOCATION, l);
            }
            Ok(res.body(Full::new(Bytes::from_static(b"ok\n"))).unwrap())
        }
    }
}

/// A zone handler that declines every query: the catalog then answers SERVFAIL.
struct NeverAnswers(LowerName);

#[async_trait::async_trait]
impl ZoneHandler for NeverAnswers {
    fn zone_type(&self) -> ZoneType {
        ZoneType::Primary
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        &self.0
    }

    async fn lookup(
        &self,
        _name: &LowerName,
        _rtype: RecordType,
        _request_info: Option<&RequestInfo<'_>>,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        LookupControlFlow::Skip
    }

    async fn search(
        &self,
        _request: &Request,
        _lookup_options: LookupOptions,
    ) -> (
        LookupControlFlow<AuthLookup>,
        Option<hickory_server::proto::rr::TSigResponseContext>,
    ) {
        (LookupControlFlow::Skip, None)
    }

    async fn nsec_records(
        &self,
        _name: &LowerName,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        LookupControlFlow::Skip
    }
}

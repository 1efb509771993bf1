//! A real pebble (feature `pebble`; Debian package `pebble`, GUIDE §4) for ACME tests — the
//! local runtime's (crates/local/tests/acme.rs) and `satusky dev`'s
//! (crates/satusky/tests/acme.rs): a TLS certificate for
//! `localhost`/`127.0.0.1` made here by a CA made here (that CA's PEM is the directory's
//! `ca_file`), free loopback ports for the directory and management API, and the challenge
//! ports and DNS server the test names. The process dies with the [`Pebble`].
//!
//! Two steps, because the edge's issuer needs the directory URL before the edge (whose ports
//! pebble validates on) is up: [`PebbleSetup::new`] (files, ports), then
//! [`PebbleSetup::start`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The files and ports of a pebble not started yet.
pub struct PebbleSetup {
    pub dir: tempfile::TempDir,
    /// The PEM of the CA that signed pebble's own TLS certificate.
    pub ca_file: PathBuf,
    pub ca_der: CertificateDer<'static>,
    pub listen: SocketAddr,
    pub mgmt: SocketAddr,
}

/// A running pebble.
pub struct Pebble {
    pub setup: PebbleSetup,
    _child: tokio::process::Child,
}

/// Where pebble sends its validation requests, and what it issues.
pub struct PebbleOptions {
    pub http_port: u16,
    pub tls_port: u16,
    pub dns: SocketAddr,
    /// `certificateValidityPeriod` in seconds (pebble's default: about 5 years).
    pub validity_secs: Option<u64>,
}

/// A loopback port nothing listens on right now, TCP or UDP (bound, then released).
pub fn free_port() -> u16 {
    // Picked at random below 10,000: under the local runtime's replica ports and the kernel's
    // ephemeral range, so neither a replica nor an outgoing connection takes it between this
    // pick and its use (a port the kernel hands out for `:0` is exactly one those may get).
    use std::sync::atomic::{AtomicU64, Ordering};
    static PICKS: AtomicU64 = AtomicU64::new(0);
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let mut seed =
        nanos ^ (u64::from(std::process::id()) << 20) ^ PICKS.fetch_add(1, Ordering::Relaxed);
    for _ in 0..500 {
        // xorshift: cheap, and enough to spread parallel tests apart.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = 2_000 + u16::try_from(seed % 8_000).unwrap_or(0);
        // Never the same port twice in one test process: parallel tests each pick one and
        // bind it a little later, so a free port must not be handed to a second test meanwhile.
        let fresh = HANDED_OUT.lock().map_or(true, |mut seen| seen.insert(port));
        if fresh
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Default for PebbleSetup {
    fn default() -> Self {
        PebbleSetup::new()
    }
}

impl PebbleSetup {
    /// A new temp dir with pebble's TLS certificate, key and CA, and two free ports.
    pub fn new() -> PebbleSetup {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "satusky test CA for pebble");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        PebbleSetup {
            ca_der: ca_cert.der().clone(),
            ca_file,
            listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
            mgmt: SocketAddr::from(([127, 0, 0, 1], free_port())),
            dir,
        }
    }

    /// The ACME directory URL.
    pub fn directory(&self) -> String {
        format!("https://{}/dir", self.listen)
    }

    /// Writes the config and runs `PEBBLE_VA_NOSLEEP=1 pebble -config F -dnsserver DNS`, then
    /// waits until the directory answers.
    pub async fn start(self, opts: PebbleOptions) -> Pebble {
        let mut pebble = serde_json::json!({
            "listenAddress": self.listen.to_string(),
            "managementListenAddress": self.mgmt.to_string(),
            "certificate": self.dir.path().join("cert.pem"),
            "privateKey": self.dir.path().join("key.pem"),
            "httpPort": opts.http_port,
            "tlsPort": opts.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(secs) = opts.validity_secs {
            pebble["certificateValidityPeriod"] = secs.into();
        }
        let config = self.dir.path().join("pebble.json");
        std::fs::write(
            &config,
            serde_json::to_vec(&serde_json::json!({ "pebble": pebble })).unwrap(),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.path().join("pebble.log")).unwrap();
        let child = tokio::process::Command::new("pebble")
            .arg("-config")
            .arg(&config)
            .arg("-dnsserver")
            .arg(opts.dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            // Deterministic tests: no nonce rejected on purpose, every order challenged.
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("pebble runs (apt-get install -y pebble)");
        let pebble = Pebble {
            setup: self,
            _child: child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(pebble.setup.listen).await.is_err()
            || TcpStream::connect(pebble.setup.mgmt).await.is_err()
        {
            assert!(
                Instant::now() < deadline,
                "pebble did not start: {}",
                pebble.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pebble
    }
}

impl Pebble {
    /// What pebble printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.setup.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// The root pebble issues under, for this run (`https://MGMT/roots/0`).
    pub async fn root(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.root_pem().await.as_bytes()).expect("a PEM root")
    }

    /// [`Pebble::root`] as pebble serves it, PEM (e.g. for a `ca_files` entry).
    pub async fn root_pem(&self) -> String {
        let resp = https_get(
            self.setup.mgmt,
            "localhost",
            "/roots/0",
            std::slice::from_ref(&self.setup.ca_der),
        )
        .await
        .expect("pebble's management API answers");
        assert_eq!(resp.status, 200, "{}", resp.head);
        String::from_utf8(resp.body).expect("a PEM root")
    }
}

/// One HTTPS answer.
#[derive(Debug)]
pub struct HttpsResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// The server's leaf certificate.
    pub leaf: CertificateDer<'static>,
}

impl HttpsResponse {
    /// A header's value (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// `GET path` over a new TLS connection to `addr` with SNI (and Host) `host`, verified against
/// `roots` only.
pub async fn https_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    roots: &[CertificateDer<'static>],
) -> Result<HttpsResponse, String> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(store)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no peer certificate")?
        .clone()
        .into_owned();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    // A peer that closes without close_notify still gave us its whole answer.
    if let Err(e) = tls.read_to_end(&mut raw).await
        && raw.is_empty()
    {
        return Err(e.to_string());
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of head")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok(HttpsResponse {
        status,
        head,
        body,
        leaf,
    })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}

//! TLS I/O: TCP connect to the edge, handshake with SNI = hostname, and a certificate
//! verifier that *records* the presented chain and rustls' WebPKI verdict instead of aborting,
//! so the handshake completes and the failure can be classified (and HTTP still observed).
//! Trust roots: webpki-roots plus the configured PEMs. Each step has its own timeout.
//!
//! The first bytes the peer sends are kept ([`Sniffed`]), so a handshake that fails because a
//! plain HTTP server answered (`HTTP/1.1 400 …`) is reported as such, quoting its status line.
//!
//! Must not decide readiness: it returns what happened; [`crate::tls_verdict`] judges it.
//! Handshake signatures are still verified (by the delegate), and session resumption is off,
//! so every check sees and verifies the certificate the edge serves now.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::ProbeError;
use crate::tls_verdict::ConnectFailure;

/// What the verifier saw during one handshake.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// Leaf first, then the intermediates as presented.
    pub chain: Vec<CertificateDer<'static>>,
    /// rustls' WebPKI verdict on that chain for this hostname.
    pub verdict: Result<(), rustls::Error>,
}

/// Delegates to [`WebPkiServerVerifier`] and records its verdict; always lets the handshake
/// go on. One per connection (the record is per handshake).
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<Seen>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone().into_owned());
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(Seen { chain, verdict });
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How many of the peer's first bytes [`Sniffed`] keeps: enough for an HTTP status line.
const SNIFF_BYTES: usize = 64;

/// A TCP stream that keeps the first [`SNIFF_BYTES`] bytes the peer sent (a length check per
/// read after that), to tell what answered when the handshake fails.
pub(crate) struct Sniffed {
    tcp: TcpStream,
    first: Vec<u8>,
}

impl AsyncRead for Sniffed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if this.first.len() < SNIFF_BYTES
            && let Some(new) = buf.filled().get(before..)
        {
            let room = SNIFF_BYTES - this.first.len();
            this.first.extend_from_slice(&new[..new.len().min(room)]);
        }
        polled
    }
}

impl AsyncWrite for Sniffed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// The TLS session of a check, over the sniffing TCP stream.
pub(crate) type TlsSession = TlsStream<Sniffed>;

/// A completed handshake.
pub(crate) struct Connected {
    pub stream: TlsSession,
    pub seen: Option<Seen>,
}

/// The TLS side of a prober: one base client configuration (ring provider only), cloned per
/// connection with a fresh recording verifier.
pub(crate) struct TlsClient {
    base: ClientConfig,
    webpki: Arc<WebPkiServerVerifier>,
}

impl TlsClient {
    pub(crate) fn new(extra_roots: &[CertificateDer<'static>]) -> Result<Self, ProbeError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in extra_roots {
            roots.add(cert.clone()).map_err(ProbeError::TrustRoot)?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(ProbeError::Verifier)?;
        let base = client_config(provider, webpki.clone(), Arc::default())?;
        Ok(TlsClient { base, webpki })
    }

    /// TCP connect (bounded by `connect`), then the handshake (bounded by `handshake`).
    pub(crate) async fn connect(
        &self,
        addr: SocketAddr,
        hostname: &str,
        connect: Duration,
        handshake: Duration,
    ) -> Result<Connected, ConnectFailure> {
        let server_name = ServerName::try_from(hostname.trim_end_matches('.').to_string())
            .map_err(|e| {
                ConnectFailure::Handshake(format!("{hostname:?} is not a server name: {e}"))
            })?;
        let tcp = match tokio::time::timeout(connect, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectFailure::ConnectTimeout),
            Ok(Err(e)) => return Err(connect_error(&e)),
            Ok(Ok(tcp)) => tcp,
        };
        // The request is one small write: don't let Nagle hold it back.
        let _ = tcp.set_nodelay(true);

        let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
        let mut config = self.base.clone();
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(RecordingVerifier {
                inner: self.webpki.clone(),
                seen: seen.clone(),
            }));
        let connector = TlsConnector::from(Arc::new(config));
        let sniffed = Sniffed {
            tcp,
            first: Vec::new(),
        };
        // Fallible: a failed handshake hands the stream back, with what the peer sent first.
        let result = tokio::time::timeout(
            handshake,
            connector.connect(server_name, sniffed).into_fallible(),
        )
        .await;
        let recorded = seen.lock().ok().and_then(|mut s| s.take());
        match result {
            Err(_) => Err(ConnectFailure::HandshakeTimeout),
            Ok(Ok(stream)) => Ok(Connected {
                stream,
                seen: recorded,
            }),
            Ok(Err((e, sniffed))) => Err(match plain_http_status_line(&sniffed.first) {
                Some(status_line) => ConnectFailure::NotTls(status_line),
                None => handshake_error(&e, hostname),
            }),
        }
    }
}

fn client_config(
    provider: Arc<CryptoProvider>,
    webpki: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<Seen>>>,
) -> Result<ClientConfig, ProbeError> {
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ProbeError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier {
            inner: webpki,
            seen,
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // A resumed session skips certificate verification: every check must see the chain.
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// `HTTP/1.1 400 Bad Request` when the peer's first bytes are an HTTP response: a plain HTTP
/// server answered the ClientHello.
fn plain_http_status_line(first: &[u8]) -> Option<String> {
    if !first.starts_with(b"HTTP/") {
        return None;
    }
    let line = first
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or(first);
    Some(String::from_utf8_lossy(line).into_owned())
}

fn connect_error(e: &std::io::Error) -> ConnectFailure {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => ConnectFailure::Refused(e.to_string()),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
            ConnectFailure::Reset(e.to_string())
        }
        ErrorKind::TimedOut => ConnectFailure::ConnectTimeout,
        _ => ConnectFailure::Connect(e.to_string()),
    }
}

fn handshake_error(e: &std::io::Error, hostname: &str) -> ConnectFailure {
    use std::io::ErrorKind;
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match tls {
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::HandshakeFailure
                | AlertDescription::UnrecognisedName
                // rustls servers answer this when their certificate resolver has nothing.
                | AlertDescription::AccessDenied),
            ) => ConnectFailure::NoCertificate(format!(
                "alert {alert:?} for SNI {hostname}: the edge has no certificate for this \
                 hostname"
            )),
            rustls::Error::AlertReceived(alert) => {
                ConnectFailure::Handshake(format!("alert {alert:?}"))
            }
            other => ConnectFailure::Handshake(other.to_string()),
        };
    }
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            ConnectFailure::Reset(e.to_string())
        }
        ErrorKind::UnexpectedEof => ConnectFailure::Handshake(format!(
            "the edge closed the connection during the handshake for SNI {hostname}"
        )),
        _ => ConnectFailure::Handshake(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_answer_is_recognised_by_its_first_bytes() {
        assert_eq!(
            plain_http_status_line(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"),
            Some("HTTP/1.1 400 Bad Request".to_string())
        );
        assert_eq!(
            plain_http_status_line(b"HTTP/1.0 40"),
            Some("HTTP/1.0 40".to_string())
        );
        // A TLS alert record, or nothing at all, is not HTTP.
        assert_eq!(
            plain_http_status_line(&[0x15, 0x03, 0x03, 0x00, 0x02]),
            None
        );
        assert_eq!(plain_http_status_line(b""), None);
    }
}

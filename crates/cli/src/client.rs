//! The HTTP client of the control plane API (SPEC §6) and the mapping of every failure to
//! one line and an exit code (SPEC §5).
//!
//! Owns: URLs (path segments are percent-encoded), the bearer token, timeouts, and turning
//! `{"error": {code, message}}` bodies, HTTP statuses and transport errors into
//! [`CliError`]s, raw-body uploads and the WebSocket upgrade. Knows nothing about commands
//! or output.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url, header};
use satusky_types::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::exit::CliError;
use crate::retry;

/// A control plane that does not accept a connection in this long is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// No API call is slow by design (builds and rollouts are asynchronous), so anything
/// slower than this is a stuck server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a non-JSON error body to quote.
const BODY_SNIPPET: usize = 200;
/// How much of a server's error message (and of each field's) to print: every message the
/// server writes fits; a server that echoes a whole value back does not flood the terminal.
const SERVER_MESSAGE_CHARS: usize = 1000;

/// A WebSocket to the control plane (the event stream).
pub type WebSocket = WebSocketStream<reqwest::Upgraded>;

/// A client bound to one control plane and (optionally) one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl Client {
    /// A client for `api_url`. Fails (exit 2) when the URL is not an http(s) URL.
    pub fn new(api_url: &str, token: Option<String>) -> Result<Self, CliError> {
        let base = parse_api_url(api_url)?;
        ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("1ctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Unexpected(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client { http, base, token })
    }

    /// The API URL as the user gave it (for messages).
    pub fn api_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `GET` the path made of `segments` and decode the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, CliError> {
        self.call(Method::GET, segments, &[], None::<&()>).await
    }

    /// `GET` with a query string (`?k=v&…`, encoded).
    pub async fn get_query<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, CliError> {
        self.call(Method::GET, segments, query, None::<&()>).await
    }

    /// `POST` a JSON body.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, CliError> {
        self.call(Method::POST, segments, &[], Some(body)).await
    }

    /// `PUT` a JSON body.
    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, CliError> {
        self.call(Method::PUT, segments, &[], Some(body)).await
    }

    /// `PATCH` a JSON body.
    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, CliError> {
        self.call(Method::PATCH, segments, &[], Some(body)).await
    }

    /// `DELETE`.
    pub async fn delete<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, CliError> {
        self.call(Method::DELETE, segments, &[], None::<&()>).await
    }

    /// `DELETE` with a query string (`?k=v&…`, encoded).
    pub async fn delete_query<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, CliError> {
        self.call(Method::DELETE, segments, query, None::<&()>)
            .await
    }

    /// Sends `body` (of `content_type`) with `method` and returns the status and the raw
    /// answer, leaving the status to the caller. Transport failures are mapped as usual;
    /// `timeout` replaces the default (uploads can be slow).
    pub async fn send_bytes(
        &self,
        method: Method,
        segments: &[&str],
        content_type: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(StatusCode, Vec<u8>), CliError> {
        let url = self.url(segments)?;
        let key = retry::is_mutation(&method)
            .then(retry::new_key)
            .transpose()?;
        let mut req = self
            .http
            .request(method, url)
            .header(header::CONTENT_TYPE, content_type)
            .timeout(timeout)
            .body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(key) = key {
            req = req.header(retry::HEADER, key);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(self.api_url(), &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(self.api_url(), &e))?;
        Ok((status, bytes.to_vec()))
    }

    /// Decodes a successful JSON answer (see [`Client::send_bytes`]).
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CliError> {
        serde_json::from_slice(bytes).map_err(|e| {
            CliError::Unexpected(format!(
                "the control plane at {} sent an answer 1ctl does not understand ({e}): check that 1ctl and the server versions match",
                self.api_url()
            ))
        })
    }

    /// Opens a WebSocket on the path made of `segments` with `query`, over the same HTTP
    /// client (TLS, proxy, token) as every other call: an HTTP/1.1 upgrade request, the
    /// `101` answer checked (RFC 6455 §4.1), then frames on the upgraded connection. Returns
    /// the socket and the `101` answer's headers.
    pub async fn websocket(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<(WebSocket, header::HeaderMap), CliError> {
        let mut url = self.url(segments)?;
        url.query_pairs_mut().extend_pairs(query);
        let key = generate_key();
        let mut req = self
            .http
            .get(url)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, &key);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(self.api_url(), &e))?;
        let status = resp.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let bytes = resp.bytes().await.unwrap_or_default();
            if status.is_success() {
                return Err(CliError::Unexpected(format!(
                    "the control plane at {} answered /{} with {status} instead of a WebSocket upgrade: check that 1ctl and the server versions match",
                    self.api_url(),
                    segments.join("/")
                )));
            }
            return Err(status_error(
                self.api_url(),
                &segments.join("/"),
                status,
                &bytes,
            ));
        }
        let accept = resp
            .headers()
            .get(header::SEC_WEBSOCKET_ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if accept != derive_accept_key(key.as_bytes()) {
            return Err(CliError::Unexpected(format!(
                "the control plane at {} answered the WebSocket upgrade with a wrong Sec-WebSocket-Accept: check for a proxy in between",
                self.api_url()
            )));
        }
        let headers = resp.headers().clone();
        let upgraded = resp
            .upgrade()
            .await
            .map_err(|e| transport_error(self.api_url(), &e))?;
        let ws = WebSocketStream::from_raw_socket(upgraded, Role::Client, None).await;
        Ok((ws, headers))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, CliError> {
        let mut url = self.url(segments)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        // A mutation carries one key for all its attempts, so retrying it is safe.
        let key = retry::is_mutation(&method)
            .then(retry::new_key)
            .transpose()?;
        let mut delays = retry::RETRY_DELAYS.iter();
        let (status, bytes) = loop {
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            if let Some(key) = &key {
                req = req.header(retry::HEADER, key);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let answer = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    resp.bytes().await.map(|b| (status, b))
                }
                Err(e) => Err(e),
            };
            let outcome = match &answer {
                Ok((status, body)) => retry::Outcome::Answer {
                    status: *status,
                    body,
                },
                Err(e) => retry::Outcome::Transport(e),
            };
            let delay = if key.is_some() && retry::worth_retrying(&outcome) {
                delays.next()
            } else {
                None
            };
            match (delay, answer) {
                (Some(delay), _) => tokio::time::sleep(*delay).await,
                (None, Ok(answer)) => break answer,
                (None, Err(e)) => return Err(transport_error(self.api_url(), &e)),
            }
        };
        if !status.is_success() {
            return Err(status_error(
                self.api_url(),
                &segments.join("/"),
                status,
                &bytes,
            ));
        }
        self.decode(&bytes)
    }

    fn url(&self, segments: &[&str]) -> Result<Url, CliError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| CliError::Invalid(format!("{} cannot be an API URL", self.base)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

/// reqwest is built with `rustls-no-provider` and panics without a process-wide provider.
/// `main` installs ring first thing; this makes any other entry point (tests) safe too.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one meanwhile, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Parses an API URL; only `http` and `https` are accepted.
pub fn parse_api_url(api_url: &str) -> Result<Url, CliError> {
    let invalid = |why: String| {
        CliError::Invalid(format!(
            "the API URL \"{api_url}\" is not valid ({why}): pass --api-url or set SATUSKY_API_URL to e.g. http://127.0.0.1:7070"
        ))
    };
    let url = Url::parse(api_url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("it must be an http:// or https:// URL".into()));
    }
    Ok(url)
}

/// The one-line message and exit code of an error answer to a request for `path`.
pub fn status_error(api_url: &str, path: &str, status: StatusCode, body: &[u8]) -> CliError {
    let parsed = serde_json::from_slice::<ApiError>(body).ok();
    if parsed.is_none() && status == StatusCode::NOT_FOUND {
        // Not an API error body: the URL does not point at a (compatible) control plane.
        return CliError::NotFound(format!(
            "{api_url} has no /{path} (404): check that --api-url / SATUSKY_API_URL points at a Satusky control plane"
        ));
    }
    let message = match &parsed {
        Some(err) => capped(&err.error.message),
        None => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no details")
                    .to_string()
            } else {
                text.chars()
                    .take(BODY_SNIPPET)
                    .collect::<String>()
                    .replace('\n', " ")
            }
        }
    };
    let code = status.as_u16();
    match status {
        // The server's message says why (unknown, revoked or expired) and what to do.
        StatusCode::UNAUTHORIZED if parsed.is_some() => CliError::Unauthenticated(format!(
            "the control plane at {api_url} rejected the token ({code}): {message}; then `1ctl auth login` or set SATUSKY_TOKEN"
        )),
        StatusCode::UNAUTHORIZED => CliError::Unauthenticated(format!(
            "the control plane at {api_url} rejected the token ({code}): run `1ctl auth login` or set SATUSKY_TOKEN to a valid token"
        )),
        // The server's message says what the role cannot do and who can.
        StatusCode::FORBIDDEN => {
            CliError::Unauthenticated(format!("forbidden ({code}): {message}"))
        }
        StatusCode::NOT_FOUND => CliError::NotFound(message),
        StatusCode::CONFLICT => CliError::Invalid(format!("rejected ({code} conflict): {message}")),
        StatusCode::NOT_IMPLEMENTED => CliError::Invalid(format!(
            "not supported by this control plane ({code}): {message}"
        )),
        s if s.is_client_error() => {
            let fields = parsed
                .as_ref()
                .and_then(|e| e.error.details.as_ref())
                .map(|d| field_lines(d, &message))
                .unwrap_or_default();
            CliError::Invalid(format!("rejected ({code}): {message}{fields}"))
        }
        _ => CliError::Unexpected(format!(
            "the control plane at {api_url} failed ({code}): {message}: retry, or check its logs"
        )),
    }
}

/// `details.fields` of a 422 (`[{field, message}]`), one `\nfield: message` line each, so
/// every problem the server found is printed, like local config diagnostics.
/// One line per field of `details.fields`, leaving out those the message already says.
fn field_lines(details: &serde_json::Value, said: &str) -> String {
    let Some(fields) = details.get("fields").and_then(|f| f.as_array()) else {
        return String::new();
    };
    fields
        .iter()
        .filter_map(|f| {
            let text = f.get("message")?.as_str()?;
            if said.contains(text) {
                return None;
            }
            let message = capped(text);
            Some(match f.get("field").and_then(|v| v.as_str()) {
                Some(field) if !field.is_empty() => format!("\n{}: {message}", capped(field)),
                _ => format!("\n{message}"),
            })
        })
        .collect()
}

/// `text` cut to [`SERVER_MESSAGE_CHARS`] characters, with `…` when cut.
fn capped(text: &str) -> String {
    match text.char_indices().nth(SERVER_MESSAGE_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// Connect errors, DNS failures and timeouts are "unreachable" (exit 4).
pub fn transport_error(api_url: &str, err: &reqwest::Error) -> CliError {
    let why = if err.is_timeout() {
        Some("timed out".to_string())
    } else if err.is_dns() {
        Some("cannot resolve its host name".to_string())
    } else if err.is_connect() {
        Some(io_cause(err).unwrap_or_else(|| "connection failed".to_string()))
    } else {
        None
    };
    match why {
        Some(why) => unreachable(api_url, &why),
        None => {
            // A connection that dies mid-answer is also the control plane going away —
            // whether the socket reports it (an I/O error) or the HTTP layer sees the
            // connection close before an answer arrived.
            if let Some(cause) = io_cause(err) {
                return unreachable(api_url, &cause);
            }
            if closed_before_answer(err) {
                return unreachable(api_url, "the connection closed before an answer arrived");
            }
            CliError::Unexpected(format!(
                "request to the control plane at {api_url} failed: {}",
                innermost(err)
            ))
        }
    }
}

/// The standard "cannot reach" line.
pub fn unreachable(api_url: &str, why: &str) -> CliError {
    CliError::Unreachable(format!(
        "cannot reach the control plane at {api_url} ({why}): start it with `satusky serve` (or `satusky dev`), or point --api-url / SATUSKY_API_URL at it"
    ))
}

fn io_cause(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_string(),
                std::io::ErrorKind::ConnectionAborted => "connection aborted".to_string(),
                std::io::ErrorKind::TimedOut => "timed out".to_string(),
                std::io::ErrorKind::UnexpectedEof => "connection closed".to_string(),
                _ => io.to_string(),
            });
        }
        source = e.source();
    }
    None
}

/// hyper's "connection closed before message completed" somewhere in the chain.
fn closed_before_answer(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed())
        {
            return true;
        }
        source = e.source();
    }
    false
}

fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:7070";

    fn body(code: &str, message: &str) -> Vec<u8> {
        format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#).into_bytes()
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let cases = [
            (400, "invalid_input", 2),
            (401, "unauthenticated", 3),
            (403, "forbidden", 3),
            (404, "not_found", 5),
            (409, "conflict", 2),
            (413, "payload_too_large", 2),
            (422, "invalid_input", 2),
            (500, "internal", 1),
            (503, "internal", 1),
        ];
        for (status, code, exit) in cases {
            let st = StatusCode::from_u16(status).expect("status");
            let err = status_error(URL, "v1/x", st, &body(code, "msg"));
            assert_eq!(err.code(), exit, "{status}");
        }
    }

    #[test]
    fn messages_carry_the_server_message_and_a_next_step() {
        let e = status_error(
            URL,
            "v1/x",
            StatusCode::NOT_FOUND,
            &body("not_found", "app \\\"x\\\" not found in org \\\"acme\\\""),
        );
        assert_eq!(e.to_string(), "app \"x\" not found in org \"acme\"");
        let e = status_error(
            URL,
            "v1/x",
            StatusCode::CONFLICT,
            &body("conflict", "hostname taken"),
        );
        assert!(e.to_string().contains("hostname taken"), "{e}");
        let e = status_error(URL, "v1/x", StatusCode::UNAUTHORIZED, b"");
        assert!(e.to_string().contains("rejected the token (401)"), "{e}");
        assert!(e.to_string().contains("1ctl auth login"), "{e}");
        let e = status_error(
            URL,
            "v1/x",
            StatusCode::UNAUTHORIZED,
            &body("unauthenticated", "the token tok_1 was revoked at T"),
        );
        assert!(
            e.to_string()
                .contains("(401): the token tok_1 was revoked at T"),
            "{e}"
        );
        let e = status_error(
            URL,
            "v1/x",
            StatusCode::FORBIDDEN,
            &body(
                "forbidden",
                "a member token cannot destroy apps; ask an admin",
            ),
        );
        assert_eq!(
            e.to_string(),
            "forbidden (403): a member token cannot destroy apps; ask an admin"
        );
        let e = status_error(
            URL,
            "v1/x",
            StatusCode::BAD_GATEWAY,
            b"<html>\nproxy\n</html>",
        );
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().contains("proxy"), "{e}");
        let e = status_error(
            URL,
            "v1/whoami",
            StatusCode::NOT_FOUND,
            b"<html>nope</html>",
        );
        assert_eq!(e.code(), 5);
        assert!(e.to_string().contains("has no /v1/whoami (404)"), "{e}");
    }

    #[test]
    fn invalid_spec_lists_every_field() {
        let body = serde_json::json!({"error": {"code": "invalid_input", "message": "the spec is invalid",
            "details": {"fields": [{"field": "memory", "message": "bad quantity"},
                                   {"field": "name", "message": "bad name"}]}}});
        let e = status_error(
            URL,
            "v1/x",
            StatusCode::UNPROCESSABLE_ENTITY,
            body.to_string().as_bytes(),
        );
        assert_eq!(e.code(), 2);
        assert_eq!(
            e.to_string(),
            "rejected (422): the spec is invalid\nmemory: bad quantity\nname: bad name"
        );
    }

    #[test]
    fn a_field_the_message_already_says_is_not_repeated() {
        let body = serde_json::json!({"error": {"code": "invalid_input",
            "message": "parameters of redis@2: --set memory: 1Mi is out of range: use 64Mi–16Gi",
            "details": {"fields": [{"field": "--set memory", "message": "1Mi is out of range: use 64Mi–16Gi"},
                                   {"field": "--set eviction", "message": "not one of the choices"}]}}});
        let e = status_error(
            URL,
            "v1/x",
            StatusCode::UNPROCESSABLE_ENTITY,
            body.to_string().as_bytes(),
        );
        assert_eq!(
            e.to_string(),
            "rejected (422): parameters of redis@2: --set memory: 1Mi is out of range: use 64Mi–16Gi\n--set eviction: not one of the choices"
        );
    }

    #[test]
    fn a_server_echoing_a_whole_value_is_printed_cut() {
        let echo = "v".repeat(1024 * 1024);
        let body = serde_json::json!({"error": {"code": "invalid_input", "message": echo,
            "details": {"fields": [{"field": "env.X", "message": echo}]}}});
        let e = status_error(
            URL,
            "v1/x",
            StatusCode::UNPROCESSABLE_ENTITY,
            body.to_string().as_bytes(),
        );
        let shown = e.to_string();
        let cut = format!("{}…", "v".repeat(SERVER_MESSAGE_CHARS));
        assert_eq!(shown, format!("rejected (422): {cut}\nenv.X: {cut}"));
    }

    #[test]
    fn urls_are_checked_and_segments_encoded() {
        assert!(parse_api_url("ftp://x").is_err());
        assert!(parse_api_url("not a url").is_err());
        let c = Client::new("http://h:1/prefix/", None).expect("client");
        let url = c.url(&["v1", "orgs", "a b", "apps", "../x"]).expect("url");
        assert_eq!(url.as_str(), "http://h:1/prefix/v1/orgs/a%20b/apps/..%2Fx");
        let c = Client::new("http://h:1", None).expect("client");
        assert_eq!(
            c.url(&["v1", "whoami"]).expect("url").as_str(),
            "http://h:1/v1/whoami"
        );
    }
}

#[cfg(test)]
#[path = "client_retry_tests.rs"]
mod retry_tests;

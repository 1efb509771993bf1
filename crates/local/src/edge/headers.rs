//! The header rules of the edge, pure: which Host a request is for, which headers cross to
//! the app (hop-by-hop ones do not; `X-Forwarded-*` are added), whether a request asks for a
//! protocol upgrade, and where a redirect host sends a request. No I/O; [`super::proxy`] uses
//! these.

use std::net::SocketAddr;

use hyper::Request;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The Host of a request: the authority of an absolute-form target, else the Host header.
pub(crate) fn request_host<B>(req: &Request<B>) -> Option<String> {
    if let Some(host) = req.uri().host() {
        return Some(match req.uri().port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        });
    }
    let host = req.headers().get(header::HOST)?.to_str().ok()?.trim();
    (!host.is_empty()).then(|| host.to_string())
}

/// A `Connection: upgrade` request with an `Upgrade` header (WebSocket and the like).
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers: the fixed ones and those the Connection header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The headers sent to the app.
pub(crate) fn upstream_headers(
    incoming: &HeaderMap,
    peer: SocketAddr,
    scheme: Scheme,
    raw_host: &str,
) -> HeaderMap {
    let upgrade = wants_upgrade(incoming)
        .then(|| incoming.get(header::UPGRADE).cloned())
        .flatten();
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    if let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
    let mut chain: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    chain.push(peer.ip().to_string());
    if let Ok(value) = HeaderValue::from_str(&chain.join(", ")) {
        headers.insert("x-forwarded-for", value);
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(scheme.as_str()),
    );
    if let Ok(value) = HeaderValue::from_str(raw_host) {
        headers.insert("x-forwarded-host", value.clone());
        // An absolute-form request may have come without a Host header.
        headers.entry(header::HOST).or_insert(value);
    }
    headers
}

/// `Location` of a redirect host: `to` (an `https://` URL; a bare host means `https://`) with
/// the request's path and query appended. `https://new.example` + `/a?b` →
/// `https://new.example/a?b`; a target with a path keeps it as a prefix:
/// `https://new.example/base` + `/a` → `https://new.example/base/a` (one slash between them).
/// A target with its own query is used as it is.
pub(crate) fn redirect_location(to: &str, path_and_query: &str) -> String {
    let to = to.trim();
    let base = if to.contains("://") {
        to.to_string()
    } else {
        format!("https://{to}")
    };
    if base.contains('?') {
        return base;
    }
    let path = if path_and_query.starts_with('/') {
        path_and_query.to_string()
    } else {
        format!("/{path_and_query}")
    };
    format!("{}{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations() {
        let cases = [
            ("https://new.example", "/", "https://new.example/"),
            ("https://new.example", "/a?b=1", "https://new.example/a?b=1"),
            ("https://new.example/", "/a", "https://new.example/a"),
            (
                "https://new.example/base",
                "/a",
                "https://new.example/base/a",
            ),
            (
                "https://new.example/base/",
                "/",
                "https://new.example/base/",
            ),
            ("new.example", "/x", "https://new.example/x"),
            (
                "https://new.example/?from=old",
                "/x",
                "https://new.example/?from=old",
            ),
        ];
        for (to, path, want) in cases {
            assert_eq!(redirect_location(to, path), want, "{to} + {path}");
        }
    }

    #[test]
    fn hop_by_hop_headers_do_not_cross() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-app", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-app"], "kept");
    }

    #[test]
    fn forwarded_headers() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("web.test:8443"));
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("gopher"));
        h.insert("connection", HeaderValue::from_static("Upgrade"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let out = upstream_headers(&h, peer, Scheme::Https, "web.test:8443");
        assert_eq!(out["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
        assert_eq!(out["x-forwarded-proto"], "https");
        assert_eq!(out["x-forwarded-host"], "web.test:8443");
        assert_eq!(out["host"], "web.test:8443");
        assert_eq!(out["connection"], "upgrade");
        assert_eq!(out["upgrade"], "websocket");
    }
}

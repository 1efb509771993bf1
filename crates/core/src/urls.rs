//! URLs compared the way a client would follow them: whether a redirect's `Location` is the
//! expected target. Pure text handling (the `http` crate's `Uri` parser, no I/O); the prober's
//! HTTP plane and the drift checker both ask here.

use http::Uri;

/// Whether a redirect's `Location` is the expected target. Scheme and host compare
/// case-insensitively, a default port equals no port, a missing path equals `/`, one trailing
/// slash does not matter. A target without a path (`https://new.example`) also accepts a
/// path-preserving redirect to the requested path. A relative `Location` is resolved against
/// `https://HOST`.
pub fn same_location(location: &str, target: &str, host: &str, request_path: &str) -> bool {
    let Some(got) = parse_url(location, Some(host)) else {
        return false;
    };
    let Some(want) = parse_url(target, None) else {
        return false;
    };
    if got.scheme != want.scheme || got.authority != want.authority || got.query != want.query {
        return false;
    }
    got.path == want.path || (want.path == "/" && got.path == normalize_path(request_path))
}

#[derive(Debug, PartialEq, Eq)]
struct Url {
    scheme: String,
    /// host[:port] lowercased, default port removed.
    authority: String,
    path: String,
    query: Option<String>,
}

fn parse_url(text: &str, relative_to: Option<&str>) -> Option<Url> {
    let text = text.trim();
    let absolute = if text.starts_with('/') {
        format!("https://{}{text}", relative_to?.trim_end_matches('.'))
    } else if text.contains("://") {
        text.to_string()
    } else {
        // A bare host (`www.example.com` or `www.example.com/path`) means https.
        format!("https://{text}")
    };
    let uri: Uri = absolute.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.trim_end_matches('.').to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let authority = match uri.port_u16() {
        Some(p) if Some(p) != default_port => format!("{host}:{p}"),
        _ => host,
    };
    Some(Url {
        scheme,
        authority,
        path: normalize_path(uri.path()),
        query: uri.query().map(str::to_string),
    })
}

fn normalize_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_comparison_normalizes() {
        let host = "old.example";
        assert!(same_location(
            "https://new.example/",
            "https://new.example",
            host,
            "/"
        ));
        assert!(same_location(
            "https://new.example",
            "new.example",
            host,
            "/"
        ));
        assert!(same_location(
            "https://new.example/docs/",
            "https://new.example/docs",
            host,
            "/"
        ));
        assert!(same_location(
            "https://New.Example./a",
            "https://new.example",
            host,
            "/a"
        ));
        assert!(same_location(
            "/landing",
            "https://old.example/landing/",
            host,
            "/"
        ));
        assert!(!same_location(
            "http://new.example/",
            "https://new.example",
            host,
            "/"
        ));
        assert!(!same_location(
            "https://new.example:8443/",
            "https://new.example",
            host,
            "/"
        ));
        assert!(!same_location(
            "https://new.example/other",
            "https://new.example/docs",
            host,
            "/"
        ));
        assert!(!same_location(
            "https://new.example/?a=1",
            "https://new.example/",
            host,
            "/"
        ));
        assert!(!same_location(
            "not a url at all",
            "https://new.example/",
            host,
            "/"
        ));
    }
}

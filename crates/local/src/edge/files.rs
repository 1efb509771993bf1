//! A static site's answers ([`crate::routes::Route::Static`]): the edge reads the file itself,
//! no process behind it. The request path is decoded and resolved inside the site's root —
//! never outside it: `..`, a NUL or a backslash in any segment is 404, and a symlink is
//! followed only when it stays inside the root — a folder's address answers with its index
//! file, a file the site does not have is 404. GET and HEAD only. Every answer carries the
//! release header like a proxied one; files over [`MAX_FILE_BYTES`] are refused (the edge
//! reads a file whole).

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};

use super::proxy::{Body, RELEASE_HEADER, text};

/// Largest file the edge serves from a static site.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The answer for `method path` from the site at `root`.
pub(crate) async fn serve(
    root: &Path,
    index: &str,
    release_id: &str,
    method: &Method,
    path: &str,
) -> Response<Body> {
    let mut response = answer(root, index, method, path).await;
    if let Ok(value) = HeaderValue::from_str(release_id) {
        response.headers_mut().insert(RELEASE_HEADER, value);
    }
    response
}

async fn answer(root: &Path, index: &str, method: &Method, path: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "a static site answers GET and HEAD only\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let Some(relative) = relative_path(path) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let root = root.to_path_buf();
    let index = index.to_string();
    let found = tokio::task::spawn_blocking(move || locate(&root, &relative, &index)).await;
    let file = match found {
        Ok(Some(file)) => file,
        _ => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let bytes = match tokio::fs::read(&file).await {
        Ok(b) => b,
        Err(_) => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let len = bytes.len();
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(bytes)
    };
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// The path's segments, percent-decoded, or `None` when one would leave the root or cannot
/// name a file (`..`, NUL, backslash, bad escapes, not UTF-8).
fn relative_path(path: &str) -> Option<PathBuf> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut out = PathBuf::new();
    for raw in path.split('/') {
        let segment = percent_decode(raw)?;
        match segment.as_str() {
            "" | "." => {}
            ".." => return None,
            s if s.contains(['\0', '\\', '/']) => return None,
            s => out.push(s),
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file `relative` names under `root` (a folder: its `index`), if it is a regular file
/// inside the root once symlinks are resolved and not over the size limit. Blocking.
fn locate(root: &Path, relative: &Path, index: &str) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let mut candidate = root.join(relative).canonicalize().ok()?;
    if candidate.is_dir() {
        candidate = candidate.join(index).canonicalize().ok()?;
    }
    let meta = std::fs::metadata(&candidate).ok()?;
    (candidate.starts_with(&root) && meta.is_file() && meta.len() <= MAX_FILE_BYTES)
        .then_some(candidate)
}

/// The media type of a file by its extension (what browsers need for a site to work).
fn content_type(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("pdf") => "application/pdf",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// How many regular files `root` holds (at most `cap`; symlinks not followed), or `None`
/// when it is not a folder. Blocking.
pub fn count_files(root: &Path, cap: usize) -> Option<usize> {
    if !root.is_dir() {
        return None;
    }
    let mut count = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                count += 1;
                if count >= cap {
                    return Some(count);
                }
            }
        }
    }
    Some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        assert_eq!(relative_path("/"), Some(PathBuf::new()));
        assert_eq!(
            relative_path("/a/b.html?x=1"),
            Some(PathBuf::from("a/b.html"))
        );
        assert_eq!(
            relative_path("/my%20page.html"),
            Some(PathBuf::from("my page.html"))
        );
        for bad in [
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/a%2fb",
            "/a%00",
            "/%zz",
            "/a\\b",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn files_folders_indexes_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        std::fs::write(root.join("docs/index.html"), "docs").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        let at = |p: &str| locate(&root, &relative_path(p).unwrap(), "index.html");
        assert_eq!(
            at("/").unwrap(),
            root.canonicalize().unwrap().join("index.html")
        );
        assert!(at("/docs").unwrap().ends_with("docs/index.html"));
        assert!(at("/nope.html").is_none());
        assert!(
            at("/leak.txt").is_none(),
            "a symlink out of the root is not served"
        );
        assert_eq!(
            count_files(&root, 100),
            Some(2),
            "the symlink is not counted"
        );
        assert_eq!(count_files(&root.join("missing"), 100), None);
        assert_eq!(
            content_type(Path::new("a/b.CSS")),
            "text/css; charset=utf-8"
        );
    }
}

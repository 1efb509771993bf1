//! The build context of a deploy without an image: packed locally ([`crate::pack`]) before
//! any request, refused locally when too large, then uploaded to
//! `POST /v1/orgs/{org}/builds` (`application/gzip`) for its content address.
//!
//! Progress goes to stderr: a spinner on a terminal, plain lines otherwise. The server's
//! refusals (413 too large, 422 a bad entry) become one line, exit 2.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use satusky_types::{ApiError, BuildSpec, ContextUploaded};

use crate::client::{Client, status_error};
use crate::exit::CliError;
use crate::output;
use crate::pack::{self, IGNORE_FILE, PackError, Packed, size};

/// Compressed contexts above this are refused before sending: a build context that big is
/// almost always build output or dependencies that `.dockerignore` should leave out.
pub const MAX_CONTEXT: u64 = 100 * 1024 * 1024;
/// An upload of up to [`MAX_CONTEXT`] over a slow link takes a while; the API's usual
/// 30 s would cut it off.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A packed context and where it came from (for messages).
pub struct Context {
    pub root: PathBuf,
    pub packed: Packed,
}

/// Packs `[build] context` (relative to `config_dir`, the folder of satusky.toml).
pub fn pack_context(config_dir: &Path, build: &BuildSpec, cwd: &Path) -> Result<Context, CliError> {
    let root = config_dir.join(&build.context);
    let shown = shown(&root, cwd);
    let dockerfile = satusky_core::paths::clean_in_context(&build.dockerfile);
    let always: Vec<String> = dockerfile.into_iter().collect();
    let packed = pack::entries(&root, &always)
        .and_then(|entries| pack::pack(&root, &entries, MAX_CONTEXT))
        .map_err(|e| pack_error(e, &shown))?;
    let from = if shown == "." {
        String::new()
    } else {
        format!(" {shown}")
    };
    output::note(&format!(
        "packing context{from}: {} files, {} ({} compressed)",
        packed.files,
        size(packed.unpacked),
        size(packed.bytes.len() as u64)
    ));
    Ok(Context { root, packed })
}

/// Uploads the packed context; returns its content address (`sha256:…`).
pub async fn upload(
    client: &Client,
    org: &str,
    ctx: Context,
    live: bool,
) -> Result<String, CliError> {
    let sending = size(ctx.packed.bytes.len() as u64);
    let spinner = live.then(|| {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(format!("uploading context ({sending})…"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    if spinner.is_none() {
        output::note(&format!("uploading context ({sending})…"));
    }
    let segments = ["v1", "orgs", org, "builds"];
    let sent = client
        .send_bytes(
            Method::POST,
            &segments,
            "application/gzip",
            ctx.packed.bytes,
            UPLOAD_TIMEOUT,
        )
        .await;
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let (status, body) = sent?;
    if !status.is_success() {
        return Err(refusal(
            client.api_url(),
            &segments.join("/"),
            status,
            &body,
            &ctx.root,
        ));
    }
    let uploaded: ContextUploaded = client.decode(&body)?;
    output::note(&format!(
        "uploaded context {} ({} entries, {} unpacked)",
        uploaded.context,
        uploaded.entries,
        size(uploaded.unpacked_bytes)
    ));
    Ok(uploaded.context)
}

/// The one line for a refused upload: the server's message names the entry and the rule.
fn refusal(api_url: &str, path: &str, status: StatusCode, body: &[u8], root: &Path) -> CliError {
    let message = serde_json::from_slice::<ApiError>(body)
        .map(|e| {
            let m = e
                .error
                .message
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            // Our own line says it already.
            m.strip_prefix("build context refused: ")
                .map_or(m.clone(), str::to_string)
        })
        .ok();
    let ignore = root.join(IGNORE_FILE);
    match (status, message) {
        (StatusCode::PAYLOAD_TOO_LARGE, Some(m)) => CliError::Invalid(format!(
            "the control plane refused the build context (413): {m}: leave out what the build does not need in {}",
            ignore.display()
        )),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(m)) => CliError::Invalid(format!(
            "the control plane refused the build context (422): {m}: fix or remove that entry, or exclude it in {}",
            ignore.display()
        )),
        (StatusCode::NOT_IMPLEMENTED, Some(m)) => CliError::Invalid(format!(
            "the control plane cannot build a context (501): {m}: set [app] image or pass --image"
        )),
        _ => status_error(api_url, path, status, body),
    }
}

fn pack_error(e: PackError, shown: &str) -> CliError {
    match e {
        PackError::NotAFolder(_) => CliError::Config(format!(
            "the build context {shown} is not a folder: fix [build] context in satusky.toml (relative to its folder)"
        )),
        PackError::Read { path, source }
            if source.kind() == std::io::ErrorKind::NotFound && path.ends_with(shown) =>
        {
            CliError::Config(format!(
                "the build context {shown} does not exist: fix [build] context in satusky.toml (relative to its folder)"
            ))
        }
        PackError::Read { path, source } => CliError::Invalid(format!(
            "cannot read {} in the build context ({source}): fix its permissions or exclude it in {shown}/{IGNORE_FILE}",
            path.display()
        )),
        PackError::TooLarge { limit, largest } => {
            let biggest = largest
                .iter()
                .map(|(name, bytes)| format!("{name} {}", size(*bytes)))
                .collect::<Vec<_>>()
                .join(", ");
            CliError::Invalid(format!(
                "the build context {shown} is over {} compressed (largest: {biggest}): list what the build does not need (e.g. target/, node_modules/) in {shown}/{IGNORE_FILE}",
                size(limit)
            ))
        }
        PackError::Write(e) => CliError::Unexpected(format!("cannot pack the build context: {e}")),
    }
}

/// The context folder as the user would write it: relative to the current folder if inside.
fn shown(root: &Path, cwd: &Path) -> String {
    let rel = root.strip_prefix(cwd).unwrap_or(root);
    let text = rel.display().to_string();
    if text.is_empty() {
        ".".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_one_line_naming_the_entry() {
        let body = serde_json::json!({"error": {"code": "invalid_input",
            "message": "entry \"../x\" leaves the context\n(path traversal)"}})
        .to_string();
        let e = refusal(
            "http://h",
            "v1/orgs/acme/builds",
            StatusCode::UNPROCESSABLE_ENTITY,
            body.as_bytes(),
            Path::new("/app"),
        );
        assert_eq!(e.code(), 2);
        let text = e.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.contains("\"../x\" leaves the context (path traversal)"),
            "{text}"
        );
        assert!(text.contains("/app/.dockerignore"), "{text}");
        let e = refusal(
            "http://h",
            "p",
            StatusCode::PAYLOAD_TOO_LARGE,
            body.as_bytes(),
            Path::new("."),
        );
        assert!(e.to_string().contains("(413)"));
        let body = serde_json::json!({"error": {"code": "invalid_input",
            "message": "build context refused: entry \"etc\" is a symlink to /etc"}})
        .to_string();
        let e = refusal(
            "h",
            "p",
            StatusCode::UNPROCESSABLE_ENTITY,
            body.as_bytes(),
            Path::new("."),
        );
        assert!(
            e.to_string().starts_with(
                "the control plane refused the build context (422): entry \"etc\" is a symlink"
            ),
            "{e}"
        );
        let e = refusal(
            "h",
            "p",
            StatusCode::NOT_IMPLEMENTED,
            body.as_bytes(),
            Path::new("."),
        );
        assert_eq!(e.code(), 2);
        assert!(e.to_string().contains("--image"), "{e}");
        let e = refusal(
            "http://h",
            "p",
            StatusCode::UNAUTHORIZED,
            b"",
            Path::new("."),
        );
        assert_eq!(e.code(), 3);
    }

    #[test]
    fn too_large_names_the_biggest_folders_and_dockerignore() {
        let e = pack_error(
            PackError::TooLarge {
                limit: MAX_CONTEXT,
                largest: vec![("target/".into(), 3 << 30), ("assets/".into(), 5 << 20)],
            },
            ".",
        );
        assert_eq!(e.code(), 2);
        assert_eq!(
            e.to_string(),
            "the build context . is over 100.0 MiB compressed (largest: target/ 3072.0 MiB, \
             assets/ 5.0 MiB): list what the build does not need (e.g. target/, node_modules/) \
             in ./.dockerignore"
        );
    }

    #[test]
    fn missing_context_is_a_config_error() {
        let dir = tempfile::tempdir().expect("dir");
        let build = BuildSpec {
            dockerfile: "Dockerfile".into(),
            context: "nope".into(),
            command: None,
            env: Default::default(),
        };
        let err = pack_context(dir.path(), &build, dir.path()).err();
        let err = err.expect("an error");
        assert_eq!(err.code(), 2);
        assert!(
            err.to_string()
                .contains("the build context nope does not exist"),
            "{err}"
        );
    }
}

//! `1ctl deploy` without an image: the context is packed (honouring `.dockerignore`),
//! uploaded as `application/gzip`, and its content address goes into the PUT; the
//! server's refusals exit 2 with its message; a bad context folder sends nothing.

mod common;

use std::io::Read;

use common::fixtures::{CONTEXT, TOKEN, accepted, app_dir, err, uploaded, whoami};
use common::{CountingListener, FakeServer, onectl, route};

/// The entry names of a tar.gz.
fn names(tar_gz: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar_gz));
    archive
        .entries()
        .expect("a tar.gz")
        .map(|e| {
            let mut e = e.expect("entry");
            let mut sink = Vec::new();
            e.read_to_end(&mut sink).expect("read");
            e.path().expect("path").to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn the_context_is_uploaded_then_deployed_by_its_address() {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    std::fs::create_dir_all(root.join("target/debug")).expect("mkdir");
    std::fs::write(root.join("src/main.rs"), "fn main() {}").expect("write");
    std::fs::write(root.join("target/debug/app"), "binary").expect("write");
    std::fs::write(root.join(".dockerignore"), "# build output\ntarget\n").expect("write");
    let server = FakeServer::start(vec![
        whoami(),
        uploaded(),
        route("PUT", "/v1/orgs/acme/apps/api", 202, &accepted(4)),
    ]);
    let out = onectl(home.path())
        .current_dir(root)
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["deploy", "--no-wait"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("packing context: 3 files"), "{stderr}");
    assert!(stderr.contains("uploading context"), "{stderr}");
    assert!(
        stderr.contains(&format!("uploaded context {CONTEXT}")),
        "{stderr}"
    );

    let seen = server.requests();
    let upload_at = seen
        .iter()
        .position(|s| s.method == "POST" && s.path == "/v1/orgs/acme/builds")
        .expect("an upload");
    let put_at = seen.iter().position(|s| s.method == "PUT").expect("a PUT");
    assert!(upload_at < put_at, "upload first");
    let upload = &seen[upload_at];
    assert_eq!(upload.content_type.as_deref(), Some("application/gzip"));
    assert_eq!(upload.authorization.as_deref(), Some("Bearer tok-123"));
    let entries = names(&upload.raw);
    assert_eq!(
        entries,
        vec![".dockerignore", "satusky.toml", "src", "src/main.rs"],
        "target/ is left out by .dockerignore"
    );
    let put: serde_json::Value = serde_json::from_str(&seen[put_at].body).expect("json");
    assert_eq!(put["context"], CONTEXT);
    assert!(
        put["spec"].get("image").is_none_or(|i| i.is_null()),
        "{put}"
    );
}

#[test]
fn a_refused_context_exits_2_with_the_servers_message() {
    for (status, message) in [
        (
            422,
            "entry \"../x\" is refused: paths must stay inside the context",
        ),
        (413, "the context unpacks to more than 1 GiB"),
    ] {
        let home = tempfile::tempdir().expect("home");
        let dir = app_dir(home.path());
        let code = if status == 413 {
            "payload_too_large"
        } else {
            "invalid_input"
        };
        let server = FakeServer::start(vec![
            whoami(),
            route("POST", "/v1/orgs/acme/builds", status, &err(code, message)),
            route("PUT", "/v1/orgs/acme/apps/api", 202, &accepted(4)),
        ]);
        let out = onectl(home.path())
            .current_dir(dir.path())
            .env("SATUSKY_TOKEN", TOKEN)
            .env("SATUSKY_API_URL", &server.url)
            .args(["deploy"])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(message), "{stderr}");
        assert!(errors[0].contains(&format!("({status})")), "{stderr}");
        assert!(errors[0].contains(".dockerignore"), "{stderr}");
        assert!(
            server.requests().iter().all(|s| s.method != "PUT"),
            "nothing deployed"
        );
    }
}

#[test]
fn a_missing_context_folder_exits_2_before_any_request() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("satusky.toml"),
        "[app]\nname = \"api\"\n[build]\ncontext = \"app\"\n",
    )
    .expect("write");
    let listener = CountingListener::start();
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", "tok")
        .args(["deploy", "--api-url", &listener.url, "--org", "acme"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the build context app does not exist"),
        "{stderr}"
    );
    assert_eq!(listener.finish(), 0, "no request");
}

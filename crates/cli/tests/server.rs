//! `1ctl` against a canned HTTP server: exit codes and one-line messages for 401/403/404,
//! unreachable control planes, env-only configuration, and the `app` commands (the
//! releases table marks the active release).

mod common;

use common::fixtures::{TOKEN, app_dir, err, releases, report, whoami};
use common::{CountingListener, FakeServer, dead_url, onectl, route};
use predicates::prelude::*;
use satusky_types::{PlaneState, ReleaseStatus};

#[test]
fn rejected_token_exits_3_with_one_line() {
    let home = tempfile::tempdir().expect("home");
    let server = FakeServer::start(vec![route(
        "GET",
        "/v1/whoami",
        401,
        &err("unauthenticated", "bad token"),
    )]);
    let out = onectl(home.path())
        .env("SATUSKY_TOKEN", "nope")
        .env("SATUSKY_API_URL", &server.url)
        .args(["auth", "status"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("rejected the token (401)"))
        .stderr(predicate::str::contains("1ctl auth login"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let seen = server.requests();
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer nope"));
}

#[test]
fn forbidden_exits_3() {
    let home = tempfile::tempdir().expect("home");
    let server = FakeServer::start(vec![route(
        "GET",
        "/apps",
        403,
        &err("forbidden", "token of org acme cannot see org other"),
    )]);
    onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .args(["--api-url", &server.url, "--org", "other", "app", "list"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("cannot see org other"));
}

#[test]
fn missing_app_exits_5_with_the_server_message() {
    let home = tempfile::tempdir().expect("home");
    let server = FakeServer::start(vec![
        whoami(),
        route(
            "GET",
            "/v1/orgs/acme/apps/ghost",
            404,
            &err("not_found", "app \"ghost\" not found in org \"acme\""),
        ),
    ]);
    onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "get", "ghost"])
        .assert()
        .code(5)
        .stderr("error: app \"ghost\" not found in org \"acme\"\n");
}

#[test]
fn unreachable_control_plane_exits_4() {
    let home = tempfile::tempdir().expect("home");
    let url = dead_url();
    let out = onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .args(["app", "list", "--org", "acme", "--api-url", &url])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!(
            "error: cannot reach the control plane at {url} (connection refused)"
        )))
        .stderr(predicate::str::contains("satusky serve"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn no_token_exits_3_without_a_request() {
    let home = tempfile::tempdir().expect("home");
    let server = FakeServer::start(vec![whoami()]);
    onectl(home.path())
        .args(["app", "list", "--api-url", &server.url])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no token"));
    assert!(server.requests().is_empty());
}

#[test]
fn env_alone_suffices_and_writes_nothing() {
    let home = tempfile::tempdir().expect("home");
    let server = FakeServer::start(vec![
        whoami(),
        route(
            "GET",
            "/v1/orgs/acme/apps",
            200,
            r#"[{"name":"api","org":"acme","generation":3,"active_release":2,"phase":"ready","hostnames":["api-acme.apps.test"]}]"#,
        ),
    ]);
    let out = onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "list", "-o", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(v[0]["name"], "api");
    assert_eq!(v[0]["active_release"], 2);
    let table = onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "list"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&table.get_output().stdout).into_owned();
    assert!(
        text.contains("api-acme.apps.test") && text.contains("v2"),
        "{text}"
    );
    assert!(std::fs::read_dir(home.path()).expect("ls").next().is_none());
}

#[test]
fn app_commands_default_to_the_folder_app_and_destroy_needs_yes() {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let server = FakeServer::start(vec![
        whoami(),
        route(
            "GET",
            "/v1/orgs/acme/apps/api/status",
            200,
            &report(4, PlaneState::Ready, PlaneState::Ready, PlaneState::Failed),
        ),
        route(
            "DELETE",
            "/v1/orgs/acme/apps/api",
            200,
            r#"{"app":"api","org":"acme","releases_removed":4,"hostnames_released":["api-acme.apps.test"]}"#,
        ),
    ]);
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "status"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for want in [
        "build",
        "workload",
        "1 ready",
        "api-acme.apps.test",
        "http",
        "failed",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }

    onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "destroy"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert!(server.requests().iter().all(|s| s.method != "DELETE"));
    onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "destroy", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("4 release(s)"))
        .stdout(predicate::str::contains("api-acme.apps.test"));
}

#[test]
fn app_without_name_or_config_exits_2() {
    let home = tempfile::tempdir().expect("home");
    let empty = tempfile::tempdir().expect("dir");
    onectl(home.path())
        .current_dir(empty.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .args(["app", "status", "--api-url", &dead_url()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no app given"));
}

#[test]
fn the_counting_listener_does_count() {
    // Guards the "no request was sent" assertions of tests/local.rs against a listener
    // that could never see anything.
    let home = tempfile::tempdir().expect("home");
    let listener = CountingListener::start();
    onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .args(["app", "list", "--org", "acme", "--api-url", &listener.url])
        .assert()
        .code(4);
    assert!(listener.finish() >= 1);
}

#[test]
fn releases_mark_the_active_one_and_json_is_the_wire_shape() {
    let home = tempfile::tempdir().expect("home");
    let body = releases(&[
        (4, ReleaseStatus::Active, "rollback(from=v1)"),
        (3, ReleaseStatus::Superseded, "deploy"),
        (2, ReleaseStatus::Failed, "deploy"),
    ]);
    let server = FakeServer::start(vec![
        whoami(),
        route("GET", "/v1/orgs/acme/apps/api/releases", 200, &body),
    ]);
    let out = onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "releases", "api"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["VERSION", "STATUS", "IMAGE", "SOURCE", "CREATED"],
        "{text}"
    );
    let row = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>();
    assert_eq!(
        row(1),
        [
            "*",
            "v4",
            "active",
            "ghcr.io/acme/api@sha256:0004",
            "rollback(from=v1)",
            "2026-01-01T12:00:04.000Z"
        ]
    );
    assert_eq!(row(2)[..2], ["v3", "superseded"]);
    assert_eq!(row(3)[..2], ["v2", "failed"]);
    assert_eq!(text.matches('*').count(), 1, "{text}");

    let out = onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "releases", "api", "-o", "json"])
        .assert()
        .success();
    let got: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let want: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(got, want);
    assert_eq!(got[0]["version"], 4);
    assert_eq!(got[0]["source"], "rollback(from=v1)");
}

//! `1ctl deploy` against a canned HTTP server: `--no-wait` JSON, a 409 from the server,
//! every waiting verdict (0, 10, 11, 12, 13, 14) decided from the polled report, and the note
//! of a deploy that ends a rollback's pin.

mod common;

use common::fixtures::{
    TOKEN, accepted, accepted_on_port, accepted_unpinning, app_dir, err, report, uploaded, whoami,
};
use common::{FakeServer, Route, onectl, route};
use predicates::prelude::*;
use satusky_types::{PlaneState, ReleaseInfo, ReleaseStatus};

#[test]
fn deploy_no_wait_prints_the_report_with_exit_code() {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let server = FakeServer::start(vec![
        whoami(),
        route("PUT", "/v1/orgs/acme/apps/api", 202, &accepted(4)),
        route(
            "GET",
            "/v1/orgs/acme/apps/api/status",
            200,
            &report(
                4,
                PlaneState::InProgress,
                PlaneState::Pending,
                PlaneState::Unknown,
            ),
        ),
    ]);
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args([
            "deploy",
            "--no-wait",
            "--image",
            "ghcr.io/acme/api:1",
            "-o",
            "json",
        ])
        .assert()
        .success();
    let v: serde_json::Value =
        serde_json::from_slice(&out.get_output().stdout).expect("one JSON document");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["app"], "api");
    assert_eq!(v["target_release"], 4);
    assert_eq!(v["build"]["state"], "in_progress");
    assert_eq!(v["endpoints"][0]["hostname"], "api-acme.apps.test");
    let seen = server.requests();
    let put = seen.iter().find(|s| s.method == "PUT").expect("a PUT");
    assert_eq!(put.authorization.as_deref(), Some("Bearer tok-123"));
    let body: serde_json::Value = serde_json::from_str(&put.body).expect("body");
    assert_eq!(body["spec"]["name"], "api");
    assert_eq!(body["spec"]["image"], "ghcr.io/acme/api:1");
    // An image: nothing to build, so no context upload and no `context` in the PUT.
    assert!(body.get("context").is_none(), "{body}");
    assert!(
        seen.iter().all(|s| !s.path.ends_with("/builds")),
        "no upload"
    );
}

#[test]
fn deploy_no_wait_table_names_the_release() {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let server = FakeServer::start(vec![
        uploaded(),
        route("PUT", "/v1/orgs/acme/apps/api", 202, &accepted(4)),
    ]);
    onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .args([
            "--org",
            "acme",
            "--api-url",
            &server.url,
            "deploy",
            "--no-wait",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("release v4"))
        .stdout(predicate::str::contains("api-acme.apps.test"));
    // --org given: no whoami.
    assert!(server.requests().iter().all(|s| s.path != "/v1/whoami"));
}

#[test]
fn hostname_taken_exits_2_with_the_server_message() {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let server = FakeServer::start(vec![
        whoami(),
        uploaded(),
        route(
            "PUT",
            "/v1/orgs/acme/apps/api",
            409,
            &err(
                "conflict",
                "hostname api.example.com is taken by another app",
            ),
        ),
    ]);
    onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["deploy", "--no-wait"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "hostname api.example.com is taken by another app",
        ));
}

fn deploy_with_status(status_routes: Vec<Route>, extra: &[&str]) -> (i32, String, String) {
    deploy_accepted_with_status(&accepted(4), status_routes, extra)
}

/// A deploy the fake server accepts with `accepted` (the `202` body), then answers the
/// status with `status_routes`.
fn deploy_accepted_with_status(
    accepted: &str,
    status_routes: Vec<Route>,
    extra: &[&str],
) -> (i32, String, String) {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let mut routes = vec![
        whoami(),
        uploaded(),
        route("PUT", "/v1/orgs/acme/apps/api", 202, accepted),
    ];
    routes.extend(status_routes);
    let server = FakeServer::start(routes);
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .arg("deploy")
        .args(extra)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn deploy_waits_until_everything_is_ready() {
    let status = "/v1/orgs/acme/apps/api/status";
    let pending = report(
        4,
        PlaneState::InProgress,
        PlaneState::Pending,
        PlaneState::Unknown,
    );
    let ready = report(4, PlaneState::Ready, PlaneState::Ready, PlaneState::Ready);
    let mut first = route("GET", status, 200, &pending);
    first.times = Some(1);
    let (code, stdout, stderr) =
        deploy_with_status(vec![first, route("GET", status, 200, &ready)], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("api v4 is ready"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "  https://api-acme.apps.test"),
        "no port when the edge is on 443: {stdout}"
    );
    assert!(stderr.contains("build: in_progress"), "{stderr}");
    assert!(stderr.contains("build: ready"), "{stderr}");
}

#[test]
fn the_printed_url_names_the_edge_port_the_control_plane_gives() {
    let status = "/v1/orgs/acme/apps/api/status";
    let ready = report(4, PlaneState::Ready, PlaneState::Ready, PlaneState::Ready);
    let (code, stdout, stderr) = deploy_accepted_with_status(
        &accepted_on_port(4, 8443),
        vec![route("GET", status, 200, &ready)],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == "  https://api-acme.apps.test:8443"),
        "{stdout}"
    );
}

#[test]
fn deploy_exit_codes_follow_the_report() {
    let status = "/v1/orgs/acme/apps/api/status";
    let build_failed = report(
        4,
        PlaneState::Failed,
        PlaneState::Pending,
        PlaneState::Unknown,
    );
    let (code, stdout, stderr) = deploy_with_status(
        vec![route("GET", status, 200, &build_failed)],
        &["-o", "json"],
    );
    assert_eq!(code, 10, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(v["exit_code"], 10);
    assert!(
        stderr.contains("build failed (Built): sha256:abc\n"),
        "the plane once, above the error line: {stderr}"
    );
    assert!(
        stderr.contains("error: release v4 of api failed at its build (the cause is above)"),
        "{stderr}"
    );

    let crash = report(
        4,
        PlaneState::Ready,
        PlaneState::Failed,
        PlaneState::Unknown,
    );
    let (code, ..) = deploy_with_status(vec![route("GET", status, 200, &crash)], &[]);
    assert_eq!(code, 11);

    let http_failed = report(4, PlaneState::Ready, PlaneState::Ready, PlaneState::Failed);
    let (code, _, stderr) = deploy_with_status(
        vec![route("GET", status, 200, &http_failed)],
        &["--timeout", "2s"],
    );
    assert_eq!(code, 12, "{stderr}");
    assert!(stderr.contains("degraded"), "{stderr}");
    let (code, ..) = deploy_with_status(
        vec![route("GET", status, 200, &http_failed)],
        &["--wait-for", "workload"],
    );
    assert_eq!(code, 0);

    let slow = report(
        4,
        PlaneState::InProgress,
        PlaneState::Pending,
        PlaneState::Unknown,
    );
    let (code, _, stderr) =
        deploy_with_status(vec![route("GET", status, 200, &slow)], &["--timeout", "1s"]);
    assert_eq!(code, 13, "{stderr}");
}

#[test]
fn deploy_overtaken_by_a_newer_release_exits_14() {
    let status = "/v1/orgs/acme/apps/api/status";
    let newer = report(
        5,
        PlaneState::InProgress,
        PlaneState::Pending,
        PlaneState::Unknown,
    );
    let releases = serde_json::to_string(&[
        ReleaseInfo {
            version: 5,
            status: ReleaseStatus::Pending,
            image: None,
            source: "deploy".into(),
            created_at: "2026-01-01T00:00:01.000Z".into(),
            generation: 3,
            secrets: Default::default(),
        },
        ReleaseInfo {
            version: 4,
            status: ReleaseStatus::Superseded,
            image: None,
            source: "deploy".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            generation: 2,
            secrets: Default::default(),
        },
    ])
    .expect("json");
    let (code, _, stderr) = deploy_with_status(
        vec![
            route("GET", status, 200, &newer),
            route("GET", "/v1/orgs/acme/apps/api/releases", 200, &releases),
        ],
        &[],
    );
    assert_eq!(code, 14, "{stderr}");
    assert!(stderr.contains("superseded"), "{stderr}");
}

#[test]
fn a_deploy_that_ends_a_rollback_pin_says_so_on_stderr() {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let pending = report(
        6,
        PlaneState::InProgress,
        PlaneState::Pending,
        PlaneState::Unknown,
    );
    let server = FakeServer::start(vec![
        whoami(),
        route(
            "PUT",
            "/v1/orgs/acme/apps/api",
            202,
            &accepted_unpinning(6, Some(4)),
        ),
        route("GET", "/v1/orgs/acme/apps/api/status", 200, &pending),
    ]);
    let note = "note: this deploy unpins api from rollback release v4";
    let run = |json: bool| {
        let mut cmd = onectl(home.path());
        cmd.current_dir(dir.path())
            .env("SATUSKY_TOKEN", TOKEN)
            .env("SATUSKY_API_URL", &server.url)
            .args(["deploy", "--no-wait", "--image", "ghcr.io/acme/api:2"]);
        if json {
            cmd.args(["-o", "json"]);
        }
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(0));
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = run(false);
    assert!(stdout.contains("release v6"), "{stdout}");
    assert!(!stdout.contains("unpins"), "{stdout}");
    assert_eq!(stderr.matches(note).count(), 1, "{stderr}");
    let (stdout, stderr) = run(true);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(v["exit_code"], 0);
    assert!(stderr.contains(note), "{stderr}");

    // Without a pin there is no note.
    let server = FakeServer::start(vec![
        whoami(),
        route("PUT", "/v1/orgs/acme/apps/api", 202, &accepted(6)),
    ]);
    onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["deploy", "--no-wait", "--image", "ghcr.io/acme/api:2"])
        .assert()
        .success()
        .stderr(predicate::str::contains("unpins").not());
}

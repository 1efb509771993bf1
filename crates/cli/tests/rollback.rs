//! `1ctl app rollback` against a canned HTTP server: the POST body with and without
//! `--version`, what it prints it does and does not revert, the wait after it (0, 11) with
//! `deploy`'s exit codes and JSON document, `--no-wait`, and the server's 422 / 404.

mod common;

use common::fixtures::{NOT_REVERTED, TOKEN, app_dir, err, report, rollback_accepted, whoami};
use common::{FakeServer, Route, Seen, onectl, route};
use predicates::prelude::*;
use satusky_types::PlaneState;

const ROLLBACK: &str = "/v1/orgs/acme/apps/api/rollback";
const STATUS: &str = "/v1/orgs/acme/apps/api/status";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    seen: Vec<Seen>,
}

/// `1ctl app rollback …` from an app folder, against the rollback's `202` then `status`.
fn rollback(status: Vec<Route>, args: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let mut routes = vec![
        whoami(),
        route("POST", ROLLBACK, 202, &rollback_accepted(4, 1)),
    ];
    routes.extend(status);
    let server = FakeServer::start(routes);
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "rollback"])
        .args(args)
        .output()
        .expect("run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seen: server.requests(),
    }
}

fn posted(seen: &[Seen]) -> serde_json::Value {
    let post = seen
        .iter()
        .find(|s| s.method == "POST" && s.path == ROLLBACK)
        .expect("a rollback POST");
    assert_eq!(post.authorization.as_deref(), Some("Bearer tok-123"));
    serde_json::from_str(&post.body).expect("a JSON body")
}

#[test]
fn rollback_to_a_version_says_what_it_does_and_waits_until_ready() {
    let pending = report(
        4,
        PlaneState::Ready,
        PlaneState::InProgress,
        PlaneState::Unknown,
    );
    let ready = report(4, PlaneState::Ready, PlaneState::Ready, PlaneState::Ready);
    let mut first = route("GET", STATUS, 200, &pending);
    first.times = Some(1);
    let run = rollback(
        vec![first, route("GET", STATUS, 200, &ready)],
        &["api", "--version", "1"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(posted(&run.seen), serde_json::json!({"version": 1}));
    let out = &run.stdout;
    assert!(
        out.contains(
            "rolling back api to v1's snapshot as release v4 (image ghcr.io/acme/api@sha256:0001; not rebuilt)"
        ),
        "{out}"
    );
    assert!(
        out.contains("api stays pinned to v4 until the next `1ctl deploy`"),
        "{out}"
    );
    assert!(out.contains("A rollback does not revert:"), "{out}");
    for n in NOT_REVERTED {
        assert!(out.contains(&format!("  - {n}")), "{n} missing:\n{out}");
    }
    assert!(out.contains("api v4 (rollback to v1) is ready"), "{out}");
    assert!(out.contains("https://api-acme.apps.test"), "{out}");
    // The same progress lines as a deploy.
    assert!(
        run.stderr.contains("workload: in_progress"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("workload: ready"), "{}", run.stderr);
}

#[test]
fn rollback_without_a_version_sends_an_empty_body_and_no_wait_returns_at_once() {
    // No APP: the folder's satusky.toml names it.
    let run = rollback(Vec::new(), &["--no-wait"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(posted(&run.seen), serde_json::json!({}));
    assert!(run.stdout.contains("release v4"), "{}", run.stdout);
    assert!(
        run.seen.iter().all(|s| !s.path.ends_with("/status")),
        "--no-wait in table mode reads nothing more: {:?}",
        run.seen
    );
}

#[test]
fn rollback_no_wait_json_is_the_report_with_exit_code() {
    let pending = report(
        4,
        PlaneState::Ready,
        PlaneState::Pending,
        PlaneState::Unknown,
    );
    let run = rollback(
        vec![route("GET", STATUS, 200, &pending)],
        &["--no-wait", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["target_release"], 4);
    // What it does not revert still gets said, on stderr.
    assert!(
        run.stderr.contains("A rollback does not revert:"),
        "{}",
        run.stderr
    );
}

#[test]
fn rollback_to_an_image_that_no_longer_runs_exits_11() {
    let crash = report(
        4,
        PlaneState::Ready,
        PlaneState::Failed,
        PlaneState::Unknown,
    );
    let run = rollback(
        vec![route("GET", STATUS, 200, &crash)],
        &["--version", "1", "-o", "json"],
    );
    assert_eq!(run.code, 11, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(v["exit_code"], 11);
    assert_eq!(v["workload"]["state"], "failed");
    assert!(
        run.stderr
            .contains("error: the rollback of api to v1 (release v4) failed at its workload (the cause is above)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("the release that was active stays active"),
        "{}",
        run.stderr
    );
}

#[test]
fn nothing_to_roll_back_to_exits_2_with_the_server_message() {
    let home = tempfile::tempdir().expect("home");
    let message = "\"api\" has no previous active release to roll back to; pass --version N (see `1ctl app releases`)";
    let server = FakeServer::start(vec![
        whoami(),
        route("POST", ROLLBACK, 422, &err("invalid_input", message)),
    ]);
    onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "rollback", "api"])
        .assert()
        .code(2)
        .stderr(format!("error: rejected (422): {message}\n"));
    assert!(
        server
            .requests()
            .iter()
            .all(|s| !s.path.ends_with("/status")),
        "no wait after a refusal"
    );
}

#[test]
fn an_unknown_release_exits_5_with_the_server_message() {
    let home = tempfile::tempdir().expect("home");
    let message = "release v9 of \"api\" not found; `1ctl app releases` lists them";
    let server = FakeServer::start(vec![
        whoami(),
        route("POST", ROLLBACK, 404, &err("not_found", message)),
    ]);
    onectl(home.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .args(["app", "rollback", "api", "--version", "9"])
        .assert()
        .code(5)
        .stderr(predicate::eq(format!("error: {message}\n")));
}

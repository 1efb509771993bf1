//! `1ctl auth login/logout/status` and `org current` against a canned server: the token is
//! verified before it is stored, read from `--token` or stdin, and its source is reported.

mod common;

use common::fixtures::{err, whoami};
use common::{FakeServer, onectl, route};
use predicates::prelude::*;

#[test]
fn login_verifies_stores_and_status_reports_the_profile() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let server = FakeServer::start(vec![whoami()]);
    onectl(h)
        .args([
            "auth",
            "login",
            "--api-url",
            &server.url,
            "--token",
            "secret-1",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("org acme (role admin)"));
    assert_eq!(
        server.requests()[0].authorization.as_deref(),
        Some("Bearer secret-1")
    );
    let raw = std::fs::read_to_string(h.join("config.toml")).expect("config");
    assert!(raw.contains("current = \"default\""), "{raw}");
    assert!(
        raw.contains("secret-1") && raw.contains("org = \"acme\""),
        "{raw}"
    );

    let out = onectl(h)
        .args(["auth", "status", "-o", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(v["api_url"], server.url.as_str());
    assert_eq!(v["api_url_source"], "profile");
    assert_eq!(v["token_source"], "profile");
    assert_eq!(v["org"], "acme");
    assert_eq!(v["role"], "admin");
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("secret-1"));

    // The profile's org is used without asking the server; --org wins over it.
    let before = server.requests().len();
    onectl(h)
        .args(["org", "current"])
        .assert()
        .success()
        .stdout("acme (from profile \"default\")\n");
    onectl(h)
        .args(["org", "current", "--org", "other"])
        .assert()
        .success()
        .stdout("other (from flag)\n");
    assert_eq!(server.requests().len(), before);

    onectl(h).args(["auth", "logout"]).assert().success();
    let raw = std::fs::read_to_string(h.join("config.toml")).expect("config");
    assert!(!raw.contains("secret-1"), "{raw}");
    onectl(h)
        .args(["auth", "status"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no token"));
}

#[test]
fn login_reads_the_token_from_stdin_into_a_named_profile() {
    let home = tempfile::tempdir().expect("home");
    let server = FakeServer::start(vec![whoami()]);
    onectl(home.path())
        .args(["auth", "login", "--profile", "ci", "--api-url", &server.url])
        .write_stdin("piped-token\n")
        .assert()
        .success();
    assert_eq!(
        server.requests()[0].authorization.as_deref(),
        Some("Bearer piped-token")
    );
    onectl(home.path())
        .args(["profile", "current"])
        .assert()
        .success()
        .stdout("ci\n");
}

#[test]
fn login_with_a_rejected_token_stores_nothing() {
    let home = tempfile::tempdir().expect("home");
    let server = FakeServer::start(vec![route(
        "GET",
        "/v1/whoami",
        401,
        &err("unauthenticated", "unknown token"),
    )]);
    onectl(home.path())
        .args(["auth", "login", "--api-url", &server.url, "--token", "bad"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("rejected the token (401)"));
    assert!(!home.path().join("config.toml").exists());
    onectl(home.path())
        .args(["auth", "login", "--api-url", &server.url])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no token given"));
}

#[test]
fn status_says_the_credentials_come_from_the_environment() {
    let home = tempfile::tempdir().expect("home");
    let server = FakeServer::start(vec![whoami()]);
    onectl(home.path())
        .env("SATUSKY_TOKEN", "t")
        .env("SATUSKY_API_URL", &server.url)
        .args(["auth", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("from env SATUSKY_API_URL"))
        .stdout(predicate::str::contains("token:   from env SATUSKY_TOKEN"))
        .stdout(predicate::str::contains("org:     acme (from token)"));
    onectl(home.path())
        .env("SATUSKY_TOKEN", "t")
        .args(["auth", "status", "--api-url", &server.url, "-o", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"api_url_source\": \"flag\""));
}

//! `1ctl` commands that must work (or fail) without a control plane: config validation
//! before any request, `init`, profiles, and global flags on either side of the command.

mod common;

use std::path::Path;

use common::{CountingListener, onectl};
use predicates::prelude::*;

const VALID_HEAD: &str = "[app]\nname = \"api\"\n";

/// Runs `deploy` on `toml` against a listener that counts connections; asserts exit 2,
/// every `needles` in stderr, and that no connection was made.
fn deploy_rejects(toml: &str, extra: &[&str], needles: &[&str]) {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("satusky.toml"), toml).expect("write");
    let listener = CountingListener::start();
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", "tok")
        .args(["deploy", "--api-url", &listener.url, "--org", "acme"])
        .args(extra)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{n:?} missing from:\n{stderr}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert_eq!(listener.finish(), 0, "the server must receive no request");
}

#[test]
fn unknown_key_is_rejected_before_any_request() {
    deploy_rejects(
        &format!("{VALID_HEAD}colour = \"blue\"\n"),
        &[],
        &["satusky.toml:3:", "colour"],
    );
}

#[test]
fn bad_quantity_is_rejected_before_any_request() {
    deploy_rejects(
        &format!("{VALID_HEAD}memory = \"12 apples\"\n"),
        &[],
        &["satusky.toml:3:", "memory"],
    );
}

#[test]
fn bad_app_name_is_rejected_before_any_request() {
    deploy_rejects(
        "[app]\nname = \"My_App\"\n",
        &[],
        &["satusky.toml:2:", "name"],
    );
}

#[test]
fn every_diagnostic_is_printed() {
    deploy_rejects(
        "[app]\nname = \"-bad\"\nmemory = \"12 apples\"\n",
        &[],
        &["satusky.toml:2:", "satusky.toml:3:", "name", "memory"],
    );
}

#[test]
fn bad_flags_are_rejected_before_any_request() {
    deploy_rejects(VALID_HEAD, &["--memory", "12 apples"], &["memory"]);
    deploy_rejects(VALID_HEAD, &["--env", "NOEQUALS"], &["--env"]);
}

#[test]
fn missing_config_is_invalid_input() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let listener = CountingListener::start();
    onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", "tok")
        .args(["deploy", "--api-url", &listener.url])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("satusky.toml"));
    assert_eq!(listener.finish(), 0);
}

fn init(home: &Path, dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    onectl(home)
        .current_dir(dir)
        .arg("init")
        .args(args)
        .assert()
}

#[test]
fn init_writes_a_valid_config_and_refuses_to_overwrite() {
    let home = tempfile::tempdir().expect("home");
    let parent = tempfile::tempdir().expect("dir");
    let dir = parent.path().join("My Cool_App");
    std::fs::create_dir(&dir).expect("mkdir");
    init(home.path(), &dir, &[])
        .success()
        .stdout(predicate::str::contains("my-cool-app"));
    let text = std::fs::read_to_string(dir.join("satusky.toml")).expect("written");
    assert!(text.contains("my-cool-app"), "{text}");

    // Deploy's local validation accepts it: the first request is the one that fails.
    let listener_url = common::dead_url();
    onectl(home.path())
        .current_dir(&dir)
        .env("SATUSKY_TOKEN", "tok")
        .args(["deploy", "--org", "acme", "--api-url", &listener_url])
        .assert()
        .code(4);

    init(home.path(), &dir, &[])
        .code(2)
        .stderr(predicate::str::contains("already exists"))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(
        std::fs::read_to_string(dir.join("satusky.toml")).expect("kept"),
        text
    );
    init(home.path(), &dir, &["--force", "--name", "other"]).success();
    let text = std::fs::read_to_string(dir.join("satusky.toml")).expect("rewritten");
    assert!(text.contains("other"), "{text}");

    init(home.path(), &dir, &["--config", "prod"]).success();
    assert!(dir.join("satusky.prod.toml").exists());
    init(home.path(), &dir, &["--name", "Bad_Name"]).code(2);
}

#[test]
fn profiles_round_trip() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    onectl(h)
        .args([
            "profile",
            "create",
            "dev",
            "--api-url",
            "http://127.0.0.1:7070",
            "--token",
            "t1",
            "--org",
            "acme",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("current"));
    onectl(h)
        .args([
            "profile",
            "create",
            "prod",
            "--api-url",
            "https://satusky.example.com/",
        ])
        .assert()
        .success();
    onectl(h)
        .args(["profile", "create", "prod", "--api-url", "https://x"])
        .assert()
        .code(2);
    onectl(h)
        .args(["profile", "current"])
        .assert()
        .success()
        .stdout("dev\n");
    onectl(h)
        .args(["profile", "use", "prod"])
        .assert()
        .success();
    onectl(h)
        .args(["profile", "current"])
        .assert()
        .success()
        .stdout("prod\n");
    onectl(h).args(["profile", "use", "nope"]).assert().code(5);

    let out = onectl(h)
        .args(["profile", "list", "-o", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    assert_eq!(v[0]["name"], "dev");
    assert_eq!(v[0]["has_token"], true);
    assert_eq!(v[0]["org"], "acme");
    assert_eq!(v[1]["name"], "prod");
    assert_eq!(v[1]["current"], true);
    assert_eq!(v[1]["api_url"], "https://satusky.example.com");
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(!text.contains("t1"), "the token is never printed");

    let table = onectl(h).args(["profile", "list"]).assert().success();
    let text = String::from_utf8_lossy(&table.get_output().stdout).into_owned();
    assert!(
        text.contains("dev") && text.contains("prod") && text.contains('*'),
        "{text}"
    );

    let config = h.join("config.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let raw = std::fs::read_to_string(&config).expect("config");
    assert!(raw.contains("current = \"prod\""), "{raw}");

    onectl(h)
        .args(["profile", "delete", "prod"])
        .assert()
        .success();
    onectl(h).args(["profile", "current"]).assert().code(5);
    onectl(h)
        .args(["profile", "delete", "prod"])
        .assert()
        .code(5);
    onectl(h)
        .args(["--profile", "dev", "profile", "current"])
        .assert()
        .success()
        .stdout("dev\n");
}

#[test]
fn profile_settings_are_used_and_flags_win() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let dead = common::dead_url();
    onectl(h)
        .args([
            "profile",
            "create",
            "dev",
            "--api-url",
            &dead,
            "--token",
            "t1",
            "--org",
            "acme",
        ])
        .assert()
        .success();
    // The profile's URL is used...
    onectl(h)
        .args(["app", "list"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(dead.as_str()));
    // ...unless the env or a flag says otherwise.
    let other = common::dead_url();
    onectl(h)
        .env("SATUSKY_API_URL", &other)
        .args(["app", "list"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(other.as_str()));
    onectl(h)
        .env("SATUSKY_API_URL", "http://127.0.0.1:1")
        .args(["app", "list", "--api-url", &other])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(other.as_str()));
    onectl(h)
        .args(["--profile", "missing", "app", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "profile \"missing\" does not exist",
        ));
}

#[test]
fn output_flag_is_accepted_before_and_after_the_subcommand() {
    let home = tempfile::tempdir().expect("home");
    for args in [
        &["-o", "json", "profile", "list"][..],
        &["profile", "list", "-o", "json"][..],
        &["profile", "-o", "json", "list"][..],
        &["profile", "list", "--output=json"][..],
    ] {
        onectl(home.path())
            .args(args)
            .assert()
            .success()
            .stdout("[]\n");
    }
    onectl(home.path())
        .args(["profile", "list", "-o", "yaml"])
        .assert()
        .code(2);
}

#[test]
fn destroy_without_yes_sends_nothing() {
    let home = tempfile::tempdir().expect("home");
    let listener = CountingListener::start();
    onectl(home.path())
        .env("SATUSKY_TOKEN", "tok")
        .args(["app", "destroy", "api", "--api-url", &listener.url])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(listener.finish(), 0);
}

#[test]
fn bad_api_url_is_invalid_input() {
    let home = tempfile::tempdir().expect("home");
    onectl(home.path())
        .env("SATUSKY_TOKEN", "tok")
        .args(["app", "list", "--api-url", "ftp://x"])
        .assert()
        .code(2);
}

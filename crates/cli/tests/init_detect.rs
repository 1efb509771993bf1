//! `1ctl init` / `1ctl launch` recognise the folder's app and write its build and start
//! commands active (issue 12, acceptance 5: the unit tests of the detection are in
//! `satusky_core::config::detect`; this is the command as a user runs it).

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

fn onectl(home: &Path, dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("1ctl").expect("1ctl binary");
    cmd.env("SATUSKY_HOME", home)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .timeout(Duration::from_secs(60));
    cmd
}

#[test]
fn launch_writes_the_detected_commands_and_says_what_it_found() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("package.json"), r#"{"name":"shop"}"#).unwrap();
    std::fs::write(dir.path().join("server.js"), "").unwrap();
    let out = onectl(home.path(), dir.path())
        .args(["launch", "--yes", "--name", "shop", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["detected"]["language"], "Node.js");
    assert_eq!(
        json["detected"]["command"],
        serde_json::json!(["node", "server.js"])
    );
    let text = std::fs::read_to_string(dir.path().join("satusky.toml")).unwrap();
    assert!(
        text.contains("command = [\"node\", \"server.js\"]"),
        "{text}"
    );
}

#[test]
fn init_in_an_unknown_folder_says_what_to_add() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    onectl(home.path(), dir.path())
        .args(["init", "--yes", "--name", "x"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no app was recognised here"))
        .stdout(predicate::str::contains("Cargo.toml, package.json"))
        .stdout(predicate::str::contains("[app] command"));
}

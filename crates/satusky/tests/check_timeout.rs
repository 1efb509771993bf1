//! `[checks] timeout` is honoured by every check (issue 12, acceptance 3) on `satusky dev`:
//! with `timeout = "6s"`, a health path answering in 4 s passes both the replicas' readiness
//! check and the endpoint's HTTP check (`1ctl deploy` exits 0, both planes ready); one
//! answering in 7 s fails the rollout (exit 11) with a cause that names the 6 s limit.

mod common;

use common::{Dev, bins, json, stderr};

fn app_dir(name: &str, delay_ms: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let app = format!("{:?}", bins().test_app().display().to_string());
    let toml = format!(
        "[app]\nname = \"{name}\"\nreplicas = 1\ncommand = [{app}, \"--health-delay-ms\", \
         \"{delay_ms}\"]\n\n[checks]\npath = \"/healthz\"\ntimeout = \"6s\"\n\n[deploy]\n\
         progress_deadline = \"25s\"\n"
    );
    std::fs::write(dir.path().join("satusky.toml"), toml).unwrap();
    dir
}

#[test]
fn a_check_timeout_of_6s_passes_a_4s_health_path_and_fails_a_7s_one_naming_the_limit() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let (slow, slower) = (app_dir("four", 4_000), app_dir("seven", 7_000));
    let (ok, failed) = std::thread::scope(|s| {
        let a = s.spawn(|| dev.onectl(slow.path(), &["deploy", "-o", "json", "--timeout", "2m"]));
        let b = s.spawn(|| dev.onectl(slower.path(), &["deploy", "-o", "json", "--timeout", "2m"]));
        (a.join().unwrap(), b.join().unwrap())
    });

    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let report = json(&ok);
    assert_eq!(report["workload"]["state"], "ready", "{report:#}");
    let http = &report["endpoints"][0]["http"];
    assert_eq!(
        http["state"], "ready",
        "the HTTP check waited 4 s too: {http:#}"
    );
    assert_eq!(http["reason"], "ExpectedStatus", "{http:#}");

    assert_eq!(failed.status.code(), Some(11), "{}", stderr(&failed));
    let report = json(&failed);
    let workload = &report["workload"];
    assert_eq!(workload["state"], "failed", "{workload:#}");
    let message = workload["message"].as_str().unwrap();
    assert!(
        message.contains("no answer within 6s ([checks] timeout)"),
        "the failure names the limit: {message}"
    );
    assert!(
        workload["remediation"]
            .as_str()
            .is_some_and(|r| r.contains("[checks] timeout")),
        "{workload:#}"
    );
}

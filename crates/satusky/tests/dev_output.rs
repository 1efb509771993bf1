//! What `satusky dev` and `1ctl` print on it (issue 12, the output rough edges): the app's
//! URL names the dev edge's HTTPS port, in `1ctl deploy`'s summary and in the `202` body;
//! `satusky dev --deploy` keeps the server's log lines out of the deploy's output (they go
//! to a file meanwhile) and writes no colour codes when stderr is not a terminal.

mod common;

use std::time::{Duration, Instant};

use common::{Dev, bins, stdout, test_app};
use satusky_types::PutAppRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_url_names_the_dev_edge_port() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let port = dev.https_addr().port();
    assert_ne!(port, 443, "dev listens on a port picked by the OS");

    let app = test_app("porty", &[], "");
    let out = dev.onectl_exits(0, app.path(), &["deploy", "--wait-for", "workload"]);
    let text = stdout(&out);
    let url = format!("  https://porty-dev.satusky.localhost:{port}");
    assert!(text.lines().any(|l| l == url), "{url:?} in:\n{text}");

    // The port travels in the deploy's `202` body, for any client.
    let spec = satusky_testkit::spec::image_app("raw", "ghcr.io/acme/raw:1");
    let res = common::http()
        .put(format!("{}/v1/orgs/dev/apps/raw", dev.api()))
        .bearer_auth(dev.token())
        .json(&PutAppRequest {
            spec,
            context: None,
            keep_scaled_replicas: false,
        })
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status().as_u16(), 202);
    let body: serde_json::Value = res.json().await.expect("JSON");
    assert_eq!(body["https_port"], port, "{body}");
}

#[test]
fn dev_deploy_keeps_the_server_log_out_of_the_deploy_output() {
    let state = tempfile::tempdir().unwrap();
    let app = test_app("quiet", &[], "");
    let dir = app.path().to_str().expect("UTF-8 path").to_string();
    // The harness asks for info lines (SATUSKY_LOG) and reads stderr through a pipe.
    let dev = Dev::start_with(&bins(), state.path(), &["--deploy", &dir]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let log = loop {
        let log = dev.log();
        if log.contains("satusky dev: the server's log is back here") {
            break log;
        }
        assert!(Instant::now() < deadline, "the deploy never ended:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes off a terminal:\n{log}"
    );
    assert!(
        log.contains("`1ctl deploy` exited with 0"),
        "the deploy itself worked:\n{log}"
    );
    let file = state.path().join("dev-deploy.log");
    let note = format!(
        "satusky dev: while `1ctl deploy` runs, the server's log goes to {}",
        file.display()
    );
    let start = log
        .find(&note)
        .unwrap_or_else(|| panic!("{note:?} in:\n{log}"));
    let end = log
        .find("the server's log is back here")
        .unwrap_or_default();
    let during = &log[start..end];
    assert!(
        during.contains("workload:") || during.contains("phase:"),
        "1ctl's progress is there:\n{during}"
    );
    assert!(
        !during.contains(" INFO "),
        "no server info line amid the deploy's output:\n{during}"
    );
    let kept = std::fs::read_to_string(&file).expect("the deploy's server log");
    assert!(kept.contains(" INFO "), "{kept}");
    assert!(kept.contains("deploy accepted"), "{kept}");
    assert!(
        !kept.contains('\u{1b}'),
        "no colour codes in a file:\n{kept}"
    );

    // Afterwards the server logs on stderr again: a second deploy's acceptance shows there.
    dev.onectl_exits(0, app.path(), &["deploy", "--wait-for", "workload"]);
    let after = dev.log();
    assert!(
        after[end..].contains("deploy accepted"),
        "info lines are back on stderr:\n{}",
        &after[end..]
    );
}

#[test]
fn status_watch_marks_the_history_it_replays() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app("replayed", &[], "");
    dev.onectl_exits(0, app.path(), &["deploy", "--wait-for", "workload"]);
    // v1's events are history by the time the watch starts; v2 happens while it runs.
    let mut watch = dev.onectl_spawn(app.path(), &["app", "status", "--watch"]);
    std::thread::sleep(Duration::from_millis(1500));
    dev.onectl_exits(
        0,
        app.path(),
        &["deploy", "--env", "X=1", "--wait-for", "workload"],
    );
    std::thread::sleep(Duration::from_secs(2));
    let _ = watch.kill();
    let seen = watch.wait_with_output().unwrap();
    let text = stdout(&seen);
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{text}"))
    };
    let earlier = at("— earlier events (before this watch) —");
    let now = at("— now: live events —");
    assert!(earlier < at("release v1 active"), "{text}");
    assert!(at("release v1 active") < now, "{text}");
    assert!(now < at("release v2 pending"), "{text}");
}

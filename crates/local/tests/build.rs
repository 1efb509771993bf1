//! The local build step with real `sh` commands: success into a content-addressed artifact,
//! failure with the log tail, the cache, the clean environment (`[build.env]` only) and the
//! timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use satusky_core::runtime::{BuildRequest, LogSink};
use satusky_local::build::Builder;
use satusky_local::contexts::ContextError;
use satusky_local::ledger::{
    Ledger, MemoryLedger, ProcessKind, process_running, process_start_ticks, reap,
};
use satusky_testkit::spec;
use satusky_types::AppSpec;

/// A spec whose build runs `command` with `build_env` as its `[build.env]`.
fn spec(command: Option<&str>, build_env: &[(&str, &str)]) -> AppSpec {
    let mut s = spec::app("web");
    s.build.command = command.map(str::to_string);
    s.checks.timeout_ms = 1000;
    s.build.env = spec::env(build_env);
    s
}

fn context(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (name, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    builder: Builder,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    Fixture {
        builder: Builder::new(p.join("contexts"), p.join("artifacts"), p.join("builds")),
        _dir: dir,
    }
}

fn collect() -> (LogSink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&lines);
    let sink: LogSink = Arc::new(move |line: &str| l.lock().unwrap().push(line.to_string()));
    (sink, lines)
}

fn request(f: &Fixture, files: &[(&str, &str)], spec: AppSpec) -> BuildRequest {
    let summary = f.builder.store_context("acme", &context(files)).unwrap();
    BuildRequest {
        org: "acme".into(),
        app: "web".into(),
        release: 1,
        context: summary.digest,
        spec,
        timeout: None,
    }
}

#[tokio::test]
async fn a_build_runs_in_the_context_streams_lines_and_stores_an_artifact() {
    let f = fixture();
    let cmd = "mkdir -p out && cat input.txt > out/result && echo line-one && echo line-two >&2 \
               && echo \"X=$X PKG=${CARGO_PKG_NAME:-unset} DIR=${CARGO_MANIFEST_DIR:-unset}\" > env.txt";
    let req = request(
        &f,
        &[("input.txt", "hello")],
        spec(Some(cmd), &[("X", "1")]),
    );
    let (sink, lines) = collect();
    let out = f.builder.build(&req, sink).await.unwrap();
    assert!(!out.reused);
    let dir = f.builder.artifact_path(&out.artifact).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("out/result")).unwrap(),
        "hello"
    );
    // `[build.env]` is there; cargo's variables of the test process are not.
    assert_eq!(
        std::fs::read_to_string(dir.join("env.txt")).unwrap(),
        "X=1 PKG=unset DIR=unset\n"
    );
    let lines = lines.lock().unwrap().clone();
    assert!(lines.contains(&"line-one".to_string()), "{lines:?}");
    assert!(lines.contains(&"line-two".to_string()), "{lines:?}");
    assert_eq!(lines[0], format!("$ {cmd}"));
    // Nothing left in the work dir.
    assert_eq!(std::fs::read_dir(&f.builder.work_dir).unwrap().count(), 0);
}

#[tokio::test]
async fn a_failing_build_reports_the_status_and_the_last_lines() {
    let f = fixture();
    let cmd =
        "for i in $(seq 1 60); do echo line $i; done; sleep 0.1; echo 'error: boom' >&2; exit 3";
    let req = request(&f, &[("a", "b")], spec(Some(cmd), &[]));
    let (sink, lines) = collect();
    let fail = f.builder.build(&req, sink).await.unwrap_err();
    assert_eq!(
        fail.message,
        format!("build command `{cmd}` exited with status 3")
    );
    assert_eq!(fail.log_tail.len(), 40);
    assert_eq!(
        fail.log_tail.last().map(String::as_str),
        Some("error: boom")
    );
    assert_eq!(fail.log_tail[0], "line 22");
    assert_eq!(lines.lock().unwrap().len(), 62, "every line was streamed");
    let artifacts = std::fs::read_dir(&f.builder.artifacts_dir).map_or(0, |d| d.count());
    assert_eq!(artifacts, 0, "a failed build stores no artifact");
    assert_eq!(std::fs::read_dir(&f.builder.work_dir).unwrap().count(), 0);
}

#[tokio::test]
async fn identical_inputs_reuse_the_artifact_without_building() {
    let f = fixture();
    let counter = f.builder.work_dir.parent().unwrap().join("runs");
    let counter = counter.to_str().unwrap();
    let cmd = "echo run >> \"$COUNTER\" && echo built > out.txt";
    let req = request(&f, &[("a", "b")], spec(Some(cmd), &[("COUNTER", counter)]));
    let first = f.builder.build(&req, collect().0).await.unwrap();
    let (sink, lines) = collect();
    let second = f.builder.build(&req, sink).await.unwrap();
    assert!(second.reused);
    assert_eq!(second.artifact, first.artifact);
    assert_eq!(std::fs::read_to_string(counter).unwrap(), "run\n");
    assert!(lines.lock().unwrap()[0].starts_with("reusing artifact sha256:"));
    // Another `[build.env]` is another build (same output tree, so the same artifact).
    let mut other = req.clone();
    other.spec.build.env.insert("Y".into(), "2".into());
    let third = f.builder.build(&other, collect().0).await.unwrap();
    assert!(!third.reused);
    assert_eq!(third.artifact, first.artifact);
    assert_eq!(std::fs::read_to_string(counter).unwrap(), "run\nrun\n");
}

#[tokio::test]
async fn the_build_sees_only_build_env_and_the_apps_env_never_rebuilds() {
    let f = fixture();
    let counter = f.builder.work_dir.parent().unwrap().join("runs");
    let counter = counter.to_str().unwrap();
    let cmd = "echo run >> \"$COUNTER\" && echo \"MODE=${MODE:-unset} LOG=${LOG_LEVEL:-unset}\" \
               | tee seen.txt";
    let mut app = spec(Some(cmd), &[("COUNTER", counter), ("MODE", "release")]);
    app.env = spec::env(&[("LOG_LEVEL", "debug")]);
    let req = request(&f, &[("a", "b")], app);
    let (sink, lines) = collect();
    let first = f.builder.build(&req, sink).await.unwrap();
    assert!(!first.reused);
    // The build prints the build variable and not the app's runtime one.
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.contains(&"MODE=release LOG=unset".to_string()),
        "{lines:?}"
    );
    let dir = f.builder.artifact_path(&first.artifact).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("seen.txt")).unwrap(),
        "MODE=release LOG=unset\n"
    );

    // Another release whose `[env]` differs, same `[build.env]`: the artifact is reused and
    // the command does not run again.
    let mut next = req.clone();
    next.release = 2;
    next.spec.env = spec::env(&[("LOG_LEVEL", "info"), ("FEATURE", "on")]);
    let (sink, lines) = collect();
    let second = f.builder.build(&next, sink).await.unwrap();
    assert!(second.reused, "{:?}", lines.lock().unwrap());
    assert_eq!(second.artifact, first.artifact);
    assert_eq!(std::fs::read_to_string(counter).unwrap(), "run\n");

    // A different `[build.env]` builds again, into what that build made.
    let mut rebuilt = next.clone();
    rebuilt.release = 3;
    rebuilt.spec.build.env.insert("MODE".into(), "debug".into());
    let third = f.builder.build(&rebuilt, collect().0).await.unwrap();
    assert!(!third.reused);
    assert_ne!(third.artifact, first.artifact);
    assert_eq!(std::fs::read_to_string(counter).unwrap(), "run\nrun\n");
    let dir = f.builder.artifact_path(&third.artifact).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("seen.txt")).unwrap(),
        "MODE=debug LOG=unset\n"
    );
}

#[tokio::test]
async fn without_a_build_command_the_context_is_the_artifact() {
    let f = fixture();
    let req = request(&f, &[("server", "#!/bin/sh\necho hi\n")], spec(None, &[]));
    let out = f.builder.build(&req, collect().0).await.unwrap();
    let dir = f.builder.artifact_path(&out.artifact).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("server")).unwrap(),
        "#!/bin/sh\necho hi\n"
    );
    // A different context is a different artifact.
    let req2 = request(&f, &[("server", "#!/bin/sh\necho bye\n")], spec(None, &[]));
    let out2 = f.builder.build(&req2, collect().0).await.unwrap();
    assert_ne!(out2.artifact, out.artifact);
}

#[tokio::test]
async fn a_stuck_build_is_killed_with_its_process_group() {
    let mut f = fixture();
    f.builder.timeout = Duration::from_millis(700);
    let req = request(
        &f,
        &[("a", "b")],
        spec(Some("sleep 30 & echo bg $!; wait"), &[]),
    );
    let (sink, lines) = collect();
    let fail = f.builder.build(&req, sink).await.unwrap_err();
    assert_eq!(
        fail.message,
        "build command `sleep 30 & echo bg $!; wait` did not finish within 700 ms (the build timeout)"
    );
    assert!(fail.timed_out, "reported as a timeout, not a failure");
    let lines = lines.lock().unwrap().clone();
    let bg: u32 = lines
        .iter()
        .find_map(|l| l.strip_prefix("bg "))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {lines:?}"));
    for _ in 0..50 {
        if !process_running(bg) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the build's background process {bg} survived");
}

#[tokio::test]
async fn the_request_timeout_wins_and_a_failing_build_is_not_a_timeout() {
    let f = fixture();
    let mut req = request(&f, &[("a", "b")], spec(Some("sleep 30"), &[]));
    req.timeout = Some(Duration::from_millis(300));
    let fail = f.builder.build(&req, collect().0).await.unwrap_err();
    assert!(fail.timed_out);
    assert!(fail.message.contains("within 300 ms"), "{}", fail.message);
    let req = request(&f, &[("a", "b")], spec(Some("exit 4"), &[]));
    let fail = f.builder.build(&req, collect().0).await.unwrap_err();
    assert!(!fail.timed_out, "{}", fail.message);
}

#[tokio::test]
async fn a_running_build_is_in_the_ledger_and_leaves_it_when_done() {
    let mut f = fixture();
    let ledger = Arc::new(MemoryLedger::new());
    f.builder = f.builder.clone().with_ledger(ledger.clone());
    let req = request(&f, &[("a", "b")], spec(Some("echo started; sleep 1"), &[]));
    let (sink, lines) = collect();
    let builder = f.builder.clone();
    let build = tokio::spawn(async move { builder.build(&req, sink).await });
    let entry = loop {
        if let Some(e) = ledger.all().await.unwrap().into_iter().next() {
            break e;
        }
        assert!(
            !build.is_finished(),
            "the build ended without a ledger entry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(entry.kind, ProcessKind::Build);
    assert_eq!(
        (entry.org.as_str(), entry.app.as_str(), entry.release),
        ("acme", "web", 1)
    );
    assert_eq!(entry.port, 0);
    assert!(process_running(entry.pid), "the entry is the running build");
    assert_eq!(process_start_ticks(entry.pid), Some(entry.start_ticks));
    build.await.unwrap().unwrap();
    assert!(lines.lock().unwrap().iter().any(|l| l == "started"));
    assert!(
        ledger.all().await.unwrap().is_empty(),
        "forgotten once the build ended"
    );
}

#[tokio::test]
async fn a_build_left_by_a_crashed_run_is_reaped() {
    let mut f = fixture();
    let ledger = Arc::new(MemoryLedger::new());
    f.builder = f.builder.clone().with_ledger(ledger.clone());
    let req = request(&f, &[("a", "b")], spec(Some("sleep 30 & wait"), &[]));
    let builder = f.builder.clone();
    // The build future is forgotten while running, as a killed control plane would leave it:
    // its process group stays, and so does its ledger entry.
    let build = tokio::spawn(async move { builder.build(&req, collect().0).await });
    let entry = loop {
        if let Some(e) = ledger.all().await.unwrap().into_iter().next() {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let copy = Arc::new(MemoryLedger::new());
    copy.record(entry.clone()).await.unwrap();
    assert_eq!(reap(&*copy).await, 1, "the build's group is reaped");
    let fail = build.await.unwrap().unwrap_err();
    assert!(
        fail.message.contains("killed by signal 9"),
        "{}",
        fail.message
    );
    assert!(!process_running(entry.pid));
}

#[tokio::test]
async fn missing_or_bad_contexts_fail_clearly() {
    let f = fixture();
    let mut req = request(&f, &[("a", "b")], spec(Some("true"), &[]));
    req.context = format!("sha256:{}", "0".repeat(64));
    let fail = f.builder.build(&req, collect().0).await.unwrap_err();
    assert!(
        fail.message.starts_with("the build context sha256:000"),
        "{}",
        fail.message
    );
    assert!(
        fail.message.ends_with("upload it again"),
        "{}",
        fail.message
    );
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_cksum();
    b.append_link(&mut h, "etc-link", "/etc").unwrap();
    let bytes = b.into_inner().unwrap().finish().unwrap();
    let err = f.builder.store_context("acme", &bytes).unwrap_err();
    assert!(matches!(err, ContextError::Refused(_)));
    assert_eq!(
        err.to_string(),
        r#"entry "etc-link" is a symlink to /etc, outside the build context"#
    );
}

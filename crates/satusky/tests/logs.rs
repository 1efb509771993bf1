//! `1ctl logs` on `satusky dev` (issue 15, acceptance 1, the local half): the last lines with
//! release/replica prefixes; `-f` shows a line written after it started (here: the next
//! release's replica saying hello) and the time it took; a replica that crashes leaves its
//! last lines readable after it is gone and after a control-plane restart; `-o json` gives
//! one line object per line.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::{Dev, bins, json, stdout};

#[test]
fn logs_tail_follow_and_survive_a_crash_and_a_restart() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir("talk", &["--print", "hello from the replica"], "");
    let dir = app.path();
    dev.onectl_exits(0, dir, &["deploy"]);

    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = stdout(&dev.onectl_exits(0, dir, &["logs", "--tail", "5"]));
        if out
            .lines()
            .filter(|l| l.contains("hello from the replica"))
            .count()
            >= 2
        {
            break out;
        }
        assert!(Instant::now() < deadline, "no lines:\n{out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        out.lines().any(|l| l == "v1#0| hello from the replica"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == "v1#1| hello from the replica"),
        "{out}"
    );
    let lines = stdout(&dev.onectl_exits(0, dir, &["logs", "--replica", "1", "-o", "json"]));
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["release"].as_u64(), first["replica"].as_str()),
        (Some(1), Some("1"))
    );
    assert_eq!(first["stream"], "stdout");

    // Following: a line written after `-f` started shows up.
    let mut child = dev.onectl_spawn(dir, &["logs", "-f", "--tail", "1"]);
    let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
    let _old = reader.next().unwrap().unwrap();
    let asked = Instant::now();
    dev.onectl_exits(0, dir, &["env", "set", "ROUND=2"]);
    loop {
        let line = reader.next().unwrap().unwrap();
        if line.starts_with("v2#") && line.contains("hello from the replica") {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "never followed: {line}"
        );
    }
    eprintln!(
        "a new release's first line reached `1ctl logs -f` {:?} after `env set` began (the roll-over included)",
        asked.elapsed()
    );
    let _ = child.kill();
    let _ = child.wait();

    // A crashing release: its last words stay readable, also after a restart.
    let crash = bins.test_app_dir(
        "crash",
        &["--print", "dying words", "--crash-after-ms", "100"],
        "[deploy]\nprogress_deadline = \"5s\"\n",
    );
    let _ = dev.onectl(crash.path(), &["deploy", "--timeout", "30s"]);
    let said = stdout(&dev.onectl_exits(0, crash.path(), &["logs"]));
    assert!(said.contains("dying words"), "{said}");
    dev.kill9();
    drop(dev);
    let dev = Dev::start(&bins, state.path());
    let again = stdout(&dev.onectl_exits(0, crash.path(), &["logs", "--release", "v1"]));
    assert!(again.contains("dying words"), "after a restart:\n{again}");
    let report = json(&dev.onectl_exits(0, dir, &["logs", "--build", "-o", "json"]));
    assert_eq!(report["release"], 2);
}

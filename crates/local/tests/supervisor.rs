//! The process supervisor with real processes: readiness, logs, restarts, crash loops, stopping
//! whole process groups, the ledger, and reaping what a previous run left.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::KillOnDrop;
use satusky_local::ledger::{
    Ledger, LedgerEntry, MemoryLedger, ProcessKind, process_running, process_start_ticks, reap,
};
use satusky_local::supervisor::{ReplicaSpec, ReplicaStatus, Supervisor, SupervisorError, Timings};
use satusky_types::{ChecksSpec, Expose};

const TEST_APP: &str = env!("CARGO_BIN_EXE_satusky-test-app");

fn fast() -> Timings {
    Timings {
        stop_grace: Duration::from_millis(500),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        ready_poll: Duration::from_millis(50),
        ready_recheck: Duration::from_millis(200),
    }
}

fn replica(command: &[&str], artifact: Option<&Path>) -> ReplicaSpec {
    ReplicaSpec {
        org: "acme".into(),
        app: "web".into(),
        release: 1,
        index: 0,
        command: command.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
        secrets: Default::default(),
        artifact: artifact.map(Path::to_path_buf),
        checks: ChecksSpec {
            path: "/healthz".into(),
            expect: "2xx".into(),
            timeout_ms: 500,
        },
        volume: None,
        expose: Default::default(),
    }
}

struct Fixture {
    _kill: KillOnDrop,
    dir: tempfile::TempDir,
    ledger: Arc<MemoryLedger>,
    sup: Supervisor,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let sup = Supervisor::with_timings(dir.path().join("run"), ledger.clone(), fast());
    Fixture {
        _kill: KillOnDrop(ledger.clone()),
        dir,
        ledger,
        sup,
    }
}

async fn wait_for(
    sup: &Supervisor,
    id: u64,
    what: &str,
    cond: impl Fn(&ReplicaStatus) -> bool,
) -> ReplicaStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = sup.status(id).expect("replica exists");
        if cond(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn gone(pid: u32) -> bool {
    for _ in 0..100 {
        if !process_running(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn pid_in_logs(sup: &Supervisor, prefix: &str) -> Option<u32> {
    sup.logs("acme", "web").iter().find_map(|l| {
        l.split_once(prefix)
            .and_then(|(_, p)| p.trim().parse().ok())
    })
}

#[tokio::test]
async fn a_replica_becomes_ready_with_its_env_and_logs_then_stops_cleanly() {
    let f = fixture();
    let id = f
        .sup
        .start(replica(&[TEST_APP, "--print", "hello-log"], None))
        .await
        .unwrap();
    let s = wait_for(&f.sup, id, "ready", |s| s.ready).await;
    let pid = s.pid.unwrap();
    let answer = http_get(s.port, "/");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello from acme/web@v1\n"), "{answer}");
    let logs = f.sup.logs("acme", "web");
    assert!(logs.contains(&"[v1#0] hello-log".to_string()), "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("listening on")), "{logs:?}");
    let entries = f.ledger.all().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].pid, entries[0].port), (pid, s.port));
    assert_eq!(Some(entries[0].start_ticks), process_start_ticks(pid));
    f.sup.stop(id).await;
    assert!(gone(pid).await, "replica {pid} still runs");
    assert!(
        f.ledger.all().await.unwrap().is_empty(),
        "forgotten in the ledger"
    );
    assert!(f.sup.status(id).is_none());
    let run = f.dir.path().join("run");
    assert_eq!(
        std::fs::read_dir(run).unwrap().count(),
        0,
        "working copy removed"
    );
}

#[tokio::test]
async fn a_replica_that_cannot_start_ends_in_crash_loop_with_its_last_lines() {
    let f = fixture();
    let id = f
        .sup
        .start(replica(&[TEST_APP, "--exit-at-start"], None))
        .await
        .unwrap();
    let s = wait_for(&f.sup, id, "crash loop", |s| s.crash_loop.is_some()).await;
    assert!(s.exits >= 3 && !s.ready, "{s:?}");
    let msg = s.crash_loop.unwrap();
    assert!(
        msg.starts_with("replica 0 of v1 exited with status 1 (3 exits without becoming ready)"),
        "{msg}"
    );
    assert!(
        msg.contains("last output:\ntest-app acme/web@v1: exiting at start as asked"),
        "{msg}"
    );
    f.sup.stop(id).await;
    assert!(f.ledger.all().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_program_that_does_not_exist_is_a_crash_loop_too() {
    let f = fixture();
    let id = f
        .sup
        .start(replica(&["./no-such-server"], None))
        .await
        .unwrap();
    let s = wait_for(&f.sup, id, "crash loop", |s| s.crash_loop.is_some()).await;
    let msg = s.crash_loop.unwrap();
    assert!(msg.contains("could not start `./no-such-server`"), "{msg}");
    f.sup.stop(id).await;
}

#[tokio::test]
async fn a_crash_after_ready_restarts_on_the_same_port() {
    let f = fixture();
    let id = f
        .sup
        .start(replica(&[TEST_APP, "--crash-after-ms", "400"], None))
        .await
        .unwrap();
    let first = wait_for(&f.sup, id, "ready", |s| s.ready).await;
    let again = wait_for(&f.sup, id, "ready after a restart", |s| {
        s.ready && s.pid != first.pid
    })
    .await;
    assert!(again.exits >= 1);
    assert_eq!(again.port, first.port);
    assert_eq!(
        again.crash_loop, None,
        "one crash after being ready is not a loop"
    );
    f.sup.stop(id).await;
}

#[tokio::test]
async fn readiness_follows_the_expected_status() {
    let f = fixture();
    let id = f
        .sup
        .start(replica(&[TEST_APP, "--fail-health"], None))
        .await
        .unwrap();
    wait_for(&f.sup, id, "running", |s| s.pid.is_some()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!f.sup.status(id).unwrap().ready, "503 is not ready");
    let mut spec = replica(&[TEST_APP, "--fail-health"], None);
    spec.checks.expect = "503".into();
    let id2 = f.sup.start(spec).await.unwrap();
    wait_for(&f.sup, id2, "ready on 503", |s| s.ready).await;
    f.sup.shutdown_all().await;
    assert!(f.sup.status(id).is_none() && f.sup.status(id2).is_none());
    // Stopping means stopped: a replica asked for afterwards (a deploy still starting them
    // while Ctrl-C stops `satusky dev`) is refused, not left running.
    let late = f.sup.start(replica(&[TEST_APP], None)).await;
    assert!(
        matches!(late, Err(SupervisorError::ShuttingDown)),
        "{late:?}"
    );
}

#[tokio::test]
async fn stop_kills_the_whole_process_group() {
    let f = fixture();
    // The grandchild `sleep` shares the replica's group; TERM is ignored, so SIGKILL is needed.
    let script = "trap '' TERM; sleep 300 & echo child $!; wait";
    let id = f
        .sup
        .start(replica(&["sh", "-c", script], None))
        .await
        .unwrap();
    let s = wait_for(&f.sup, id, "running", |s| s.pid.is_some()).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let child = loop {
        if let Some(p) = pid_in_logs(&f.sup, "child ") {
            break p;
        }
        assert!(Instant::now() < deadline, "no child pid logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(process_running(child));
    f.sup.stop(id).await;
    assert!(gone(s.pid.unwrap()).await, "the replica survived");
    assert!(gone(child).await, "its grandchild survived");
}

#[tokio::test]
async fn logs_are_bounded_and_the_working_dir_is_a_private_copy() {
    let f = fixture();
    let artifact = f.dir.path().join("artifact");
    std::fs::create_dir_all(&artifact).unwrap();
    std::fs::write(artifact.join("data.txt"), "original").unwrap();
    let script = "echo changed > data.txt; for i in $(seq 1 250); do echo l$i; done; sleep 300";
    let id = f
        .sup
        .start(replica(&["sh", "-c", script], Some(&artifact)))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.sup.logs("acme", "web").last().map(String::as_str) != Some("[v1#0] l250") {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            f.sup.logs("acme", "web").last()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = f.sup.logs("acme", "web");
    assert_eq!(logs.len(), 200);
    assert_eq!(logs[0], "[v1#0] l51");
    assert_eq!(
        std::fs::read_to_string(artifact.join("data.txt")).unwrap(),
        "original"
    );
    f.sup.stop(id).await;
}

fn own_group(cmd: &str) -> std::process::Child {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn entry(pid: u32, start_ticks: u64) -> LedgerEntry {
    LedgerEntry {
        pid,
        start_ticks,
        org: "acme".into(),
        app: "web".into(),
        release: 1,
        port: 1,
        kind: ProcessKind::Replica,
    }
}

#[tokio::test]
async fn reap_kills_leftovers_but_never_a_recycled_pid() {
    let ledger = Arc::new(MemoryLedger::new());
    let _kill = KillOnDrop(ledger.clone());
    // A replica left running by a crashed predecessor.
    let mut leftover = own_group("exec sleep 300");
    let ticks = process_start_ticks(leftover.id()).unwrap();
    ledger.record(entry(leftover.id(), ticks)).await.unwrap();
    // A pid that now belongs to another process: same pid, other start time.
    let mut stranger = own_group("exec sleep 300");
    let ticks = process_start_ticks(stranger.id()).unwrap();
    ledger
        .record(entry(stranger.id(), ticks + 1))
        .await
        .unwrap();
    // A leader that already exited, leaving a grandchild in its group.
    let mut leader = own_group("sleep 300 & echo $!");
    let ticks = process_start_ticks(leader.id()).unwrap();
    ledger.record(entry(leader.id(), ticks)).await.unwrap();
    let mut line = String::new();
    BufReader::new(leader.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let grandchild: u32 = line.trim().parse().unwrap();
    leader.wait().unwrap();

    assert_eq!(reap(&*ledger).await, 2);
    assert_eq!(leftover.wait().unwrap().signal(), Some(9));
    assert!(gone(grandchild).await, "the orphaned group member survived");
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "a recycled pid must not be killed"
    );
    assert!(ledger.all().await.unwrap().is_empty());
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

/// A replica of an app exposed as `expose`.
fn exposed(command: &[&str], expose: Expose) -> ReplicaSpec {
    ReplicaSpec {
        expose,
        ..replica(command, None)
    }
}

#[tokio::test]
async fn a_tcp_replica_is_ready_once_its_port_accepts_and_says_why_not_before() {
    let f = fixture();
    // No HTTP at all: the HTTP check would never pass, the TCP connect does.
    let id = f
        .sup
        .start(exposed(&[TEST_APP, "--tcp-echo"], Expose::Tcp))
        .await
        .unwrap();
    let s = wait_for(&f.sup, id, "ready", |s| s.ready).await;
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut greeting = String::new();
    BufReader::new(&mut conn).read_line(&mut greeting).unwrap();
    assert_eq!(greeting, "test-app acme/web@v1\n");
    // Nothing listening: not ready, and the cause says where to listen.
    let idle = f
        .sup
        .start(exposed(&[TEST_APP, "--no-listen"], Expose::Tcp))
        .await
        .unwrap();
    let s = wait_for(&f.sup, idle, "a cause", |s| s.waiting.is_some()).await;
    assert!(!s.ready);
    let cause = s.waiting.unwrap();
    assert!(cause.contains("nothing listens on 127.0.0.1:"), "{cause}");
    f.sup.stop_many(vec![id, idle]).await;
}

#[tokio::test]
async fn a_replica_exposed_as_none_is_ready_once_it_has_run_a_moment() {
    let f = fixture();
    let started = Instant::now();
    let id = f
        .sup
        .start(exposed(&[TEST_APP, "--no-listen"], Expose::None))
        .await
        .unwrap();
    wait_for(&f.sup, id, "ready", |s| s.ready).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "ready only after running 1 s: {:?}",
        started.elapsed()
    );
    // A process that exits at once never is.
    let quitter = f
        .sup
        .start(exposed(&[TEST_APP, "--exit-at-start"], Expose::None))
        .await
        .unwrap();
    let s = wait_for(&f.sup, quitter, "exits", |s| s.exits >= 2).await;
    assert!(!s.ready, "{s:?}");
    f.sup.stop_many(vec![id, quitter]).await;
}

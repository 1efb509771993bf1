//! The local runtime's kept logs with real processes: lines read back with filters, kept
//! after the replica exits and across a restart of the runtime, bounded under a flood (with
//! a dropped-lines marker, the runtime still answering), deleted with the app.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::KillOnDrop;
use satusky_core::runtime::{DesiredWorkload, LogQuery, Runtime};
use satusky_core::{AppHostnames, validate_spec};
use satusky_dns::ZoneRecords;
use satusky_local::ledger::MemoryLedger;
use satusky_local::logs::LogLimits;
use satusky_local::routes::RouteTable;
use satusky_local::{LocalConfig, LocalRuntime};
use satusky_testkit::spec;
use satusky_types::{LogLine, LogStream};

const TEST_APP: &str = env!("CARGO_BIN_EXE_satusky-test-app");

async fn runtime(dir: &Path, ledger: Arc<MemoryLedger>, limits: LogLimits) -> LocalRuntime {
    let config = LocalConfig {
        state_dir: dir.to_path_buf(),
        zone: satusky_core::hostnames::Zone::parse("satusky.localhost").unwrap(),
        edge_addresses: vec!["127.0.0.1".parse().unwrap()],
        probe_addr: None,
        isolation: satusky_local::isolation::Isolation::SameUser,
        ready_recheck: satusky_local::supervisor::READY_RECHECK,
    };
    let zone = Arc::new(ZoneRecords::new());
    LocalRuntime::start_with_logs(config, RouteTable::new(), zone, ledger, None, limits)
        .await
        .unwrap()
}

fn desired(release: u64, replicas: u32, command: Vec<String>) -> DesiredWorkload {
    let mut s = spec::app("web");
    s.replicas = replicas;
    s.command = Some(command);
    s.checks.timeout_ms = 500;
    DesiredWorkload {
        org: "acme".into(),
        app: "web".into(),
        release,
        spec: validate_spec(s).unwrap(),
        artifact: None,
        hostnames: AppHostnames::new(vec![spec::generated_as("web-acme.satusky.localhost")])
            .unwrap(),
        secrets: Default::default(),
        restarted_at_ms: None,
    }
}

fn test_app(args: &[&str]) -> Vec<String> {
    let mut c = vec![TEST_APP.to_string()];
    c.extend(args.iter().map(|a| a.to_string()));
    c
}

async fn logs(rt: &LocalRuntime, q: LogQuery) -> Vec<LogLine> {
    Runtime::logs(rt, "acme".into(), "web".into(), q)
        .await
        .unwrap()
}

/// Poll until `cond` holds on the app's whole log (at most 20 s).
async fn wait_logs(rt: &LocalRuntime, what: &str, cond: impl Fn(&[LogLine]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = logs(rt, LogQuery::default()).await;
        if cond(&l) {
            return;
        }
        assert!(Instant::now() < deadline, "waiting for {what}; log: {l:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn texts(l: &[LogLine]) -> Vec<&str> {
    l.iter().map(|l| l.line.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_are_read_back_filtered_after_exits_and_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let _kill = KillOnDrop(Arc::clone(&ledger));
    let rt = runtime(dir.path(), Arc::clone(&ledger), LogLimits::default()).await;
    let mut notify = rt.log_notify("acme", "web").unwrap();
    rt.apply(desired(
        1,
        2,
        test_app(&["--print", "hello", "--print", "world"]),
    ))
    .await
    .unwrap();
    let both = |l: &[LogLine]| {
        ["0", "1"].iter().all(|r| {
            l.iter()
                .filter(|l| l.replica == *r && l.release == 1)
                .any(|l| l.line.contains("listening on"))
        })
    };
    wait_logs(&rt, "both replicas' lines", both).await;
    assert!(*notify.borrow_and_update() > 0, "the follower was told");

    let all = logs(&rt, LogQuery::default()).await;
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "{all:#?}");
    assert!(all.iter().all(|l| l.stream == LogStream::Stdout));
    let r1 = logs(
        &rt,
        LogQuery {
            replica: Some("1".into()),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(texts(&r1)[..2], ["hello", "world"], "{r1:#?}");
    assert!(r1.iter().all(|l| l.replica == "1"));
    let tail = logs(
        &rt,
        LogQuery {
            tail: Some(1),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].seq, all.last().unwrap().seq);
    let after = logs(
        &rt,
        LogQuery {
            after_seq: Some(all[1].seq),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(after.len(), all.len() - 2);

    // Release 2 crashes at start: its last words stay readable while it crash-loops.
    rt.apply(desired(
        2,
        1,
        test_app(&["--print", "dying words", "--exit-at-start"]),
    ))
    .await
    .unwrap();
    let crashed = |l: &[LogLine]| {
        l.iter()
            .filter(|l| l.release == 2 && l.line == "dying words")
            .count()
            >= 2
    };
    wait_logs(&rt, "release 2 started twice", crashed).await;
    let v2 = logs(
        &rt,
        LogQuery {
            release: Some(2),
            ..LogQuery::default()
        },
    )
    .await;
    assert!(v2.iter().all(|l| l.release == 2) && !v2.is_empty());

    // A new runtime on the same state dir reads the same lines and continues the seq.
    rt.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = logs(&rt, LogQuery::default()).await;
    drop(rt);
    let rt = runtime(dir.path(), Arc::clone(&ledger), LogLimits::default()).await;
    let kept = logs(&rt, LogQuery::default()).await;
    assert_eq!(kept, before, "kept across a restart");
    let last = kept.last().unwrap().seq;
    rt.apply(desired(3, 1, test_app(&["--print", "back again"])))
        .await
        .unwrap();
    wait_logs(&rt, "release 3's line", |l| {
        l.iter().any(|l| l.line == "back again")
    })
    .await;
    let fresh = logs(
        &rt,
        LogQuery {
            release: Some(3),
            ..LogQuery::default()
        },
    )
    .await;
    assert!(
        fresh.iter().all(|l| l.seq > last),
        "{fresh:#?} after {last}"
    );

    // Removing the app deletes its log.
    rt.remove("acme".into(), "web".into()).await.unwrap();
    assert!(!dir.path().join("logs/acme/web").exists());
    assert!(logs(&rt, LogQuery::default()).await.is_empty());
    rt.shutdown().await;
}

fn log_bytes(dir: &Path) -> u64 {
    ["current.jsonl", "previous.jsonl"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_stays_under_the_cap_with_a_dropped_marker_and_the_runtime_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let _kill = KillOnDrop(Arc::clone(&ledger));
    let limits = LogLimits {
        per_app_bytes: 1 << 20,
        queue_lines: 64,
    };
    let rt = runtime(dir.path(), Arc::clone(&ledger), limits).await;
    let flood = "yes 'a flooding line' | head -c 20000000; sleep 1; \
                 head -c 40000 /dev/zero | tr '\\0' x; echo; sleep 30";
    rt.apply(desired(
        1,
        1,
        vec!["/bin/sh".into(), "-c".into(), flood.into()],
    ))
    .await
    .unwrap();
    let app_dir = dir.path().join("logs/acme/web");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut biggest = 0;
    loop {
        let asked = Instant::now();
        let l = logs(
            &rt,
            LogQuery {
                tail: Some(100),
                ..LogQuery::default()
            },
        )
        .await;
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "a read took {:?}",
            asked.elapsed()
        );
        biggest = biggest.max(log_bytes(&app_dir));
        assert!(biggest <= limits.per_app_bytes, "{biggest} bytes kept");
        let cut = l.iter().find(|l| l.line.contains("[satusky: "));
        if let Some(cut) = cut {
            assert!(
                cut.line.ends_with("… [satusky: 23616 bytes cut]"),
                "{}",
                &cut.line[16_000..]
            );
            assert_eq!(
                cut.line.len(),
                16 * 1024 + "… [satusky: 23616 bytes cut]".len()
            );
            break;
        }
        assert!(Instant::now() < deadline, "the flood never ended: {l:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = logs(&rt, LogQuery::default()).await;
    let marker = all
        .iter()
        .find(|l| l.line.starts_with("[satusky] ") && l.line.contains(" lines dropped"));
    assert!(
        marker.is_some(),
        "no dropped-lines marker in {} lines",
        all.len()
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(
        biggest > limits.per_app_bytes / 2,
        "the flood filled the log ({biggest} bytes)"
    );
    rt.remove("acme".into(), "web".into()).await.unwrap();
    assert!(!app_dir.exists());
    rt.shutdown().await;
}

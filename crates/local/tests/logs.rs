//! The local runtime's kept logs with real processes: lines read back with filters, kept
//! after the replica exits and across a restart of the runtime, bounded under a flood (with
//! a dropped-lines marker, the runtime still answering) and under an app that writes 1 GiB,
//! deleted with the app.

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

/// Taken by the tests that flood the capture: each keeps both cores busy, so run side by side
/// they starve each other (and what they measure).
static FLOOD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    let _one_flood_at_a_time = FLOOD.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let _kill = KillOnDrop(Arc::clone(&ledger));
    let limits = LogLimits {
        per_app_bytes: 1 << 20,
        queue_lines: 64,
    };
    let rt = runtime(dir.path(), Arc::clone(&ledger), limits).await;
    // 200 MB: enough that even a capture slowed by a loaded machine (which keeps a few
    // hundred KB of 20 MB) fills more than half the cap.
    let flood = "yes 'a flooding line' | head -c 200000000; sleep 1; \
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

/// Every file in the app's log directory, in bytes, with their names.
fn dir_bytes(dir: &Path) -> (u64, Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, Vec::new());
    };
    let (mut bytes, mut names) = (0, Vec::new());
    for e in entries.flatten() {
        // A file rotated away between the listing and this look is simply gone.
        bytes += e.metadata().map_or(0, |m| m.len());
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    (bytes, names)
}

/// The acceptance for the log cap: an app that writes 1 GiB — 1,048,576 numbered lines of
/// 1 KiB through its stdout, as fast as `awk` makes them — under the real limits
/// ([`LogLimits::default`]: 10 MiB per app, both files together). While it writes and after,
/// the app's log directory holds `current` and `previous` only and never more than the cap;
/// the newest lines are readable; and in what is kept, every gap in the numbering is
/// preceded by a marker saying exactly how many lines were dropped. Then the app writes a
/// numbered `done` line every 100 ms (a single last line could itself be dropped while the
/// queue is still full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_writing_1_gib_keeps_its_log_under_the_cap() {
    let _one_flood_at_a_time = FLOOD.lock().await;
    const LINES: u64 = 1 << 20;
    const LINE_BYTES: u64 = 1024; // 10 digits, 1,013 spaces, the newline
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let _kill = KillOnDrop(Arc::clone(&ledger));
    let limits = LogLimits::default();
    let rt = runtime(dir.path(), Arc::clone(&ledger), limits).await;
    assert_eq!(LINES * LINE_BYTES, 1 << 30);
    let app = format!(
        "s=$(date +%s%N); awk 'BEGIN {{ pad = sprintf(\"%1013s\", \"\"); \
         for (i = 1; i <= {LINES}; i++) printf \"%010d%s\\n\", i, pad }}'; \
         ms=$((($(date +%s%N) - s) / 1000000)); i={}; \
         while :; do printf '%010d done (in %s ms)\\n' $i $ms; i=$((i + 1)); sleep 0.1; done",
        LINES + 1
    );
    let done = |l: &LogLine| l.line.ends_with(" ms)");
    let started = Instant::now();
    rt.apply(desired(1, 1, vec!["/bin/sh".into(), "-c".into(), app]))
        .await
        .unwrap();
    let app_dir = dir.path().join("logs/acme/web");
    // The directory is looked at every 5 ms on a thread of its own while the app writes.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (dir, stop, cap) = (app_dir.clone(), Arc::clone(&stop), limits.per_app_bytes);
        std::thread::spawn(move || {
            let (mut biggest, mut looks) = (0, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (bytes, names) = dir_bytes(&dir);
                biggest = biggest.max(bytes);
                looks += 1;
                assert!(bytes <= cap, "{bytes} bytes in {names:?} (cap {cap})");
                assert!(
                    names
                        .iter()
                        .all(|n| n == "current.jsonl" || n == "previous.jsonl"),
                    "{names:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            (biggest, looks)
        })
    };
    let tail = |n| LogQuery {
        tail: Some(n),
        ..LogQuery::default()
    };
    loop {
        let newest = logs(&rt, tail(1)).await;
        if newest.first().is_some_and(done) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120) && !watcher.is_finished(),
            "the app has not finished writing (or the watcher saw too much): {newest:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wrote = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (biggest, looks) = watcher.join().expect("the log went over its cap");
    let (after, names) = dir_bytes(&app_dir);
    assert!(after <= limits.per_app_bytes, "{after} bytes after");
    assert_eq!(names, ["current.jsonl", "previous.jsonl"]);

    // What is kept: the newest lines, every gap announced by a marker with its exact size.
    let kept = logs(&rt, tail(LogQuery::MAX_TAIL)).await;
    assert!(done(kept.last().unwrap()), "{:?}", kept.last());
    let (mut last, mut announced, mut dropped, mut numbered) = (None::<u64>, 0, 0, 0);
    for l in &kept {
        if let Some(n) = l.line.strip_prefix("[satusky] ") {
            let n: u64 = n.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(announced, 0, "two markers in a row: {}", l.line);
            announced = n;
            dropped += n;
            continue;
        }
        let n: u64 = l.line[..10].parse().unwrap();
        if done(l) {
            assert!(n > LINES, "{}", l.line);
        } else {
            assert_eq!(l.line.len() as u64, LINE_BYTES - 1, "{}", &l.line[..20]);
            numbered += 1;
        }
        if let Some(prev) = last {
            assert_eq!(
                n,
                prev + 1 + announced,
                "after {prev}, {announced} announced"
            );
        }
        (last, announced) = (Some(n), 0);
    }
    assert!(dropped > 0, "writing 1 GiB this fast must drop lines");
    let seq = kept.last().unwrap().seq;
    let app_ms = kept
        .last()
        .unwrap()
        .line
        .split(' ')
        .nth(3)
        .unwrap()
        .to_string();
    eprintln!(
        "the app wrote 1 GiB in {app_ms} ms; its last line was readable {wrote:?} after the \
         apply; the log peaked at {biggest} bytes \
         (cap {}) over {looks} looks, {after} after; {} lines kept ({numbered} of the app's, \
         {dropped} dropped between them, as the markers say); the seq reached {seq}",
        limits.per_app_bytes,
        kept.len()
    );
    assert!(
        biggest > limits.per_app_bytes / 2,
        "the log filled up ({biggest} bytes)"
    );
    rt.remove("acme".into(), "web".into()).await.unwrap();
    rt.shutdown().await;
}

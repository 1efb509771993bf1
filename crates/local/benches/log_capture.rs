//! Log capture throughput (prints figures; asserts nothing): the same app — a shell pipeline
//! printing `LOG_BENCH_LINES` lines (default 2,000,000) as fast as it can, timing itself —
//! run once with its stdout on `/dev/null` and once supervised by `LocalRuntime`, whose
//! capture keeps every line it can in the app's log files (`crate::logs`). The app's own
//! lines/s are compared (issue 15: within 10 % of `/dev/null`), with how many lines the log
//! kept and how many it dropped (queue full) — dropping is how capture avoids slowing the app.
//!
//! Unpaced: what it measures is capture's ceiling (a pipe and its reader against
//! `/dev/null`, which costs nothing), not yet the paced 50,000 lines/s app; an app
//! writing below the supervised ceiling is not slowed. The dropped count sums the markers
//! still in the log (rotation drops older ones). Run:
//! `cargo bench -p satusky-local --bench log-capture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use satusky_core::runtime::{DesiredWorkload, LogQuery, Runtime};
use satusky_core::{AppHostnames, validate_spec};
use satusky_local::ledger::{Ledger, MemoryLedger, signal_group};
use satusky_local::logs::LogLimits;
use satusky_local::routes::RouteTable;
use satusky_local::{LocalConfig, LocalRuntime};
use satusky_types::LogLine;

/// The app: N lines as fast as it can, then its elapsed nanoseconds on stderr, then idle
/// (so the supervisor does not restart it).
fn script(lines: u64) -> String {
    format!(
        "s=$(date +%s%N); yes 'GET /api/items/42 200 1532 bytes in 3 ms from 10.0.0.7' \
         | head -n {lines}; e=$(date +%s%N); sleep 0.3; echo \"elapsed $((e - s))\" >&2; sleep 600"
    )
}

fn elapsed_ns(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("elapsed "))
        .and_then(|n| n.trim().parse().ok())
}

fn unsupervised(lines: u64) -> f64 {
    let script = script(lines).replace("; sleep 600", "");
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run /bin/sh");
    elapsed_ns(&String::from_utf8_lossy(&out.stderr)).expect("the app timed itself")
}

async fn supervised(lines: u64) -> (f64, usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(MemoryLedger::new());
    let config = LocalConfig {
        state_dir: dir.path().to_path_buf(),
        zone: satusky_core::hostnames::Zone::parse("satusky.localhost").unwrap(),
        edge_addresses: vec!["127.0.0.1".parse().unwrap()],
        probe_addr: None,
        isolation: satusky_local::isolation::Isolation::SameUser,
        ready_recheck: satusky_local::supervisor::READY_RECHECK,
    };
    let zone = Arc::new(satusky_dns::ZoneRecords::new());
    let rt = LocalRuntime::start_with_logs(
        config,
        RouteTable::new(),
        zone,
        ledger.clone(),
        None,
        LogLimits::default(),
    )
    .await
    .unwrap();
    let mut spec = satusky_testkit::spec::app("bench");
    spec.replicas = 1;
    spec.command = Some(vec!["/bin/sh".into(), "-c".into(), script(lines)]);
    let d = DesiredWorkload {
        org: "acme".into(),
        app: "bench".into(),
        release: 1,
        spec: validate_spec(spec).unwrap(),
        artifact: None,
        hostnames: AppHostnames::new(vec![]).unwrap(),
        secrets: Default::default(),
    };
    rt.apply(d).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let (ns, all) = loop {
        let all: Vec<LogLine> =
            Runtime::logs(&rt, "acme".into(), "bench".into(), LogQuery::default())
                .await
                .unwrap();
        if let Some(ns) = all.iter().rev().find_map(|l| elapsed_ns(&l.line)) {
            break (ns, all);
        }
        assert!(
            Instant::now() < deadline,
            "the supervised app never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let last_seq = all.last().map_or(0, |l| l.seq);
    let dropped: u64 = Runtime::logs(&rt, "acme".into(), "bench".into(), LogQuery::default())
        .await
        .unwrap()
        .iter()
        .filter_map(|l| l.line.strip_prefix("[satusky] "))
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .sum();
    for e in ledger.all().await.unwrap_or_default() {
        signal_group(e.pid, nix::sys::signal::Signal::SIGKILL);
    }
    rt.shutdown().await;
    (ns, last_seq as usize, dropped)
}

fn main() {
    let lines: u64 = std::env::var("LOG_BENCH_LINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("log capture: {lines} lines, unpaced");
    for round in 1..=2 {
        let null = unsupervised(lines);
        let (sup, seq, dropped) = rt.block_on(supervised(lines));
        let rate = |ns: f64| lines as f64 / (ns / 1e9);
        println!(
            "round {round}: /dev/null {:>12.0} lines/s | supervised {:>12.0} lines/s ({:+.1} %) | \
             log seq reached {seq}, dropped (in visible markers) {dropped}",
            rate(null),
            rate(sup),
            (rate(sup) / rate(null) - 1.0) * 100.0
        );
    }
}

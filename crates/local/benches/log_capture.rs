//! Log capture throughput (prints figures; asserts nothing): the same app — a shell pipeline
//! printing `LOG_BENCH_LINES` lines (default 2,000,000) as fast as it can, timing itself —
//! run once with its stdout on `/dev/null` and once supervised by `LocalRuntime`, whose
//! capture keeps every line it can in the app's log files (`crate::logs`). The app's own
//! lines/s are compared (issue 15: within 10 % of `/dev/null`), with how many lines the log
//! kept and how many it dropped (queue full) — dropping is how capture avoids slowing the app.
//!
//! Two runs: unpaced, capture's ceiling (a pipe and its reader against `/dev/null`, which
//! costs nothing); and paced, the app writing up to 50,000 lines/s (bursts of 500
//! every 10 ms), where the question is whether capture slows the app at all. The dropped count sums the markers
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

/// How the app writes: as fast as it can, or paced (`batches` bursts of 500 lines, one
/// every 10 ms: at most 50,000 lines/s — the app).
#[derive(Debug, Clone, Copy)]
enum Pace {
    Unpaced(u64),
    Paced { batches: u64 },
}

impl Pace {
    fn lines(self) -> u64 {
        match self {
            Pace::Unpaced(n) => n,
            Pace::Paced { batches } => batches * 500,
        }
    }
}

/// The app: its lines, then its elapsed nanoseconds on stderr, then idle (so the supervisor
/// does not restart it).
fn script(pace: Pace) -> String {
    const LINE: &str = "GET /api/items/42 200 1532 bytes in 3 ms from 10.0.0.7";
    let body = match pace {
        Pace::Unpaced(lines) => format!("yes '{LINE}' | head -n {lines}"),
        Pace::Paced { batches } => format!(
            "i=0; while [ $i -lt {batches} ]; do yes '{LINE}' | head -n 500; sleep 0.01; \
             i=$((i + 1)); done"
        ),
    };
    format!(
        "s=$(date +%s%N); {body}; e=$(date +%s%N); sleep 0.3; echo \"elapsed $((e - s))\" >&2; sleep 600"
    )
}

fn elapsed_ns(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("elapsed "))
        .and_then(|n| n.trim().parse().ok())
}

fn unsupervised(pace: Pace) -> f64 {
    let script = script(pace).replace("; sleep 600", "");
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run /bin/sh");
    elapsed_ns(&String::from_utf8_lossy(&out.stderr)).expect("the app timed itself")
}

async fn supervised(pace: Pace) -> (f64, usize, u64) {
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
    spec.command = Some(vec!["/bin/sh".into(), "-c".into(), script(pace)]);
    let d = DesiredWorkload {
        org: "acme".into(),
        app: "bench".into(),
        release: 1,
        spec: validate_spec(spec).unwrap(),
        artifact: None,
        hostnames: AppHostnames::new(vec![]).unwrap(),
        secrets: Default::default(),
        restarted_at_ms: None,
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
    for (label, pace) in [
        (
            format!("{lines} lines, unpaced (capture's ceiling)"),
            Pace::Unpaced(lines),
        ),
        (
            "100,000 lines paced at up to 50,000 lines/s (the issue's app)".to_string(),
            Pace::Paced { batches: 200 },
        ),
    ] {
        println!("log capture: {label}");
        for round in 1..=2 {
            let null = unsupervised(pace);
            let (sup, seq, dropped) = rt.block_on(supervised(pace));
            let rate = |ns: f64| pace.lines() as f64 / (ns / 1e9);
            println!(
                "round {round}: /dev/null {:>12.0} lines/s | supervised {:>12.0} lines/s ({:+.1} %) | \
                 log seq reached {seq}, dropped (in visible markers) {dropped}",
                rate(null),
                rate(sup),
                (rate(sup) / rate(null) - 1.0) * 100.0
            );
        }
    }
}

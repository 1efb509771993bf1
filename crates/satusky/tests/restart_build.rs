//! End to end with `satusky dev` (real binaries): a restart during a deploy's build keeps the
//! old release serving, shows no stale `ready`, and reaps the build the killed process left;
//! a build printing 1 GB leaves the server's memory and the events table bounded (issue 10,
//! acceptance 3 and 8).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Dev, bins, pids_matching, test_app};
use common::{json, stderr};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `/proc/PID/stat` field 5: the process group.
fn pgrp(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Live members of process group `pgid`.
fn group(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| pgrp(*p) == Some(pgid))
        .filter(|p| {
            // Not a zombie.
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| r.trim_start().starts_with('Z'))
                })
                == Some(false)
        })
        .collect()
}

/// `VmRSS` and `VmHWM` (peak) of `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Every plane of a readiness report, as (name, plane).
fn planes(report: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let mut out = vec![
        ("build".to_string(), report["build"].clone()),
        ("workload".to_string(), report["workload"].clone()),
    ];
    for e in report["endpoints"].as_array().into_iter().flatten() {
        for p in ["metadata", "route", "dns", "tls", "http"] {
            out.push((format!("{} {p}", e["hostname"]), e[p].clone()));
        }
    }
    out
}

fn rfc3339_ms(s: &str) -> i64 {
    satusky_core::time::parse_rfc3339_ms(s).unwrap_or_else(|| panic!("not RFC 3339: {s}"))
}

#[test]
fn sigkill_during_a_build_keeps_the_old_release_serving_and_reaps_the_build() {
    let state = tempfile::tempdir().unwrap();
    let marker = format!("build-marker-{}", std::process::id());
    let app = test_app("keep", &[], "");
    let mut dev = Dev::start(&bins(), state.path());
    dev.onectl_exits(0, app.path(), &["deploy"]);

    // v2 builds for 10 s; the marker is in the shell's command line (`sh -c …`).
    let toml = app.path().join("satusky.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[build]\ncommand = \"echo {marker}-start; sleep 10; echo {marker}-end\"\n"
    ));
    std::fs::write(&toml, text).unwrap();
    let out = dev.onectl(app.path(), &["deploy", "--no-wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(30);
    let build_pids = loop {
        let found = pids_matching(&format!("{marker}-start"));
        if !found.is_empty() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "the build never started:\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let build_pgid = pgrp(build_pids[0]).expect("the build's process group");
    let build_group = group(build_pgid);
    assert!(
        build_group.len() >= 2,
        "the shell and its sleep: {build_group:?}"
    );
    dev.kill9();
    drop(dev);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !group(build_pgid).is_empty(),
        "the build outlives a SIGKILL of its control plane (what the ledger is for)"
    );

    let restart = now_ms();
    let dev = Dev::start(&bins(), state.path());
    // Right after the restart: no plane claims `ready` from before it.
    let st = json(&dev.onectl(app.path(), &["app", "status", "-o", "json"]));
    for (name, p) in planes(&st) {
        if p["state"] == "ready"
            && let Some(at) = p["checked_at"].as_str()
        {
            assert!(
                rfc3339_ms(at) >= restart,
                "{name} is ready as of {at}, before the restart: {st}"
            );
        }
    }
    // The build the killed server left is gone (reaped on start, long before its 10 s end).
    let left = group(build_pgid);
    assert!(
        left.is_empty(),
        "the old build {build_group:?} survived the restart: {left:?}"
    );

    // From the first /readyz 200 until v2 is active, every request is answered by v1.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = "keep-dev.satusky.localhost";
    let (client, url) = (dev.client_for(host), dev.url(host, "/"));
    let api = common::http();
    let readyz = format!("{}/readyz", dev.api());
    let (answers, became_ready_after) = rt.block_on(async {
        let t0 = Instant::now();
        loop {
            if let Ok(r) = api.get(&readyz).send().await
                && r.status().as_u16() == 200
            {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "never ready:\n{}",
                dev.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ready_after = t0.elapsed();
        let mut answers = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let answer = match client.get(&url).send().await {
                Ok(r) => format!(
                    "{} {}",
                    r.status().as_u16(),
                    r.headers()
                        .get("x-satusky-release")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                ),
                Err(e) => format!("error {e}"),
            };
            let v2 = answer == "200 dev/keep@v2";
            answers.push(answer);
            if v2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "v2 never served: {:?}\n{}",
                &answers[answers.len().saturating_sub(5)..],
                dev.log()
            );
        }
        (answers, ready_after)
    });
    let v1 = answers.iter().filter(|a| *a == "200 dev/keep@v1").count();
    let other: Vec<&String> = answers
        .iter()
        .filter(|a| *a != "200 dev/keep@v1" && *a != "200 dev/keep@v2")
        .collect();
    eprintln!(
        "readyz after {became_ready_after:?}; {} answers: {v1} from v1, then v2",
        answers.len()
    );
    assert!(
        other.is_empty(),
        "{} of {} answers were not v1 (first: {:?})",
        other.len(),
        answers.len(),
        &other[..other.len().min(5)]
    );
    assert!(v1 > 20, "v1 served the whole resumed build ({v1} answers)");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = json(&dev.onectl(app.path(), &["app", "status", "-o", "json"]));
        if st["active_release"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "v2 never became active: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Build log lines of `release` stored as events: (rows, bytes of their lines, marker rows).
fn build_log_rows(state_dir: &std::path::Path, app: &str, release: u64) -> (u64, u64, u64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = satusky_store::Store::open_sqlite_file(&state_dir.join("state.db"))
            .await
            .unwrap();
        let (mut after, mut rows, mut bytes, mut markers) = (0, 0, 0, 0);
        loop {
            let page = store.events_after("dev", app, after, 500).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                if e.kind == satusky_types::EventType::BuildLog && e.data["release"] == release {
                    rows += 1;
                    bytes += e.data["line"].as_str().unwrap_or("").len() as u64;
                    markers += u64::from(e.data.get("dropped").is_some());
                }
            }
        }
        store.close().await;
        (rows, bytes, markers)
    })
}

#[test]
fn a_build_printing_1_gb_leaves_memory_and_the_events_table_bounded() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let pid = dev.child.id();
    // 1,000,000 lines of 1,000 bytes: 1 GB of build output.
    let line = "x".repeat(999);
    let app = test_app(
        "loud",
        &[],
        &format!(
            "\n[build]\ncommand = \"yes {line} | head -c 1000000000; echo the-last-line; exit 1\"\n"
        ),
    );
    let (rss_before, _) = rss_kib(pid);
    let started = Instant::now();
    let out = dev.onectl_exits(10, app.path(), &["deploy", "--timeout", "10m"]);
    // The failure's log tail is kept from every line: it still shows the end.
    assert!(stderr(&out).contains("the-last-line"), "{}", stderr(&out));
    let took = started.elapsed();
    let (rss_after, peak) = rss_kib(pid);
    let (rows, bytes, markers) = build_log_rows(state.path(), "loud", 1);
    eprintln!(
        "1 GB of build output (then exit 1) in {took:.1?}: server RSS {} MiB before, {} MiB after, peak {} MiB; \
         {rows} build_log events ({markers} markers), {} KiB of lines",
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024,
        bytes / 1024
    );
    use satusky_core::build_log::{MAX_BYTES, MAX_LINES};
    assert!(rows <= MAX_LINES + 1, "{rows} rows");
    assert!(markers >= 1, "the dropped lines are reported");
    assert!(bytes <= MAX_BYTES + 1024, "{bytes} bytes");
    // Without the caps the server queued and stored the whole gigabyte.
    assert!(
        peak.saturating_sub(rss_before) < 200 * 1024,
        "the server grew from {rss_before} KiB to a peak of {peak} KiB"
    );
}

#[test]
fn a_build_past_its_timeout_fails_with_build_timeout_even_across_a_restart() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("server.toml"), "build_timeout = \"3s\"\n").unwrap();
    let mut dev = Dev::start(&bins(), state.path());

    // A build that outruns the limit fails with its own reason, exit 10.
    let slow = test_app("slow", &[], "\n[build]\ncommand = \"sleep 30\"\n");
    dev.onectl_exits(10, slow.path(), &["deploy"]);
    let st = json(&dev.onectl(slow.path(), &["app", "status", "-o", "json"]));
    assert_eq!(st["build"]["reason"], "BuildTimeout", "{st}");
    let msg = st["build"]["message"].as_str().unwrap();
    assert!(msg.contains("build timeout of 3s"), "{msg}");
    assert!(
        st["build"]["remediation"]
            .as_str()
            .unwrap()
            .contains("build_timeout"),
        "{st}"
    );

    // The deadline counts from the build's first start: killed mid-build and restarted after
    // the deadline, the build fails at once instead of starting over.
    let marker = format!("resume-marker-{}", std::process::id());
    let late = test_app(
        "late",
        &[],
        &format!("\n[build]\ncommand = \"echo {marker}; sleep 30; echo {marker}\"\n"),
    );
    let out = dev.onectl(late.path(), &["deploy", "--no-wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids_matching(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the build never started:\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Killed once the build is in the process ledger (it is recorded just after it starts):
    // a restart reaps what the ledger names.
    let recorded = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let db = state.path().join("state.db");
                let store = satusky_store::Store::open_sqlite_file(&db).await.unwrap();
                let all = store.ledger_all().await.unwrap();
                store.close().await;
                all.iter().any(|e| e.app == "late")
            })
    };
    while !recorded() {
        assert!(
            Instant::now() < deadline,
            "the build was never recorded:\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    dev.kill9();
    drop(dev);
    std::thread::sleep(Duration::from_millis(3_500));
    let dev = Dev::start(&bins(), state.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    let st = loop {
        assert!(
            pids_matching(&marker).is_empty(),
            "a build past its deadline was started again:\n{}",
            dev.log()
        );
        let st = json(&dev.onectl(late.path(), &["app", "status", "-o", "json"]));
        if st["build"]["state"] == "failed" {
            break st;
        }
        assert!(Instant::now() < deadline, "the build never failed: {st}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(st["build"]["reason"], "BuildTimeout", "{st}");
    let rel = json(&dev.onectl(late.path(), &["app", "releases", "-o", "json"]));
    assert_eq!(rel[0]["status"], "failed", "{rel}");
}

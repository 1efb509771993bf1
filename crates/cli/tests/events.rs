//! `1ctl deploy` and `1ctl app status --watch` with a live event stream: a fake server
//! speaking WebSocket sends build logs, rollout counts and planes while the polled status
//! decides the exit code — and a stream that breaks (or is refused) never changes it.

mod common;

use std::time::{Duration, Instant};

use common::fixtures::{TOKEN, accepted, app_dir, event, report, uploaded, whoami};
use common::{Events, FakeServer, Route, Seen, onectl, route};
use satusky_types::{Event, EventType, PlaneState};
use serde_json::{Value, json};

const STATUS: &str = "/v1/orgs/acme/apps/api/status";
const HOST: &str = "api-acme.apps.test";

/// The status answers `pending` twice (so the stream is up before the verdict), then `last`.
fn status_then(last: &str) -> Vec<Route> {
    let pending = report(
        4,
        PlaneState::InProgress,
        PlaneState::Pending,
        PlaneState::Unknown,
    );
    let mut first = route("GET", STATUS, 200, &pending);
    first.times = Some(2);
    vec![first, route("GET", STATUS, 200, last)]
}

fn ready() -> String {
    report(4, PlaneState::Ready, PlaneState::Ready, PlaneState::Ready)
}

/// A deploy's events, preceded by an older release's (which must not show).
fn deploy_events() -> Vec<Event> {
    vec![
        event(
            1,
            EventType::BuildLog,
            json!({"release": 3, "line": "old build line"}),
        ),
        event(
            2,
            EventType::Release,
            json!({"version": 4, "status": "pending", "source": "deploy"}),
        ),
        event(
            3,
            EventType::Phase,
            json!({"phase": "building", "generation": 2, "release": 4}),
        ),
        event(
            4,
            EventType::BuildLog,
            json!({"release": 4, "line": "Compiling hello v0.1.0"}),
        ),
        event(
            5,
            EventType::BuildLog,
            json!({"release": 4, "line": "Finished release"}),
        ),
        event(
            6,
            EventType::Plane,
            json!({"hostname": null, "plane": "build", "state": "ready",
            "reason": "Built", "message": "sha256:abc"}),
        ),
        event(
            7,
            EventType::Rollout,
            json!({"release": 4, "desired": 1, "updated": 1, "ready": 1,
            "available": 1}),
        ),
        event(
            8,
            EventType::Plane,
            json!({"hostname": HOST, "plane": "dns", "state": "ready",
            "reason": "ResolvesToEdge", "message": "A 127.0.0.1"}),
        ),
    ]
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    seen: Vec<Seen>,
    took: Duration,
}

fn deploy(status: Vec<Route>, events: Events, extra: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("home");
    let dir = app_dir(home.path());
    let mut routes = vec![
        whoami(),
        uploaded(),
        route("PUT", "/v1/orgs/acme/apps/api", 202, &accepted(4)),
    ];
    routes.extend(status);
    let server = FakeServer::start_with_events(routes, Some(events));
    let start = Instant::now();
    let out = onectl(home.path())
        .current_dir(dir.path())
        .env("SATUSKY_TOKEN", TOKEN)
        .env("SATUSKY_API_URL", &server.url)
        .arg("deploy")
        .args(extra)
        .output()
        .expect("run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seen: server.requests(),
        took: start.elapsed(),
    }
}

fn ws_paths(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.method == "WS")
        .map(|s| s.path.clone())
        .collect()
}

#[test]
fn live_events_are_shown_and_the_status_decides() {
    let run = deploy(status_then(&ready()), Events::new(&deploy_events()), &[]);
    let err = &run.stderr;
    assert_eq!(run.code, 0, "{err}");
    assert!(err.contains("build │ Compiling hello v0.1.0"), "{err}");
    assert!(err.contains("build │ Finished release"), "{err}");
    assert!(
        !err.contains("old build line"),
        "an older release's log: {err}"
    );
    assert!(err.contains("build: ready Built  sha256:abc"), "{err}");
    assert!(err.contains("workload: 1/1 ready"), "{err}");
    assert!(
        err.contains(&format!("{HOST}  dns ready ResolvesToEdge  A 127.0.0.1")),
        "{err}"
    );
    assert!(err.contains("release v4 pending"), "{err}");
    // The stream replays from the start, with the token.
    let ws: Vec<&Seen> = run.seen.iter().filter(|s| s.method == "WS").collect();
    assert_eq!(ws.len(), 1, "{:?}", ws_paths(&run.seen));
    assert_eq!(ws[0].path, "/v1/orgs/acme/apps/api/events?after=0");
    assert_eq!(ws[0].authorization.as_deref(), Some("Bearer tok-123"));
    // The summary: app, release, phase, URL.
    assert!(
        run.stdout
            .contains("api v4 is ready (org acme, phase rolling_out)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("https://{HOST}")),
        "{}",
        run.stdout
    );
}

#[test]
fn a_stream_that_breaks_is_resumed_from_the_last_event() {
    let mut events = Events::new(&deploy_events());
    events.break_first_after = Some(4); // seq 1..=4, then the connection drops
    let run = deploy(status_then(&ready()), events, &[]);
    let err = &run.stderr;
    assert_eq!(run.code, 0, "{err}");
    assert_eq!(
        ws_paths(&run.seen),
        vec![
            "/v1/orgs/acme/apps/api/events?after=0".to_string(),
            "/v1/orgs/acme/apps/api/events?after=4".to_string(),
        ]
    );
    assert!(err.contains("event stream lost"), "{err}");
    // Before and after the break, each once.
    assert_eq!(
        err.matches("build │ Compiling hello v0.1.0").count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("build │ Finished release").count(), 1, "{err}");
    assert!(err.contains(&format!("{HOST}  dns ready")), "{err}");
}

#[test]
fn a_stream_gone_for_good_does_not_change_the_verdict() {
    let mut crash: Value = serde_json::from_str(&report(
        4,
        PlaneState::Ready,
        PlaneState::Failed,
        PlaneState::Unknown,
    ))
    .expect("json");
    crash["workload"]["reason"] = json!("CrashLoopBackOff");
    crash["workload"]["message"] =
        json!("exited with status 1 (3 restarts)\nlistening…\npanic: PORT is not set");
    let mut events = Events::new(&deploy_events());
    events.break_first_after = Some(3);
    events.refuse_reconnects = true;
    let run = deploy(status_then(&crash.to_string()), events, &[]);
    let err = &run.stderr;
    assert_eq!(run.code, 11, "{err}");
    assert!(
        err.contains("workload failed (CrashLoopBackOff): exited with status 1 (3 restarts)\n"),
        "{err}"
    );
    assert!(
        err.contains("  │ panic: PORT is not set"),
        "the last log lines: {err}"
    );
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: release v4 of api failed at its workload (the cause is above)"),
        "{err}"
    );
    // State, reason and message once on stderr: the plain progress leaves them to the
    // verdict's lines.
    assert_eq!(err.matches("CrashLoopBackOff").count(), 1, "{err}");
    assert_eq!(err.matches("exited with status 1").count(), 1, "{err}");
    assert!(!err.contains("failed: failed"), "{err}");
    assert!(
        run.stdout.lines().all(|l| !l.contains("https://")),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failed_build_prints_the_log_tail() {
    let mut events = deploy_events();
    events.truncate(5);
    events.push(event(
        6,
        EventType::BuildLog,
        json!({"release": 4,
        "line": "error[E0425]: cannot find value `x` in this scope"}),
    ));
    let failed = report(
        4,
        PlaneState::Failed,
        PlaneState::Pending,
        PlaneState::Unknown,
    );
    let run = deploy(status_then(&failed), Events::new(&events), &["-o", "json"]);
    let err = &run.stderr;
    assert_eq!(run.code, 10, "{err}");
    assert!(err.contains("build log (last 3 lines):"), "{err}");
    assert!(err.contains("  │ error[E0425]"), "{err}");
    let doc: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["exit_code"], 10);
}

#[test]
fn a_custom_domain_pointing_elsewhere_exits_12_without_waiting_for_the_timeout() {
    let degraded = |checked_at: &str| {
        let mut v: Value = serde_json::from_str(&ready()).expect("json");
        let mut alias = v["endpoints"][0].clone();
        alias["hostname"] = json!("api.example.com");
        alias["kind"] = json!("alias");
        alias["dns"] = json!({"state": "failed", "reason": "WrongTarget",
            "message": "A 203.0.113.9, expected 127.0.0.1", "checked_at": checked_at,
            "remediation": "create A api.example.com 127.0.0.1"});
        v["endpoints"].as_array_mut().expect("array").push(alias);
        v.to_string()
    };
    let mut first = route("GET", STATUS, 200, &degraded("2026-01-01T12:00:01.000Z"));
    first.times = Some(1);
    let reprobed = route("GET", STATUS, 200, &degraded("2026-01-01T12:00:02.000Z"));
    let run = deploy(
        vec![first.clone(), reprobed.clone()],
        Events::default(),
        &[],
    );
    let err = &run.stderr;
    assert_eq!(run.code, 12, "{err}");
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
    assert!(
        err.contains("api.example.com  dns failed (WrongTarget): A 203.0.113.9"),
        "{err}"
    );
    assert!(
        err.contains("    fix: create A api.example.com 127.0.0.1"),
        "{err}"
    );
    assert!(run.stdout.contains("api v4 is degraded"), "{}", run.stdout);
    // The workload alone is ready.
    let run = deploy(
        vec![first, reprobed],
        Events::default(),
        &["--wait-for", "workload"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn status_watch_prints_the_report_then_each_event() {
    for json_mode in [false, true] {
        let home = tempfile::tempdir().expect("home");
        let mut events = Events::new(&deploy_events());
        // All sent, then the stream goes and the app is gone: the watch ends (exit 5).
        events.break_first_after = Some(events.frames.len());
        events.refuse_reconnects = true;
        let server = FakeServer::start_with_events(
            vec![whoami(), route("GET", STATUS, 200, &ready())],
            Some(events),
        );
        let mut cmd = onectl(home.path());
        cmd.env("SATUSKY_TOKEN", TOKEN)
            .env("SATUSKY_API_URL", &server.url)
            .args(["app", "status", "api", "--watch"]);
        if json_mode {
            cmd.args(["-o", "json"]);
        }
        let out = cmd.output().expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{stderr}");
        assert!(stderr.contains("not found"), "{stderr}");
        if json_mode {
            let lines: Vec<Value> = stdout
                .lines()
                .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
                .collect();
            assert_eq!(lines[0]["app"], "api", "the report first");
            let seqs: Vec<u64> = lines[1..]
                .iter()
                .filter_map(|l| l["seq"].as_u64())
                .collect();
            assert_eq!(
                seqs,
                vec![2, 3, 4, 5, 6, 7, 8],
                "the older release's log is left out"
            );
        } else {
            assert!(stdout.contains("app api (org acme)"), "{stdout}");
            for needle in [
                "12:00:03 phase building",
                "12:00:04 build │ Compiling hello v0.1.0",
                "12:00:07 rollout 1/1 ready",
                &format!("12:00:08 plane {HOST} dns ready ResolvesToEdge  A 127.0.0.1"),
            ] {
                assert!(
                    stdout.contains(needle),
                    "{needle:?} missing from:\n{stdout}"
                );
            }
            assert!(!stdout.contains("old build line"), "{stdout}");
        }
    }
}

#[test]
fn status_watch_marks_the_replayed_history_and_where_live_events_begin() {
    for json_mode in [false, true] {
        let home = tempfile::tempdir().expect("home");
        let mut events = Events::new(&deploy_events());
        // Events up to 5 were written before the watch; 6, 7 and 8 happen while it runs.
        events.last_seq = Some(5);
        events.break_first_after = Some(events.frames.len());
        events.refuse_reconnects = true;
        let server = FakeServer::start_with_events(
            vec![whoami(), route("GET", STATUS, 200, &ready())],
            Some(events),
        );
        let mut cmd = onectl(home.path());
        cmd.env("SATUSKY_TOKEN", TOKEN)
            .env("SATUSKY_API_URL", &server.url)
            .args(["app", "status", "api", "--watch"]);
        if json_mode {
            cmd.args(["-o", "json"]);
        }
        let out = cmd.output().expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{stderr}");
        let earlier = "— earlier events (before this watch) —";
        let now = "— now: live events —";
        if json_mode {
            // Stdout stays one JSON document per line; the markers go to stderr.
            for line in stdout.lines() {
                serde_json::from_str::<Value>(line).expect("one JSON document per line");
            }
            let e = stderr.find(earlier).unwrap_or_else(|| panic!("{stderr}"));
            let n = stderr.find(now).unwrap_or_else(|| panic!("{stderr}"));
            assert!(e < n, "{stderr}");
            continue;
        }
        let lines: Vec<&str> = stdout.lines().collect();
        let at = |needle: &str| {
            lines
                .iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle:?} missing from:\n{stdout}"))
        };
        let (e, n) = (at(earlier), at(now));
        assert_eq!(lines[e + 1], "12:00:02 release v4 pending", "{stdout}");
        assert_eq!(
            lines[n - 1],
            "12:00:05 build │ Finished release",
            "{stdout}"
        );
        assert!(
            lines[n + 1].starts_with("12:00:06 plane build ready"),
            "{stdout}"
        );
        assert!(e < at("12:00:03 phase building") && at("12:00:07 rollout") > n);
        assert_eq!(stdout.matches(earlier).count(), 1, "{stdout}");
        assert_eq!(stdout.matches(now).count(), 1, "{stdout}");
    }
}

#[test]
fn an_event_brings_the_next_status_read_forward() {
    // Two pending reads, then ready. Polling alone would read ready at the 2 s tick; the
    // events (one every 300 ms) each bring a read forward, so the verdict comes within the
    // first second — and a burst still costs few reads.
    let mut events = Events::new(&deploy_events());
    events.pace = Duration::from_millis(300);
    let run = deploy(status_then(&ready()), events, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reads = run
        .seen
        .iter()
        .filter(|s| s.method == "GET" && s.path == STATUS)
        .count();
    assert_eq!(reads, 3, "pending, pending, ready: {:?}", run.seen.len());
    assert!(
        run.took < Duration::from_millis(1600),
        "the verdict waited for the poll ticks ({:?}): {}",
        run.took,
        run.stderr
    );
}

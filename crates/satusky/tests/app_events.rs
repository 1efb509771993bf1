//! `1ctl app events` on `satusky dev` (issue 15, "app events"): the last N events as readable
//! lines after an "earlier events" marker, exit 0; with `--follow`, a "now: live events" marker
//! and then what happens next (here: an env change's release) as it happens; `-o json` gives
//! one event per line; an unknown app exits 5.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::{Dev, bins, stdout};

#[test]
fn app_events_shows_the_last_n_then_follows_live_ones() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir("web", &[], "");
    let dir = app.path();
    dev.onectl_exits(0, dir, &["deploy"]);

    let out = stdout(&dev.onectl_exits(0, dir, &["app", "events", "--last", "3"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "the marker and 3 events:\n{out}");
    assert_eq!(lines[0], "— earlier events (before this watch) —");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.as_bytes()[2] == b':' && l.len() > 9),
        "each line starts with its time:\n{out}"
    );

    let json = stdout(&dev.onectl_exits(0, dir, &["app", "events", "--last", "5", "-o", "json"]));
    let seqs: Vec<u64> = json
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs.len(), 5, "{json}");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {seqs:?}"
    );

    // Following: history, the live marker, then the next release's events as they happen.
    let mut child = dev.onectl_spawn(dir, &["app", "events", "--last", "1", "--follow"]);
    let mut reader = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|l: &String| l.contains("— now: live events —"))
    {
        assert!(Instant::now() < deadline, "no live marker: {seen:?}");
        seen.push(reader.next().unwrap().unwrap());
    }
    dev.onectl_exits(0, dir, &["env", "set", "COLOR=blue"]);
    while !seen.iter().any(|l| l.contains("release v2")) {
        assert!(
            Instant::now() < deadline,
            "the new release never showed: {seen:?}"
        );
        seen.push(reader.next().unwrap().unwrap());
    }
    let _ = child.kill();
    let _ = child.wait();

    dev.onectl_exits(5, dir, &["app", "events", "nope"]);
}

//! `1ctl app scale` and `1ctl app restart` on `satusky dev` (issue 15, acceptance 3): a scale
//! runs N replicas of the active release — exit 0 once they are ready, no new release — and
//! the count survives a control-plane restart, an env change (a config release) and a deploy
//! whose satusky.toml does not set `replicas`, while one that does replaces it and says so. A
//! restart replaces every replica process while a client requesting the app every 5 ms gets
//! only 200s, and makes no release either.
//!
//! Replica processes are found by their environment (`SATUSKY_APP`, `SATUSKY_ORG`), the way
//! the local runtime starts them.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Dev, Hammer, bins, json, stderr, stdout};

/// The PIDs of `org/app`'s replica processes (their environment names the app).
fn replica_pids(org: &str, app: &str) -> BTreeSet<u32> {
    let (want_app, want_org) = (format!("SATUSKY_APP={app}"), format!("SATUSKY_ORG={org}"));
    let mut pids = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
        let has = |v: &str| vars.contains(&v.as_bytes());
        if has(&want_app) && has(&want_org) {
            pids.insert(pid);
        }
    }
    pids
}

/// Waits until `org/app` has exactly `n` replica processes (old ones drain for a moment
/// after a switch); returns them.
fn settled_pids(org: &str, app: &str, n: usize) -> BTreeSet<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pids = replica_pids(org, app);
        if pids.len() == n {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "{app} runs {} processes, not {n}: {pids:?}",
            pids.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn host_of(dev: &Dev, dir: &Path) -> String {
    let app = json(&dev.onectl_exits(0, dir, &["app", "get", "-o", "json"]));
    app["hostnames"][0].as_str().unwrap().to_string()
}

fn releases(dev: &Dev, dir: &Path) -> usize {
    let list = json(&dev.onectl_exits(0, dir, &["app", "releases", "-o", "json"]));
    list.as_array().unwrap().len()
}

/// The workload's replica counts as the readiness report gives them.
fn replicas(dev: &Dev, dir: &Path) -> (u64, u64) {
    let status = json(&dev.onectl_exits(0, dir, &["app", "status", "-o", "json"]));
    let r = &status["workload"]["replicas"];
    (r["desired"].as_u64().unwrap(), r["ready"].as_u64().unwrap())
}

#[test]
fn scale_and_restart_operate_the_running_release_without_a_release() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir("opsweb", &[], "");
    let dir = app.path();
    dev.onectl_exits(0, dir, &["deploy"]);
    assert_eq!(settled_pids("dev", "opsweb", 2).len(), 2);

    // Scale: 3 replicas ready, exit 0, no new release.
    let out = dev.onectl_exits(0, dir, &["app", "scale", "3"]);
    assert!(
        stdout(&out).contains("scaling opsweb from 2 to 3 replica(s) (v1; no new release)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(replicas(&dev, dir), (3, 3));
    assert_eq!(releases(&dev, dir), 1, "a scale is not a release");
    settled_pids("dev", "opsweb", 3);
    let again = dev.onectl_exits(0, dir, &["app", "scale", "3"]);
    assert!(
        stdout(&again).contains("opsweb already runs 3 replica(s) of v1: nothing to change"),
        "{}",
        stdout(&again)
    );
    let events = stdout(&dev.onectl_exits(0, dir, &["app", "events", "--last", "50"]));
    assert!(
        events.contains("scale: scaled from 2 to 3 replicas"),
        "{events}"
    );

    // Restart: every replica process replaced, every request answered 200, no release.
    let host = host_of(&dev, dir);
    let before = settled_pids("dev", "opsweb", 3);
    let hammer = Hammer::start(&dev, &host);
    std::thread::sleep(Duration::from_millis(300));
    let out = dev.onectl_exits(0, dir, &["app", "restart"]);
    std::thread::sleep(Duration::from_millis(300));
    let (sent, failures) = hammer.finish();
    assert!(
        stdout(&out).contains("restarting opsweb: v1's 3 replica(s) are replaced"),
        "{}",
        stdout(&out)
    );
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed during the restart: {failures:?}",
        failures.len()
    );
    assert!(sent > 20, "the restart was exercised ({sent} requests)");
    let after = settled_pids("dev", "opsweb", 3);
    assert!(
        before.is_disjoint(&after),
        "every replica is a new process: before {before:?}, after {after:?}"
    );
    assert_eq!(releases(&dev, dir), 1, "a restart is not a release");
    assert_eq!(replicas(&dev, dir), (3, 3));

    // The scaled count survives a control-plane restart…
    dev.kill9();
    drop(dev);
    let dev = Dev::start(&bins, state.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    while replicas(&dev, dir) != (3, 3) {
        assert!(Instant::now() < deadline, "not 3 ready after the restart");
        std::thread::sleep(Duration::from_millis(200));
    }
    settled_pids("dev", "opsweb", 3);

    // …a config release…
    dev.onectl_exits(0, dir, &["env", "set", "ROUND=2"]);
    assert_eq!(replicas(&dev, dir), (3, 3), "an env change keeps the count");

    // …and a deploy whose file does not set replicas; one that does replaces it.
    let toml = std::fs::read_to_string(dir.join("satusky.toml")).unwrap();
    std::fs::write(dir.join("satusky.toml"), toml.replace("replicas = 2\n", "")).unwrap();
    let kept = dev.onectl_exits(0, dir, &["deploy", "--wait-for", "workload"]);
    assert!(
        stderr(&kept).contains("keeps 3 replica(s), the count set with `1ctl app scale`"),
        "{}",
        stderr(&kept)
    );
    assert_eq!(replicas(&dev, dir), (3, 3));
    let set = dev.onectl_exits(
        0,
        dir,
        &["deploy", "--wait-for", "workload", "--replicas", "2"],
    );
    assert!(
        stderr(&set)
            .contains("replicas: 2 from satusky.toml replaces the 3 set with `1ctl app scale`"),
        "{}",
        stderr(&set)
    );
    assert_eq!(replicas(&dev, dir), (2, 2));
    settled_pids("dev", "opsweb", 2);
}

#[test]
fn scale_says_what_is_wrong_and_changes_nothing() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir("opsbad", &[], "");
    let dir = app.path();
    // Nothing runs yet: 5, with the app named.
    let missing = dev.onectl(dir, &["app", "restart"]);
    assert_eq!(missing.status.code(), Some(5), "{}", stderr(&missing));
    dev.onectl_exits(0, dir, &["deploy", "--wait-for", "workload"]);
    let over = dev.onectl(dir, &["app", "scale", "1001"]);
    assert_eq!(over.status.code(), Some(2), "{}", stderr(&over));
    assert!(
        stderr(&over).contains("replicas: 1001 replicas is more than the limit of 1000"),
        "{}",
        stderr(&over)
    );
    assert_eq!(replicas(&dev, dir), (2, 2), "nothing changed");
    let json_out = dev.onectl_exits(0, dir, &["app", "scale", "1", "-o", "json"]);
    let report = json(&json_out);
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["workload"]["replicas"]["ready"], 1);
    assert_eq!(report["active_release"], 1);
}

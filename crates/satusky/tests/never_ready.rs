//! Five apps that never become ready (issue 12, acceptance 2) on `satusky dev`, deployed at
//! once: one never listens, one listens on another port, one on `[::1]` only, one answers 500
//! on its health path, one answers slower than `[checks] timeout`. Each shows its own cause
//! live (`in_progress` `ReadinessFailing`) within 5 s of its rollout starting, and `1ctl
//! deploy` then exits 11 with a final failure that repeats the cause and says what to do.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Dev, bins, json, stderr};
use serde_json::Value;

/// The progress deadline of every app: short, the test waits it out.
const DEADLINE: &str = "8s";
/// How soon after its rollout starts an app's cause must show.
const CAUSE_WITHIN: Duration = Duration::from_secs(5);

/// An app run by the test server with `flags`: one replica (two could not share a fixed
/// wrong port), a 1 s check timeout and a short progress deadline.
fn app_dir(name: &str, flags: &[String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = vec![format!("{:?}", bins().test_app().display().to_string())];
    cmd.extend(flags.iter().map(|f| format!("{f:?}")));
    let toml = format!(
        "[app]\nname = \"{name}\"\nreplicas = 1\ncommand = [{}]\n\n[checks]\npath = \
         \"/healthz\"\ntimeout = \"1s\"\n\n[deploy]\nprogress_deadline = \"{DEADLINE}\"\n",
        cmd.join(", ")
    );
    std::fs::write(dir.path().join("satusky.toml"), toml).unwrap();
    dir
}

/// A loopback port nothing listens on, TCP or UDP, below the kernel's ephemeral range (a port
/// bound to `:0` and released is one an outgoing connection may take before the server
/// binds it: CI saw "Address already in use" for the DNS server), never handed out twice.
use satusky_testkit::pebble::free_port;

/// `1ctl app status NAME -o json`, or `None` while the app does not exist yet.
fn status(dev: &Dev, dir: &Path, name: &str) -> Option<Value> {
    let out = dev.onectl(dir, &["app", "status", name, "-o", "json"]);
    out.status.success().then(|| json(&out))
}

struct Case {
    name: &'static str,
    flags: Vec<String>,
    /// What the cause must say, and no other case's cause says.
    needles: Vec<String>,
}

impl Case {
    fn says(&self, message: &str) -> bool {
        self.needles.iter().all(|n| message.contains(n.as_str()))
    }
}

fn flags(f: &[&str]) -> Vec<String> {
    f.iter().map(|s| s.to_string()).collect()
}

#[test]
fn five_never_ready_apps_each_say_why_live_and_in_the_final_failure() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let wrong = free_port();
    let cases = [
        Case {
            name: "never-listens",
            flags: flags(&["--no-listen"]),
            needles: vec![
                "nothing listens on 127.0.0.1:".into(),
                "($PORT) \u{2014} the app must listen on $PORT".into(),
            ],
        },
        Case {
            name: "wrong-port",
            flags: flags(&["--listen-port", &wrong.to_string()]),
            needles: vec![format!(
                "the app listens on 127.0.0.1:{wrong}, not on $PORT="
            )],
        },
        Case {
            name: "ipv6-only",
            flags: flags(&["--listen-v6-only"]),
            needles: vec![
                "the app listens on [::1]:".into(),
                "only; the readiness check and the edge connect to 127.0.0.1: listen on \
                 127.0.0.1 or 0.0.0.0"
                    .into(),
            ],
        },
        Case {
            name: "health-500",
            flags: flags(&["--health-status", "500"]),
            needles: vec!["GET /healthz answered 500, not 2xx: \"db connection refused\"".into()],
        },
        Case {
            name: "slow-health",
            flags: flags(&["--health-delay-ms", "3000"]),
            needles: vec!["GET /healthz got no answer within 1s ([checks] timeout)".into()],
        },
    ];
    let dirs: Vec<tempfile::TempDir> = cases.iter().map(|c| app_dir(c.name, &c.flags)).collect();
    let start = Instant::now();
    let (live, finals) = std::thread::scope(|s| {
        let deploys: Vec<_> = dirs
            .iter()
            .map(|d| {
                let dev = &dev;
                s.spawn(move || {
                    let out = dev.onectl(d.path(), &["deploy", "-o", "json", "--timeout", "2m"]);
                    (out, start.elapsed())
                })
            })
            .collect();
        // Live: when each rollout started, and when its cause showed.
        let mut rollout: Vec<Option<Instant>> = vec![None; cases.len()];
        let mut cause: Vec<Option<(Instant, String)>> = vec![None; cases.len()];
        let mut last: Vec<Value> = vec![Value::Null; cases.len()];
        while cause.iter().any(Option::is_none) {
            for (i, (case, dir)) in cases.iter().zip(&dirs).enumerate() {
                if cause[i].is_some() {
                    continue;
                }
                let Some(st) = status(&dev, dir.path(), case.name) else {
                    continue;
                };
                let w = &st["workload"];
                let now = Instant::now();
                if st["target_release"] == 1 && w["state"] == "in_progress" {
                    rollout[i].get_or_insert(now);
                }
                let message = w["message"].as_str().unwrap_or_default();
                if w["reason"] == "ReadinessFailing" && case.says(message) {
                    cause[i] = Some((now, message.to_string()));
                }
                last[i] = st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "not every cause showed: {:#?}\n{}",
                cases
                    .iter()
                    .zip(&last)
                    .map(|(c, st)| (c.name, &st["workload"]))
                    .collect::<Vec<_>>(),
                dev.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // (How long after the rollout started, and after the deploy did.)
        let live: Vec<(Duration, Duration, String)> = rollout
            .into_iter()
            .zip(cause)
            .map(|(r, c)| {
                let (at, message) = c.unwrap();
                let after = at.duration_since(r.unwrap_or(at));
                (after, at.duration_since(start), message)
            })
            .collect();
        let finals: Vec<_> = deploys.into_iter().map(|d| d.join().unwrap()).collect();
        (live, finals)
    });

    let mut no_remediation = Vec::new();
    for ((case, (after, since_deploy, message)), (out, took)) in
        cases.iter().zip(&live).zip(&finals)
    {
        eprintln!(
            "{}: the cause showed {after:?} after the rollout was seen started \
             ({since_deploy:?} after the deploy started), the deploy exited after {took:?}\n  \
             live: {message}",
            case.name
        );
        assert!(
            *after <= CAUSE_WITHIN,
            "{}: the cause showed {after:?} after the rollout started: {message}",
            case.name
        );
        assert_eq!(
            out.status.code(),
            Some(11),
            "{}: {}\n{}",
            case.name,
            stderr(out),
            dev.log()
        );
        let report = json(out);
        let w = &report["workload"];
        assert_eq!(w["state"], "failed", "{}: {w}", case.name);
        assert_eq!(
            w["reason"], "ProgressDeadlineExceeded",
            "{}: {w}",
            case.name
        );
        let fin = w["message"].as_str().unwrap();
        eprintln!("  final: {fin}");
        assert!(
            case.says(fin),
            "{}: the final failure repeats the cause: {fin}",
            case.name
        );
        for other in cases.iter().filter(|o| o.name != case.name) {
            assert!(
                !other.says(fin),
                "{}: not {}'s cause: {fin}",
                case.name,
                other.name
            );
        }
        if w["remediation"].as_str().is_none_or(str::is_empty) {
            no_remediation.push(case.name);
        }
    }
    assert!(
        no_remediation.is_empty(),
        "failed workload planes without a remediation: {no_remediation:?}"
    );
    // The status as a user reads it says the fix too.
    let out = dev.onectl(dirs[0].path(), &["app", "status", cases[0].name]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("to fix:\n  workload: make the replicas pass their readiness check"),
        "{text}"
    );
}

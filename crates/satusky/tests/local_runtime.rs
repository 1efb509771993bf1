//! End to end with `satusky dev`: the real control plane, local runtime, edge, DNS server and
//! CA on loopback, driven by the real `1ctl` (issue "Local runtime").

mod common;

use std::time::{Duration, Instant};

use common::{Dev, bins, pids_matching, test_app};
use common::{json, stderr, stdout};

fn hello_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello")
}

#[test]
fn hello_example_deploys_and_every_plane_is_ready() {
    let state = tempfile::tempdir().unwrap();
    // The example builds with cargo, which may be installed in root's home where an app user
    // cannot read it (README: toolchains must be readable by the app user); run it as root.
    let dev = Dev::start_with(&bins(), state.path(), &["--local-user", "root"]);
    let out = dev.onectl(&hello_dir(), &["deploy", "-o", "json", "--timeout", "5m"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}\nlog:\n{}",
        stderr(&out),
        dev.log()
    );
    let report = json(&out);
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["phase"], "ready");
    assert_eq!(report["build"]["state"], "ready");
    assert_eq!(report["workload"]["state"], "ready");
    let host = "hello-dev.satusky.localhost";
    let ep = &report["endpoints"][0];
    assert_eq!(ep["hostname"], host);
    for plane in ["metadata", "route", "dns", "tls", "http"] {
        assert_eq!(ep[plane]["state"], "ready", "{plane}: {}", ep[plane]);
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = dev.get(host, "/").await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["x-satusky-release"], "dev/hello@v1");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("Hello from Satusky") && body.contains("dev/hello@v1"),
            "{body}"
        );
    });

    // The same planes from the shell, standalone: `satusky probe` against the dev edge.
    let probe = |release: &str| {
        std::process::Command::new(common::satusky_bin())
            .args(["probe", host, "--resolver"])
            .arg(dev.info["dns_addr"].as_str().unwrap())
            .arg("--edge")
            .arg(dev.https_addr().to_string())
            .arg("--ca")
            .arg(dev.ca_pem())
            .args([
                "--path",
                "/healthz",
                "--expect-release",
                release,
                "-o",
                "json",
            ])
            .output()
            .unwrap()
    };
    let out = probe("dev/hello@v1");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let planes = json(&out);
    assert_eq!(planes[0]["hostname"], host);
    for plane in ["dns", "tls", "http"] {
        assert_eq!(
            planes[0][plane]["state"], "ready",
            "{plane}: {}",
            planes[0][plane]
        );
    }
    let stale = probe("dev/hello@v9");
    assert_eq!(stale.status.code(), Some(12), "{}", stderr(&stale));
    assert_eq!(json(&stale)[0]["http"]["reason"], "ForeignRelease");
}

#[test]
fn rolling_redeploy_serves_every_request() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app(
        "roll",
        &["--ready-after-ms", "500"],
        "[env]\nCOLOR = \"green\"\n",
    );
    dev.onectl_exits(0, app.path(), &["deploy", "--wait-for", "endpoint"]);
    let host = "roll-dev.satusky.localhost";

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let client = dev.client_for(host);
    let url = dev.url(host, "/");
    let looper = rt.spawn(async move {
        let mut ok = 0u32;
        let mut bad = Vec::new();
        let mut releases = std::collections::BTreeSet::new();
        while !*stop_rx.borrow() {
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    ok += 1;
                    if let Some(v) = r.headers().get("x-satusky-release") {
                        releases.insert(v.to_str().unwrap().to_string());
                    }
                }
                Ok(r) => bad.push(format!("status {}", r.status())),
                Err(e) => bad.push(format!("error {e}")),
            }
        }
        (ok, bad, releases)
    });
    // A changed app: new env → v2.
    dev.onectl_exits(0, app.path(), &["deploy", "--env", "COLOR=blue"]);
    std::thread::sleep(Duration::from_millis(500));
    stop_tx.send(true).unwrap();
    let (ok, bad, releases) = rt.block_on(looper).unwrap();
    assert!(
        bad.is_empty(),
        "{} failed of {}: {:?}",
        bad.len(),
        ok + bad.len() as u32,
        &bad[..bad.len().min(5)]
    );
    assert!(ok > 20, "the loop ran ({ok} requests)");
    assert!(
        releases.contains("dev/roll@v1") && releases.contains("dev/roll@v2"),
        "{releases:?}"
    );
    rt.block_on(async {
        let r = dev.get(host, "/").await;
        assert_eq!(r.headers()["x-satusky-release"], "dev/roll@v2");
    });
}

#[test]
fn build_failure_exits_10_with_the_log_tail() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app(
        "broken",
        &[],
        "[build]\ncommand = \"echo compiling-now; echo boom-from-the-build >&2; exit 3\"\n",
    );
    let out = dev.onectl_exits(10, app.path(), &["deploy"]);
    assert!(
        stderr(&out).contains("boom-from-the-build"),
        "the build log's tail: {}",
        stderr(&out)
    );
    let rel = json(&dev.onectl(app.path(), &["app", "releases", "-o", "json"]));
    assert_eq!(rel[0]["status"], "failed");
}

#[test]
fn crash_at_start_exits_11_with_crashloopbackoff_and_last_lines() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app(
        "crashy",
        &["--print", "last-words-before-exit", "--exit-at-start"],
        "",
    );
    let out = dev.onectl_exits(11, app.path(), &["deploy", "-o", "json"]);
    let report = json(&out);
    assert_eq!(report["exit_code"], 11);
    assert_eq!(report["workload"]["state"], "failed");
    assert_eq!(report["workload"]["reason"], "CrashLoopBackOff");
    let msg = report["workload"]["message"].as_str().unwrap();
    assert!(
        msg.contains("last-words-before-exit"),
        "last log lines: {msg}"
    );
}

#[test]
fn custom_domain_pointing_elsewhere_exits_12_but_workload_wait_exits_0() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("server.toml"),
        "[[dns_records]]\nname = \"shop.example.test\"\na = [\"192.0.2.10\"]\n",
    )
    .unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app("shop", &[], "[[domains]]\nhost = \"shop.example.test\"\n");
    dev.onectl_exits(0, app.path(), &["deploy", "--wait-for", "workload"]);

    let out = dev.onectl_exits(12, app.path(), &["deploy", "-o", "json", "--timeout", "2m"]);
    let report = json(&out);
    let ep = report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["hostname"] == "shop.example.test")
        .expect("the custom domain is reported");
    assert_eq!(ep["dns"]["state"], "failed");
    assert_eq!(ep["dns"]["reason"], "WrongTarget");
    assert!(
        ep["dns"]["message"]
            .as_str()
            .unwrap()
            .contains("192.0.2.10"),
        "{}",
        ep["dns"]
    );
    let fix = ep["dns"]["remediation"].as_str().unwrap();
    assert!(
        fix.contains("shop.example.test") && fix.contains("127.0.0.1"),
        "the record to create: {fix}"
    );
    // The generated hostname is fine.
    let generated = report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "generated")
        .unwrap();
    assert_eq!(generated["dns"]["state"], "ready", "{}", generated["dns"]);
}

#[test]
fn readiness_never_passing_exits_11_at_the_deadline_and_13_at_the_timeout() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app(
        "sick",
        &["--fail-health"],
        "[deploy]\nprogress_deadline = \"4s\"\n",
    );
    let start = Instant::now();
    let out = dev.onectl_exits(11, app.path(), &["deploy", "-o", "json", "--timeout", "2m"]);
    assert_eq!(json(&out)["workload"]["reason"], "ProgressDeadlineExceeded");
    assert!(start.elapsed() < Duration::from_secs(60));

    let app = test_app(
        "slow",
        &["--fail-health"],
        "[deploy]\nprogress_deadline = \"10m\"\n",
    );
    dev.onectl_exits(13, app.path(), &["deploy", "--timeout", "4s"]);
}

#[test]
fn image_only_app_fails_with_image_requires_container_runtime() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("satusky.toml"), "[app]\nname = \"img\"\n").unwrap();
    let out = dev.onectl_exits(
        11,
        dir.path(),
        &["deploy", "--image", "nginx:1.27", "-o", "json"],
    );
    assert_eq!(
        json(&out)["workload"]["reason"],
        "ImageRequiresContainerRuntime"
    );
}

#[test]
fn sigkill_during_rollout_then_restart_completes_with_one_release_and_no_orphans() {
    let state = tempfile::tempdir().unwrap();
    let marker = format!("orphan-check-{}", std::process::id());
    let app = test_app(
        "durable",
        &["--ready-after-ms", "4000", "--print", &marker],
        "",
    );
    let mut dev = Dev::start(&bins(), state.path());
    let out = dev.onectl(app.path(), &["deploy", "--no-wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Wait for the replicas to start, then kill the control plane mid-rollout.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids_matching(&marker).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "replicas never started:\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = pids_matching(&marker);
    dev.kill9();
    drop(dev);

    let dev = Dev::start(&bins(), state.path());
    let out = dev.onectl(app.path(), &["app", "status", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0));
    // Wait for the resumed deploy to finish.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = json(&dev.onectl(app.path(), &["app", "status", "-o", "json"]));
        if st["active_release"] == 1 && st["workload"]["state"] == "ready" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deploy did not resume: {st}\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let rel = json(&dev.onectl(app.path(), &["app", "releases", "-o", "json"]));
    assert_eq!(
        rel.as_array().unwrap().len(),
        1,
        "exactly one release: {rel}"
    );
    assert_eq!(rel[0]["status"], "active");
    let now = pids_matching(&marker);
    for pid in &before {
        assert!(
            !now.contains(pid),
            "replica {pid} from before the crash survived: {now:?}"
        );
    }
    assert_eq!(now.len(), 2, "two supervised replicas now: {now:?}");
}

fn tarball(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    let raw = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    gz.finish().unwrap()
}

fn raw_entry(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, link: Option<&str>) {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(if kind == tar::EntryType::Regular {
        2
    } else {
        0
    });
    h.set_cksum();
    let data: &[u8] = if kind == tar::EntryType::Regular {
        b"hi"
    } else {
        b""
    };
    b.append(&h, data).unwrap();
}

#[test]
fn unsafe_build_contexts_are_refused_with_a_clear_message() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "dotdot",
            tarball(|b| raw_entry(b, "../x", tar::EntryType::Regular, None)),
            422,
            "../x",
        ),
        (
            "absolute",
            tarball(|b| raw_entry(b, "/abs/file", tar::EntryType::Regular, None)),
            422,
            "/abs/file",
        ),
        (
            "symlink",
            tarball(|b| raw_entry(b, "etc-link", tar::EntryType::Symlink, Some("/etc"))),
            422,
            "etc-link",
        ),
        ("too large", vec![0u8; 101 * 1024 * 1024], 413, "limit"),
    ];
    rt.block_on(async {
        let c = common::http();
        for (what, body, status, needle) in cases {
            let r = c
                .post(format!("{}/v1/orgs/dev/builds", dev.api()))
                .bearer_auth(dev.token())
                .header("content-type", "application/gzip")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), status, "{what}");
            let body: serde_json::Value = r.json().await.unwrap();
            let msg = body["error"]["message"].as_str().unwrap();
            assert!(msg.contains(needle), "{what}: {msg}");
        }
    });
    // Contexts live in one folder per org; no file (kept or temporary) may remain.
    let kept: Vec<_> = std::fs::read_dir(state.path().join("contexts"))
        .into_iter()
        .flatten()
        .flat_map(|org| std::fs::read_dir(org.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    assert!(kept.is_empty(), "nothing refused was kept: {kept:?}");
}

#[test]
fn status_watch_shows_the_lifecycle_live() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app(
        "watched",
        &[],
        "[build]\ncommand = \"echo building-the-watched-app\"\n",
    );
    // The app must exist to be watched: deploy once, then watch a second deploy.
    let out = dev.onectl(app.path(), &["deploy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut watch = dev.onectl_spawn(app.path(), &["app", "status", "--watch"]);
    std::thread::sleep(Duration::from_millis(500));
    let out = dev.onectl(app.path(), &["deploy", "--env", "X=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_secs(2));
    let _ = watch.kill();
    let seen = watch.wait_with_output().unwrap();
    let text = stdout(&seen) + &stderr(&seen);
    for needle in ["phase", "building-the-watched-app", "rollout", "dns"] {
        assert!(
            text.contains(needle),
            "watch output lacks {needle}:\n{text}"
        );
    }
}

#[test]
fn serve_runs_the_local_runtime_by_default() {
    let state = tempfile::tempdir().unwrap();
    let server = common::Server::start_with(
        &bins(),
        state.path(),
        &[
            "--runtime",
            "local",
            "--http-addr",
            "127.0.0.1:0",
            "--https-addr",
            "127.0.0.1:0",
            "--dns-addr",
            "127.0.0.1:0",
        ],
    );
    let token = common::create_token(state.path(), "acme");
    let app = test_app("served", &[], "");
    let home = tempfile::tempdir().unwrap();
    let out = common::onectl(
        app.path(),
        home.path(),
        &server.url(),
        &token,
        &["deploy", "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["phase"], "ready");
    assert_eq!(
        report["endpoints"][0]["hostname"],
        "served-acme.satusky.localhost"
    );
    assert_eq!(report["endpoints"][0]["http"]["state"], "ready");
}

#[test]
fn app_drift_reports_a_custom_domain_pointing_elsewhere_through_the_cli() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("server.toml"),
        format!(
            "[[dns_records]]\nname = \"drift.example.test\"\na = [\"192.0.2.55\"]\n\
             # its owner proved it (so it is routed, and a wrong record is drift)\n\
             [[dns_records]]\nname = \"{}\"\ntxt = \"{}\"\n",
            satusky_core::ownership::txt_name("drift.example.test"),
            satusky_core::ownership::txt_value("dev", "drift.example.test")
        ),
    )
    .unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app(
        "drifty",
        &[],
        "[[domains]]\nhost = \"drift.example.test\"\n",
    );
    let out = dev.onectl(app.path(), &["deploy", "--wait-for", "workload"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The checker leaves an app alone while its deploy is still settling the endpoints (the
    // custom domain's DNS keeps them from settling for a while), and says so.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut told_busy = false;
    let report = loop {
        let out = dev.onectl(app.path(), &["app", "drift", "--check", "-o", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report = json(&out);
        if report["checked_at"].is_string() {
            assert!(report["not_checked"].is_null(), "{report}");
            break report;
        }
        let why = report["not_checked"].as_str().unwrap_or_default();
        assert!(
            why.starts_with("a deploy is in progress (release v1)"),
            "a skipped check says why: {report}"
        );
        if !told_busy {
            let table = dev.onectl(app.path(), &["app", "drift", "--check"]);
            let text = common::stdout(&table);
            assert!(
                text.contains("drift not checked for drifty: a deploy is in progress"),
                "{text}"
            );
            assert!(!text.contains("no drift found"), "{text}");
        }
        told_busy = true;
        assert!(
            Instant::now() < deadline,
            "never checked: {report}\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        told_busy,
        "the first check, right after the workload was ready, met the deploy still settling"
    );
    assert_eq!(report["app"], "drifty");
    assert!(report["checked_at"].is_string(), "{report}");
    let findings = report["findings"].as_array().unwrap();
    let dns = findings
        .iter()
        .find(|f| f["hostname"] == "drift.example.test" && f["plane"] == "dns")
        .unwrap_or_else(|| panic!("the custom domain's DNS drift is reported: {report:#}"));
    assert_eq!(dns["owner"], "user");
    assert!(
        dns["observed"].as_str().unwrap().contains("192.0.2.55"),
        "{dns}"
    );
    assert!(
        dns["remediation"]
            .as_str()
            .unwrap()
            .contains("drift.example.test"),
        "{dns}"
    );
    assert!(dns["first_seen"].is_string() && dns["last_seen"].is_string());
    assert!(
        dns["healed_at"].is_null(),
        "user-owned drift is not healed by the platform"
    );
    assert!(
        !findings
            .iter()
            .any(|f| f["hostname"] == "drifty-dev.satusky.localhost" && f["healed_at"].is_null()),
        "the generated hostname does not drift: {report:#}"
    );
    let table = dev.onectl(app.path(), &["app", "drift"]);
    assert_eq!(table.status.code(), Some(0));
    assert!(common::stdout(&table).contains("drift.example.test"));
}

#[test]
fn a_ready_recheck_below_250ms_is_refused_naming_where_it_was_set() {
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(common::satusky_bin())
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .args(["--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(state.path())
            .env("SATUSKY_HOME", state.path().join("home"))
            .env_remove("SATUSKY_READY_RECHECK")
            .env_remove("SATUSKY_DATABASE_URL")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["dev", "--ready-recheck", "100ms"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("--ready-recheck"), "{err}");
    assert!(err.contains("at least 250ms"), "{err}");
    std::fs::write(state.path().join("server.toml"), "ready_recheck = \"0s\"\n").unwrap();
    let out = run(&["serve", "--runtime", "local"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("server.toml ready_recheck"), "{err}");
}

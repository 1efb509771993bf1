//! Local runtime isolation (issue 10, acceptance 7), end to end with `satusky dev`: when the
//! control plane runs as root, a build and a replica run as the app user and cannot read the
//! state dir's database, `dev.json`, key files or another org's context, while they can read
//! and write their own working dir. A probe script in the app tries each and reports what it
//! could open; the test reads its reports from the replica's working dir and the artifact.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Dev, bins};
use common::{create_token, http, stderr};

/// Tries what an app must not be able to do; one line per attempt: `WHO VERB PATH: detail`.
const PROBE: &str = r#"who=$1
echo "$who uid $(id -u) gid $(id -g) home $HOME"
echo "$who $(grep '^Groups:' /proc/self/status)"
for f in "$STATE/state.db" "$STATE/dev.json" "$STATE/ca/ca-key.pem" "$STATE/build-token.key" "$OTHER_CONTEXT"; do
  if err=$(cat "$f" 2>&1 >/dev/null); then echo "$who OPENED $f"; else echo "$who REFUSED $f: $err"; fi
done
for d in "$STATE" "$STATE/contexts" "$STATE/artifacts" "$STATE/run" "$STATE/builds"; do
  if err=$(ls "$d" 2>&1 >/dev/null); then echo "$who LISTED $d"; else echo "$who REFUSED $d: $err"; fi
done
if err=$(touch "$STATE/planted" 2>&1); then echo "$who WROTE $STATE/planted"; else echo "$who REFUSED $STATE/planted: $err"; fi
for fd in /proc/$$/fd/*; do echo "$who FD $(readlink "$fd")"; done
if grep -q mine marker.txt && echo ok > "own-$who.txt" && grep -q ok "own-$who.txt"; then echo "$who OWN ok"; else echo "$who OWN failed"; fi
echo "$who END"
"#;

fn euid() -> u32 {
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

/// Skip (loudly) unless the test runs as root: only root can switch to the app user.
fn root_or_skip(test: &str) -> bool {
    let root = euid() == 0;
    if !root {
        eprintln!(
            "SKIPPED {test}: not running as root, so satusky runs apps as this user (single-tenant) and there is no isolation to check"
        );
    }
    root
}

fn id_of(user: &str, flag: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().expect("id");
    assert!(out.status.success(), "id {flag} {user}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn gzip_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// The first file named `name` in a folder of `parent` whose name starts with `prefix`.
fn find_in(parent: &Path, prefix: &str, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path().join(name))
        .find(|p| p.is_file())
}

/// Every attempt of `who` in `report` was refused with EACCES, and it ran as the app user.
fn assert_confined(report: &str, who: &str, state: &Path, targets: &[PathBuf], app: (u32, u32)) {
    let lines: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with(&format!("{who} ")))
        .collect();
    assert!(
        lines.iter().any(|l| *l == format!("{who} END")),
        "{who}: the probe did not finish:\n{report}"
    );
    let first = format!("{who} uid {} gid {} home ", app.0, app.1);
    let home = lines
        .iter()
        .find_map(|l| l.strip_prefix(&first))
        .unwrap_or_else(|| {
            panic!(
                "{who} did not run as uid {} gid {}:\n{report}",
                app.0, app.1
            )
        });
    assert!(
        home.starts_with(&state.display().to_string()) && !home.starts_with("/root"),
        "{who}: HOME is its working dir, not root's: {home}"
    );
    let groups = lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{who} Groups:")))
        .unwrap_or_else(|| panic!("{who}: no Groups line:\n{report}"));
    assert_eq!(
        groups.trim(),
        "",
        "{who} kept supplementary groups:\n{report}"
    );
    for t in targets {
        let line = lines
            .iter()
            .find(|l| {
                l.split_once(": ").map(|(head, _)| head)
                    == Some(&format!("{who} REFUSED {}", t.display()))
            })
            .unwrap_or_else(|| panic!("{who}: {} was not refused:\n{report}", t.display()));
        assert!(
            line.contains("Permission denied"),
            "{who}: {} refused for another reason than permissions: {line}",
            t.display()
        );
    }
    for verb in ["OPENED", "LISTED", "WROTE"] {
        assert!(
            !report.contains(&format!("{who} {verb} ")),
            "{who} got through:\n{report}"
        );
    }
    for fd in lines
        .iter()
        .filter_map(|l| l.strip_prefix(&format!("{who} FD ")))
    {
        for secret in [
            "state.db",
            "dev.json",
            "ca-key.pem",
            "build-token.key",
            "/contexts/",
        ] {
            assert!(!fd.contains(secret), "{who} inherited a descriptor of {fd}");
        }
    }
    assert!(
        lines.contains(&format!("{who} OWN ok").as_str()),
        "{who} could not read and write its own working dir:\n{report}"
    );
}

#[test]
fn a_build_and_a_replica_cannot_read_the_state_dir_keys_or_another_orgs_context() {
    if !root_or_skip("a_build_and_a_replica_cannot_read_the_state_dir_keys_or_another_orgs_context")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    // As an older version or an operator may have left things: world-readable.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let other_token = create_token(&state, "other");
    let key = state.join("build-token.key");
    std::fs::write(&key, "a signing key").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        state.join("state.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let dev = Dev::start_with(&bins(), &state, &["--local-user", "satusky-app"]);
    assert!(
        dev.log().contains("apps     run as satusky-app (uid "),
        "the summary says who apps run as:\n{}",
        dev.log()
    );
    let app = (id_of("satusky-app", "-u"), id_of("satusky-app", "-g"));
    assert_ne!(app.0, 0);

    // Org `other` uploads a context; its file is in the state dir.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let uploaded: serde_json::Value = rt.block_on(async {
        let r = http()
            .post(format!("{}/v1/orgs/other/builds", dev.api()))
            .bearer_auth(&other_token)
            .header("content-type", "application/gzip")
            .body(gzip_tar(&[("secret.txt", "other org's source")]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        r.json().await.unwrap()
    });
    let digest = uploaded["context"].as_str().unwrap();
    let other_context = state
        .join("contexts/other")
        .join(format!("{}.tar.gz", digest.replace("sha256:", "sha256-")));

    // The app: its build and its replica both run the probe.
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("probe.sh"), PROBE).unwrap();
    std::fs::write(src.path().join("marker.txt"), "mine\n").unwrap();
    let run = format!(
        "sh probe.sh replica > report.txt 2>&1; exec '{}'",
        bins().test_app().display()
    );
    std::fs::write(
        src.path().join("satusky.toml"),
        format!(
            "[app]\nname = \"snoop\"\nreplicas = 1\ncommand = [\"sh\", \"-c\", {run:?}]\n\n\
             [build]\ncommand = \"sh probe.sh build > build-report.txt 2>&1\"\n\n\
             [build.env]\nSTATE = {state:?}\nOTHER_CONTEXT = {other:?}\n\n\
             [checks]\npath = \"/healthz\"\ntimeout = \"1s\"\n\n\
             [env]\nSTATE = {state:?}\nOTHER_CONTEXT = {other:?}\n",
            state = state.display().to_string(),
            other = other_context.display().to_string()
        ),
    )
    .unwrap();
    dev.onectl_exits(0, src.path(), &["deploy", "--timeout", "2m"]);

    // Everything probed exists (so "refused" means refused, not missing) and is private.
    let targets = [
        state.join("state.db"),
        state.join("dev.json"),
        state.join("ca/ca-key.pem"),
        key.clone(),
        other_context.clone(),
        state.clone(),
        state.join("contexts"),
        state.join("artifacts"),
        state.join("run"),
        state.join("builds"),
        state.join("planted"),
    ];
    for t in &targets[..5] {
        let mode = std::fs::metadata(t).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", t.display());
    }
    assert!(!state.join("planted").exists());

    let deadline = Instant::now() + Duration::from_secs(30);
    let (report, build_report) = loop {
        let report = find_in(&state.join("run"), "dev-snoop-v1-", "report.txt")
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let build = find_in(&state.join("run"), "dev-snoop-v1-", "build-report.txt")
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        if report.contains("replica END") || Instant::now() > deadline {
            break (report, build);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("{build_report}{report}");
    assert_confined(&build_report, "build", &state, &targets, app);
    assert_confined(&report, "replica", &state, &targets, app);

    // The replica's working dir is the app user's alone; the stored artifact is root's.
    let workdir = find_in(&state.join("run"), "dev-snoop-v1-", "report.txt")
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let meta = std::fs::metadata(&workdir).unwrap();
    assert_eq!(
        (meta.uid(), meta.permissions().mode() & 0o777),
        (app.0, 0o700)
    );
    let stored = find_in(&state.join("artifacts"), "sha256-", "build-report.txt").unwrap();
    assert_eq!(std::fs::metadata(stored).unwrap().uid(), 0);
}

#[test]
fn a_state_dir_the_app_user_cannot_reach_is_refused_at_start_naming_the_fix() {
    if !root_or_skip("a_state_dir_the_app_user_cannot_reach_is_refused_at_start_naming_the_fix") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Like /root: a home folder nobody else may enter.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let state = dir.path().join("state");
    let mut child = Command::new(common::satusky_bin())
        // `serve --runtime local` as root isolates apps by default.
        .args([
            "serve",
            "--runtime",
            "local",
            "--listen",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(&state)
        .env("SATUSKY_HOME", dir.path().join("home"))
        .env_remove("SATUSKY_DATABASE_URL")
        .env_remove("SATUSKY_LOCAL_USER")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "satusky serve started with a state dir the app user cannot reach:\n{}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    let blocker = dir.path().display().to_string();
    assert!(
        err.contains("cannot reach")
            && err.contains(&format!("{blocker} is mode 0700"))
            && err.contains("--state-dir")
            && err.contains("local_user"),
        "{err}"
    );
}

#[test]
fn local_user_root_is_the_explicit_single_tenant_choice() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start_with(&bins(), dir.path(), &["--local-user", "root"]);
    let log = dev.log();
    assert!(
        log.contains("apps     run as ") && log.contains("single-tenant"),
        "the summary says apps run as the control plane's user:\n{log}"
    );
}

//! Env and secrets end to end, as a user lives with them (issue 14): on `satusky dev`, a
//! `1ctl secret set` is a new release of the same artifact (the build plane says reused),
//! every request during the roll-over answers 200, the app sees the value — and the value is
//! then nowhere: not in the dev's log, any API answer, or any byte of the state dir (SQLite
//! file and WAL included). Setting the same value again is a no-op. `env set` is a release
//! too; a rollback restores the snapshot's env and keeps the secrets, saying so. A deploy
//! missing a `[secrets] required` key exits 2 before anything is uploaded or recorded. Key
//! rotation survives a kill -9 and finishes when run again; the old key can then leave the
//! ring. On PostgreSQL, a `pg_dump` of the database holds no value either.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Dev, Hammer, Server, bins, json, stderr};
use satusky_core::secrets::{KeyRing, parse_key};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A value no other test and no earlier run can have written.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file()
                && let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(path);
            }
        }
    }
    hits
}

/// The app's generated hostname.
fn host_of(dev: &Dev, dir: &Path) -> String {
    let app = json(&dev.onectl_exits(0, dir, &["app", "get", "-o", "json"]));
    app["hostnames"][0].as_str().unwrap().to_string()
}

/// What the app answers on `/env` (the test app's `--echo-env NAME`).
fn echoed(dev: &Dev, host: &str) -> String {
    block_on(async {
        let res = dev.get(host, "/env").await;
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    })
}

#[test]
fn a_secret_set_rolls_the_app_without_a_build_and_its_value_is_nowhere_else() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let key_file = state.path().join("secret-keys/dev.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the dev key is private");
    let app = bins.test_app_dir("web", &["--echo-env", "API_KEY"], "");
    let dir = app.path();
    dev.onectl_exits(0, dir, &["deploy"]);
    let host = host_of(&dev, dir);
    assert_eq!(echoed(&dev, &host), "", "no secret yet");

    let value = unique("s3cr3t");
    let hammer = Hammer::start(&dev, &host);
    std::thread::sleep(Duration::from_millis(300));
    let out = dev.onectl_exits(0, dir, &["secret", "set", &format!("API_KEY={value}")]);
    std::thread::sleep(Duration::from_millis(300));
    let (sent, failures) = hammer.finish();
    let said = stderr(&out);
    assert!(
        said.contains("release v2 rolls the secret change out (the artifact of v1 — not rebuilt)"),
        "{said}"
    );
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed during the roll-over: {failures:?}",
        failures.len()
    );
    assert!(sent > 20, "the roll-over was exercised ({sent} requests)");
    assert_eq!(echoed(&dev, &host), value, "the app sees the value");

    let status = json(&dev.onectl_exits(0, dir, &["app", "status", "-o", "json"]));
    assert_eq!(status["active_release"], 2);
    let build = status["build"]["message"].as_str().unwrap();
    assert!(
        build.starts_with("reusing") && build.contains("(config; not rebuilt)"),
        "{build}"
    );
    let releases = json(&dev.onectl_exits(0, dir, &["app", "releases", "-o", "json"]));
    assert_eq!(releases[0]["source"], "config");
    assert_eq!(
        releases[0]["secrets"]["API_KEY"], 1,
        "the release records the version"
    );
    assert_eq!(
        releases[0]["image"], releases[1]["image"],
        "the same artifact"
    );

    // The same value again: nothing to roll out, and it says so.
    let again = dev.onectl_exits(0, dir, &["secret", "set", &format!("API_KEY={value}")]);
    assert!(
        stderr(&again).contains("no secret changed"),
        "{}",
        stderr(&again)
    );
    let releases_after = json(&dev.onectl_exits(0, dir, &["app", "releases", "-o", "json"]));
    assert_eq!(
        releases_after.as_array().unwrap().len(),
        2,
        "no new release"
    );

    let list = json(&dev.onectl_exits(0, dir, &["secret", "list", "-o", "json"]));
    assert_eq!(list[0]["name"], "API_KEY");
    assert_eq!(list[0]["version"], 1);

    // Nowhere: every answer a user can get, the dev's log, and every byte of the state dir.
    let mut answers = String::new();
    for args in [
        &["app", "get", "-o", "json"][..],
        &["app", "status", "-o", "json"],
        &["app", "releases", "-o", "json"],
        &["app", "list", "-o", "json"],
        &["secret", "list", "-o", "json"],
        &["env", "list", "-o", "json"],
        &["domains", "list", "-o", "json"],
        &["app", "drift", "-o", "json"],
    ] {
        let out = dev.onectl(dir, args);
        answers.push_str(&String::from_utf8_lossy(&out.stdout));
        answers.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        !answers.contains(&value),
        "an answer carries the value:\n{answers}"
    );
    assert!(
        !dev.log().contains(&value),
        "the dev's log carries the value"
    );
    let hits = files_containing(state.path(), value.as_bytes());
    assert!(hits.is_empty(), "the state dir holds the value in {hits:?}");
}

#[test]
fn env_set_is_a_release_and_a_rollback_restores_env_but_keeps_secrets() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir(
        "api",
        &["--echo-env", "LOG_LEVEL"],
        "[env]\nLOG_LEVEL = \"info\"\n",
    );
    let dir = app.path();
    dev.onectl_exits(0, dir, &["deploy"]);
    let host = host_of(&dev, dir);
    assert_eq!(echoed(&dev, &host), "info");

    let out = dev.onectl_exits(0, dir, &["env", "set", "LOG_LEVEL=debug"]);
    assert!(
        stderr(&out).contains("release v2 rolls the env change out"),
        "{}",
        stderr(&out)
    );
    assert_eq!(echoed(&dev, &host), "debug");
    let env = json(&dev.onectl_exits(0, dir, &["env", "list", "-o", "json"]));
    assert_eq!(env[0]["name"], "LOG_LEVEL");
    assert_eq!(env[0]["value"], "debug");
    assert_eq!(env[0]["source"], "cli");
    let table =
        String::from_utf8_lossy(&dev.onectl_exits(0, dir, &["env", "list"]).stdout).to_string();
    assert!(
        table.contains("LOG_LEVEL") && table.contains("1ctl env set"),
        "{table}"
    );

    // A key is env or secret, never both.
    let clash = dev.onectl_exits(2, dir, &["secret", "set", "LOG_LEVEL=x"]);
    assert!(
        stderr(&clash).contains("LOG_LEVEL is already an env key"),
        "{}",
        stderr(&clash)
    );
    dev.onectl_exits(0, dir, &["secret", "set", "TOKEN=t0ken"]);

    // Back to v1: its env, the current secrets.
    let out = dev.onectl_exits(0, dir, &["app", "rollback", "--version", "1"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("secrets (the current values are kept"),
        "{said}"
    );
    assert_eq!(echoed(&dev, &host), "info");
    let secrets = json(&dev.onectl_exits(0, dir, &["secret", "list", "-o", "json"]));
    assert_eq!(secrets[0]["name"], "TOKEN", "kept");

    // A deploy keeps a key set with the CLI and says so, and applies what was staged.
    dev.onectl_exits(0, dir, &["env", "set", "EXTRA=1"]);
    let staged = dev.onectl_exits(0, dir, &["env", "set", "--stage", "LATER=1"]);
    assert!(
        stderr(&staged).contains("staged for api's next deploy"),
        "{}",
        stderr(&staged)
    );
    let table =
        String::from_utf8_lossy(&dev.onectl_exits(0, dir, &["env", "list"]).stdout).to_string();
    assert!(table.contains("staged: set at next deploy"), "{table}");
    let out = dev.onectl_exits(0, dir, &["deploy"]);
    assert!(
        stderr(&out).contains("applied the staged change: env LATER set"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("kept env EXTRA (set with 1ctl env set): add it to [env] in satusky.toml, or 1ctl env unset EXTRA"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_deploy_missing_a_required_secret_exits_2_before_anything_changes() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir(
        "db-app",
        &[],
        "[secrets]\nrequired = [\"DATABASE_URL\", \"API_KEY\"]\n",
    );
    let dir = app.path();
    let out = dev.onectl_exits(2, dir, &["deploy"]);
    let said = stderr(&out);
    for line in [
        "nothing was uploaded or changed",
        "1ctl secret set DATABASE_URL=… --app db-app",
        "1ctl secret set API_KEY=… --app db-app",
    ] {
        assert!(said.contains(line), "{line:?} in {said}");
    }
    dev.onectl_exits(5, dir, &["app", "get"]);
    let contexts = state.path().join("contexts");
    assert!(
        files_containing(&contexts, b"").is_empty(),
        "no build context was uploaded"
    );
    // Set before the first deploy, they wait for it.
    let out = dev.onectl_exits(
        0,
        dir,
        &["secret", "set", "DATABASE_URL=postgres://x", "API_KEY=k"],
    );
    assert!(
        stderr(&out).contains("is not deployed yet"),
        "{}",
        stderr(&out)
    );
    dev.onectl_exits(0, dir, &["deploy"]);
}

fn write_key(path: &Path) -> [u8; 32] {
    let text = satusky_core::secrets::new_key_text().unwrap();
    std::fs::write(path, &text).unwrap();
    parse_key("k", &text).unwrap()
}

/// Every secret of apps `app-0…app-{apps-1}` opened with `ring` through the store.
fn open_all(db: &Path, ring: KeyRing, apps: usize) -> usize {
    block_on(async {
        let store = satusky_store::Store::open_sqlite_file(db).await.unwrap();
        let store = store.with_keys(Arc::new(ring));
        let mut n = 0;
        for a in 0..apps {
            let secrets = store
                .open_secrets("acme", &format!("app-{a}"))
                .await
                .unwrap();
            for (name, entry) in &secrets {
                assert_eq!(entry.value.expose(), format!("{name}-of-app-{a}"));
                n += 1;
            }
        }
        store.close().await;
        n
    })
}

#[test]
fn rotate_key_survives_kill_9_and_then_the_old_key_leaves_the_ring() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let k1 = write_key(&state.path().join("k1.key"));
    let toml = |ids: &[&str]| {
        let list: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    "{{ id = \"{id}\", file = \"{}\" }}",
                    state.path().join(format!("{id}.key")).display()
                )
            })
            .collect();
        std::fs::write(
            state.path().join("server.toml"),
            format!("secret_keys = [{}]\n", list.join(", ")),
        )
        .unwrap();
    };
    toml(&["k1"]);
    let (apps, per_app) = (10, 80);
    {
        let server = Server::start(&bins, state.path());
        let token = bins.create_token(state.path(), "acme");
        block_on(async {
            for a in 0..apps {
                let set: serde_json::Map<String, serde_json::Value> = (0..per_app)
                    .map(|i| (format!("S{i}"), format!("S{i}-of-app-{a}").into()))
                    .collect();
                let res = common::http()
                    .patch(format!(
                        "{}/v1/orgs/acme/apps/app-{a}/secrets",
                        server.url()
                    ))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "set": set }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            }
        });
    }
    let db = state.path().join("state.db");
    let total = apps * per_app;
    let k2 = write_key(&state.path().join("k2.key"));
    toml(&["k2", "k1"]);

    // Killed after its first batch.
    let mut child = Command::new(bins.satusky())
        .args(["secrets", "rotate-key", "--batch", "5", "--state-dir"])
        .arg(state.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("re-sealed"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
    let split = block_on(async {
        let store = satusky_store::Store::open_sqlite_file(&state.path().join("state.db"))
            .await
            .unwrap();
        let split = store.secrets_by_key().await.unwrap();
        store.close().await;
        split
    });
    assert!(
        split["k1"] > 0 && split["k2"] > 0,
        "killed mid-way: {split:?}"
    );
    let ring = |keys: &[(&str, [u8; 32])]| {
        KeyRing::new(keys.iter().map(|(id, k)| (id.to_string(), *k)).collect()).unwrap()
    };
    assert_eq!(
        open_all(&db, ring(&[("k2", k2), ("k1", k1)]), apps),
        total,
        "every secret still opens with the ring"
    );

    // The ACME files under STATE_DIR/acme are sealed with the same ring: a key sealed with
    // k1, and an account still in plaintext from before the ring.
    let acme = state.path().join("acme");
    std::fs::create_dir_all(acme.join("certs")).unwrap();
    let acme_key = acme.join("certs/shop.example.test.key");
    std::fs::write(
        &acme_key,
        "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let sealed = satusky_local::acme::reseal_all(state.path(), &ring(&[("k1", k1)])).unwrap();
    assert_eq!(sealed, 1);
    std::fs::write(
        acme.join("account.json"),
        r#"{"directory":"https://acme.test/dir","credentials":{"key_pkcs8":"c2VjcmV0"}}"#,
    )
    .unwrap();

    // Run again: it finishes, every value under k2, and says k1 may go.
    let start = Instant::now();
    let out = Command::new(bins.satusky())
        .args(["secrets", "rotate-key", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "every secret ({total}) is sealed with key \"k2\"; key(s) k1 can now leave secret_keys"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "every ACME key file (2) under {} is sealed with key \"k2\"",
            acme.display()
        )),
        "{said}"
    );
    for f in [acme.join("account.json"), acme_key] {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("{\"sealed\":1,\"key_id\":\"k2\",")
                && !text.contains("PRIVATE KEY")
                && !text.contains("key_pkcs8"),
            "{}: {text}",
            f.display()
        );
    }
    assert_eq!(
        satusky_local::acme::reseal_all(state.path(), &ring(&[("k2", k2)])).unwrap(),
        2,
        "k2 alone opens them"
    );
    eprintln!(
        "rotate-key re-sealed the rest of {total} secrets in {:?}",
        start.elapsed()
    );
    assert_eq!(
        open_all(&db, ring(&[("k2", k2)]), apps),
        total,
        "k1 is no longer needed"
    );

    // Without k2 the server refuses to start, naming the key; with it alone it starts.
    toml(&["k1"]);
    let out = Command::new(bins.satusky())
        .args([
            "serve",
            "--runtime",
            "none",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(state.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("\"k2\" (800)") && said.contains("secret_keys"),
        "{said}"
    );
    toml(&["k2"]);
    drop(Server::start(&bins, state.path()));
}

#[test]
fn on_postgresql_a_pg_dump_holds_no_secret_value() {
    let Ok(admin) = std::env::var("SATUSKY_TEST_DATABASE_URL") else {
        eprintln!("SATUSKY_TEST_DATABASE_URL is not set: skipping the PostgreSQL half");
        return;
    };
    let bins = bins();
    let name = format!("satusky_secrets_{}", std::process::id());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .arg(&admin)
            .args(["-q", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("{admin} names no database"),
    };
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("k1.key"),
        satusky_core::secrets::new_key_text().unwrap(),
    )
    .unwrap();
    std::fs::write(
        state.path().join("server.toml"),
        format!(
            "secret_keys = [{{ id = \"k1\", file = \"{}\" }}]\n",
            state.path().join("k1.key").display()
        ),
    )
    .unwrap();
    let value = unique("pg-s3cr3t");
    {
        let server = Server::start_with(
            &bins,
            state.path(),
            &["--runtime", "none", "--database-url", &url],
        );
        let out = Command::new(bins.satusky())
            .args([
                "token",
                "create",
                "--org",
                "acme",
                "--database-url",
                &url,
                "--state-dir",
            ])
            .arg(state.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        block_on(async {
            let res = common::http()
                .patch(format!("{}/v1/orgs/acme/apps/web/secrets", server.url()))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "set": { "API_KEY": value } }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let body = res.text().await.unwrap();
            assert!(!body.contains(&value), "{body}");
        });
    }
    let dump = Command::new("pg_dump").arg(&url).output().expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(text.contains("app_secrets"), "the dump has the table");
    assert!(!text.contains(&value), "pg_dump holds the value");
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

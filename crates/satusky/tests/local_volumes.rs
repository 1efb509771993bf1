//! `[volume]` on the local runtime (issue 16), end to end with `satusky dev`: a replica finds
//! its app's persistent directory in `$SATUSKY_VOLUME` and writes a file there; a redeploy's
//! replica reads it; `app destroy` keeps the directory and lists it; `--purge-volumes` (also
//! once the app is gone) deletes it. As root with `--local-user`, the directory belongs to the
//! app user, `0700`.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{Dev, bins, json, stdout};

/// Writes `written by RELEASE` into `$SATUSKY_VOLUME/note` when it is not there, and serves
/// what it found at `/env` (the test app's `--echo-env NOTE`).
const SCRIPT: &str = r#"note="$SATUSKY_VOLUME/note"
if [ -f "$note" ]; then NOTE="found: $(cat "$note")"; else echo "written by $SATUSKY_RELEASE" > "$note" && NOTE="created"; fi
export NOTE
exec "$@""#;

fn app(name: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let test_app = bins().test_app();
    let toml = format!(
        "[app]\nname = \"{name}\"\nreplicas = 1\ncommand = [\"sh\", \"-c\", {SCRIPT:?}, \"sh\", {:?}, \"--echo-env\", \"NOTE\"]\n\n\
         [checks]\npath = \"/healthz\"\ntimeout = \"1s\"\n\n[volume]\nsize = \"1Gi\"\nmount = \"/data\"\n{extra}",
        test_app.display().to_string()
    );
    std::fs::write(dir.path().join("satusky.toml"), toml).unwrap();
    dir
}

fn note(dev: &Dev, host: &str) -> String {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = dev.get(host, "/env").await;
        assert!(r.status().is_success(), "{}", r.status());
        r.text().await.unwrap()
    })
}

/// Deploy, redeploy, destroy, purge; returns the volume's path.
fn walk(dev: &Dev, state: &Path) -> PathBuf {
    let v1 = app("notes", "");
    dev.onectl_exits(0, v1.path(), &["deploy", "--wait-for", "workload"]);
    let host = "notes-dev.satusky.localhost";
    assert_eq!(note(dev, host), "created");
    let volume = state.join("volumes/dev/notes");
    assert_eq!(
        std::fs::read_to_string(volume.join("note")).unwrap(),
        "written by dev/notes@v1\n"
    );
    assert_eq!(
        std::fs::metadata(&volume).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // A redeploy (a new release, recreated: one writer) finds what v1 wrote.
    let v2 = app("notes", "\n[env]\nV = \"2\"\n");
    dev.onectl_exits(0, v2.path(), &["deploy", "--wait-for", "workload"]);
    assert_eq!(note(dev, host), "found: written by dev/notes@v1");

    // Destroy keeps it and says where it is.
    let out = dev.onectl_exits(0, v2.path(), &["app", "destroy", "--yes"]);
    let said = stdout(&out);
    assert!(
        said.contains(&format!("kept volume: directory {}", volume.display())),
        "{said}"
    );
    assert!(said.contains("--purge-volumes"), "{said}");
    assert!(volume.join("note").exists());

    // Deployed again under the same name: the same data.
    dev.onectl_exits(0, v1.path(), &["deploy", "--wait-for", "workload"]);
    assert_eq!(note(dev, host), "found: written by dev/notes@v1");
    let out = dev.onectl_exits(
        0,
        v1.path(),
        &["app", "destroy", "--yes", "--purge-volumes", "-o", "json"],
    );
    assert_eq!(
        json(&out)["volumes_purged"],
        serde_json::json!([format!("directory {}", volume.display())])
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while volume.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the volume is deleted once the replicas stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    volume
}

#[test]
fn a_volume_outlives_releases_and_destroy_until_purged() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    walk(&dev, state.path());

    // A destroy that kept it, then a second destroy with --purge-volumes of the gone app.
    let v1 = app("keep", "");
    dev.onectl_exits(0, v1.path(), &["deploy", "--wait-for", "workload"]);
    let volume = state.path().join("volumes/dev/keep");
    dev.onectl_exits(0, v1.path(), &["app", "destroy", "--yes"]);
    assert!(volume.join("note").exists());
    let out = dev.onectl_exits(
        0,
        v1.path(),
        &["app", "destroy", "--yes", "--purge-volumes"],
    );
    assert!(
        stdout(&out).contains("deleted the volumes app keep left in org dev"),
        "{}",
        stdout(&out)
    );
    assert!(!volume.exists());
}

#[test]
fn an_isolated_apps_volume_is_the_app_users() {
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        eprintln!("SKIPPED: not root, so apps run as this user and there is no owner to check");
        return;
    }
    // A state dir the app user can pass through to its directories.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let dev = Dev::start_with(&bins(), &state, &["--local-user", "satusky-app"]);
    let v1 = app("owned", "");
    dev.onectl_exits(0, v1.path(), &["deploy", "--wait-for", "workload"]);
    let volume = state.join("volumes/dev/owned");
    let uid = |p: &Path| std::fs::metadata(p).unwrap().uid();
    assert_ne!(uid(&volume), 0, "the app user's");
    assert_eq!(
        uid(&volume.join("note")),
        uid(&volume),
        "written by the replica"
    );
    for pass in [state.join("volumes"), state.join("volumes/dev")] {
        let meta = std::fs::metadata(&pass).unwrap();
        assert_eq!((meta.uid(), meta.permissions().mode() & 0o777), (0, 0o711));
    }
    walk(&dev, &state);
}

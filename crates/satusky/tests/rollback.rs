//! Release history and rollback with `satusky dev` (issue "Release history, rollback…",
//! acceptance 1 and 2): a rollback is a new release from an old snapshot, never rebuilt, and
//! the previous active release keeps serving when the old image no longer runs.

mod common;

use std::path::Path;

use common::{Dev, bins, test_app};
use common::{json, stderr};

/// Give the app's folder a distinct file so each release has its own artifact.
fn version_file(dir: &Path, text: &str) {
    std::fs::write(dir.join("version.txt"), text).unwrap();
}

fn header(dev: &Dev, host: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = dev.get(host, "/").await;
        assert!(r.status().is_success(), "{}", r.status());
        r.headers()["x-satusky-release"]
            .to_str()
            .unwrap()
            .to_string()
    })
}

#[test]
fn rollback_to_v1_creates_v4_from_its_snapshot_and_a_later_deploy_unpins() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app("hist", &[], "[build]\ncommand = \"true\"\n");
    for v in 1..=3 {
        version_file(app.path(), &format!("v{v}"));
        let out = dev.onectl(app.path(), &["deploy", "--env", &format!("RELEASE_NO={v}")]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "deploy {v}: {}\n{}",
            stderr(&out),
            dev.log()
        );
    }
    let host = "hist-dev.satusky.localhost";
    assert_eq!(header(&dev, host), "dev/hist@v3");
    let before = json(&dev.onectl(app.path(), &["app", "releases", "-o", "json"]));
    let v1 = before
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == 1)
        .unwrap()
        .clone();

    let out = dev.onectl_exits(0, app.path(), &["app", "rollback", "--version", "1"]);
    let said = common::stdout(&out) + &stderr(&out);
    assert!(
        said.contains("volume"),
        "says what a rollback does not revert: {said}"
    );
    assert_eq!(
        header(&dev, host),
        "dev/hist@v4",
        "the release header reports v4"
    );

    let rel = json(&dev.onectl(app.path(), &["app", "releases", "-o", "json"]));
    assert_eq!(rel[0]["version"], 4);
    assert_eq!(rel[0]["status"], "active");
    assert_eq!(rel[0]["source"], "rollback(from=v1)");
    assert_eq!(
        rel[0]["image"], v1["image"],
        "same artifact as v1: never rebuilt"
    );
    assert_eq!(rel[1]["version"], 3);
    assert_eq!(rel[1]["status"], "superseded");
    let spec = json(&dev.onectl(app.path(), &["app", "get", "-o", "json"]))["spec"].clone();
    assert_eq!(
        spec["env"]["RELEASE_NO"], "1",
        "v1's spec is the desired state again"
    );

    version_file(app.path(), "v5");
    let out = dev.onectl(app.path(), &["deploy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unpin"),
        "the next deploy says it unpins: {}",
        stderr(&out)
    );
}

#[test]
fn rollback_to_an_image_that_no_longer_runs_exits_11_and_the_active_release_keeps_serving() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let app = test_app("gone", &[], "[build]\ncommand = \"true\"\n");
    version_file(app.path(), "v1");
    let out = dev.onectl(app.path(), &["deploy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v1 = json(&dev.onectl(app.path(), &["app", "releases", "-o", "json"]))[0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    version_file(app.path(), "v2");
    let out = dev.onectl(app.path(), &["deploy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // v1's artifact disappears (pruned, disk lost): its "image" no longer runs.
    let dir = state.path().join("artifacts").join(v1.replace(':', "-"));
    assert!(dir.exists(), "{} exists", dir.display());
    std::fs::remove_dir_all(&dir).unwrap();

    let out = dev.onectl_exits(
        11,
        app.path(),
        &[
            "app",
            "rollback",
            "--version",
            "1",
            "--timeout",
            "2m",
            "-o",
            "json",
        ],
    );
    assert_eq!(json(&out)["workload"]["state"], "failed");
    let host = "gone-dev.satusky.localhost";
    assert_eq!(
        header(&dev, host),
        "dev/gone@v2",
        "the previous active release keeps serving"
    );
    let rel = json(&dev.onectl(app.path(), &["app", "releases", "-o", "json"]));
    assert_eq!(rel[0]["status"], "failed");
    assert_eq!(rel[1]["status"], "active");
}

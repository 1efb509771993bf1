//! A release's build after the fact (issue 15, acceptance 2, the API half): once `1ctl deploy`
//! has exited 10, `GET …/releases/{version}/build` still gives the failed build's whole log
//! and why it failed; a deploy of the same context, command and build env reuses the earlier
//! release's artifact and says from which release.

mod common;

use common::{Dev, bins, http};
use serde_json::Value;

fn report(dev: &Dev, app: &str, version: u64) -> Value {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let res = http()
                .get(format!(
                    "{}/v1/orgs/dev/apps/{app}/releases/{version}/build",
                    dev.api()
                ))
                .bearer_auth(dev.token())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json().await.unwrap()
        })
}

#[test]
fn a_failed_builds_log_stays_readable_and_a_reused_build_names_its_release() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let broken = bins.test_app_dir(
        "broken",
        &[],
        "[build]\ncommand = \"echo compiling step 1; echo 'error: boom at line 3' >&2; exit 2\"\n",
    );
    dev.onectl_exits(10, broken.path(), &["deploy"]);
    let r = report(&dev, "broken", 1);
    assert_eq!(r["state"], "failed", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("BuildFailed"),
        "{r}"
    );
    let log: Vec<&str> = r["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        log.iter().any(|l| l.contains("compiling step 1")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("error: boom at line 3")),
        "{log:?}"
    );

    // The same through `1ctl logs --build` (the latest release by default).
    let out = dev.onectl_exits(0, broken.path(), &["logs", "--build"]);
    let (printed, said) = (common::stdout(&out), common::stderr(&out));
    assert!(printed.contains("error: boom at line 3"), "{printed}");
    assert!(said.contains("v1 build: failed — BuildFailed"), "{said}");
    let json =
        common::json(&dev.onectl_exits(0, broken.path(), &["logs", "--build", "v1", "-o", "json"]));
    assert_eq!(json["state"], "failed");

    let ok = bins.test_app_dir("ok", &[], "[build]\ncommand = \"echo built\"\n");
    dev.onectl_exits(0, ok.path(), &["deploy"]);
    dev.onectl_exits(0, ok.path(), &["deploy"]);
    let first = report(&dev, "ok", 1);
    assert_eq!(
        (first["state"].as_str(), first["reused"].as_bool()),
        (Some("ready"), Some(false))
    );
    let second = report(&dev, "ok", 2);
    assert_eq!(second["reused"], true, "{second}");
    assert_eq!(second["reused_from"], 1, "{second}");
    assert_eq!(second["artifact"], first["artifact"]);
}

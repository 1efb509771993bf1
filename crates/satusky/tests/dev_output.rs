//! What `satusky dev` and `1ctl` print on it (issue 12, the output rough edges): the app's
//! URL names the dev edge's HTTPS port, in `1ctl deploy`'s summary and in the `202` body.

mod common;

use common::{Dev, bins, stdout, test_app};
use satusky_types::PutAppRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_url_names_the_dev_edge_port() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let port = dev.https_addr().port();
    assert_ne!(port, 443, "dev listens on a port picked by the OS");

    let app = test_app("porty", &[], "");
    let out = dev.onectl_exits(0, app.path(), &["deploy", "--wait-for", "workload"]);
    let text = stdout(&out);
    let url = format!("  https://porty-dev.satusky.localhost:{port}");
    assert!(text.lines().any(|l| l == url), "{url:?} in:\n{text}");

    // The port travels in the deploy's `202` body, for any client.
    let spec = satusky_testkit::spec::image_app("raw", "ghcr.io/acme/raw:1");
    let res = common::http()
        .put(format!("{}/v1/orgs/dev/apps/raw", dev.api()))
        .bearer_auth(dev.token())
        .json(&PutAppRequest {
            spec,
            context: None,
        })
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status().as_u16(), 202);
    let body: serde_json::Value = res.json().await.expect("JSON");
    assert_eq!(body["https_port"], port, "{body}");
}

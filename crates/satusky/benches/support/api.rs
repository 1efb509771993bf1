//! What the `satusky` benches send to the API: the test app's `satusky.toml`, a context holding
//! it, `POST …/builds` and `PUT …/apps/{app}` (org `dev`, as `satusky dev` creates it).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use satusky_types::{AppSpec, ContextUploaded, DeployAccepted, PutAppRequest};

/// The org `satusky dev` creates.
pub const ORG: &str = "dev";

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// A `satusky.toml` running `test_app` (the local runtime's test server) with `replicas`,
/// built by `true`, checked on `/healthz`.
pub fn app_toml(test_app: &Path, name: &str, replicas: u32) -> String {
    format!(
        "[app]\nname = \"{name}\"\nreplicas = {replicas}\ncommand = [{:?}]\n\n[build]\ncommand = \"true\"\n\n[checks]\npath = \"/healthz\"\ntimeout = \"1s\"\n",
        test_app.display().to_string()
    )
}

pub fn spec_of(toml: &str) -> AppSpec {
    satusky_core::parse_str(
        toml,
        Path::new("satusky.toml"),
        &satusky_core::Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("the bench's satusky.toml is invalid: {e:?}"))
    .into_spec()
}

/// A tar.gz holding `satusky.toml`.
pub fn context_tarball(toml: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("satusky.toml").expect("tar path");
    h.set_size(toml.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, toml.as_bytes()).expect("tar entry");
    let raw = b.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    gz.finish().expect("gzip")
}

/// `POST /v1/orgs/dev/builds`; returns the context's digest.
pub async fn upload(c: &reqwest::Client, api: &str, token: &str, body: Vec<u8>) -> String {
    let r = c
        .post(format!("{api}/v1/orgs/{ORG}/builds"))
        .bearer_auth(token)
        .header("content-type", "application/gzip")
        .body(body)
        .send()
        .await
        .expect("POST builds");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status.as_u16(), 201, "upload refused: {text}");
    serde_json::from_str::<ContextUploaded>(&text)
        .expect("ContextUploaded")
        .context
}

/// `PUT /v1/orgs/dev/apps/{spec.name}` with `context`; asserts the 202.
pub async fn put(
    c: &reqwest::Client,
    api: &str,
    token: &str,
    spec: &AppSpec,
    context: &str,
) -> DeployAccepted {
    let r = c
        .put(format!("{api}/v1/orgs/{ORG}/apps/{}", spec.name))
        .bearer_auth(token)
        .json(&PutAppRequest {
            spec: spec.clone(),
            context: Some(context.to_string()),
            keep_scaled_replicas: false,
        })
        .send()
        .await
        .expect("PUT app");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status.as_u16(), 202, "deploy refused: {text}");
    serde_json::from_str(&text).expect("DeployAccepted")
}

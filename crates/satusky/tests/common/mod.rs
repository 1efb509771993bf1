//! The testkit's process harness (`satusky_testkit::process`) bound to the binaries this
//! package builds: `satusky serve` / `satusky dev` on loopback with a temp state dir, and the
//! real `1ctl` against them.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::Output;

#[allow(unused_imports)]
pub use satusky_testkit::process::{
    Bins, Dev, Hammer, Server, http, json, pids_matching, stderr, stdout, write_app,
};

/// The binaries under test: this package's `satusky`, with `1ctl` and the test app beside it.
pub fn bins() -> Bins {
    Bins::new(env!("CARGO_BIN_EXE_satusky"))
}

pub fn satusky_bin() -> PathBuf {
    bins().satusky().to_path_buf()
}

/// `satusky token create --org ORG` on `state_dir`; returns the token.
pub fn create_token(state_dir: &Path, org: &str) -> String {
    bins().create_token(state_dir, org)
}

/// Runs `1ctl` in `dir` with only env credentials (an isolated SATUSKY_HOME).
pub fn onectl(dir: &Path, home: &Path, api: &str, token: &str, args: &[&str]) -> Output {
    bins().run_onectl(dir, home, api, token, args)
}

/// A folder with a satusky.toml for an app run by the local runtime's test server with `flags`.
pub fn test_app(name: &str, flags: &[&str], extra_toml: &str) -> tempfile::TempDir {
    bins().test_app_dir(name, flags, extra_toml)
}

/// `satusky serve --runtime kubernetes` on `state_dir` with `kubeconfig`, probing every
/// `probe_interval`.
pub fn serve_kubernetes(state_dir: &Path, kubeconfig: &Path, probe_interval: &str) -> Server {
    let kubeconfig = kubeconfig.to_str().expect("a UTF-8 kubeconfig path");
    let flags = [
        "--runtime",
        "kubernetes",
        "--kubeconfig",
        kubeconfig,
        "--probe-interval",
        probe_interval,
    ];
    Server::start_with(&bins(), state_dir, &flags)
}

/// `[[dns_records]]` entries of `STATE_DIR/server.toml` (the simulated external DNS that
/// `satusky dev` reloads) for `records` as `(name, type, value)`.
pub fn dns_records_toml(records: &[(impl AsRef<str>, impl AsRef<str>, impl AsRef<str>)]) -> String {
    let mut toml = String::new();
    for (name, kind, value) in records {
        let key = match kind.as_ref() {
            "TXT" => "txt",
            "CNAME" => "cname",
            "A" => "a",
            other => panic!("record type {other}"),
        };
        toml.push_str(&format!(
            "[[dns_records]]\nname = \"{}\"\n{key} = \"{}\"\n\n",
            name.as_ref(),
            value.as_ref()
        ));
    }
    toml
}

/// `1ctl domains check HOST -o json` every 300 ms until `done` holds for it (within 60 s: the
/// DNS reload takes ~1 s, an ACME issuance a few); `watch` sees every answer first. A timeout
/// panics naming `what`, with the last answer and `context()` (e.g. the dev's log).
pub fn check_until(
    dev: &Dev,
    dir: &Path,
    host: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
    mut watch: impl FnMut(&serde_json::Value),
    context: impl Fn() -> String,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let c = json(&dev.onectl(dir, &["domains", "check", host, "-o", "json"]));
        watch(&c);
        if done(&c) {
            return c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {c:#}\n{}",
            context()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

//! The testkit's process harness (`satusky_testkit::process`) bound to the binaries this
//! package builds: `satusky serve` / `satusky dev` on loopback with a temp state dir, and the
//! real `1ctl` against them.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::Output;

#[allow(unused_imports)]
pub use satusky_testkit::process::{
    Bins, Dev, Server, http, json, pids_matching, stderr, stdout, write_app,
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

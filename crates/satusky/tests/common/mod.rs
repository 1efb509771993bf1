//! Test harness: runs the real `satusky` binary on loopback with a temp state dir, and the
//! real `1ctl` binary against it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub fn satusky_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_satusky"))
}

/// `1ctl` is built by `cargo test --workspace` next to `satusky`.
pub fn onectl_bin() -> PathBuf {
    let p = satusky_bin().with_file_name(format!("1ctl{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p onectl` first)",
        p.display()
    );
    p
}

/// A running `satusky serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub state_dir: PathBuf,
}

impl Server {
    /// Start `satusky serve` on 127.0.0.1:0 with `state_dir` and wait until it listens.
    pub fn start(state_dir: &Path) -> Server {
        Self::start_with(state_dir, &[])
    }

    pub fn start_with(state_dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(satusky_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state_dir)
            .args(if extra.is_empty() {
                &["--runtime", "none"][..]
            } else {
                extra
            })
            .env("SATUSKY_LOG", "warn")
            .env_remove("SATUSKY_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn satusky serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("satusky serve exited before listening")
                .expect("read stderr");
            if let Some(rest) = line.split("API listening on http://").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .parse::<SocketAddr>()
                    .expect("address");
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Server {
            child,
            addr,
            state_dir: state_dir.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    /// SIGTERM first, so a server running replicas stops them; SIGKILL if it lingers.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `satusky token create --org ORG` on `state_dir`; returns the token.
pub fn create_token(state_dir: &Path, org: &str) -> String {
    let out = Command::new(satusky_bin())
        .args(["token", "create", "--org", org, "--state-dir"])
        .arg(state_dir)
        .env_remove("SATUSKY_DATABASE_URL")
        .output()
        .expect("run token create");
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    assert!(
        !token.is_empty() && !token.contains('\n'),
        "token alone on stdout"
    );
    token
}

/// Runs `1ctl` in `dir` with only env credentials (an isolated SATUSKY_HOME).
pub fn onectl(dir: &Path, home: &Path, api: &str, token: &str, args: &[&str]) -> Output {
    Command::new(onectl_bin())
        .current_dir(dir)
        .args(args)
        .env("SATUSKY_HOME", home)
        .env("SATUSKY_API_URL", api)
        .env("SATUSKY_TOKEN", token)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run 1ctl")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

pub fn write_app(dir: &Path, name: &str) {
    std::fs::write(
        dir.join("satusky.toml"),
        format!(
            "[app]\nname = \"{name}\"\nport = 8080\nreplicas = 2\nmemory = \"256Mi\"\n\n[checks]\npath = \"/healthz\"\n\n[env]\nLOG_LEVEL = \"info\"\n"
        ),
    )
    .expect("write satusky.toml");
}

/// A plain HTTP client for API calls made directly (not through 1ctl).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub mod dev;

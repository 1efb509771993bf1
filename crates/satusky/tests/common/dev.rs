//! Harness for `satusky dev`: the real binary on loopback with every port picked by the OS,
//! its `dev.json`, and apps made from the local runtime's test server binary.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use super::{onectl_bin, satusky_bin};

/// A running `satusky dev`.
pub struct Dev {
    pub child: Child,
    pub state_dir: PathBuf,
    pub info: serde_json::Value,
    /// Everything the process printed on stderr so far.
    pub log: Arc<Mutex<String>>,
    pub home: tempfile::TempDir,
}

impl Dev {
    pub fn start(state_dir: &Path) -> Dev {
        Self::start_with(state_dir, &[])
    }

    pub fn start_with(state_dir: &Path, extra: &[&str]) -> Dev {
        let home = tempfile::tempdir().expect("home");
        let mut child = Command::new(satusky_bin())
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(["--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"])
            .args(["--probe-interval", "1s", "--state-dir"])
            .arg(state_dir)
            .args(extra)
            .env("SATUSKY_HOME", home.path())
            .env("SATUSKY_LOG", "warn,satusky_server=info,satusky_local=info")
            .env_remove("SATUSKY_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn satusky dev");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
                if line.contains("Ctrl-C stops everything")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(std::time::Duration::from_secs(60)).is_err() {
            panic!("satusky dev did not start:\n{}", log.lock().unwrap());
        }
        let text = std::fs::read_to_string(state_dir.join("dev.json")).expect("dev.json");
        let info: serde_json::Value = serde_json::from_str(&text).expect("dev.json is JSON");
        Dev {
            child,
            state_dir: state_dir.to_path_buf(),
            info,
            log,
            home,
        }
    }

    pub fn api(&self) -> String {
        self.info["api_url"].as_str().unwrap().to_string()
    }

    pub fn token(&self) -> String {
        self.info["token"].as_str().unwrap().to_string()
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.info["https_addr"].as_str().unwrap().parse().unwrap()
    }

    pub fn ca_pem(&self) -> PathBuf {
        PathBuf::from(self.info["ca_pem"].as_str().unwrap())
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Run `1ctl ARGS` in `dir` against this dev server (env credentials only).
    pub fn onectl(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(onectl_bin())
            .current_dir(dir)
            .args(args)
            .env("SATUSKY_HOME", self.home.path().join("cli"))
            .env("SATUSKY_API_URL", self.api())
            .env("SATUSKY_TOKEN", self.token())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run 1ctl")
    }

    /// An HTTPS client that trusts the dev CA and sends `host` to the edge.
    pub fn client_for(&self, host: &str) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = std::fs::read(self.ca_pem()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve(host, self.https_addr())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap()
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.https_addr().port())
    }

    /// SIGKILL: no cleanup at all.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGINT, as Ctrl-C: a clean stop.
    pub fn interrupt(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.interrupt();
    }
}

/// The local runtime's test server (built by `cargo test --workspace` next to `satusky`).
pub fn test_app_bin() -> PathBuf {
    let p =
        satusky_bin().with_file_name(format!("satusky-test-app{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.exists(),
        "{} is missing: run `cargo test --workspace`",
        p.display()
    );
    p
}

/// A folder with a satusky.toml for an app run by the test server with `flags`.
pub fn test_app(name: &str, flags: &[&str], extra_toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = vec![format!("{:?}", test_app_bin().display().to_string())];
    cmd.extend(flags.iter().map(|f| format!("{f:?}")));
    let toml = format!(
        "[app]\nname = \"{name}\"\nreplicas = 2\ncommand = [{}]\n\n[checks]\npath = \"/healthz\"\ntimeout = \"1s\"\n{extra_toml}\n",
        cmd.join(", ")
    );
    std::fs::write(dir.path().join("satusky.toml"), toml).unwrap();
    dir
}

/// The processes whose command line contains `needle`.
pub fn pids_matching(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

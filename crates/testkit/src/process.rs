//! The real binaries as processes (feature `process`): `satusky serve` ([`Server`]) and
//! `satusky dev` ([`Dev`]) on loopback with a state dir, `satusky token create`, and `1ctl` run
//! against them with env credentials only. The binaries are found through [`Bins`], built from
//! the path a test gets from cargo (`env!("CARGO_BIN_EXE_satusky")`): `1ctl` and
//! `satusky-test-app` are built next to it by `cargo test --workspace`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the binaries under test are.
#[derive(Debug, Clone)]
pub struct Bins {
    satusky: PathBuf,
}

impl Bins {
    /// `satusky` at `satusky`; the other binaries are looked for beside it.
    pub fn new(satusky: impl Into<PathBuf>) -> Bins {
        Bins {
            satusky: satusky.into(),
        }
    }

    pub fn satusky(&self) -> &Path {
        &self.satusky
    }

    /// `1ctl`, built by `cargo test --workspace` next to `satusky`.
    pub fn onectl(&self) -> PathBuf {
        self.beside("1ctl", "(or `cargo build -p onectl` first)")
    }

    /// The local runtime's test server, built by `cargo test --workspace` next to `satusky`.
    pub fn test_app(&self) -> PathBuf {
        self.beside("satusky-test-app", "")
    }

    fn beside(&self, name: &str, hint: &str) -> PathBuf {
        let p = self
            .satusky
            .with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        assert!(
            p.exists(),
            "{} is missing: run the tests with `cargo test --workspace` {hint}",
            p.display()
        );
        p
    }

    /// `satusky token create --org ORG` on `state_dir`; returns the token.
    pub fn create_token(&self, state_dir: &Path, org: &str) -> String {
        let out = Command::new(&self.satusky)
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

    /// Runs `1ctl ARGS` in `dir` with only env credentials (an isolated SATUSKY_HOME).
    pub fn run_onectl(
        &self,
        dir: &Path,
        home: &Path,
        api: &str,
        token: &str,
        args: &[&str],
    ) -> Output {
        Command::new(self.onectl())
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

    /// A folder with a satusky.toml for an app run by the test server with `flags`.
    pub fn test_app_dir(&self, name: &str, flags: &[&str], extra_toml: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = vec![format!("{:?}", self.test_app().display().to_string())];
        cmd.extend(flags.iter().map(|f| format!("{f:?}")));
        let toml = format!(
            "[app]\nname = \"{name}\"\nreplicas = 2\ncommand = [{}]\n\n[checks]\npath = \"/healthz\"\ntimeout = \"1s\"\n{extra_toml}\n",
            cmd.join(", ")
        );
        std::fs::write(dir.path().join("satusky.toml"), toml).unwrap();
        dir
    }
}

/// A running `satusky serve`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub state_dir: PathBuf,
}

impl Server {
    /// Start `satusky serve --runtime none` on 127.0.0.1:0 with `state_dir` and wait until it
    /// listens.
    pub fn start(bins: &Bins, state_dir: &Path) -> Server {
        Self::start_with(bins, state_dir, &[])
    }

    /// The same with `extra` flags in place of `--runtime none`.
    pub fn start_with(bins: &Bins, state_dir: &Path, extra: &[&str]) -> Server {
        let (child, stderr) = spawn(
            Command::new(bins.satusky())
                .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
                .arg(state_dir)
                .args(if extra.is_empty() {
                    &["--runtime", "none"][..]
                } else {
                    extra
                }),
            "warn",
            "satusky serve",
        );
        let mut lines = BufReader::new(stderr).lines();
        let mut said = String::new();
        let addr = loop {
            let Some(line) = lines.next() else {
                panic!("satusky serve exited before listening; it said:\n{said}")
            };
            let line = line.expect("read stderr");
            said.push_str(&line);
            said.push('\n');
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
        kill9(&mut self.child);
    }
}

impl Drop for Server {
    /// SIGTERM first, so a server running replicas stops them; SIGKILL if it lingers.
    fn drop(&mut self) {
        if exited(&mut self.child) {
            return;
        }
        signal(&self.child, "-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if exited(&mut self.child) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        kill9(&mut self.child);
    }
}

/// A running `satusky dev`, every port picked by the OS (unless the test names it), and its
/// `dev.json`.
pub struct Dev {
    pub child: Child,
    pub state_dir: PathBuf,
    pub info: serde_json::Value,
    /// Everything the process printed on stderr so far.
    pub log: Arc<Mutex<String>>,
    pub home: tempfile::TempDir,
    bins: Bins,
}

impl Dev {
    pub fn start(bins: &Bins, state_dir: &Path) -> Dev {
        Self::start_with(bins, state_dir, &[])
    }

    /// The same with `extra` flags after the defaults (`--probe-interval 1s`).
    pub fn start_with(bins: &Bins, state_dir: &Path, extra: &[&str]) -> Dev {
        Self::launch(bins, state_dir, &["--probe-interval", "1s"], extra, &[])
    }

    /// [`Dev::start_with`] with `env` set in the process's environment (e.g. a `PATH` without
    /// some program).
    pub fn start_with_env(
        bins: &Bins,
        state_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Dev {
        Self::launch(bins, state_dir, &["--probe-interval", "1s"], extra, env)
    }

    /// `satusky dev` with its own defaults (every port still picked by the OS) and `extra`
    /// flags: what a user gets, e.g. for benchmarks.
    pub fn start_defaults(bins: &Bins, state_dir: &Path, extra: &[&str]) -> Dev {
        Self::launch(bins, state_dir, &[], extra, &[])
    }

    /// Every address is `127.0.0.1:0` unless `extra` names it (e.g. `--http-addr` for a test
    /// ACME server that validates on a port chosen before the dev starts).
    fn launch(
        bins: &Bins,
        state_dir: &Path,
        defaults: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Dev {
        let home = tempfile::tempdir().expect("home");
        let addrs = ["--listen", "--http-addr", "--https-addr", "--dns-addr"]
            .into_iter()
            .filter(|flag| !extra.contains(flag))
            .flat_map(|flag| [flag, "127.0.0.1:0"]);
        let (child, stderr) = spawn(
            Command::new(bins.satusky())
                .arg("dev")
                .args(addrs)
                .args(defaults)
                .arg("--state-dir")
                .arg(state_dir)
                .args(extra)
                .envs(env.iter().copied())
                .env("SATUSKY_HOME", home.path()),
            "warn,satusky_server=info,satusky_local=info",
            "satusky dev",
        );
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
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
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
            bins: bins.clone(),
        }
    }

    /// The `satusky dev` process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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
        let home = self.home.path().join("cli");
        self.bins
            .run_onectl(dir, &home, &self.api(), &self.token(), args)
    }

    /// `1ctl ARGS` in `dir` against this server, left running with stdout and stderr piped
    /// (`app status --watch`), without colours.
    pub fn onectl_spawn(&self, dir: &Path, args: &[&str]) -> Child {
        Command::new(self.bins.onectl())
            .current_dir(dir)
            .args(args)
            .env("SATUSKY_HOME", self.home.path().join("cli"))
            .env("SATUSKY_API_URL", self.api())
            .env("SATUSKY_TOKEN", self.token())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn 1ctl")
    }

    /// [`Dev::onectl`], asserting that it exits with `code` (its stderr and this server's log
    /// shown otherwise).
    pub fn onectl_exits(&self, code: i32, dir: &Path, args: &[&str]) -> Output {
        let out = self.onectl(dir, args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}\n{}",
            stderr(&out),
            self.log()
        );
        out
    }

    /// An HTTPS client that trusts the dev CA and sends `host` to the edge.
    pub fn client_for(&self, host: &str) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = std::fs::read(self.ca_pem()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve(host, self.https_addr())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// `GET https://HOST{path}` through the edge, trusting the dev CA.
    pub async fn get(&self, host: &str, path: &str) -> reqwest::Response {
        self.client_for(host)
            .get(self.url(host, path))
            .send()
            .await
            .unwrap()
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.https_addr().port())
    }

    /// SIGKILL: no cleanup at all.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }

    /// SIGINT, as Ctrl-C: a clean stop.
    pub fn interrupt(&mut self) {
        if exited(&mut self.child) {
            return;
        }
        signal(&self.child, "-INT");
        let _ = self.child.wait();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.interrupt();
    }
}

/// Spawns `cmd` with `SATUSKY_LOG=log` and no database URL from the environment, stdout
/// discarded; returns the child and its stderr to read.
fn spawn(cmd: &mut Command, log: &str, what: &str) -> (Child, ChildStderr) {
    let mut child = cmd
        .env("SATUSKY_LOG", log)
        .env_remove("SATUSKY_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let stderr = child.stderr.take().expect("stderr");
    (child, stderr)
}

fn exited(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(Some(_)))
}

fn signal(child: &Child, which: &str) {
    let _ = Command::new("kill")
        .args([which, &child.id().to_string()])
        .status();
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Stdout parsed as JSON, or a panic showing both streams.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

/// A satusky.toml for `name` in `dir`: two replicas, a health check and one env var.
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

/// Requests `/` on an app's host through the dev's edge every 5 ms on its own thread until
/// [`Hammer::finish`]; keeps every answer that was not a 200 (a roll-over, a restart must
/// lose none).
pub struct Hammer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    sent: Arc<std::sync::atomic::AtomicUsize>,
    bad: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hammer {
    pub fn start(dev: &Dev, host: &str) -> Hammer {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let bad = Arc::new(Mutex::new(Vec::new()));
        let client = dev.client_for(host);
        let url = dev.url(host, "/");
        let (s, n, b) = (stop.clone(), sent.clone(), bad.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                while !s.load(Ordering::Relaxed) {
                    n.fetch_add(1, Ordering::Relaxed);
                    match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => {}
                        Ok(r) => b.lock().unwrap().push(format!("status {}", r.status())),
                        Err(e) => b.lock().unwrap().push(format!("{e:?}")),
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        });
        Hammer {
            stop,
            sent,
            bad,
            thread: Some(thread),
        }
    }

    /// Stops; (requests sent, the answers that were not 200).
    pub fn finish(mut self) -> (usize, Vec<String>) {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.bad.lock().unwrap().clone(),
        )
    }
}

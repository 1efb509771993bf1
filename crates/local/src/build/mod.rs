//! The local build step (SPEC §8 "Local"): unpack a stored context into a fresh directory, run
//! `[build] command` in it with a clean environment, stream its output, and keep the result as
//! a content-addressed artifact `artifacts/sha256-HASH`. Identical inputs (context, command,
//! `[build.env]`) reuse the earlier artifact without building again.
//!
//! The build's environment is the pass-through variables ([`PASS_THROUGH_ENV`]) and
//! `[build.env]` — never the app's `[env]` nor its secrets, which are the replicas'. So the
//! cache key holds `[build.env]` only, and changing `[env]` or a secret never rebuilds.
//!
//! Owns the contexts, artifacts and build work directories. Every build command's process group
//! is in the process [`Ledger`] while it runs ([`record`]), so a control plane killed mid-build
//! reaps it on its next start. It must not start replicas (that is [`crate::supervisor`]) or
//! touch routes.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use satusky_core::runtime::{BuildFailure, BuildOutput, BuildRequest, LogSink};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

mod record;
mod tree;

use tree::store_tree;
pub use tree::{copy_tree, hash_tree, remove_tree};

use crate::contexts::{ContextError, ContextStore};
use crate::isolation::{IsolateExt, Isolation};
use crate::ledger::{Ledger, kill_group_leftovers, signal_group};
use satusky_core::digest::{hex, sha256_hex};

use crate::unpack::{self, ContextSummary, Limits};

/// A build that runs longer is stuck (a cold `cargo build --release` of a mid-size app takes
/// minutes, not half an hour). The default when a request carries no timeout of its own.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Lines of build output kept for the failure report: enough to show a compiler error.
pub const LOG_TAIL_LINES: usize = 40;
/// Longest line passed on; longer ones are cut (a minified blob must not fill memory).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// After the build exits, how long its output pipes may take to close (a daemon it left
/// behind could hold them forever).
const PIPE_DRAIN: Duration = Duration::from_secs(5);
/// Variables of the server's environment a build (and a replica) may see: what tools need to
/// find themselves and their caches. Nothing else leaks — not the server's secrets, not
/// `CARGO_TARGET_DIR`/`RUSTFLAGS`/`CARGO_*` build steering (so `cargo build` in the context
/// builds inside it). `CARGO_HOME`/`RUSTUP_HOME` only locate the toolchain and registry cache.
pub const PASS_THROUGH_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "CARGO_HOME",
    "RUSTUP_HOME",
];

/// Runs builds. Cheap to clone.
#[derive(Clone)]
pub struct Builder {
    pub contexts: ContextStore,
    pub artifacts_dir: PathBuf,
    pub work_dir: PathBuf,
    pub limits: Limits,
    /// Used when a [`BuildRequest`] has no `timeout`.
    pub timeout: Duration,
    /// Who the build command runs as; its tree is handed to that user and taken back.
    pub isolation: Isolation,
    /// Where each build's process group is recorded while it runs (`None`: not recorded).
    pub ledger: Option<Arc<dyn Ledger>>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("contexts", &self.contexts)
            .field("artifacts_dir", &self.artifacts_dir)
            .field("work_dir", &self.work_dir)
            .field("timeout", &self.timeout)
            .field("ledger", &self.ledger.is_some())
            .finish_non_exhaustive()
    }
}

impl Builder {
    pub fn new(contexts_dir: PathBuf, artifacts_dir: PathBuf, work_dir: PathBuf) -> Self {
        Builder {
            contexts: ContextStore::new(contexts_dir),
            artifacts_dir,
            work_dir,
            limits: Limits::default(),
            timeout: BUILD_TIMEOUT,
            isolation: Isolation::SameUser,
            ledger: None,
        }
    }

    /// Record every build's process group in `ledger` while it runs.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The directory of artifact `sha256:HEX`; `None` for a malformed id.
    pub fn artifact_path(&self, artifact: &str) -> Option<PathBuf> {
        let h = sha256_hex(artifact)?;
        Some(self.artifacts_dir.join(format!("sha256-{h}")))
    }

    /// Inspect an upload of `org` (refusing bad contexts) and store it under its digest.
    /// Blocking.
    pub fn store_context(&self, org: &str, bytes: &[u8]) -> Result<ContextSummary, ContextError> {
        self.contexts
            .clone()
            .with_limits(self.limits)
            .put(org, bytes)
    }

    /// Build the context of `req`. Log lines go to `log` as they come.
    pub async fn build(
        &self,
        req: &BuildRequest,
        log: LogSink,
    ) -> Result<BuildOutput, BuildFailure> {
        let fail = |e: StepError| BuildFailure {
            message: satusky_core::error_chain(&e),
            log_tail: Vec::new(),
            timed_out: false,
        };
        let command = req.spec.build.command.clone();
        let build_env = &req.spec.build.env;
        let key = cache_key(&req.org, &req.context, command.as_deref(), build_env);
        let index = self.artifacts_dir.join(".inputs").join(&key);
        if let Some(artifact) = self.cached(&index).await {
            log(&format!(
                "reusing artifact {artifact}: built earlier from the same context, command and [build.env]"
            ));
            return Ok(BuildOutput {
                artifact,
                reused: true,
            });
        }
        // Re-hash before building: a stored file is trusted only while it matches its name.
        let (contexts, org, context) =
            (self.contexts.clone(), req.org.clone(), req.context.clone());
        let bytes = blocking(move || Ok(contexts.read_verified(&org, &context)?))
            .await
            .map_err(fail)?;
        let tree = self.work_dir.join(format!(
            "{}-{}-v{}-{}",
            req.org,
            req.app,
            req.release,
            unique()
        ));
        let (limits, t, iso) = (self.limits, tree.clone(), self.isolation.clone());
        let unpacked = blocking(move || {
            unpack::unpack(&bytes, &t, &limits)?;
            iso.hand_over(&t).map_err(StepError::HandOver)
        })
        .await;
        if let Err(e) = unpacked {
            remove_later(tree.clone()).await;
            return Err(fail(e));
        }
        if let Some(cmd) = &command {
            if let Err(f) = self.run(cmd, &tree, build_env, &log, req).await {
                remove_later(tree.clone()).await;
                return Err(f);
            }
        } else {
            log("no [build] command: the context itself is the artifact");
        }
        let (artifacts, t, iso) = (
            self.artifacts_dir.clone(),
            tree.clone(),
            self.isolation.clone(),
        );
        let (artifact, existed) = blocking(move || {
            iso.take_back(&t)
                .and_then(|()| store_tree(&t, &artifacts))
                .map_err(StepError::Store)
        })
        .await
        .map_err(fail)?;
        if existed {
            log(&format!(
                "artifact {artifact} (identical to an earlier build)"
            ));
        } else {
            log(&format!("artifact {artifact}"));
        }
        if let Err(e) = write_index(&index, &artifact).await {
            tracing::warn!(error = %e, "could not record the build cache entry");
        }
        Ok(BuildOutput {
            artifact,
            reused: false,
        })
    }

    async fn cached(&self, index: &Path) -> Option<String> {
        let artifact = tokio::fs::read_to_string(index).await.ok()?;
        let artifact = artifact.trim().to_string();
        let dir = self.artifact_path(&artifact)?;
        tokio::fs::metadata(&dir)
            .await
            .ok()
            .filter(|m| m.is_dir())
            .map(|_| artifact)
    }

    /// Run the build command in `dir` with `env` (`[build.env]`) over the pass-through
    /// variables; stream output; enforce the timeout (`req`'s, else the builder's); keep the
    /// process group in the ledger while it runs.
    async fn run(
        &self,
        cmd: &str,
        dir: &Path,
        env: &BTreeMap<String, String>,
        log: &LogSink,
        req: &BuildRequest,
    ) -> Result<(), BuildFailure> {
        let timeout = req.timeout.unwrap_or(self.timeout);
        log(&format!("$ {cmd}"));
        let started = Instant::now();
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(dir)
            .env_clear()
            .envs(clean_env(env))
            .isolate(&self.isolation, dir, env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BuildFailure {
                message: format!("could not start the build command `{cmd}`: {e}"),
                log_tail: Vec::new(),
                timed_out: false,
            })?;
        let pgid = child.id().unwrap_or(0);
        let guard = GroupGuard(pgid);
        let recorded = match record::record(self.ledger.as_ref(), req, pgid).await {
            Ok(r) => r,
            Err(e) => {
                // Never run a build that a restarted control plane could not find again.
                signal_group(pgid, Signal::SIGKILL);
                let _ = child.wait().await;
                return Err(BuildFailure {
                    message: format!(
                        "the build was stopped: it could not be recorded in the process ledger ({})",
                        satusky_core::error_chain(&e)
                    ),
                    log_tail: Vec::new(),
                    timed_out: false,
                });
            }
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut readers = Vec::new();
        let pipes: [Option<Box<dyn AsyncRead + Send + Unpin>>; 2] = [
            child.stdout.take().map(|p| Box::new(p) as _),
            child.stderr.take().map(|p| Box::new(p) as _),
        ];
        for pipe in pipes.into_iter().flatten() {
            let (tail, log) = (Arc::clone(&tail), Arc::clone(log));
            readers.push(tokio::spawn(read_lines(pipe, move |line| {
                log(&line);
                push_bounded(&tail, line, LOG_TAIL_LINES);
            })));
        }
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(s) => Some(s),
            Err(_) => {
                signal_group(pgid, Signal::SIGKILL); // the leader is alive: the group is ours
                let _ = child.wait().await;
                None
            }
        };
        kill_group_leftovers(pgid);
        drop(guard);
        if let Some(r) = recorded {
            r.forget().await;
        }
        for r in readers {
            let abort = r.abort_handle();
            if tokio::time::timeout(PIPE_DRAIN, r).await.is_err() {
                abort.abort();
            }
        }
        let log_tail: Vec<String> = tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let timed_out = status.is_none();
        let message = match status {
            Some(Ok(s)) if s.success() => {
                log(&format!(
                    "build finished in {:.1}s",
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            Some(Ok(s)) => format!("build command `{cmd}` {}", describe_exit(s)),
            None => format!(
                "build command `{cmd}` did not finish within {} (the build timeout)",
                short_duration(timeout)
            ),
            Some(Err(e)) => format!("build command `{cmd}` could not be waited for: {e}"),
        };
        Err(BuildFailure {
            message,
            log_tail,
            timed_out,
        })
    }
}

/// Remove a work tree off the async threads; failures are only logged.
pub(crate) async fn remove_later(path: PathBuf) {
    let shown = path.display().to_string();
    let res = tokio::task::spawn_blocking(move || remove_tree(&path)).await;
    if !matches!(res, Ok(Ok(()))) {
        tracing::warn!(path = %shown, "could not remove a work tree");
    }
}

/// `30 min`, `90 s`, `250 ms`.
pub(crate) fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else if s > 0 {
        format!("{s} s")
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Kills the build's process group if the build future is dropped half-way.
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group_leftovers(self.0);
    }
}

/// `exited with status N` / `was killed by signal N`.
pub fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig)
                .map(|s| format!(" ({})", s.as_str()))
                .unwrap_or_default();
            format!("was killed by signal {sig}{name}")
        }
        _ => "ended for an unknown reason".to_string(),
    }
}

/// The pass-through variables of this process, then `app_env` on top (a build's
/// `[build.env]`, or a replica's `[env]`).
pub fn clean_env(app_env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = PASS_THROUGH_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    env.extend(app_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Read lines (lossy UTF-8, cut at [`MAX_LINE_BYTES`]) until EOF.
pub(crate) async fn read_lines<R: AsyncRead + Unpin>(r: R, mut on_line: impl FnMut(String)) {
    read_lines_cut(r, |line, _cut| on_line(line)).await;
}

/// [`read_lines`], also telling how many bytes of each line were cut off beyond
/// [`MAX_LINE_BYTES`].
pub(crate) async fn read_lines_cut<R: AsyncRead + Unpin>(
    r: R,
    mut on_line: impl FnMut(String, usize),
) {
    let mut r = BufReader::new(r);
    let mut line = Vec::new();
    let mut cut = 0;
    loop {
        let (done, used) = match r.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    cut += extend_bounded(&mut line, &buf[..i]);
                    (true, i + 1)
                }
                None => {
                    cut += extend_bounded(&mut line, buf);
                    (false, buf.len())
                }
            },
        };
        r.consume(used);
        if done {
            on_line(take_line(&mut line), std::mem::take(&mut cut));
        }
    }
    if !line.is_empty() || cut > 0 {
        on_line(take_line(&mut line), cut);
    }
}

/// Append what fits of `more`; returns how many bytes did not.
fn extend_bounded(line: &mut Vec<u8>, more: &[u8]) -> usize {
    let room = MAX_LINE_BYTES.saturating_sub(line.len());
    let keep = more.len().min(room);
    line.extend_from_slice(&more[..keep]);
    more.len() - keep
}

fn take_line(line: &mut Vec<u8>) -> String {
    let s = String::from_utf8_lossy(line)
        .trim_end_matches('\r')
        .to_string();
    line.clear();
    s
}

pub(crate) fn push_bounded(buf: &Mutex<VecDeque<String>>, line: String, max: usize) {
    let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
    if b.len() >= max {
        b.pop_front();
    }
    b.push_back(line);
}

/// A process-unique suffix for fresh directories.
pub(crate) fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Artifacts are reused only within one org: another org's identical build stays invisible.
/// `env` is `[build.env]`: the only variables the build sees besides the pass-through ones.
fn cache_key(
    org: &str,
    context: &str,
    command: Option<&str>,
    env: &BTreeMap<String, String>,
) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        org,
        "\0",
        context,
        "\0",
        command.unwrap_or("\u{1}none"),
        "\0",
    ] {
        ctx.update(part.as_bytes());
    }
    for (k, v) in env {
        ctx.update(format!("{k}={v}\0").as_bytes());
    }
    hex(ctx.finish().as_ref())
}

async fn write_index(index: &Path, artifact: &str) -> io::Result<()> {
    if let Some(dir) = index.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = index.with_extension(format!("tmp{}", unique()));
    tokio::fs::write(&tmp, artifact).await?;
    tokio::fs::rename(&tmp, index).await
}

/// What failed around the build command (reading the context, unpacking, storing the
/// artifact); its chain is the build failure's message.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    Unpack(#[from] unpack::UnpackError),
    #[error("could not hand the build tree to the app user")]
    HandOver(#[source] io::Error),
    #[error("could not store the artifact")]
    Store(#[source] io::Error),
    #[error("internal error")]
    Join(#[source] tokio::task::JoinError),
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StepError> + Send + 'static,
) -> Result<T, StepError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(StepError::Join)?
}

//! One replica's life: spawn in its own process group, record in the ledger, probe, wait;
//! on exit restart with backoff and judge crash loops; on stop terminate the whole group.
//! Owns nothing beyond the replica it is given; it must not decide what runs. Its messages
//! name the command, never the environment (which holds the app's secrets).

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::{
    CRASH_EXITS_IN_WINDOW, CRASH_EXITS_NEVER_READY, CRASH_LOG_LINES, CRASH_WINDOW, LOG_LINES,
    Replica, ReplicaSpec, Timings,
};
use crate::build::{clean_env, describe_exit, push_bounded, read_lines_cut};
use crate::isolation::IsolateExt;
use crate::ledger::{
    Ledger, LedgerEntry, ProcessKind, kill_group_leftovers, process_start_ticks, signal_group,
};
use satusky_core::runtime::release_id;
use satusky_types::LogStream;

/// How long output may take to arrive after the process exited (so a crash report quotes the
/// last lines it printed).
const PIPE_DRAIN: Duration = Duration::from_secs(1);

enum Ended {
    Exited(String),
    Stopped,
}

/// Run the replica until it is asked to stop.
pub(super) async fn supervise(rep: Arc<Replica>, ledger: Arc<dyn Ledger>, t: Timings) {
    let mut stop = rep.stop.subscribe();
    let mut backoff = t.backoff_initial;
    let mut recent: VecDeque<Instant> = VecDeque::new();
    let mut ever_ready = false;
    loop {
        if *stop.borrow() {
            break;
        }
        let started = Instant::now();
        let ended = match spawn(&rep) {
            Ok(child) => run_once(&rep, child, &*ledger, &t, &mut ever_ready).await,
            Err(e) => Ended::Exited(format!(
                "could not start `{}`: {e}",
                rep.spec.command.join(" ")
            )),
        };
        let Ended::Exited(how) = ended else { break };
        if started.elapsed() >= super::BACKOFF_RESET_AFTER {
            backoff = t.backoff_initial;
        }
        let now = Instant::now();
        recent.push_back(now);
        while recent
            .front()
            .is_some_and(|at| now.duration_since(*at) > CRASH_WINDOW)
        {
            recent.pop_front();
        }
        let exits = rep.status.borrow().exits + 1;
        let looping = (!ever_ready && exits >= CRASH_EXITS_NEVER_READY)
            || recent.len() >= CRASH_EXITS_IN_WINDOW;
        let message = looping.then(|| crash_message(&rep, &how, exits, ever_ready, recent.len()));
        let last_exit = exit_message(&rep, &how, started.elapsed(), exits, backoff);
        tracing::info!(org = %rep.spec.org, app = %rep.spec.app, release = rep.spec.release,
            index = rep.spec.index, exits, "replica {how}; restarting in {backoff:?}");
        rep.update(|s| {
            s.exits = exits;
            s.last_exit = Some(last_exit);
            if message.is_some() {
                s.crash_loop = message;
            }
        });
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            () = stopped(&mut stop) => break,
        }
        backoff = (backoff * 2).min(t.backoff_max);
    }
    rep.update(|s| {
        s.pid = None;
        s.ready = false;
    });
    crate::build::remove_later(rep.workdir.clone()).await;
}

fn spawn(rep: &Replica) -> std::io::Result<Child> {
    let spec = &rep.spec;
    let program = spec.command.first().cloned().unwrap_or_default();
    let program = if program.contains('/') && !program.starts_with('/') {
        rep.workdir.join(program).into_os_string()
    } else {
        program.into()
    };
    let app_env = app_env(spec);
    let mut command = Command::new(program);
    command
        .args(spec.command.iter().skip(1))
        .current_dir(&rep.workdir)
        .env_clear()
        .envs(clean_env(&app_env))
        .env("PORT", rep.port.to_string())
        .env(
            "SATUSKY_RELEASE",
            release_id(&spec.org, &spec.app, spec.release),
        )
        .env("SATUSKY_APP", &spec.app)
        .env("SATUSKY_ORG", &spec.org);
    if let Some(volume) = &spec.volume {
        command.env("SATUSKY_VOLUME", volume);
    }
    command
        .isolate(&rep.isolation, &rep.workdir, &app_env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false)
        .spawn()
}

/// What the app sets in its replica's environment: `[env]`, then its secrets' values on top.
/// Only for handing to the child process; never logged or stored.
fn app_env(spec: &ReplicaSpec) -> BTreeMap<String, String> {
    let mut env = spec.env.clone();
    let secrets = spec.secrets.iter();
    env.extend(secrets.map(|(name, e)| (name.clone(), e.value.expose().to_owned())));
    env
}

/// One run of the process: until it exits or we are asked to stop.
async fn run_once(
    rep: &Arc<Replica>,
    mut child: Child,
    ledger: &dyn Ledger,
    t: &Timings,
    ever_ready: &mut bool,
) -> Ended {
    let pid = child.id().unwrap_or(0);
    let readers = capture(rep, &mut child);
    let entry = LedgerEntry {
        pid,
        start_ticks: process_start_ticks(pid).unwrap_or(0),
        org: rep.spec.org.clone(),
        app: rep.spec.app.clone(),
        release: rep.spec.release,
        port: rep.port,
        kind: ProcessKind::Replica,
    };
    if let Err(e) = ledger.record(entry).await {
        // Never run a process that a restarted control plane could not find again.
        terminate(&mut child, pid, Duration::ZERO).await;
        drain(readers).await;
        return Ended::Exited(format!(
            "could not be recorded in the process ledger ({})",
            satusky_core::error_chain(&e)
        ));
    }
    rep.update(|s| s.pid = Some(pid));
    let mut stop = rep.stop.subscribe();
    let ended = tokio::select! {
        st = child.wait() => {
            kill_group_leftovers(pid);
            Ended::Exited(match st {
                Ok(st) => describe_exit(st),
                Err(e) => format!("could not be waited for ({e})"),
            })
        }
        () = stopped(&mut stop) => {
            terminate(&mut child, pid, t.stop_grace).await;
            Ended::Stopped
        }
        never = super::readiness::watch(rep, t, ever_ready) => match never {},
    };
    rep.update(|s| {
        s.pid = None;
        s.ready = false;
    });
    drain(readers).await;
    if let Err(e) = ledger.forget(pid).await {
        tracing::warn!(pid, error = %satusky_core::error_chain(&e), "could not forget a stopped replica in the ledger");
    }
    ended
}

/// Resolves once the replica is asked to stop.
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// SIGTERM the group, wait up to `grace`, then SIGKILL it; always reap the leader.
async fn terminate(child: &mut Child, pgid: u32, grace: Duration) {
    signal_group(pgid, Signal::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        // The leader is alive (not reaped), so the group number is still ours.
        signal_group(pgid, Signal::SIGKILL);
        let _ = child.wait().await;
    }
    kill_group_leftovers(pgid);
}

/// Stream stdout and stderr into the replica's ring buffer and the app's kept log.
fn capture(rep: &Arc<Replica>, child: &mut Child) -> Vec<JoinHandle<()>> {
    let mut out = Vec::new();
    let pipes: [(
        Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
        LogStream,
    ); 2] = [
        (
            child.stdout.take().map(|p| Box::new(p) as _),
            LogStream::Stdout,
        ),
        (
            child.stderr.take().map(|p| Box::new(p) as _),
            LogStream::Stderr,
        ),
    ];
    for (pipe, stream) in pipes {
        let Some(pipe) = pipe else { continue };
        let rep = Arc::clone(rep);
        out.push(tokio::spawn(read_lines_cut(pipe, move |line, cut| {
            if let Some(log) = &rep.log {
                let (release, index) = (rep.spec.release, rep.spec.index);
                log.push(release, index, stream, line.clone(), cut);
            }
            push_bounded(&rep.logs, line, LOG_LINES);
        })));
    }
    out
}

async fn drain(readers: Vec<JoinHandle<()>>) {
    for r in readers {
        let abort = r.abort_handle();
        if tokio::time::timeout(PIPE_DRAIN, r).await.is_err() {
            abort.abort();
        }
    }
}

/// One exit, for the workload plane while the replica is down or just back: how it ended,
/// after how long, which exit it is and the back-off before its restart (true before and
/// after the restart), and its last output lines (or that it printed none).
fn exit_message(rep: &Replica, how: &str, ran: Duration, exits: u32, backoff: Duration) -> String {
    let mut msg = format!(
        "replica {} of v{} {how} after {:.1} s (exit {exits}; it restarts after a {:.1} s back-off)",
        rep.spec.index,
        rep.spec.release,
        ran.as_secs_f64(),
        backoff.as_secs_f64()
    );
    push_tail(rep, &mut msg);
    msg
}

/// Append the replica's last output lines to `msg`, or say it printed nothing.
fn push_tail(rep: &Replica, msg: &mut String) {
    let logs = rep.logs.lock().unwrap_or_else(|e| e.into_inner());
    let skip = logs.len().saturating_sub(CRASH_LOG_LINES);
    let tail: Vec<&str> = logs.iter().skip(skip).map(String::as_str).collect();
    if tail.is_empty() {
        msg.push_str("; it printed nothing");
    } else {
        msg.push_str("; last output:\n");
        msg.push_str(&tail.join("\n"));
    }
}

fn crash_message(rep: &Replica, how: &str, exits: u32, ever_ready: bool, recent: usize) -> String {
    let why = if ever_ready {
        format!(
            "{recent} exits in the last {} min",
            CRASH_WINDOW.as_secs() / 60
        )
    } else {
        format!("{exits} exits without becoming ready")
    };
    let mut msg = format!(
        "replica {} of v{} {how} ({why}); restarting with backoff",
        rep.spec.index, rep.spec.release
    );
    push_tail(rep, &mut msg);
    msg
}

//! satusky-benchkit — the measurement helpers Satusky's benchmark programs share: sizes from
//! the environment, named tokio runtimes, CPU time (user+sys) and memory (VmRSS/VmHWM) read
//! from /proc, the load average, other processes (command lines, descendants, compilers
//! running), and a nearest-rank percentile.
//!
//! Dev-only: only the `benches/` of the workspace's crates use it, through
//! `[dev-dependencies]`; nothing in the product links it. Linux only (it reads /proc); where a
//! file cannot be read the figure is 0 rather than an error, as a benchmark prints and goes on.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Run set-up

/// True when run by `cargo bench` (which passes `--bench`); false under `cargo test
/// --benches`, where a bench runs its small smoke pass.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A comma-separated list of sizes from the environment (`NAME=100,1000`), else `default`.
pub fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

/// One size from the environment, else `default` (also when it does not parse).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded tokio runtime whose threads are named `name`, so that [`Cpu`] can tell
/// their CPU time apart from the rest of the process.
pub fn named_runtime(name: &'static str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// How many CPUs this process may use (0 if unknown).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` writes them (empty if unknown).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// CPU time

/// Clock ticks per second (`getconf CLK_TCK`, asked once; 100 if that fails).
pub fn clock_ticks() -> f64 {
    static TICK: OnceLock<f64> = OnceLock::new();
    *TICK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The fields of a `/proc/…/stat` file after `(comm)`: index 0 is `state` (field 3 in
/// proc(5)), so field `k` is at index `k - 3` (ppid 1, utime 11, stime 12, cutime 13, cstime 14).
pub fn stat_fields(path: impl AsRef<Path>) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(path).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// (utime + stime, cutime + cstime) of a `/proc/…/stat` file, in seconds; zeros if unreadable.
fn stat_secs(path: impl AsRef<Path>) -> (f64, f64) {
    let f = stat_fields(path).unwrap_or_default();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let tick = clock_ticks();
    ((t(11) + t(12)) / tick, (t(13) + t(14)) / tick)
}

/// CPU seconds (user+sys) process `pid` has used so far (0 if it is gone).
pub fn cpu_secs(pid: u32) -> f64 {
    stat_secs(format!("/proc/{pid}/stat")).0
}

/// CPU seconds (user+sys) this process has used so far: in all, by its waited-for children,
/// and by the threads whose name starts with each of N prefixes (the `thread_name` of a
/// [`named_runtime`]).
#[derive(Debug, Clone, Copy)]
pub struct Cpu<const N: usize> {
    /// The whole process (every thread).
    pub total: f64,
    /// Waited-for child processes.
    pub children: f64,
    /// Per prefix, in the order given.
    pub threads: [f64; N],
}

impl<const N: usize> Cpu<N> {
    pub fn now(prefixes: [&str; N]) -> Cpu<N> {
        let (total, children) = stat_secs("/proc/self/stat");
        let mut threads = [0.0; N];
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if let Some(i) = prefixes.iter().position(|p| comm.starts_with(p)) {
                threads[i] += stat_secs(task.path().join("stat")).0;
            }
        }
        Cpu {
            total,
            children,
            threads,
        }
    }

    /// What was used since `before`.
    pub fn since(&self, before: &Cpu<N>) -> Cpu<N> {
        Cpu {
            total: self.total - before.total,
            children: self.children - before.children,
            threads: std::array::from_fn(|i| self.threads[i] - before.threads[i]),
        }
    }
}

/// Wall clock and CPU time of one step: [`Stopwatch::stop`] returns what the step took.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch<const N: usize> {
    prefixes: [&'static str; N],
    cpu: Cpu<N>,
    t0: Instant,
}

impl<const N: usize> Stopwatch<N> {
    /// Starts now; CPU split by thread name as in [`Cpu::now`].
    pub fn start(prefixes: [&'static str; N]) -> Stopwatch<N> {
        let cpu = Cpu::now(prefixes);
        Stopwatch {
            prefixes,
            cpu,
            t0: Instant::now(),
        }
    }

    /// Wall time and CPU time since the start.
    pub fn stop(&self) -> (Duration, Cpu<N>) {
        let wall = self.t0.elapsed();
        (wall, Cpu::now(self.prefixes).since(&self.cpu))
    }
}

// ---------------------------------------------------------------------------------------
// Memory

/// A `/proc/self/status` field in kB (`"VmRSS:"`, `"VmHWM:"`); 0 if unreadable.
pub fn status_kb(field: &str) -> u64 {
    read_status_kb("/proc/self/status", field)
}

/// A `/proc/PID/status` field of another process in kB; 0 if it is gone.
pub fn status_kb_of(pid: u32, field: &str) -> u64 {
    read_status_kb(format!("/proc/{pid}/status"), field)
}

fn read_status_kb(path: impl AsRef<Path>, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resets this process's VmHWM to its current RSS, so each step reports its own peak.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

// ---------------------------------------------------------------------------------------
// Other processes

/// Every process id in /proc now.
pub fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A process's command line, arguments joined by spaces (empty if it is gone).
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

/// The processes whose command line contains `needle`.
pub fn pids_matching(needle: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| cmdline(*p).contains(needle))
        .collect()
}

/// Every process below `root` (children, grandchildren, …).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for pid in all_pids() {
        let stat = stat_fields(format!("/proc/{pid}/stat"));
        if let Some(ppid) = stat.and_then(|f| f.get(1).and_then(|p| p.parse().ok())) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(p) = queue.pop_front() {
        for c in children.get(&p).into_iter().flatten() {
            out.push(*c);
            queue.push_back(*c);
        }
    }
    out
}

/// Compilers running on the machine right now (other sessions' builds skew the figures), e.g.
/// `"2 cargo, 1 rustc running"`.
pub fn busy() -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for pid in all_pids() {
        if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
            let comm = comm.trim();
            if matches!(comm, "rustc" | "cargo" | "cc" | "ld" | "cc1") {
                *counts.entry(comm.to_string()).or_default() += 1;
            }
        }
    }
    if counts.is_empty() {
        "no rustc/cargo/cc running".into()
    } else {
        counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
            + " running"
    }
}

// ---------------------------------------------------------------------------------------
// Statistics

/// The nearest-rank `p` percentile (0 < p ≤ 1) of values sorted ascending; None if empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(5.0));
        assert_eq!(percentile(&v, 0.9), Some(9.0));
        assert_eq!(percentile(&v, 0.99), Some(10.0));
        assert_eq!(percentile(&v[..1], 0.5), Some(1.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(status_kb("VmRSS:") > 0);
        assert!(stat_fields("/proc/self/stat").is_some_and(|f| f.len() > 14));
        let cpu = Cpu::now(["no-such-thread"]);
        assert!(cpu.total >= 0.0 && cpu.threads[0] == 0.0);
    }
}

//! Following a build pod's log: the `fetch` init container's, then Kaniko's, each line to the
//! build's [`LogSink`] exactly once and in order, the last [`TAIL_LINES`] kept for a failure
//! report.
//!
//! A running container's log is followed (`follow=true`); a finished one is read once. If a
//! follow ends before its container has (a dropped connection), the log is opened again and
//! the lines already delivered are skipped by count — kubelet log rotation during one build
//! (10 MiB by default) would break that count; Kaniko logs stay far below. A line without its
//! newline is held back until the container has finished, so a cut never delivers half a
//! line twice. Lines are capped at [`MAX_LINE`] bytes. Until the pod and the container exist
//! the follower waits, one poll interval at a time; once the Job has finished
//! ([`LogFollower::finish`]) it makes one last pass and stops.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::io::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use satusky_core::runtime::LogSink;

use super::job::{FETCH_CONTAINER, KANIKO_CONTAINER};
use super::status::{Progress, build_pod, progress};

/// Lines kept for the failure report.
pub const TAIL_LINES: usize = 40;
/// Longest line delivered; the rest of a longer line is dropped (a progress bar or a
/// minified file must not hold the follower's memory).
pub const MAX_LINE: usize = 8 * 1024;
/// The containers whose logs a build shows, in the order they run.
const CONTAINERS: [&str; 2] = [FETCH_CONTAINER, KANIKO_CONTAINER];

/// Splits a byte stream into lines: `\n`-terminated, a trailing `\r` dropped, invalid UTF-8
/// replaced, each capped at [`MAX_LINE`] bytes.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// The complete lines `bytes` finishes.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            self.take(&rest[..pos]);
            lines.push(self.emit());
            rest = &rest[pos + 1..];
        }
        self.take(rest);
        lines
    }

    /// The last line, if the stream ended without a newline.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.emit())
    }

    fn take(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..room.min(bytes.len())]);
    }

    fn emit(&mut self) -> String {
        let bytes = std::mem::take(&mut self.partial);
        let line = String::from_utf8_lossy(&bytes);
        line.strip_suffix('\r').unwrap_or(&line).to_owned()
    }
}

/// Follows one build pod's containers.
pub struct LogFollower {
    pods: Api<Pod>,
    job: String,
    job_uid: String,
    sink: LogSink,
    poll: Duration,
    job_done: AtomicBool,
    tail: Mutex<VecDeque<String>>,
}

/// Where the follower stands with the current pod.
#[derive(Default)]
struct Cursor {
    pod: String,
    /// Lines delivered per container.
    delivered: [usize; 2],
    done: [bool; 2],
}

impl LogFollower {
    pub fn new(pods: Api<Pod>, job: &str, job_uid: &str, sink: LogSink, poll: Duration) -> Self {
        LogFollower {
            pods,
            job: job.to_owned(),
            job_uid: job_uid.to_owned(),
            sink,
            poll,
            job_done: AtomicBool::new(false),
            tail: Mutex::new(VecDeque::with_capacity(TAIL_LINES)),
        }
    }

    /// The Job has finished: make one more pass over what exists, then stop.
    pub fn finish(&self) {
        self.job_done.store(true, Ordering::SeqCst);
    }

    /// The last [`TAIL_LINES`] lines delivered.
    pub fn tail(&self) -> Vec<String> {
        self.lock_tail().iter().cloned().collect()
    }

    /// Deliver the pod's logs until every container is done (or the Job finished and a last
    /// pass found nothing more to wait for).
    pub async fn run(&self) {
        let mut cursor = Cursor::default();
        loop {
            let last_pass = self.job_done.load(Ordering::SeqCst);
            let pod = match self.find_pod().await {
                Ok(Some(pod)) => pod,
                Ok(None) => {
                    if last_pass {
                        return;
                    }
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
                Err(e) => {
                    tracing::debug!(job = %self.job, error = %e, "build pod not readable yet");
                    if last_pass {
                        return;
                    }
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
            };
            let name = pod.metadata.name.clone().unwrap_or_default();
            if name != cursor.pod {
                // A new pod is a new run: its logs are all new.
                cursor = Cursor {
                    pod: name.clone(),
                    ..Cursor::default()
                };
            }
            let mut delivered_now = 0;
            let mut blocked = false;
            for (i, container) in CONTAINERS.iter().enumerate() {
                if cursor.done[i] {
                    continue;
                }
                match progress(&pod, container) {
                    Progress::Waiting => {
                        blocked = true;
                        break;
                    }
                    Progress::Finished => {
                        match self.read(&name, container, &mut cursor.delivered[i]).await {
                            Ok(n) => delivered_now += n,
                            Err(e) => {
                                tracing::warn!(job = %self.job, container, error = %e,
                                    "cannot read a finished build container's log");
                            }
                        }
                        cursor.done[i] = true;
                    }
                    Progress::Running => {
                        match self
                            .follow(&name, container, &mut cursor.delivered[i])
                            .await
                        {
                            Ok(n) => delivered_now += n,
                            Err(e) => {
                                tracing::debug!(job = %self.job, container, error = %e,
                                    "build log not readable yet");
                            }
                        }
                        // Whether it ended or broke off, look at the pod again.
                        blocked = true;
                        break;
                    }
                }
            }
            if cursor.done.iter().all(|d| *d) {
                return;
            }
            if blocked && delivered_now == 0 {
                if last_pass {
                    return;
                }
                tokio::time::sleep(self.poll).await;
            }
        }
    }

    async fn find_pod(&self) -> Result<Option<Pod>, kube::Error> {
        let list = self
            .pods
            .list(&ListParams::default().labels(&format!("job-name={}", self.job)))
            .await?;
        Ok(build_pod(&list.items, &self.job_uid).cloned())
    }

    /// Read a finished container's log once; deliver what is new, the last line too.
    async fn read(
        &self,
        pod: &str,
        container: &str,
        delivered: &mut usize,
    ) -> Result<usize, kube::Error> {
        let params = LogParams {
            container: Some(container.to_owned()),
            ..LogParams::default()
        };
        let text = self.pods.logs(pod, &params).await?;
        let mut splitter = LineSplitter::default();
        let mut seen = 0;
        let mut lines = splitter.push(text.as_bytes());
        lines.extend(splitter.finish());
        Ok(self.deliver(lines, &mut seen, delivered))
    }

    /// Follow a running container's log until the stream ends; deliver complete lines only.
    async fn follow(
        &self,
        pod: &str,
        container: &str,
        delivered: &mut usize,
    ) -> Result<usize, kube::Error> {
        let params = LogParams {
            container: Some(container.to_owned()),
            follow: true,
            ..LogParams::default()
        };
        let mut stream = Box::pin(self.pods.log_stream(pod, &params).await?);
        let mut splitter = LineSplitter::default();
        let mut seen = 0;
        let mut count = 0;
        loop {
            let chunk = match stream.fill_buf().await {
                Ok(chunk) => chunk,
                Err(e) => {
                    tracing::debug!(job = %self.job, container, error = %e, "build log stream broke off");
                    break;
                }
            };
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len();
            let lines = splitter.push(chunk);
            stream.consume_unpin(n);
            count += self.deliver(lines, &mut seen, delivered);
        }
        // A line without its newline waits: the next read (once the container has finished)
        // delivers it whole.
        Ok(count)
    }

    /// Send the lines past `delivered` (counted from the start of the log by `seen`).
    fn deliver(&self, lines: Vec<String>, seen: &mut usize, delivered: &mut usize) -> usize {
        let mut count = 0;
        for line in lines {
            *seen += 1;
            if *seen <= *delivered {
                continue;
            }
            *delivered += 1;
            count += 1;
            (self.sink)(&line);
            let mut tail = self.lock_tail();
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        count
    }

    fn lock_tail(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"one\ntw"), vec!["one"]);
        assert_eq!(s.push(b"o\r\nthree"), vec!["two"]);
        assert_eq!(s.push(b""), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("three"));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn empty_lines_are_lines() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"\n\nx\n"), vec!["", "", "x"]);
    }

    #[test]
    fn long_lines_are_capped_and_invalid_utf8_replaced() {
        let mut s = LineSplitter::default();
        let long = vec![b'a'; MAX_LINE + 100];
        assert!(s.push(&long).is_empty());
        assert!(s.push(&long).is_empty());
        let lines = s.push(b"\n\xff\n");
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], "\u{fffd}");
    }
}

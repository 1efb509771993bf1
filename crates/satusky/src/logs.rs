//! The control plane's own log lines (tracing): on stderr, coloured only when stderr is a
//! terminal and `NO_COLOR` is unset or empty, so a redirected log holds no escape codes.
//!
//! `satusky dev --deploy` runs `1ctl deploy` with the same stderr; while it runs, [`Logs`]
//! sends the server's lines below WARN to a file instead ([`Logs::divert_to`]), without
//! colours, so they never interleave with the deploy's output; warnings and errors still
//! show on stderr (and go to the file too). [`Logs::restore`] puts everything back.
//! `SATUSKY_LOG` (an EnvFilter directive) chooses what is logged at all.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where log lines go now; cheap to clone.
#[derive(Clone, Default)]
pub struct Logs {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Set while lines below WARN go to `file`: read on every line, so not behind the lock.
    diverted: AtomicBool,
    file: Mutex<Option<File>>,
}

/// Installs the global subscriber: `SATUSKY_LOG`, else `default`, chooses what is logged.
pub fn init(default: &str) -> Logs {
    let filter = EnvFilter::try_from_env("SATUSKY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let logs = Logs::default();
    let on_stderr = tracing_subscriber::fmt::layer()
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_writer(ToStderr(logs.clone()));
    let diverted = logs.clone();
    let to_file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(ToFile(logs.clone()))
        // Formats nothing unless diverted (decided line by line, never cached per callsite).
        .with_filter(tracing_subscriber::filter::dynamic_filter_fn(
            move |_, _| diverted.is_diverted(),
        ));
    tracing_subscriber::registry()
        .with(filter)
        .with(on_stderr)
        .with(to_file)
        .init();
    logs
}

/// Whether stderr's lines get colours: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Lines below WARN: the ones a diverted stderr does not get.
fn below_warn(meta: &Metadata<'_>) -> bool {
    // tracing orders levels by verbosity: INFO, DEBUG and TRACE are "greater" than WARN.
    *meta.level() > Level::WARN
}

impl Logs {
    /// From now on, lines below WARN go to `path` (created, or emptied) and not to stderr.
    pub fn divert_to(&self, path: &Path) -> std::io::Result<()> {
        let file = File::create(path)?;
        *self.file() = Some(file);
        self.inner.diverted.store(true, Ordering::Release);
        Ok(())
    }

    /// Every line on stderr again; the file is closed.
    pub fn restore(&self) {
        self.inner.diverted.store(false, Ordering::Release);
        if let Some(mut f) = self.file().take() {
            let _ = f.flush();
        }
    }

    fn is_diverted(&self) -> bool {
        self.inner.diverted.load(Ordering::Acquire)
    }

    fn file(&self) -> MutexGuard<'_, Option<File>> {
        // A writer that panicked mid-line leaves a file still worth writing to.
        self.inner.file.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stderr layer's writer: stderr, except lines below WARN while diverted.
struct ToStderr(Logs);

/// The file layer's writer (it only sees lines while diverted).
struct ToFile(Logs);

/// One formatted line's destination.
pub enum LogWriter {
    Stderr(std::io::Stderr),
    File(Logs),
    Nowhere,
}

impl<'a> MakeWriter<'a> for ToStderr {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter::Stderr(std::io::stderr())
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LogWriter {
        if self.0.is_diverted() && below_warn(meta) {
            LogWriter::Nowhere
        } else {
            LogWriter::Stderr(std::io::stderr())
        }
    }
}

impl<'a> MakeWriter<'a> for ToFile {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter::File(self.0.clone())
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LogWriter::Stderr(e) => e.write(buf),
            // Restored meanwhile: the line is dropped, as stderr already had its chance.
            LogWriter::File(logs) => match logs.file().as_mut() {
                Some(f) => f.write(buf),
                None => Ok(buf.len()),
            },
            LogWriter::Nowhere => Ok(buf.len()),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        // One line in one write under one lock: lines from two threads never mix.
        match self {
            LogWriter::Stderr(e) => e.lock().write_all(buf),
            LogWriter::File(logs) => match logs.file().as_mut() {
                Some(f) => f.write_all(buf),
                None => Ok(()),
            },
            LogWriter::Nowhere => Ok(()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LogWriter::Stderr(e) => e.flush(),
            LogWriter::File(logs) => match logs.file().as_mut() {
                Some(f) => f.flush(),
                None => Ok(()),
            },
            LogWriter::Nowhere => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }

    #[test]
    fn a_diverted_stderr_keeps_warnings_and_the_file_gets_the_rest() {
        use tracing_subscriber::fmt::MakeWriter as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.log");
        let logs = Logs::default();
        let info = tracing::Metadata::new(
            "info",
            "t",
            Level::INFO,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
            tracing::metadata::Kind::EVENT,
        );
        let warn = tracing::Metadata::new(
            "warn",
            "t",
            Level::WARN,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
            tracing::metadata::Kind::EVENT,
        );
        let stderr = ToStderr(logs.clone());
        assert!(matches!(
            stderr.make_writer_for(&info),
            LogWriter::Stderr(_)
        ));

        logs.divert_to(&path).unwrap();
        assert!(matches!(stderr.make_writer_for(&info), LogWriter::Nowhere));
        assert!(matches!(
            stderr.make_writer_for(&warn),
            LogWriter::Stderr(_)
        ));
        ToFile(logs.clone())
            .make_writer()
            .write_all(b"deploy accepted\n")
            .unwrap();

        logs.restore();
        assert!(matches!(
            stderr.make_writer_for(&info),
            LogWriter::Stderr(_)
        ));
        // Written after the restore: dropped, not appended.
        ToFile(logs.clone())
            .make_writer()
            .write_all(b"late\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "deploy accepted\n");
    }

    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    impl tracing::callsite::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unimplemented!("not registered")
        }
    }
}

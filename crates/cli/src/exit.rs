//! Exit codes (SPEC §5) and the one error type every command returns.
//!
//! A [`CliError`] knows its exit code and renders as the line(s) printed on stderr; it never
//! prints itself. Commands build these; `main` prints them and exits. Nothing here does I/O
//! besides [`CliError::report`].

use std::io::Write;

/// Everything asked for is done (or ready).
pub const OK: u8 = 0;
/// An unexpected error (a bug, a 5xx, an undecodable answer).
pub const UNEXPECTED: u8 = 1;
/// Invalid input: flags, `satusky.toml`, or rejected by the server (400/409/413/422).
pub const INVALID_INPUT: u8 = 2;
/// Not authenticated (401) or forbidden (403).
pub const UNAUTHENTICATED: u8 = 3;
/// The control plane cannot be reached (connect error, timeout, DNS).
pub const UNREACHABLE: u8 = 4;
/// Not found (404), for every command but `deploy`.
pub const NOT_FOUND: u8 = 5;
/// `deploy`: the build failed.
pub const BUILD_FAILED: u8 = 10;
/// `deploy`: the workload failed (crash loop, image pull, progress deadline).
pub const WORKLOAD_FAILED: u8 = 11;
/// `deploy`: the workload is ready but an endpoint plane is not, and the deadline passed.
pub const DEGRADED: u8 = 12;
/// `deploy`: `--timeout` passed before the workload reached a verdict.
pub const TIMED_OUT: u8 = 13;
/// `deploy`: a newer deploy of the same app overtook this one.
pub const SUPERSEDED: u8 = 14;

/// A failure of one command. `Display` is the message without the `error: ` prefix; it may
/// hold several lines only for [`CliError::Config`] (one diagnostic per line).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `satusky.toml` or flags failed validation: every diagnostic, one per line.
    #[error("{0}")]
    Config(String),
    /// Any other invalid input, including the server's 400/409/413/422.
    #[error("{0}")]
    Invalid(String),
    /// 401/403 or no token at all.
    #[error("{0}")]
    Unauthenticated(String),
    /// The control plane could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// 404, or a local thing (profile) that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Anything else.
    #[error("{0}")]
    Unexpected(String),
    /// `deploy` finished with a non-zero verdict; the message says why.
    #[error("{message}")]
    Verdict { code: u8, message: String },
}

impl CliError {
    /// The process exit code for this error.
    pub fn code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Invalid(_) => INVALID_INPUT,
            CliError::Unauthenticated(_) => UNAUTHENTICATED,
            CliError::Unreachable(_) => UNREACHABLE,
            CliError::NotFound(_) => NOT_FOUND,
            CliError::Unexpected(_) => UNEXPECTED,
            CliError::Verdict { code, .. } => *code,
        }
    }

    /// Prints the error on stderr: `error: …`, one line per diagnostic.
    pub fn report(&self) {
        let mut err = std::io::stderr().lock();
        for line in self.to_string().lines().filter(|l| !l.trim().is_empty()) {
            let _ = writeln!(err, "error: {line}");
        }
    }
}

/// Wraps an I/O error on a local file into an unexpected error naming the file.
pub fn io_error(what: &str, path: &std::path::Path, err: &std::io::Error) -> CliError {
    CliError::Unexpected(format!("cannot {what} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_spec() {
        assert_eq!(CliError::Config("x".into()).code(), 2);
        assert_eq!(CliError::Invalid("x".into()).code(), 2);
        assert_eq!(CliError::Unauthenticated("x".into()).code(), 3);
        assert_eq!(CliError::Unreachable("x".into()).code(), 4);
        assert_eq!(CliError::NotFound("x".into()).code(), 5);
        assert_eq!(CliError::Unexpected("x".into()).code(), 1);
        let v = CliError::Verdict {
            code: 12,
            message: "m".into(),
        };
        assert_eq!(v.code(), 12);
    }
}

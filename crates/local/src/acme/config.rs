//! `[acme]` parsed once: the directory URL (https), the PEM root that verifies its TLS (read
//! and checked now, so a typo is an error at start, naming the field), the account's contact;
//! and the issuer's [`AcmeTimings`] (named defaults; tests shorten them).
//!
//! Owns no state and does no network I/O.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The first retry after a failed issuance waits this long; each further failure doubles it.
pub const RETRY_BASE: Duration = Duration::from_secs(10);
/// ... up to this, so a hostname whose DNS is fixed is retried within minutes, while a broken
/// one costs the ACME server six orders an hour.
pub const RETRY_CAP: Duration = Duration::from_secs(600);
/// Certificates are renewed after this fraction of their lifetime (see `plan::renew_at`).
pub const RENEW_FRACTION: f64 = 2.0 / 3.0;
/// One order's validation and finalization are polled this long before the attempt counts as
/// failed (real CAs answer in seconds).
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(90);

/// Where certificates for custom domains come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    directory: String,
    ca_file: PathBuf,
    email: Option<String>,
}

/// A value of `[acme]` that cannot be used; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum AcmeConfigError {
    #[error("directory: {value:?} is not an https URL ({reason})")]
    Directory { value: String, reason: String },
    #[error("ca_file: cannot read {path}")]
    CaFileUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ca_file: {path} holds no PEM certificate")]
    CaFileNoCertificate { path: PathBuf },
    #[error("email: {value:?} is not an email address")]
    Email { value: String },
}

impl AcmeConfig {
    /// Checks every field: `directory` is an `https://HOST…` URL, `ca_file` is readable and
    /// holds at least one PEM certificate, `email` (if any) looks like `user@host`.
    pub fn new(
        directory: impl Into<String>,
        ca_file: impl Into<PathBuf>,
        email: Option<String>,
    ) -> Result<AcmeConfig, AcmeConfigError> {
        let directory = directory.into();
        let bad = |reason: &str| AcmeConfigError::Directory {
            value: directory.clone(),
            reason: reason.to_string(),
        };
        let uri: hyper::Uri = directory.parse().map_err(|_| bad("it does not parse"))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("ACME directories are served over https"));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("it has no host"));
        }
        let ca_file = ca_file.into();
        check_ca_file(&ca_file)?;
        if let Some(e) = &email
            && !looks_like_email(e)
        {
            return Err(AcmeConfigError::Email { value: e.clone() });
        }
        Ok(AcmeConfig {
            directory,
            ca_file,
            email,
        })
    }

    /// The directory URL.
    pub fn directory(&self) -> &str {
        &self.directory
    }

    /// The PEM root (or roots) that verify the directory's TLS certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The account's contact address.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

fn check_ca_file(path: &Path) -> Result<(), AcmeConfigError> {
    let pem = std::fs::read(path).map_err(|source| AcmeConfigError::CaFileUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    match CertificateDer::pem_slice_iter(&pem).next() {
        Some(Ok(_)) => Ok(()),
        _ => Err(AcmeConfigError::CaFileNoCertificate {
            path: path.to_path_buf(),
        }),
    }
}

fn looks_like_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((user, host)) => {
            !user.is_empty()
                && host.contains('.')
                && !e.chars().any(|c| c.is_whitespace() || c == ',')
        }
        None => false,
    }
}

/// The issuer's timings. `Default` is what the product uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcmeTimings {
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub renew_fraction: f64,
    pub order_timeout: Duration,
}

impl Default for AcmeTimings {
    fn default() -> Self {
        AcmeTimings {
            retry_base: RETRY_BASE,
            retry_cap: RETRY_CAP,
            renew_fraction: RENEW_FRACTION,
            order_timeout: ORDER_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";

    fn ca_file() -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), PEM).unwrap();
        f
    }

    #[test]
    fn a_good_config_parses_and_each_bad_field_is_named() {
        let ca = ca_file();
        let ok = AcmeConfig::new(
            "https://127.0.0.1:14000/dir",
            ca.path(),
            Some("ops@example.test".into()),
        )
        .unwrap();
        assert_eq!(ok.directory(), "https://127.0.0.1:14000/dir");
        for dir in [
            "127.0.0.1:14000/dir",
            "http://acme.test/dir",
            "https:///dir",
            "not a url",
        ] {
            let e = AcmeConfig::new(dir, ca.path(), None).unwrap_err();
            assert!(e.to_string().starts_with("directory: "), "{dir}: {e}");
        }
        let e = AcmeConfig::new("https://a.test/dir", "/nonexistent/ca.pem", None).unwrap_err();
        assert_eq!(e.to_string(), "ca_file: cannot read /nonexistent/ca.pem");
        let empty = tempfile::NamedTempFile::new().unwrap();
        let e = AcmeConfig::new("https://a.test/dir", empty.path(), None).unwrap_err();
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
        let e = AcmeConfig::new("https://a.test/dir", ca.path(), Some("nobody".into()));
        assert!(e.unwrap_err().to_string().starts_with("email: "));
    }

    #[test]
    fn default_timings_are_the_documented_ones() {
        let t = AcmeTimings::default();
        assert_eq!((t.retry_base.as_secs(), t.retry_cap.as_secs()), (10, 600));
        assert!((t.renew_fraction - 2.0 / 3.0).abs() < 1e-9);
    }
}

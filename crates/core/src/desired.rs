//! The validated values a runtime is handed (inside
//! [`DesiredWorkload`](crate::runtime::DesiredWorkload)): the app as a
//! [`ValidatedApp`](crate::ValidatedApp) and its hostnames as [`AppHostnames`], each built only
//! through its checks. The API builds them from what a client sent; the store builds them again
//! from a stored release when it is read for reconciling (one validation, at that boundary).
//! Runtimes and renderers take them as they are and never check them again.
//!
//! Pure: no I/O. Whether a hostname is free across orgs, or may lie in the platform zone, is
//! the server's to decide, not this module's.

use std::collections::BTreeSet;
use std::ops::Deref;

use satusky_types::{Hostname, HostnameKind};

use crate::ValidatedApp;
use crate::names::{NameError, validate_hostname};
use crate::validate::ValidationErrors;

/// An app's hostnames, checked: every name a valid hostname, none listed twice, every
/// redirect host with its target. Reads as the slice of [`Hostname`]s it holds, in the order
/// given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppHostnames(Vec<Hostname>);

/// Why a list of hostnames is not an app's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    /// Not a hostname at all; `error` says why and quotes it (shown as this error's text,
    /// not as a source, so it is not said twice).
    #[error("{error}")]
    Invalid { host: String, error: NameError },
    #[error("{host:?} is listed twice")]
    Duplicate { host: String },
    #[error("the redirect host {host:?} has no redirect_to target")]
    RedirectWithoutTarget { host: String },
}

/// What one hostname of an app does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRole<'a> {
    /// The generated `APP-ORG.ZONE`: serves the app.
    Generated(&'a str),
    /// A custom domain serving the app.
    Alias(&'a str),
    /// A custom domain redirecting to `to`.
    Redirect { host: &'a str, to: &'a str },
}

impl AppHostnames {
    /// Checks `hostnames`; the first broken rule is the error.
    pub fn new(hostnames: Vec<Hostname>) -> Result<Self, HostnameError> {
        let mut seen = BTreeSet::new();
        for h in &hostnames {
            let host = h.hostname.as_str();
            validate_hostname(host).map_err(|error| HostnameError::Invalid {
                host: host.to_owned(),
                error,
            })?;
            if !seen.insert(host) {
                return Err(HostnameError::Duplicate {
                    host: host.to_owned(),
                });
            }
            if h.kind == HostnameKind::Redirect && h.redirect_to.is_none() {
                return Err(HostnameError::RedirectWithoutTarget {
                    host: host.to_owned(),
                });
            }
        }
        Ok(AppHostnames(hostnames))
    }

    /// The hostnames of `app` in `org` under the platform `zone`
    /// ([`crate::hostnames::hostnames`]), checked.
    pub fn of_app(org: &str, zone: &str, app: &ValidatedApp) -> Result<Self, HostnameError> {
        Self::new(crate::hostnames::hostnames(org, zone, app.spec()))
    }

    /// Each hostname by what it does, in order.
    pub fn roles(&self) -> impl Iterator<Item = HostRole<'_>> {
        self.0
            .iter()
            .map(|h| match (h.kind, h.redirect_to.as_deref()) {
                (HostnameKind::Generated, _) => HostRole::Generated(&h.hostname),
                (HostnameKind::Alias, _) => HostRole::Alias(&h.hostname),
                // `new` refused a redirect without a target, so `to` is always there.
                (HostnameKind::Redirect, to) => HostRole::Redirect {
                    host: &h.hostname,
                    to: to.unwrap_or_default(),
                },
            })
    }

    pub fn as_slice(&self) -> &[Hostname] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Hostname> {
        self.0
    }
}

impl Deref for AppHostnames {
    type Target = [Hostname];

    fn deref(&self) -> &[Hostname] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a AppHostnames {
    type Item = &'a Hostname;
    type IntoIter = std::slice::Iter<'a, Hostname>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Why a stored release cannot be handed to a runtime: what it holds no longer passes the
/// checks (they may have become stricter since it was recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    #[error("the stored spec no longer validates")]
    Spec(#[source] ValidationErrors),
    #[error("the stored hostnames are invalid")]
    Hostnames(#[source] HostnameError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, kind: HostnameKind, to: Option<&str>) -> Hostname {
        Hostname {
            hostname: name.into(),
            kind,
            redirect_to: to.map(Into::into),
        }
    }

    #[test]
    fn valid_hostnames_keep_their_order_and_roles() {
        let list = vec![
            host("web-acme.apps.test", HostnameKind::Generated, None),
            host(
                "www.example.com",
                HostnameKind::Redirect,
                Some("https://a.example.com"),
            ),
            host("a.example.com", HostnameKind::Alias, None),
        ];
        let checked = AppHostnames::new(list.clone()).unwrap();
        assert_eq!(checked.as_slice(), list.as_slice());
        assert_eq!(
            checked.roles().collect::<Vec<_>>(),
            [
                HostRole::Generated("web-acme.apps.test"),
                HostRole::Redirect {
                    host: "www.example.com",
                    to: "https://a.example.com"
                },
                HostRole::Alias("a.example.com"),
            ]
        );
        assert_eq!(checked.into_vec(), list);
    }

    #[test]
    fn invalid_duplicate_and_targetless_redirect_hosts_are_refused() {
        let err = AppHostnames::new(vec![host("Web.Example.com", HostnameKind::Alias, None)])
            .unwrap_err();
        assert!(matches!(&err, HostnameError::Invalid { host, .. } if host == "Web.Example.com"));
        assert!(err.to_string().contains("not a valid hostname"), "{err}");
        let twice = vec![
            host("a.example.com", HostnameKind::Alias, None),
            host("a.example.com", HostnameKind::Alias, None),
        ];
        assert_eq!(
            AppHostnames::new(twice).unwrap_err().to_string(),
            "\"a.example.com\" is listed twice"
        );
        let redirect = vec![host("old.example.com", HostnameKind::Redirect, None)];
        assert_eq!(
            AppHostnames::new(redirect).unwrap_err(),
            HostnameError::RedirectWithoutTarget {
                host: "old.example.com".into()
            }
        );
    }
}

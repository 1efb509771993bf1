//! The route table the embedded edge serves: hostname → serve a release's upstreams, or
//! redirect. One entry per hostname; an app's entries are replaced together, so switching a
//! rollout's traffic is one atomic swap.
//!
//! Beside the hostnames it holds each app's service: the upstreams of its serving release,
//! which its internal address ([`crate::internal`]) forwards TCP connections to, for every
//! app whether it has hostnames or not. Written with the routes, so a rollout switches both.
//!
//! It also holds the certificates installed for a hostname out of band
//! ([`RouteTable::install_certificate`]: what tests and drift tooling use to make the edge
//! serve something other than the local CA's certificate). Replacing an app's entries drops
//! those of its hostnames, so reconciling the app again restores the CA's certificates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use rustls::sign::CertifiedKey;

/// What the edge does for one hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Proxy to the release's ready replicas; answers carry `x-satusky-release: release_id`.
    Serve {
        org: String,
        app: String,
        /// `ORG/APP@vN`.
        release_id: String,
        upstreams: Vec<SocketAddr>,
    },
    /// Serve the files of a static site from `root` (a folder's address: its `index`), no
    /// process behind it; answers carry `x-satusky-release: release_id`.
    Static {
        org: String,
        app: String,
        /// `ORG/APP@vN`.
        release_id: String,
        root: std::path::PathBuf,
        index: String,
    },
    /// Answer `308 Permanent Redirect` to `to` (path and query appended).
    Redirect {
        org: String,
        app: String,
        to: String,
    },
}

impl Route {
    pub fn owner(&self) -> (&str, &str) {
        match self {
            Route::Serve { org, app, .. }
            | Route::Static { org, app, .. }
            | Route::Redirect { org, app, .. } => (org, app),
        }
    }
}

/// `(org, app)` → the upstreams of its serving release.
type Services = HashMap<(String, String), Vec<SocketAddr>>;

/// Shared, cheaply cloneable table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    inner: Arc<RwLock<HashMap<String, Route>>>,
    /// Certificates installed out of band, by hostname (see the module docs).
    installed: Arc<RwLock<HashMap<String, Arc<CertifiedKey>>>>,
    /// `(org, app)` → the serving release's upstreams (see the module docs).
    services: Arc<RwLock<Services>>,
    next: Arc<AtomicUsize>,
}

impl RouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace every entry of `org/app` with `entries` in one step. Certificates installed out
    /// of band on the hostnames it drops or writes are dropped too.
    pub fn set_app(&self, org: &str, app: &str, entries: Vec<(String, Route)>) {
        let mut touched = Vec::new();
        {
            let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
            map.retain(|host, r| {
                let keep = r.owner() != (org, app);
                if !keep {
                    touched.push(host.clone());
                }
                keep
            });
            for (host, route) in entries {
                let host = host.to_ascii_lowercase();
                touched.push(host.clone());
                map.insert(host, route);
            }
        }
        self.uninstall_certificates(&touched);
    }

    /// Remove every entry of `org/app`, and its service.
    pub fn remove_app(&self, org: &str, app: &str) {
        self.set_app(org, app, Vec::new());
        self.set_service(org, app, Vec::new());
    }

    /// Where connections to `org/app`'s internal address go: its serving release's
    /// upstreams (none: connections are closed).
    pub fn set_service(&self, org: &str, app: &str, upstreams: Vec<SocketAddr>) {
        let mut map = self.services.write().unwrap_or_else(|e| e.into_inner());
        let key = (org.to_string(), app.to_string());
        if upstreams.is_empty() {
            map.remove(&key);
        } else {
            map.insert(key, upstreams);
        }
    }

    /// The upstreams of `org/app`'s service (empty when nothing serves).
    pub fn service(&self, org: &str, app: &str) -> Vec<SocketAddr> {
        let map = self.services.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(org.to_string(), app.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Insert or replace one hostname's entry (used by tests and drift tooling to edit the
    /// table out of band).
    pub fn set_host(&self, host: &str, route: Route) {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        map.insert(host.to_ascii_lowercase(), route);
    }

    /// Drop one hostname's entry (and any certificate installed on it).
    pub fn remove_host(&self, host: &str) {
        let host = host.to_ascii_lowercase();
        {
            let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
            map.remove(&host);
        }
        self.uninstall_certificates(&[host]);
    }

    /// An out-of-band edit (tests, drift tooling), like [`RouteTable::set_host`]: the edge
    /// serves `certificate` for `host` instead of the local CA's, until the hostname's entry
    /// is rewritten by [`RouteTable::set_app`] or removed.
    pub fn install_certificate(&self, host: &str, certificate: Arc<CertifiedKey>) {
        let mut certs = self.installed.write().unwrap_or_else(|e| e.into_inner());
        certs.insert(normalize_host(host), certificate);
    }

    /// The certificate installed out of band for an SNI or Host value, if any.
    pub fn installed_certificate(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let certs = self.installed.read().unwrap_or_else(|e| e.into_inner());
        certs.get(&normalize_host(host)).cloned()
    }

    fn uninstall_certificates(&self, hosts: &[String]) {
        let mut certs = self.installed.write().unwrap_or_else(|e| e.into_inner());
        if certs.is_empty() {
            return;
        }
        for host in hosts {
            certs.remove(&normalize_host(host));
        }
    }

    /// The route for a Host header value (port and trailing dot ignored, case-insensitive).
    pub fn lookup(&self, host: &str) -> Option<Route> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.get(&normalize_host(host)).cloned()
    }

    /// Every hostname with its route.
    pub fn snapshot(&self) -> Vec<(String, Route)> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.iter().map(|(h, r)| (h.clone(), r.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The entries owned by `org/app`, by hostname (the drift checker reads what the edge
    /// serves for an app; only the matches are cloned).
    pub fn entries_of(&self, org: &str, app: &str) -> Vec<(String, Route)> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map
            .iter()
            .filter(|(_, r)| r.owner() == (org, app))
            .map(|(h, r)| (h.clone(), r.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Pick an upstream round-robin.
    pub fn pick(&self, upstreams: &[SocketAddr]) -> Option<SocketAddr> {
        if upstreams.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % upstreams.len();
        upstreams.get(i).copied()
    }
}

/// `Host` header → table key: lowercase, without port or trailing dot.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = if h.starts_with('[') {
        h.split(']')
            .next()
            .map(|s| format!("{s}]"))
            .unwrap_or_default()
    } else {
        h.rsplit_once(':')
            .map(|(a, _)| a.to_string())
            .unwrap_or_else(|| h.to_string())
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(org: &str, app: &str, v: u64) -> Route {
        Route::Serve {
            org: org.into(),
            app: app.into(),
            release_id: format!("{org}/{app}@v{v}"),
            upstreams: vec!["127.0.0.1:9000".parse().unwrap()],
        }
    }

    #[test]
    fn lookup_ignores_port_case_and_trailing_dot() {
        let t = RouteTable::new();
        t.set_app(
            "acme",
            "web",
            vec![("web-acme.satusky.localhost".into(), serve("acme", "web", 1))],
        );
        assert!(t.lookup("Web-Acme.Satusky.Localhost:8443").is_some());
        assert!(t.lookup("web-acme.satusky.localhost.").is_some());
        assert!(t.lookup("other.satusky.localhost").is_none());
    }

    #[test]
    fn set_app_replaces_only_that_apps_entries() {
        let t = RouteTable::new();
        t.set_app(
            "acme",
            "web",
            vec![
                ("a.test".into(), serve("acme", "web", 1)),
                ("b.test".into(), serve("acme", "web", 1)),
            ],
        );
        t.set_app(
            "acme",
            "api",
            vec![("c.test".into(), serve("acme", "api", 1))],
        );
        t.set_app(
            "acme",
            "web",
            vec![("a.test".into(), serve("acme", "web", 2))],
        );
        let hosts: Vec<_> = t.snapshot().into_iter().map(|(h, _)| h).collect();
        assert_eq!(hosts, vec!["a.test", "c.test"]);
        let web: Vec<_> = t
            .entries_of("acme", "web")
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(web, vec!["a.test"]);
        assert_eq!(t.lookup("a.test"), Some(serve("acme", "web", 2)));
        t.remove_app("acme", "web");
        assert!(t.lookup("a.test").is_none());
        assert!(t.lookup("c.test").is_some());
    }

    #[test]
    fn installed_certificates_last_until_the_apps_entries_are_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::ca::LocalCa::load_or_create(dir.path()).unwrap();
        let foreign = ca.issue("elsewhere.test").unwrap();
        let t = RouteTable::new();
        let entries = || vec![("a.test".to_string(), serve("acme", "web", 1))];
        t.set_app("acme", "web", entries());
        t.install_certificate("A.test:443", foreign.clone());
        let got = t.installed_certificate("a.test").unwrap();
        assert!(Arc::ptr_eq(&got, &foreign));
        t.set_host("a.test", serve("acme", "web", 2));
        t.set_app(
            "acme",
            "api",
            vec![("c.test".into(), serve("acme", "api", 1))],
        );
        assert!(
            t.installed_certificate("a.test").is_some(),
            "other edits keep it"
        );
        t.set_app("acme", "web", entries());
        assert!(t.installed_certificate("a.test").is_none(), "rewritten");
        t.install_certificate("a.test", foreign.clone());
        t.remove_app("acme", "web");
        assert!(t.installed_certificate("a.test").is_none(), "removed");
        t.install_certificate("c.test", foreign);
        t.remove_host("c.test");
        assert!(t.installed_certificate("c.test").is_none());
    }

    #[test]
    fn round_robin() {
        let t = RouteTable::new();
        let ups: Vec<SocketAddr> = vec![
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        ];
        let a = t.pick(&ups).unwrap();
        let b = t.pick(&ups).unwrap();
        assert_ne!(a, b);
        assert!(t.pick(&[]).is_none());
    }

    #[test]
    fn normalizes_ipv6_hosts() {
        assert_eq!(normalize_host("[::1]:8443"), "[::1]");
        assert_eq!(normalize_host("EXAMPLE.com"), "example.com");
    }
}

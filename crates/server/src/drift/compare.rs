//! The drift comparison, as pure functions (SPEC §7): what the store expects of an app (its
//! active release's hostnames and release id) against what was observed (the route planes and
//! the DNS, TLS and HTTP planes the engine just computed, and the hostnames the runtime's
//! routes serve), giving findings with their owner and, for the user's drift, the fix; and
//! which open findings the check saw go away. No I/O, no clock: [`super`] fetches and records.
//!
//! Only failures that mean "something differs from what was reconciled" are drift: a route
//! missing or listing other hostnames (or serving another release, or redirecting elsewhere
//! than the stored target), DNS answering with the wrong target or not at all, a certificate
//! not valid for the name / from an unknown issuer / expired, an answer without the active
//! release's header or redirecting elsewhere. A plane still converging
//! (pending, in progress) or not checked (unknown) is neither drift nor proof that drift went
//! away.

use std::collections::HashSet;

use satusky_core::hostnames::Zone;
use satusky_core::runtime::{EdgeInfo, ServedHost};
use satusky_core::urls::same_location;
use satusky_types::{
    DriftOwner, EndpointReport, Hostname, HostnameKind, Plane, PlaneState, Reason,
};

/// The planes findings are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriftPlane {
    Route,
    Dns,
    Tls,
    Http,
}

impl DriftPlane {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftPlane::Route => "route",
            DriftPlane::Dns => "dns",
            DriftPlane::Tls => "tls",
            DriftPlane::Http => "http",
        }
    }

    /// Whether a failed plane with `reason` is drift.
    fn is_drift(self, reason: Reason) -> bool {
        match self {
            DriftPlane::Route => matches!(reason, Reason::RouteMissing | Reason::HostnamesMismatch),
            DriftPlane::Dns => matches!(
                reason,
                Reason::WrongTarget | Reason::NxDomain | Reason::NoAnswer
            ),
            DriftPlane::Tls => matches!(
                reason,
                Reason::NotValidForName | Reason::UnknownIssuer | Reason::Expired
            ),
            DriftPlane::Http => matches!(
                reason,
                Reason::ForeignRelease | Reason::ReleaseHeaderMissing | Reason::WrongRedirect
            ),
        }
    }
}

/// What the store says must be true of one app.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub org: &'a str,
    pub app: &'a str,
    /// `ORG/APP@vN` of the active release.
    pub release_id: &'a str,
    /// The active release's hostnames: what the last reconcile was asked to make true.
    pub hostnames: &'a [Hostname],
    /// Every hostname the store holds for the app (lowercase): the active release's and the
    /// latest deploy's. A route serving anything else is drift "the other way".
    pub held: &'a HashSet<String>,
    /// The platform zone: DNS inside it is the platform's; outside, the user's.
    pub zone: &'a Zone,
    /// What DNS must point at.
    pub edge: &'a EdgeInfo,
}

/// What the engine observed.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The endpoint planes just computed (route plane from the runtime, the others probed).
    pub endpoints: &'a [EndpointReport],
    /// The hostnames the runtime's routes serve for the app; `None` when it could not tell.
    pub served: Option<&'a [ServedHost]>,
}

/// One drift: a (hostname, plane) that does not match the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub hostname: String,
    pub plane: DriftPlane,
    pub expected: String,
    pub observed: String,
    pub owner: DriftOwner,
    /// What the user must do (user-owned drift only: the platform heals its own).
    pub remediation: Option<String>,
}

/// The result of one comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub findings: Vec<Finding>,
    /// The (hostname, plane) pairs this check could judge: an open finding among them that
    /// is not in `findings` is no longer observed.
    pub judged: HashSet<(String, &'static str)>,
    /// The hostnames the app still has anything to do with (stored or served), when the
    /// runtime said what it serves: findings about any other hostname are moot.
    pub known: Option<HashSet<String>>,
}

impl Comparison {
    /// Whether any finding is the platform's to heal.
    pub fn platform_owned(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.owner == DriftOwner::Platform)
    }

    /// Whether an open finding at (`hostname`, `plane`) is among this check's findings.
    pub fn found(&self, hostname: &str, plane: &str) -> bool {
        self.findings
            .iter()
            .any(|f| f.hostname == hostname && f.plane.as_str() == plane)
    }

    /// Whether an open finding at (`hostname`, `plane`) is no longer observed: the check
    /// judged that plane and found nothing, or the hostname is neither stored nor served.
    pub fn gone(&self, hostname: &str, plane: &str) -> bool {
        let key = (hostname.to_string(), plane_name(plane));
        let moot = self
            .known
            .as_ref()
            .is_some_and(|k| !k.contains(&hostname.to_ascii_lowercase()));
        !self.found(hostname, plane) && (self.judged.contains(&key) || moot)
    }
}

/// The `'static` name of a stored plane (unknown names never match a judged key).
fn plane_name(plane: &str) -> &'static str {
    [
        DriftPlane::Route,
        DriftPlane::Dns,
        DriftPlane::Tls,
        DriftPlane::Http,
    ]
    .iter()
    .map(|p| p.as_str())
    .find(|p| *p == plane)
    .unwrap_or("")
}

/// A plane that was really observed: its state says something either way.
fn settled(p: &Plane) -> bool {
    matches!(p.state, PlaneState::Ready | PlaneState::Failed)
}

fn drifted(plane: DriftPlane, p: &Plane) -> bool {
    p.state == PlaneState::Failed && plane.is_drift(p.reason)
}

fn edge_text(edge: &EdgeInfo) -> String {
    let mut parts: Vec<String> = edge.addresses.iter().map(|a| a.to_string()).collect();
    if let Some(c) = &edge.cname_target {
        parts.push(format!("CNAME {c}"));
    }
    if parts.is_empty() {
        "the edge's addresses".to_string()
    } else {
        parts.join(", ")
    }
}

fn served_text(s: &ServedHost) -> String {
    match (&s.release_id, &s.redirect_to) {
        (_, Some(to)) => format!("redirects to {to}"),
        (Some(r), None) => format!("serves {r}"),
        (None, None) => "serves no release header".to_string(),
    }
}

/// Compare one app.
pub fn compare(e: &Expected<'_>, o: &Observed<'_>) -> Comparison {
    let mut c = Comparison::default();
    let hosts_lower: HashSet<String> = e
        .hostnames
        .iter()
        .map(|h| h.hostname.to_ascii_lowercase())
        .collect();
    for h in e.hostnames {
        let name = h.hostname.to_ascii_lowercase();
        let report = o
            .endpoints
            .iter()
            .find(|r| r.hostname.eq_ignore_ascii_case(&name));
        route_finding(e, o, h, &name, report, &mut c);
        let Some(report) = report else { continue };
        let platform_dns = e.zone.contains(&name);
        for (plane, p) in [
            (DriftPlane::Dns, &report.dns),
            (DriftPlane::Tls, &report.tls),
            (DriftPlane::Http, &report.http),
        ] {
            if !settled(p) {
                continue;
            }
            c.judged.insert((name.clone(), plane.as_str()));
            if !drifted(plane, p) {
                continue;
            }
            let (expected, owner, remediation) = match plane {
                DriftPlane::Dns if platform_dns => (
                    format!("resolves to {}", edge_text(e.edge)),
                    DriftOwner::Platform,
                    None,
                ),
                DriftPlane::Dns => (
                    format!("resolves to {}", edge_text(e.edge)),
                    DriftOwner::User,
                    p.remediation.clone(),
                ),
                DriftPlane::Tls => (
                    format!("a certificate for {name} from a trusted issuer, valid now"),
                    DriftOwner::Platform,
                    None,
                ),
                DriftPlane::Http | DriftPlane::Route => (
                    match &h.redirect_to {
                        Some(to) if h.kind == HostnameKind::Redirect => {
                            format!("redirected to {to}")
                        }
                        _ => format!("x-satusky-release: {}", e.release_id),
                    },
                    DriftOwner::Platform,
                    None,
                ),
            };
            c.findings.push(Finding {
                hostname: name.clone(),
                plane,
                expected,
                observed: p.message.clone(),
                owner,
                remediation,
            });
        }
    }
    c.known = o.served.map(|served| {
        let mut known: HashSet<String> = e.held.iter().cloned().collect();
        known.extend(hosts_lower.iter().cloned());
        known.extend(served.iter().map(|s| s.hostname.to_ascii_lowercase()));
        known
    });
    // The other way: what the routes serve that the store does not hold for the app.
    if let Some(served) = o.served {
        for s in served {
            let name = s.hostname.to_ascii_lowercase();
            if hosts_lower.contains(&name) {
                continue;
            }
            c.judged.insert((name.clone(), DriftPlane::Route.as_str()));
            if e.held.contains(&name) {
                continue;
            }
            c.findings.push(Finding {
                hostname: name,
                plane: DriftPlane::Route,
                expected: format!(
                    "not routed: the store holds no such hostname for {}/{}",
                    e.org, e.app
                ),
                observed: format!("a route of {}/{} {}", e.org, e.app, served_text(s)),
                owner: DriftOwner::Platform,
                remediation: None,
            });
        }
    }
    c
}

/// The route finding of one stored hostname, if any (and whether it could be judged).
fn route_finding(
    e: &Expected<'_>,
    o: &Observed<'_>,
    h: &Hostname,
    name: &str,
    report: Option<&EndpointReport>,
    c: &mut Comparison,
) {
    let plane = report.map(|r| &r.route);
    // A route still converging (a rollout waiting for replicas) is not drift, either way.
    if plane.is_some_and(|p| matches!(p.state, PlaneState::Pending | PlaneState::InProgress)) {
        return;
    }
    let expected = match (&h.kind, &h.redirect_to) {
        (HostnameKind::Redirect, Some(to)) => format!("redirected to {to}"),
        _ => format!("routed to {}", e.release_id),
    };
    let served = o.served.map(|s| {
        s.iter()
            .find(|x| x.hostname.eq_ignore_ascii_case(name))
            .cloned()
    });
    let observed = if let Some(p) = plane.filter(|p| drifted(DriftPlane::Route, p)) {
        Some(p.message.clone())
    } else {
        match served {
            None => None,
            Some(None) => Some(format!("no route of {}/{} serves {name}", e.org, e.app)),
            Some(Some(s)) if h.kind == HostnameKind::Redirect => redirect_mismatch(h, &s),
            Some(Some(s)) => (s.release_id.as_deref() != Some(e.release_id))
                .then(|| format!("the route {}", served_text(&s))),
        }
    };
    if o.served.is_some() || plane.is_some_and(settled) {
        c.judged
            .insert((name.to_string(), DriftPlane::Route.as_str()));
    }
    if let Some(observed) = observed {
        c.findings.push(Finding {
            hostname: name.to_string(),
            plane: DriftPlane::Route,
            expected,
            observed,
            owner: DriftOwner::Platform,
            remediation: None,
        });
    }
}

/// What is wrong with the served route of a redirect host, if anything: it serves instead of
/// redirecting, or redirects somewhere else than the stored target (compared as the HTTP plane
/// compares a `Location`: case, default port and a trailing slash do not matter).
fn redirect_mismatch(h: &Hostname, s: &ServedHost) -> Option<String> {
    match (&s.redirect_to, &h.redirect_to) {
        (None, _) => Some(format!(
            "the route {} instead of redirecting",
            served_text(s)
        )),
        (Some(got), Some(want)) if !same_location(got, want, &h.hostname, "/") => {
            Some(format!("the route {}", served_text(s)))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;

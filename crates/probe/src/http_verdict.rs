//! The HTTP plane's decision, pure: the response head (status, `Location`,
//! `x-satusky-release`) or the way the exchange broke → a [`Plane`]. No sockets here;
//! [`crate::http`] sends the request.
//!
//! Order of the checks, most telling first:
//! 1. 502/503/504 → `BadGateway`/`ServiceUnavailable`/`GatewayTimeout` (the edge speaks, the
//!    app does not), whatever else the answer says.
//! 2. A redirect whose `Location` resolves to the URL requested → `RedirectLoop`
//!    (`a.example → a.example`), quoting the `Location`.
//! 3. A redirect host must answer 301 or 308 with its target as `Location` (`Redirects`);
//!    anything else is `WrongRedirect`, naming what came back. No release header is required
//!    from a redirect: the edge answers it, not an app release.
//! 4. An `x-satusky-release` naming another release → `ForeignRelease` (a stale or foreign
//!    deployment answers, whatever its status).
//! 5. A status outside the expected set → `UnexpectedStatus`, quoting the `Location` if any.
//! 6. An expected release but no header → `ReleaseHeaderMissing`.
//! 7. Otherwise `ExpectedStatus`.
//!
//! A redirect host that passes 3. has its chain followed ([`RedirectChain`]: which URL to
//! request next, whether it came back; [`crate::http`] makes the requests, at most
//! [`MAX_REDIRECT_HOPS`]). Coming back to a URL already in the chain turns `Redirects` into
//! `RedirectLoop` naming the chain (`a.apps.test → b.apps.test → a.apps.test`); a chain that
//! ends anywhere else — a non-redirect answer, a failed request, a `Location` the prober
//! cannot follow, the hop bound — keeps the first answer's verdict.
//!
//! Every `failed` plane carries a remediation naming the next command (`1ctl app status APP`,
//! `1ctl deploy`) or setting (`[checks] path`, `[checks] timeout`, `redirect_to`).

use satusky_core::urls::same_location;
use satusky_types::{Plane, PlaneState, Reason};

use satusky_core::runtime::EndpointTarget;

/// The header an edge adds to every answer of an app release: `ORG/APP@vN`.
pub const RELEASE_HEADER: &str = "x-satusky-release";

/// What the HTTP exchange produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpObservation {
    Response {
        status: u16,
        location: Option<String>,
        release: Option<String>,
    },
    /// No response head within this limit.
    Timeout(std::time::Duration),
    /// The connection was reset or closed before a complete response head.
    Reset(String),
    /// Something answered, but not HTTP/1.1.
    Invalid(String),
}

/// Further requests a redirect host's check makes following its chain, at most.
pub const MAX_REDIRECT_HOPS: usize = 5;

/// Whether `status` sends the client elsewhere (with a `Location`).
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// An `https` URL on a redirect chain, as the prober requests it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopUrl {
    /// Lowercase, without the final dot.
    pub host: String,
    /// An explicit port other than 443 (where to dial when no edge address is configured).
    pub port: Option<u16>,
    /// Path and query, as requested (origin form), without a fragment.
    pub path: String,
}

impl HopUrl {
    /// `https://HOST{path}`: what the check of `target` requests first.
    pub fn of_target(target: &EndpointTarget) -> HopUrl {
        HopUrl {
            host: target.hostname.trim_end_matches('.').to_ascii_lowercase(),
            port: None,
            path: target.path.clone(),
        }
    }

    /// Where `location`, answered for this URL, leads: an absolute `https` URL, a
    /// scheme-relative `//host/path`, an absolute path or a relative one. `None` for anything
    /// the prober does not follow (another scheme, not a URL).
    pub fn follow(&self, location: &str) -> Option<HopUrl> {
        let location = location.trim();
        let location = location.split('#').next().unwrap_or(location);
        if location.is_empty() {
            return None;
        }
        let absolute = if let Some(rest) = location.strip_prefix("//") {
            format!("https://{rest}")
        } else if location.starts_with('/') {
            return Some(HopUrl {
                path: location.to_string(),
                ..self.clone()
            });
        } else if location.contains("://") {
            location.to_string()
        } else {
            // A relative reference: against the current path's directory.
            let path = self.path.split('?').next().unwrap_or("/");
            let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            return Some(HopUrl {
                path: format!("{dir}/{location}"),
                ..self.clone()
            });
        };
        let uri: hyper::Uri = absolute.parse().ok()?;
        if !uri.scheme_str()?.eq_ignore_ascii_case("https") {
            return None;
        }
        let host = uri.host()?.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        let path = match uri.path_and_query().map(|pq| pq.as_str()) {
            Some(pq) if pq.starts_with('/') => pq.to_string(),
            Some(pq) => format!("/{pq}"),
            None => "/".to_string(),
        };
        Some(HopUrl {
            host,
            port: uri.port_u16().filter(|p| *p != crate::config::HTTPS_PORT),
            path,
        })
    }

    /// The same place for a client: same host, path (one trailing slash aside) and query. The
    /// port does not count: every hop is dialled the same way (the configured edge, or the
    /// resolved address), so `a.example:8443` is the `a.example` the chain started from.
    pub fn same_place(&self, other: &HopUrl) -> bool {
        fn split(path: &str) -> (&str, Option<&str>) {
            let (path, query) = match path.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (path, None),
            };
            let path = path.trim_end_matches('/');
            (path, query)
        }
        self.host == other.host && split(&self.path) == split(&other.path)
    }

    /// `a.example`, or `a.example/landing` off the root path.
    pub fn label(&self) -> String {
        if self.path == "/" {
            self.host.clone()
        } else {
            format!("{}{}", self.host, self.path)
        }
    }
}

/// What to do after an answer on a redirect chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStep {
    /// Request this URL next (already pushed on the chain).
    Follow(HopUrl),
    /// The answer leads back to a URL already in the chain (pushed too, closing it).
    Loop,
    /// The chain ends here: a non-redirect answer, a failed request, a `Location` the prober
    /// does not follow, or [`MAX_REDIRECT_HOPS`] further requests made.
    End,
}

/// A redirect chain as it is followed: the URLs requested, the target's first. Pure: it says
/// what to request next; [`crate::http`] requests it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectChain {
    urls: Vec<HopUrl>,
    /// The answer that closed a loop: status and `Location`.
    closing: Option<(u16, String)>,
}

impl RedirectChain {
    /// A chain starting at `target`'s URL, nothing requested beyond it yet.
    pub fn start(target: &EndpointTarget) -> RedirectChain {
        RedirectChain {
            urls: vec![HopUrl::of_target(target)],
            closing: None,
        }
    }

    /// Takes the answer for the chain's last URL and says what comes next.
    pub fn step(&mut self, obs: &HttpObservation) -> ChainStep {
        if self.closing.is_some() {
            return ChainStep::Loop;
        }
        let HttpObservation::Response {
            status,
            location: Some(location),
            ..
        } = obs
        else {
            return ChainStep::End;
        };
        if !is_redirect(*status) {
            return ChainStep::End;
        }
        let Some(next) = self.urls.last().and_then(|last| last.follow(location)) else {
            return ChainStep::End;
        };
        if self.urls.iter().any(|u| u.same_place(&next)) {
            self.urls.push(next);
            self.closing = Some((*status, location.clone()));
            return ChainStep::Loop;
        }
        if self.urls.len() > MAX_REDIRECT_HOPS {
            return ChainStep::End;
        }
        self.urls.push(next.clone());
        ChainStep::Follow(next)
    }

    /// Further requests the chain asked for (the target's own request not counted).
    pub fn hops(&self) -> usize {
        let further = self.urls.len().saturating_sub(1);
        if self.closing.is_some() {
            further.saturating_sub(1)
        } else {
            further
        }
    }

    /// Whether the chain came back to a URL already in it.
    pub fn looped(&self) -> bool {
        self.closing.is_some()
    }

    /// `a.apps.test → b.apps.test → a.apps.test`.
    pub fn describe(&self) -> String {
        let labels: Vec<String> = self.urls.iter().map(HopUrl::label).collect();
        labels.join(" → ")
    }

    /// The `RedirectLoop` plane of a chain that [`RedirectChain::looped`], else `None`.
    pub fn loop_plane(&self, target: &EndpointTarget) -> Option<Plane> {
        let (status, location) = self.closing.as_ref()?;
        let from = self
            .urls
            .len()
            .checked_sub(2)
            .and_then(|i| self.urls.get(i))
            .map_or_else(String::new, HopUrl::label);
        let message = format!(
            "{}: {from} answers {status} with Location {location}",
            self.describe()
        );
        let host = target.hostname.trim_end_matches('.');
        let fix = match (self.urls.len(), &target.redirect_to) {
            (2, Some(_)) => format!(
                "{host} redirects to itself: point its `redirect_to` ([[domains]] in \
                 satusky.toml) at another URL, then `1ctl deploy`"
            ),
            (2, None) => format!(
                "the app answers {} on {host} with a redirect to the same URL: fix the app or \
                 `[checks] path` in satusky.toml, then `1ctl deploy`",
                target.path
            ),
            _ => "these redirects point at each other: change the `redirect_to` of one of \
                  them ([[domains]] in its app's satusky.toml) to a URL that answers without \
                  redirecting back, then `1ctl deploy` that app"
                .to_string(),
        };
        Some(Plane::new(PlaneState::Failed, Reason::RedirectLoop, message).with_remediation(fix))
    }
}

/// The HTTP plane of a redirect host once its chain was followed: `RedirectLoop` when it came
/// back, else the first answer's plane unchanged.
pub fn chain_plane(first: Plane, chain: &RedirectChain, target: &EndpointTarget) -> Plane {
    chain.loop_plane(target).unwrap_or(first)
}

/// The HTTP plane for `target`, given what the exchange produced.
pub fn http_plane(obs: &HttpObservation, target: &EndpointTarget) -> Plane {
    let host = target.hostname.trim_end_matches('.');
    let path = &target.path;
    let get = format!("GET {path}");
    let status_cmd = status_command(target);
    let failed = |reason, message: String| Plane::new(PlaneState::Failed, reason, message);
    let (status, location, release) = match obs {
        HttpObservation::Timeout(limit) => {
            let limit = humantime::format_duration(*limit);
            return match target.http_timeout {
                // The app's own limit: the fix is in the app or in satusky.toml.
                Some(_) => failed(
                    Reason::Timeout,
                    format!("{get}: no response within {limit} ([checks] timeout)"),
                )
                .with_remediation(format!(
                    "make {path} answer within {limit}, or raise [checks] timeout in \
                     satusky.toml, then `1ctl deploy`"
                )),
                None => failed(
                    Reason::Timeout,
                    format!("{get}: no response within {limit} (the probe's timeout)"),
                )
                .with_remediation(format!(
                    "make {path} answer within {limit}, or give the probe more time \
                     (`satusky probe --timeout`)"
                )),
            };
        }
        HttpObservation::Reset(e) => {
            return failed(
                Reason::ConnectionReset,
                format!("{get}: the connection closed before a response ({e})"),
            )
            .with_remediation(format!(
                "the app or the edge closed the connection without answering {path}: \
                 {status_cmd} shows the workload and its last output"
            ));
        }
        HttpObservation::Invalid(e) => {
            return failed(
                Reason::UnexpectedStatus,
                format!("{get}: not an HTTP/1.1 response ({e})"),
            )
            .with_remediation(format!(
                "something that does not speak HTTP/1.1 answers {path} for {host}: check \
                 what listens on the app's $PORT ({status_cmd})"
            ));
        }
        HttpObservation::Response {
            status,
            location,
            release,
        } => (*status, location.as_deref(), release.as_deref()),
    };
    let answered = format!("{get} → {status}");

    let gateway = match status {
        502 => Some((
            Reason::BadGateway,
            format!(
                "the edge could not reach the app: {status_cmd} shows why (workload plane, \
                 last output); fix it, then `1ctl deploy`"
            ),
        )),
        503 => Some((
            Reason::ServiceUnavailable,
            format!(
                "the app or the edge is unavailable: {status_cmd} shows the workload's \
                 replicas; fix it, then `1ctl deploy`"
            ),
        )),
        504 => Some((
            Reason::GatewayTimeout,
            format!(
                "the app did not answer the edge in time: make {path} answer faster \
                 ({status_cmd} shows the workload's readiness)"
            ),
        )),
        _ => None,
    };
    if let Some((reason, fix)) = gateway {
        return failed(reason, answered).with_remediation(fix);
    }

    // A redirect to the very URL requested: the shortest loop, whatever else is asked.
    if is_redirect(status) && location.is_some() {
        let mut chain = RedirectChain::start(target);
        if chain.step(obs) == ChainStep::Loop
            && let Some(plane) = chain.loop_plane(target)
        {
            return plane;
        }
    }

    if let Some(to) = &target.redirect_to {
        let right_status = matches!(status, 301 | 308);
        let right_place = location.is_some_and(|l| same_location(l, to, host, &target.path));
        let got = match location {
            Some(l) => format!("{answered} {l}"),
            None => format!("{answered} without Location"),
        };
        if right_status && right_place {
            return Plane::new(PlaneState::Ready, Reason::Redirects, got);
        }
        return failed(
            Reason::WrongRedirect,
            format!("{got}, expected 301/308 → {to}"),
        )
        .with_remediation(format!(
            "{host} must answer a permanent redirect (301 or 308) to {to}: check its \
             `redirect_to` ([[domains]] in satusky.toml) and its route ({status_cmd}), then \
             `1ctl deploy`"
        ));
    }

    if let (Some(want), Some(got)) = (&target.expect_release, release)
        && got != want
    {
        return failed(
            Reason::ForeignRelease,
            format!("answered by {got}, expected {want}"),
        )
        .with_remediation(format!(
            "{host} is served by another release: the edge's route still points to {got}; \
             {status_cmd} shows the active release, `1ctl deploy` routes it again"
        ));
    }

    let expect = target.expected_status();
    if !expect.matches(status) {
        let answered = match location {
            Some(l) => format!("{answered} {l}"),
            None => answered,
        };
        return failed(
            Reason::UnexpectedStatus,
            format!("{answered} (expected {expect})"),
        )
        .with_remediation(format!(
            "make {path} answer {expect}, or set `[checks] path` / `[checks] expect` in \
             satusky.toml to what the app serves, then `1ctl deploy`"
        ));
    }

    match (&target.expect_release, release) {
        (Some(want), None) => failed(
            Reason::ReleaseHeaderMissing,
            format!("{answered} without {RELEASE_HEADER} (expected {want})"),
        )
        .with_remediation(format!(
            "something other than this platform's edge answers for {host}: check DNS and \
             any proxy in front of the edge ({status_cmd} shows the DNS and route planes)"
        )),
        (_, Some(got)) => Plane::new(
            PlaneState::Ready,
            Reason::ExpectedStatus,
            format!("{answered} ({got})"),
        ),
        (None, None) => Plane::new(PlaneState::Ready, Reason::ExpectedStatus, answered),
    }
}

/// `` `1ctl app status web` `` when the expected release names the app (`ORG/APP@vN`), else
/// `` `1ctl app status` `` (which, run in the app's folder, reads its name from satusky.toml).
fn status_command(target: &EndpointTarget) -> String {
    let app = target
        .expect_release
        .as_deref()
        .and_then(|r| r.split_once('/'))
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(app, _)| app)
        .filter(|app| !app.is_empty());
    match app {
        Some(app) => format!("`1ctl app status {app}`"),
        None => "`1ctl app status`".to_string(),
    }
}

#[cfg(test)]
#[path = "http_verdict_tests.rs"]
mod tests;

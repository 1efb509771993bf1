//! The HTTP plane's decision, pure: the response head (status, `Location`,
//! `x-satusky-release`) or the way the exchange broke → a [`Plane`]. No sockets here;
//! [`crate::http`] sends the request.
//!
//! Order of the checks, most telling first:
//! 1. 502/503/504 → `BadGateway`/`ServiceUnavailable`/`GatewayTimeout` (the edge speaks, the
//!    app does not), whatever else the answer says.
//! 2. A redirect host must answer 301 or 308 with its target as `Location` (`Redirects`);
//!    anything else is `WrongRedirect`, naming what came back. No release header is required
//!    from a redirect: the edge answers it, not an app release.
//! 3. An `x-satusky-release` naming another release → `ForeignRelease` (a stale or foreign
//!    deployment answers, whatever its status).
//! 4. A status outside the expected set → `UnexpectedStatus`.
//! 5. An expected release but no header → `ReleaseHeaderMissing`.
//! 6. Otherwise `ExpectedStatus`.

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

/// The HTTP plane for `target`, given what the exchange produced.
pub fn http_plane(obs: &HttpObservation, target: &EndpointTarget) -> Plane {
    let host = target.hostname.trim_end_matches('.');
    let get = format!("GET {}", target.path);
    let failed = |reason, message: String| Plane::new(PlaneState::Failed, reason, message);
    let (status, location, release) = match obs {
        HttpObservation::Timeout(limit) => {
            let limit = humantime::format_duration(*limit);
            let plane = failed(
                Reason::Timeout,
                format!("{get}: no response within {limit}"),
            );
            return match target.http_timeout {
                // The app's own limit: the fix is in the app or in satusky.toml.
                Some(_) => plane.with_remediation(format!(
                    "make {} answer within {limit}, or raise [checks] timeout in satusky.toml",
                    target.path
                )),
                None => plane,
            };
        }
        HttpObservation::Reset(e) => {
            return failed(
                Reason::ConnectionReset,
                format!("{get}: the connection closed before a response ({e})"),
            );
        }
        HttpObservation::Invalid(e) => {
            return failed(
                Reason::UnexpectedStatus,
                format!("{get}: not an HTTP/1.1 response ({e})"),
            );
        }
        HttpObservation::Response {
            status,
            location,
            release,
        } => (*status, location.as_deref(), release.as_deref()),
    };
    let answered = format!("{get} → {status}");

    let gateway = match status {
        502 => Some((Reason::BadGateway, "the edge could not reach the app")),
        503 => Some((
            Reason::ServiceUnavailable,
            "the app or the edge is unavailable",
        )),
        504 => Some((
            Reason::GatewayTimeout,
            "the app did not answer the edge in time",
        )),
        _ => None,
    };
    if let Some((reason, why)) = gateway {
        return failed(reason, answered)
            .with_remediation(format!("{why}: check the workload's logs and readiness"));
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
            "{host} must answer a permanent redirect (301 or 308) to {to}"
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
            "{host} is served by another release: the edge's route still points to {got}"
        ));
    }

    let expect = target.expected_status();
    if !expect.matches(status) {
        return failed(
            Reason::UnexpectedStatus,
            format!("{answered} (expected {expect})"),
        );
    }

    match (&target.expect_release, release) {
        (Some(want), None) => failed(
            Reason::ReleaseHeaderMissing,
            format!("{answered} without {RELEASE_HEADER} (expected {want})"),
        )
        .with_remediation(format!(
            "something other than this platform's edge answers for {host}: check DNS and \
             any proxy in front of the edge"
        )),
        (_, Some(got)) => Plane::new(
            PlaneState::Ready,
            Reason::ExpectedStatus,
            format!("{answered} ({got})"),
        ),
        (None, None) => Plane::new(PlaneState::Ready, Reason::ExpectedStatus, answered),
    }
}

#[cfg(test)]
#[path = "http_verdict_tests.rs"]
mod tests;

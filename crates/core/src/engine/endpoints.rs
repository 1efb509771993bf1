//! An app's endpoint planes, decided from what was read: the metadata plane from the stored
//! hostnames, the route plane from the runtime's answer, DNS/TLS/HTTP from the prober — each
//! merged with the previous plane so `since` survives re-checks. The executor does the
//! reading; [`endpoint_targets`] says what to probe and [`endpoint_reports`] what it means.

use satusky_types::{EndpointReport, Expose, HostnameKind, Plane, PlaneState, Reason};

use super::status::endpoint_report;
use super::{AppView, StatusDoc};
use crate::hostnames::Zone;
use crate::lifecycle::merge_plane;
use crate::runtime::{EdgeInfo, EndpointTarget, ProbedEndpoint, RuntimeError, release_id};

/// What the runtime said about the app's routes: one plane per hostname, in order.
pub type RouteReading = Result<Vec<Plane>, RuntimeError>;

/// What to probe for each of `app`'s hostnames, expecting release `serving` to answer
/// (nothing for an app that is not public: none of its hostnames is served).
pub fn endpoint_targets(
    app: &AppView,
    serving: u64,
    zone: &Zone,
    edge: &EdgeInfo,
) -> Vec<EndpointTarget> {
    if !app.spec.expose.is_public() {
        return Vec::new();
    }
    app.hostnames
        .iter()
        .map(|h| EndpointTarget {
            hostname: h.hostname.clone(),
            kind: h.kind,
            platform_owned: zone.contains(&h.hostname),
            path: if h.kind == HostnameKind::Redirect {
                "/".to_string()
            } else {
                app.spec.checks.path.clone()
            },
            expect: app.spec.checks.expect.clone(),
            expect_release: (h.kind != HostnameKind::Redirect)
                .then(|| release_id(&app.org, &app.name, serving)),
            redirect_to: h.redirect_to.clone(),
            edge: edge.clone(),
            http_timeout: Some(std::time::Duration::from_millis(
                app.spec.checks.timeout_ms.max(1),
            )),
        })
        .collect()
}

/// The endpoint reports of `app` from the route reading and the probed planes (`None`: no
/// prober is configured), merged with `prev`'s.
pub fn endpoint_reports(
    app: &AppView,
    prev: &StatusDoc,
    routes: &RouteReading,
    probed: Option<&[ProbedEndpoint]>,
    now_ms: i64,
) -> Vec<EndpointReport> {
    if !app.spec.expose.is_public() {
        return not_public_reports(app, Some(prev), now_ms);
    }
    let n = app.hostnames.len();
    let routes: Vec<Plane> = match routes {
        Ok(r) if r.len() == n => r.clone(),
        Ok(_) => vec![
            Plane::new(
                PlaneState::Unknown,
                Reason::NotChecked,
                "the runtime answered for other hostnames"
            );
            n
        ],
        Err(e) => vec![
            Plane::new(
                PlaneState::Unknown,
                Reason::NotChecked,
                format!(
                    "the runtime could not report routes: {}",
                    crate::errors::error_chain(e)
                )
            );
            n
        ],
    };
    app.hostnames
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let unknown = || {
                Plane::new(
                    PlaneState::Unknown,
                    Reason::NotChecked,
                    "no prober is configured",
                )
            };
            let (dns, mut tls, http) = match probed.and_then(|p| p.get(i)) {
                Some(p) => (p.dns.clone(), p.tls.clone(), p.http.clone()),
                None => (unknown(), unknown(), unknown()),
            };
            // Nothing is routed or certified before its ownership is proven: that is what the
            // route and TLS planes wait for (a missing route is no fault then).
            let mut route = routes[i].clone();
            if app.domain(&h.hostname).is_some_and(|d| !d.routed) {
                route = Plane::new(
                    PlaneState::Pending,
                    Reason::Waiting,
                    format!("{} is routed once its ownership is proven", h.hostname),
                );
                tls = Plane::new(
                    PlaneState::Pending,
                    Reason::AwaitingOwnership,
                    format!(
                        "no certificate is requested for {} until its ownership is proven",
                        h.hostname
                    ),
                );
            }
            endpoint_report(app, Some(prev), h, [route, dns, tls, http], now_ms)
        })
        .collect()
}

/// The endpoint reports of an app that is not public (`[app] expose = "tcp"` or `"none"`):
/// every plane of every hostname `not_applicable` with reason `NotPublic` — nothing is routed,
/// resolved, certified or served for it, whatever was read.
pub(super) fn not_public_reports(
    app: &AppView,
    prev: Option<&StatusDoc>,
    now_ms: i64,
) -> Vec<EndpointReport> {
    let plane = not_public_plane(app);
    app.hostnames
        .iter()
        .map(|h| {
            let planes = [plane.clone(), plane.clone(), plane.clone(), plane.clone()];
            // The metadata plane too: the claim is stored, but nothing serves it.
            let mut report = endpoint_report(app, prev, h, planes, now_ms);
            let old = prev.and_then(|d| d.endpoints.iter().find(|e| e.hostname == h.hostname));
            report.metadata = merge_plane(old.map(|o| &o.metadata), plane.clone(), now_ms);
            report
        })
        .collect()
}

/// The one plane every endpoint plane of an app that is not public shows, and why.
pub fn not_public_plane(app: &AppView) -> Plane {
    let what = match app.spec.expose {
        Expose::Tcp => "a TCP service",
        Expose::None | Expose::Http => "not reached from outside",
    };
    Plane::new(
        PlaneState::NotApplicable,
        Reason::NotPublic,
        format!(
            "expose = \"{}\": {what} with no public hostname (nothing is routed, resolved, certified or served); reach it inside the org at its internal_address",
            app.spec.expose
        ),
    )
}

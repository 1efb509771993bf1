//! Computing an app's endpoint planes: metadata from the store, the route plane from the
//! runtime, DNS/TLS/HTTP from the prober — each merged with the previous plane so `since`
//! survives re-checks.

use satusky_core::lifecycle::merge_plane;
use satusky_core::runtime::{EndpointTarget, release_id};
use satusky_core::time::now_ms;
use satusky_store::AppRecord;
use satusky_types::{EndpointReport, HostnameKind, Plane, PlaneState, Reason};

use super::Engine;
use crate::error::error_chain;
use crate::status::{StatusDoc, metadata_plane};

/// Check every hostname of `rec`, expecting `serving` (`ORG/APP@vN`) to answer.
pub(super) async fn check(
    engine: &Engine,
    rec: &AppRecord,
    serving: u64,
    prev: &StatusDoc,
) -> Vec<EndpointReport> {
    let inner = &engine.inner;
    let hosts = rec.hostnames.clone();
    let routes = match inner
        .runtime
        .routes(rec.org.clone(), rec.name.clone(), hosts.clone())
        .await
    {
        Ok(r) if r.len() == hosts.len() => r,
        Ok(_) => vec![
            Plane::new(
                PlaneState::Unknown,
                Reason::NotChecked,
                "the runtime answered for other hostnames"
            );
            hosts.len()
        ],
        Err(e) => vec![
            Plane::new(
                PlaneState::Unknown,
                Reason::NotChecked,
                format!("the runtime could not report routes: {}", error_chain(&e))
            );
            hosts.len()
        ],
    };
    let edge = inner.runtime.edge();
    let targets: Vec<EndpointTarget> = hosts
        .iter()
        .map(|h| EndpointTarget {
            hostname: h.hostname.clone(),
            kind: h.kind,
            platform_owned: satusky_core::hostnames::is_in_zone(
                &h.hostname,
                &inner.config.dns_zone,
            ),
            path: if h.kind == HostnameKind::Redirect {
                "/".to_string()
            } else {
                rec.spec.checks.path.clone()
            },
            expect: rec.spec.checks.expect.clone(),
            expect_release: (h.kind != HostnameKind::Redirect)
                .then(|| release_id(&rec.org, &rec.name, serving)),
            redirect_to: h.redirect_to.clone(),
            edge: edge.clone(),
        })
        .collect();
    let probed = match &inner.prober {
        Some(p) => {
            let started = std::time::Instant::now();
            let probed = p.check(targets).await;
            // Metrics: one count per probed plane, one duration per pass.
            let planes = probed.iter().flat_map(|e| {
                [
                    ("dns", e.dns.state),
                    ("tls", e.tls.state),
                    ("http", e.http.state),
                ]
            });
            crate::metrics::probes(planes, started.elapsed());
            Some(probed)
        }
        None => None,
    };
    let now = now_ms();
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let old = prev.endpoints.iter().find(|e| e.hostname == h.hostname);
            let unknown = || {
                Plane::new(
                    PlaneState::Unknown,
                    Reason::NotChecked,
                    "no prober is configured",
                )
            };
            let (dns, tls, http) = match probed.as_ref().and_then(|p| p.get(i)) {
                Some(p) => (p.dns.clone(), p.tls.clone(), p.http.clone()),
                None => (unknown(), unknown(), unknown()),
            };
            EndpointReport {
                hostname: h.hostname.clone(),
                kind: h.kind,
                metadata: merge_plane(old.map(|o| &o.metadata), metadata_plane(rec, h.kind), now),
                route: merge_plane(old.map(|o| &o.route), routes[i].clone(), now),
                dns: merge_plane(old.map(|o| &o.dns), dns, now),
                tls: merge_plane(old.map(|o| &o.tls), tls, now),
                http: merge_plane(old.map(|o| &o.http), http, now),
            }
        })
        .collect()
}

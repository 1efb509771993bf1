//! Unit tests of the pure drift comparison.

use std::collections::HashSet;
use std::net::IpAddr;

use satusky_core::runtime::{EdgeInfo, ServedHost};
use satusky_types::{
    DriftOwner, EndpointReport, Hostname, HostnameKind, Plane, PlaneState, Reason,
};

use super::*;

const GEN: &str = "web-acme.apps.test";
const SHOP: &str = "shop.example.com";

fn ready() -> Plane {
    Plane::new(PlaneState::Ready, Reason::Accepted, "ok")
}

fn failed(reason: Reason, msg: &str) -> Plane {
    Plane::new(PlaneState::Failed, reason, msg)
}

fn report(host: &str) -> EndpointReport {
    EndpointReport {
        hostname: host.into(),
        kind: HostnameKind::Generated,
        metadata: ready(),
        route: ready(),
        dns: ready(),
        tls: ready(),
        http: ready(),
    }
}

fn hosts() -> Vec<Hostname> {
    vec![
        Hostname {
            hostname: GEN.into(),
            kind: HostnameKind::Generated,
            redirect_to: None,
        },
        Hostname {
            hostname: SHOP.into(),
            kind: HostnameKind::Alias,
            redirect_to: None,
        },
    ]
}

fn served(host: &str, release: &str) -> ServedHost {
    ServedHost {
        hostname: host.into(),
        release_id: Some(release.into()),
        redirect_to: None,
    }
}

struct Case {
    hostnames: Vec<Hostname>,
    held: HashSet<String>,
    edge: EdgeInfo,
    endpoints: Vec<EndpointReport>,
    served: Option<Vec<ServedHost>>,
}

impl Case {
    fn new() -> Case {
        Case {
            hostnames: hosts(),
            held: [GEN, SHOP].iter().map(|s| s.to_string()).collect(),
            edge: EdgeInfo {
                addresses: vec!["203.0.113.7".parse::<IpAddr>().unwrap()],
                ..EdgeInfo::default()
            },
            endpoints: vec![report(GEN), report(SHOP)],
            served: Some(vec![
                served(GEN, "acme/web@v2"),
                served(SHOP, "acme/web@v2"),
            ]),
        }
    }

    fn run(&self) -> Comparison {
        let zone = Zone::parse("apps.test").expect("a zone");
        let e = Expected {
            org: "acme",
            app: "web",
            release_id: "acme/web@v2",
            hostnames: &self.hostnames,
            held: &self.held,
            zone: &zone,
            edge: &self.edge,
        };
        let o = Observed {
            endpoints: &self.endpoints,
            served: self.served.as_deref(),
        };
        compare(&e, &o)
    }
}

fn keys(c: &Comparison) -> Vec<(String, &'static str, DriftOwner)> {
    c.findings
        .iter()
        .map(|f| (f.hostname.clone(), f.plane.as_str(), f.owner))
        .collect()
}

#[test]
fn all_ready_and_served_is_no_drift_and_judges_every_plane() {
    let c = Case::new().run();
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    assert_eq!(c.judged.len(), 8);
    assert!(!c.platform_owned());
}

#[test]
fn a_dropped_route_is_platform_drift_and_heals_once_served_again() {
    let mut case = Case::new();
    case.endpoints[0].route = failed(Reason::RouteMissing, "the local edge has no route");
    case.served = Some(vec![served(SHOP, "acme/web@v2")]);
    let c = case.run();
    assert_eq!(keys(&c), vec![(GEN.into(), "route", DriftOwner::Platform)]);
    assert_eq!(c.findings[0].observed, "the local edge has no route");
    assert_eq!(c.findings[0].expected, "routed to acme/web@v2");
    assert!(c.platform_owned());
    assert!(!c.gone(GEN, "route"));
    let c = Case::new().run();
    assert!(c.gone(GEN, "route"));
}

#[test]
fn served_hosts_find_a_missing_route_the_plane_missed_and_a_stale_release() {
    let mut case = Case::new();
    case.served = Some(vec![served(SHOP, "acme/web@v1")]);
    let c = case.run();
    assert_eq!(
        keys(&c),
        vec![
            (GEN.into(), "route", DriftOwner::Platform),
            (SHOP.into(), "route", DriftOwner::Platform)
        ]
    );
    assert_eq!(
        c.findings[0].observed,
        "no route of acme/web serves web-acme.apps.test"
    );
    assert_eq!(c.findings[1].observed, "the route serves acme/web@v1");
}

#[test]
fn a_foreign_hostname_on_the_route_is_drift_the_other_way() {
    let mut case = Case::new();
    case.served
        .as_mut()
        .unwrap()
        .push(served("Evil.Example.net", "acme/web@v2"));
    let c = case.run();
    assert_eq!(
        keys(&c),
        vec![("evil.example.net".into(), "route", DriftOwner::Platform)]
    );
    assert!(c.findings[0].expected.starts_with("not routed"));
    assert!(!c.gone("evil.example.net", "route"));
    // Once the route no longer serves it, the finding is gone (the runtime answered).
    let c = Case::new().run();
    assert!(c.gone("evil.example.net", "route"));
    // A runtime that cannot list its routes judges nothing the other way.
    let mut case = Case::new();
    case.served = None;
    assert!(!case.run().gone("evil.example.net", "route"));
}

#[test]
fn a_hostname_held_by_the_app_is_not_foreign() {
    let mut case = Case::new();
    case.held.insert("next.example.com".into());
    case.served
        .as_mut()
        .unwrap()
        .push(served("next.example.com", "acme/web@v2"));
    assert!(case.run().findings.is_empty());
}

#[test]
fn dns_drift_is_the_platforms_in_its_zone_and_the_users_elsewhere() {
    let mut case = Case::new();
    case.endpoints[0].dns = failed(Reason::WrongTarget, "A 10.0.0.9")
        .with_remediation("the platform zone must serve it");
    case.endpoints[1].dns = failed(Reason::WrongTarget, "A 192.0.2.1")
        .with_remediation("replace its records with \"shop.example.com. A 203.0.113.7\"");
    let c = case.run();
    assert_eq!(
        keys(&c),
        vec![
            (GEN.into(), "dns", DriftOwner::Platform),
            (SHOP.into(), "dns", DriftOwner::User)
        ]
    );
    assert_eq!(c.findings[0].remediation, None);
    assert_eq!(c.findings[0].expected, "resolves to 203.0.113.7");
    assert!(
        c.findings[1]
            .remediation
            .as_deref()
            .unwrap()
            .contains("shop.example.com. A 203.0.113.7")
    );
}

#[test]
fn tls_and_http_drift_reasons_only() {
    let mut case = Case::new();
    case.endpoints[0].tls = failed(Reason::NotValidForName, "for other.test");
    case.endpoints[0].http = failed(Reason::ForeignRelease, "acme/web@v1 answered");
    case.endpoints[1].tls = failed(Reason::HandshakeFailed, "reset");
    case.endpoints[1].http = failed(Reason::BadGateway, "502");
    let c = case.run();
    assert_eq!(
        keys(&c),
        vec![
            (GEN.into(), "tls", DriftOwner::Platform),
            (GEN.into(), "http", DriftOwner::Platform)
        ]
    );
    assert_eq!(c.findings[1].expected, "x-satusky-release: acme/web@v2");
    // A failure that is not drift still judges the plane: its old drift is gone.
    assert!(c.gone(SHOP, "http"));
}

#[test]
fn planes_not_observed_neither_find_nor_clear() {
    let mut case = Case::new();
    case.endpoints[0].route = Plane::new(PlaneState::Pending, Reason::Waiting, "no replica yet");
    case.endpoints[0].dns = Plane::new(PlaneState::Unknown, Reason::NotChecked, "no prober");
    case.served = Some(vec![served(SHOP, "acme/web@v2")]);
    let c = case.run();
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    assert!(!c.gone(GEN, "route"));
    assert!(!c.gone(GEN, "dns"));
}

#[test]
fn redirect_hosts_must_be_redirected() {
    let mut case = Case::new();
    case.hostnames.push(Hostname {
        hostname: "old.example.com".into(),
        kind: HostnameKind::Redirect,
        redirect_to: Some("https://shop.example.com".into()),
    });
    case.held.insert("old.example.com".into());
    case.endpoints.push(report("old.example.com"));
    case.served
        .as_mut()
        .unwrap()
        .push(served("old.example.com", "acme/web@v2"));
    let c = case.run();
    assert_eq!(
        keys(&c),
        vec![("old.example.com".into(), "route", DriftOwner::Platform)]
    );
    assert_eq!(
        c.findings[0].expected,
        "redirected to https://shop.example.com"
    );
}

#[test]
fn findings_about_hostnames_the_app_no_longer_has_are_moot() {
    let c = Case::new().run();
    assert!(c.gone("gone.example.com", "dns"));
    assert!(!c.gone(SHOP, "route") || c.judged.contains(&(SHOP.to_string(), "route")));
    let mut case = Case::new();
    case.served = None;
    assert!(!case.run().gone("gone.example.com", "dns"));
}

/// The usual case plus `old` redirecting to `https://shop.example.com`, held by the app.
fn with_redirect(old: &str) -> Case {
    let mut case = Case::new();
    case.hostnames.push(Hostname {
        hostname: old.into(),
        kind: HostnameKind::Redirect,
        redirect_to: Some("https://shop.example.com".into()),
    });
    case.held.insert(old.into());
    case
}

#[test]
fn a_redirect_to_another_target_is_route_drift_even_when_the_route_plane_is_ready() {
    let old = "old.example.com";
    let mut case = with_redirect(old);
    case.endpoints.push(report(old));
    let redirect = |to: &str| ServedHost {
        hostname: old.into(),
        release_id: None,
        redirect_to: Some(to.into()),
    };
    // As a Gateway's RequestRedirect reads back: same target, other spelling.
    case.served
        .as_mut()
        .unwrap()
        .push(redirect("https://Shop.example.com:443/"));
    let c = case.run();
    assert!(c.findings.is_empty(), "{:?}", c.findings);
    assert!(c.gone(old, "route"));
    case.served.as_mut().unwrap().pop();
    case.served
        .as_mut()
        .unwrap()
        .push(redirect("https://evil.example.net"));
    let c = case.run();
    assert_eq!(keys(&c), vec![(old.into(), "route", DriftOwner::Platform)]);
    assert_eq!(
        c.findings[0].expected,
        "redirected to https://shop.example.com"
    );
    assert_eq!(
        c.findings[0].observed,
        "the route redirects to https://evil.example.net"
    );
}

#[test]
fn an_answer_redirecting_elsewhere_is_http_drift() {
    let old = "old.example.com";
    let mut case = with_redirect(old);
    let mut r = report(old);
    r.http = failed(
        Reason::WrongRedirect,
        "308 to https://evil.example.net/, not https://shop.example.com/",
    );
    case.endpoints.push(r);
    case.served = None;
    let c = case.run();
    assert_eq!(keys(&c), vec![(old.into(), "http", DriftOwner::Platform)]);
    assert_eq!(
        c.findings[0].expected,
        "redirected to https://shop.example.com"
    );
}

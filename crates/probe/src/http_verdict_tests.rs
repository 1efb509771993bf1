//! Unit tests of the HTTP plane's decision.

use crate::verdict_test_support::record_failed;
use satusky_core::ExpectedStatus;

use super::*;

fn response(status: u16, location: Option<&str>, release: Option<&str>) -> HttpObservation {
    HttpObservation::Response {
        status,
        location: location.map(str::to_string),
        release: release.map(str::to_string),
    }
}

fn app() -> EndpointTarget {
    EndpointTarget::new("web-acme.apps.example.net").with_release("acme/web@v4")
}

#[test]
fn status_sets_parse_and_match() {
    let set = ExpectedStatus::parse("2xx,3xx").unwrap();
    assert!(set.matches(200) && set.matches(302) && !set.matches(404));
    let exact = ExpectedStatus::parse("200, 204").unwrap();
    assert!(exact.matches(204) && !exact.matches(201));
    assert!(ExpectedStatus::parse("2xy").is_err());
    assert!(ExpectedStatus::parse("600").is_err());
    assert!(ExpectedStatus::parse("").is_err());
}

#[test]
fn the_right_release_with_an_expected_status_is_ready() {
    let p = http_plane(&response(200, None, Some("acme/web@v4")), &app());
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Ready, Reason::ExpectedStatus)
    );
    assert_eq!(p.message, "GET / → 200 (acme/web@v4)");
}

#[test]
fn gateway_errors_have_their_own_reasons() {
    for (status, reason) in [
        (502, Reason::BadGateway),
        (503, Reason::ServiceUnavailable),
        (504, Reason::GatewayTimeout),
    ] {
        let p = http_plane(&response(status, None, None), &app());
        assert_eq!((p.state, p.reason), (PlaneState::Failed, reason));
        assert_eq!(p.message, format!("GET / → {status}"));
    }
}

#[test]
fn an_unexpected_status_names_the_expectation() {
    let t = app().with_path("/health");
    let p = http_plane(&response(404, None, Some("acme/web@v4")), &t);
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Failed, Reason::UnexpectedStatus)
    );
    assert_eq!(p.message, "GET /health → 404 (expected 2xx)");
    let t = app().with_expect(&ExpectedStatus::parse("2xx,3xx").unwrap());
    let p = http_plane(&response(302, None, Some("acme/web@v4")), &t);
    assert_eq!(p.reason, Reason::ExpectedStatus);
}

#[test]
fn missing_and_foreign_release_headers_are_distinct() {
    let p = http_plane(&response(200, None, None), &app());
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Failed, Reason::ReleaseHeaderMissing)
    );
    let p = http_plane(&response(200, None, Some("acme/web@v3")), &app());
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Failed, Reason::ForeignRelease)
    );
    assert_eq!(p.message, "answered by acme/web@v3, expected acme/web@v4");
    // A foreign release is the root cause even when its status is also wrong.
    let p = http_plane(&response(404, None, Some("other/app@v1")), &app());
    assert_eq!(p.reason, Reason::ForeignRelease);
}

#[test]
fn without_an_expected_release_the_header_is_not_required() {
    let p = http_plane(
        &response(204, None, None),
        &EndpointTarget::new("a.example"),
    );
    assert_eq!(
        (p.reason, p.message.as_str()),
        (Reason::ExpectedStatus, "GET / → 204")
    );
}

#[test]
fn redirect_hosts_need_a_permanent_redirect_to_the_target() {
    let t = EndpointTarget::new("example.com").with_redirect_to("https://www.example.com");
    let ok = http_plane(&response(301, Some("https://www.example.com/"), None), &t);
    assert_eq!(
        (ok.state, ok.reason),
        (PlaneState::Ready, Reason::Redirects)
    );
    let ok = http_plane(
        &response(308, Some("https://WWW.example.com:443"), None),
        &t,
    );
    assert_eq!(ok.reason, Reason::Redirects);
    let wrong = http_plane(&response(301, Some("https://elsewhere.example/"), None), &t);
    assert_eq!(
        (wrong.state, wrong.reason),
        (PlaneState::Failed, Reason::WrongRedirect)
    );
    assert!(
        wrong.message.contains("https://elsewhere.example/"),
        "{}",
        wrong.message
    );
    let temporary = http_plane(&response(302, Some("https://www.example.com/"), None), &t);
    assert_eq!(temporary.reason, Reason::WrongRedirect);
    let none = http_plane(&response(200, None, None), &t);
    assert_eq!(none.reason, Reason::WrongRedirect);
    assert!(
        none.message.contains("without Location"),
        "{}",
        none.message
    );
}

#[test]
fn broken_exchanges_are_not_ready() {
    let p = http_plane(&HttpObservation::Reset("eof".into()), &app());
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Failed, Reason::ConnectionReset)
    );
    let limit = std::time::Duration::from_secs(3);
    let p = http_plane(&HttpObservation::Timeout(limit), &app());
    assert_eq!((p.state, p.reason), (PlaneState::Failed, Reason::Timeout));
    assert_eq!(
        p.message,
        "GET /: no response within 3s (the probe's timeout)"
    );
    // The app's `[checks] timeout` is named, with where to change it.
    let t = app().with_http_timeout(std::time::Duration::from_secs(6));
    let p = http_plane(
        &HttpObservation::Timeout(std::time::Duration::from_secs(6)),
        &t,
    );
    assert_eq!(
        p.message, "GET /: no response within 6s ([checks] timeout)",
        "the limit and where it is set"
    );
    assert!(
        p.remediation
            .as_deref()
            .unwrap_or_default()
            .contains("[checks] timeout"),
        "{p:?}"
    );
}

#[test]
fn an_unexpected_status_quotes_its_location() {
    let p = http_plane(
        &response(302, Some("https://login.example/"), Some("acme/web@v4")),
        &app(),
    );
    assert_eq!(p.reason, Reason::UnexpectedStatus);
    assert_eq!(
        p.message,
        "GET / → 302 https://login.example/ (expected 2xx)"
    );
}

#[test]
fn a_redirect_to_itself_is_a_loop_naming_the_location() {
    let t = EndpointTarget::new("a.example").with_redirect_to("https://b.example");
    for location in [
        "https://a.example/",
        "https://A.example.",
        "/",
        "//a.example",
        "https://a.example:8443/",
    ] {
        let p = http_plane(&response(301, Some(location), None), &t);
        assert_eq!(
            (p.state, p.reason),
            (PlaneState::Failed, Reason::RedirectLoop),
            "{location}: {p:?}"
        );
        assert_eq!(
            p.message,
            format!("a.example → a.example: a.example answers 301 with Location {location}")
        );
        assert!(
            p.remediation
                .as_deref()
                .unwrap_or_default()
                .contains("redirect_to"),
            "{p:?}"
        );
    }
    // An app host (no redirect expected) answering a redirect to its own check path.
    let t = app().with_path("/health");
    let p = http_plane(
        &response(308, Some("https://web-acme.apps.example.net/health/"), None),
        &t,
    );
    assert_eq!(p.reason, Reason::RedirectLoop);
    assert!(
        p.message
            .starts_with("web-acme.apps.example.net/health → web-acme.apps.example.net/health/:"),
        "{}",
        p.message
    );
    // Elsewhere on the same host is not a loop (yet): the app's status is judged.
    let p = http_plane(
        &response(301, Some("/login"), Some("acme/web@v4")),
        &app().with_path("/health"),
    );
    assert_eq!(p.reason, Reason::UnexpectedStatus);
    assert!(p.message.contains("301 /login"), "{}", p.message);
}

fn hop(host: &str, path: &str) -> HopUrl {
    HopUrl {
        host: host.into(),
        port: None,
        path: path.into(),
    }
}

#[test]
fn locations_resolve_against_the_url_requested() {
    let here = hop("a.example", "/docs/page?x=1");
    assert_eq!(
        here.follow("https://B.Example./x?y=2#frag"),
        Some(hop("b.example", "/x?y=2"))
    );
    assert_eq!(
        here.follow("https://b.example"),
        Some(hop("b.example", "/"))
    );
    assert_eq!(
        here.follow("https://b.example:443/"),
        Some(hop("b.example", "/"))
    );
    assert_eq!(
        here.follow("https://b.example:8443/"),
        Some(HopUrl {
            port: Some(8443),
            ..hop("b.example", "/")
        })
    );
    assert_eq!(here.follow("//c.example/p"), Some(hop("c.example", "/p")));
    assert_eq!(here.follow("/root"), Some(hop("a.example", "/root")));
    assert_eq!(here.follow("other"), Some(hop("a.example", "/docs/other")));
    // Not followed: another scheme, nothing.
    assert_eq!(here.follow("http://b.example/"), None);
    assert_eq!(here.follow("ftp://b.example/"), None);
    assert_eq!(here.follow("  "), None);
    // One trailing slash and the port aside, the same place.
    assert!(hop("a.example", "/x/").same_place(&hop("a.example", "/x")));
    assert!(!hop("a.example", "/x?q=1").same_place(&hop("a.example", "/x")));
    assert!(!hop("a.example", "/").same_place(&hop("b.example", "/")));
}

fn redirect(status: u16, location: &str) -> HttpObservation {
    response(status, Some(location), None)
}

#[test]
fn a_chain_coming_back_is_a_loop_naming_the_chain() {
    let t = EndpointTarget::new("a.apps.test").with_redirect_to("https://b.apps.test");
    let mut chain = RedirectChain::start(&t);
    assert_eq!(
        chain.step(&redirect(301, "https://b.apps.test/")),
        ChainStep::Follow(hop("b.apps.test", "/"))
    );
    assert_eq!(
        chain.step(&redirect(308, "https://c.apps.test/")),
        ChainStep::Follow(hop("c.apps.test", "/"))
    );
    assert_eq!(
        chain.step(&redirect(302, "https://a.apps.test")),
        ChainStep::Loop
    );
    assert!(chain.looped());
    assert_eq!(chain.hops(), 2);
    assert_eq!(
        chain.describe(),
        "a.apps.test → b.apps.test → c.apps.test → a.apps.test"
    );
    let first = http_plane(&redirect(301, "https://b.apps.test/"), &t);
    assert_eq!(first.reason, Reason::Redirects);
    let p = chain_plane(first, &chain, &t);
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Failed, Reason::RedirectLoop)
    );
    assert_eq!(
        p.message,
        "a.apps.test → b.apps.test → c.apps.test → a.apps.test: c.apps.test answers 302 with \
         Location https://a.apps.test"
    );
    assert!(
        p.remediation
            .as_deref()
            .unwrap_or_default()
            .contains("point at each other"),
        "{p:?}"
    );
}

#[test]
fn a_chain_that_ends_keeps_the_first_verdict() {
    let t = EndpointTarget::new("a.apps.test").with_redirect_to("https://b.apps.test");
    let first = http_plane(&redirect(301, "https://b.apps.test/"), &t);
    for end in [
        response(200, None, Some("acme/b@v1")),
        response(404, None, None),
        response(301, None, None),
        redirect(301, "http://b.apps.test/"),
        HttpObservation::Timeout(std::time::Duration::from_secs(1)),
        HttpObservation::Reset("eof".into()),
    ] {
        let mut chain = RedirectChain::start(&t);
        assert!(matches!(
            chain.step(&redirect(301, "https://b.apps.test/")),
            ChainStep::Follow(_)
        ));
        assert_eq!(chain.step(&end), ChainStep::End, "{end:?}");
        assert_eq!(chain_plane(first.clone(), &chain, &t), first);
    }
}

#[test]
fn a_chain_is_followed_for_a_bounded_number_of_hops() {
    let t = EndpointTarget::new("h0.test").with_redirect_to("https://h1.test");
    let mut chain = RedirectChain::start(&t);
    let mut followed = 0;
    for i in 1.. {
        match chain.step(&redirect(301, &format!("https://h{i}.test/"))) {
            ChainStep::Follow(_) => followed += 1,
            ChainStep::End => break,
            ChainStep::Loop => panic!("no loop here"),
        }
    }
    assert_eq!(followed, MAX_REDIRECT_HOPS);
    assert_eq!(chain.hops(), MAX_REDIRECT_HOPS);
    assert!(!chain.looped());
}

#[test]
fn fixes_name_the_app_when_the_release_does() {
    let p = http_plane(&response(502, None, None), &app());
    assert!(
        p.remediation
            .as_deref()
            .unwrap_or_default()
            .contains("`1ctl app status web`"),
        "{p:?}"
    );
    let t = EndpointTarget::new("example.com").with_redirect_to("https://www.example.com");
    let p = http_plane(&response(503, None, None), &t);
    assert!(
        p.remediation
            .as_deref()
            .unwrap_or_default()
            .contains("`1ctl app status`"),
        "{p:?}"
    );
}

#[test]
fn every_failed_plane_has_a_remediation() {
    let host = "web-acme.apps.example.net";
    let targets = [
        app(),
        app().with_path("/health"),
        app().with_http_timeout(std::time::Duration::from_secs(6)),
        app().with_expect(&ExpectedStatus::parse("2xx,3xx").unwrap()),
        EndpointTarget::new(host),
        EndpointTarget::new(host).with_redirect_to("https://www.example.com"),
    ];
    let self_url = format!("https://{host}/");
    let locations = [
        None,
        Some("https://www.example.com/"),
        Some("https://elsewhere.example/"),
        Some(self_url.as_str()),
        Some("/login"),
    ];
    let releases = [None, Some("acme/web@v4"), Some("acme/web@v3")];
    let mut observations = vec![
        HttpObservation::Timeout(std::time::Duration::from_secs(2)),
        HttpObservation::Reset("connection reset by peer".into()),
        HttpObservation::Invalid("invalid HTTP version parsed".into()),
    ];
    for status in [200, 204, 301, 302, 307, 308, 400, 404, 500, 502, 503, 504] {
        for location in locations {
            for release in releases {
                observations.push(response(status, location, release));
            }
        }
    }
    let mut failed = std::collections::BTreeSet::new();
    let mut check = |case: &dyn std::fmt::Debug, p: &Plane| record_failed(&mut failed, case, p);
    for t in &targets {
        for obs in &observations {
            check(&(t, obs), &http_plane(obs, t));
        }
    }
    // The loops a followed chain finds, on an app host and on a redirect host.
    for t in &targets {
        let mut chain = RedirectChain::start(t);
        chain.step(&redirect(301, "https://b.apps.test/"));
        chain.step(&redirect(301, &self_url));
        let first = http_plane(&redirect(301, "https://www.example.com/"), t);
        check(&(t, &chain), &chain_plane(first, &chain, t));
    }
    for reason in [
        Reason::UnexpectedStatus,
        Reason::BadGateway,
        Reason::ServiceUnavailable,
        Reason::GatewayTimeout,
        Reason::ConnectionReset,
        Reason::WrongRedirect,
        Reason::RedirectLoop,
        Reason::ReleaseHeaderMissing,
        Reason::ForeignRelease,
        Reason::Timeout,
    ] {
        assert!(failed.contains(&reason.code()), "{reason} is produced");
    }
}

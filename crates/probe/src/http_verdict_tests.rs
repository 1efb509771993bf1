//! Unit tests of the HTTP plane's decision.

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
    assert!(
        p.message.ends_with("no response within 3s"),
        "{}",
        p.message
    );
    // The app's `[checks] timeout` is named, with where to change it.
    let t = app().with_http_timeout(std::time::Duration::from_secs(6));
    let p = http_plane(
        &HttpObservation::Timeout(std::time::Duration::from_secs(6)),
        &t,
    );
    assert!(
        p.message.ends_with("no response within 6s"),
        "{}",
        p.message
    );
    assert!(
        p.remediation
            .as_deref()
            .unwrap_or_default()
            .contains("[checks] timeout"),
        "{p:?}"
    );
}

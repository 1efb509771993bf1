//! End-to-end checks against a real edge on 127.0.0.1 (hickory DNS zone, rustls with rcgen
//! certificates, hyper handlers): each case yields its own state and reason on each plane.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use satusky_probe::{EndpointTarget, PlaneState, ProbedEndpoint, Prober, Reason};
use support::{CertSpec, EdgeBuilder, Responder, TestEdge};

const RELEASE: &str = "acme/web@v4";
const TIMEOUT: Duration = Duration::from_secs(2);
/// How late the slow hosts answer.
const SLOW: Duration = Duration::from_millis(400);

async fn edge() -> TestEdge {
    EdgeBuilder::new("edge.test")
        .healthy("ok.edge.test", RELEASE)
        .cname("alias.edge.test", "alias2.edge.test")
        .cname("alias2.edge.test", "ok.edge.test")
        .cert("alias.edge.test", CertSpec::Valid)
        .http("alias.edge.test", Responder::status(200, Some(RELEASE)))
        .a("wrong.edge.test", "192.0.2.1")
        .a("wrong.edge.test", "127.0.0.1")
        .cert("wrong.edge.test", CertSpec::Valid)
        .http("wrong.edge.test", Responder::status(200, Some(RELEASE)))
        .txt("txt.edge.test", "only text here")
        .servfail("broken.edge.test")
        .a("expired.edge.test", "127.0.0.1")
        .cert("expired.edge.test", CertSpec::Expired)
        .http("expired.edge.test", Responder::status(200, Some(RELEASE)))
        .a("early.edge.test", "127.0.0.1")
        .cert("early.edge.test", CertSpec::NotYetValid)
        .a("wrongname.edge.test", "127.0.0.1")
        .cert(
            "wrongname.edge.test",
            CertSpec::WrongName("someone-else.edge.test".into()),
        )
        .a("stranger.edge.test", "127.0.0.1")
        .cert("stranger.edge.test", CertSpec::UnknownCa)
        .a("soon.edge.test", "127.0.0.1")
        .cert("soon.edge.test", CertSpec::ExpiresInDays(5))
        .http("soon.edge.test", Responder::status(200, Some(RELEASE)))
        .a("nocert.edge.test", "127.0.0.1")
        .healthy("notfound.edge.test", RELEASE)
        .http("notfound.edge.test", Responder::status(404, Some(RELEASE)))
        .healthy("badgw.edge.test", RELEASE)
        .http("badgw.edge.test", Responder::status(502, None))
        .healthy("unavailable.edge.test", RELEASE)
        .http("unavailable.edge.test", Responder::status(503, None))
        .healthy("redirect-ok.edge.test", RELEASE)
        .http(
            "redirect-ok.edge.test",
            Responder::redirect(301, "https://ok.edge.test/"),
        )
        .healthy("redirect-bad.edge.test", RELEASE)
        .http(
            "redirect-bad.edge.test",
            Responder::redirect(302, "https://elsewhere.test/"),
        )
        .healthy("norelease.edge.test", RELEASE)
        .http("norelease.edge.test", Responder::status(200, None))
        .healthy("foreign.edge.test", RELEASE)
        .http(
            "foreign.edge.test",
            Responder::status(200, Some("acme/web@v3")),
        )
        .healthy("self.edge.test", RELEASE)
        .http(
            "self.edge.test",
            Responder::redirect(301, "https://self.edge.test/"),
        )
        .healthy("ping.edge.test", RELEASE)
        .http(
            "ping.edge.test",
            Responder::redirect(308, "https://pong.edge.test/"),
        )
        .healthy("pong.edge.test", RELEASE)
        .http(
            "pong.edge.test",
            Responder::redirect(308, "https://ping.edge.test/"),
        )
        .healthy("tick.edge.test", RELEASE)
        .http(
            "tick.edge.test",
            Responder::redirect(301, "https://tock.edge.test/"),
        )
        .healthy("tock.edge.test", RELEASE)
        .http(
            "tock.edge.test",
            Responder::slow(SLOW, Responder::redirect(301, "https://tick.edge.test/")),
        )
        .healthy("slow.edge.test", RELEASE)
        .http(
            "slow.edge.test",
            Responder::slow(SLOW, Responder::status(200, Some(RELEASE))),
        )
        .healthy("hang.edge.test", RELEASE)
        .http("hang.edge.test", Responder::Hang)
        .healthy("close.edge.test", RELEASE)
        .http("close.edge.test", Responder::Close)
        .start()
        .await
}

fn target(host: &str) -> EndpointTarget {
    EndpointTarget::new(host)
        .with_addresses(["127.0.0.1".parse::<IpAddr>().unwrap()])
        .with_release(RELEASE)
}

async fn check(edge: &TestEdge, target: EndpointTarget) -> ProbedEndpoint {
    let prober = Prober::new(edge.config(TIMEOUT)).unwrap();
    prober.check(&target).await
}

fn assert_plane(p: &satusky_probe::Plane, state: PlaneState, reason: Reason) {
    assert_eq!((p.state, p.reason), (state, reason), "{p:?}");
    assert!(p.checked_at.is_some(), "checked_at is set: {p:?}");
}

#[tokio::test]
async fn a_healthy_host_is_ready_on_every_plane() {
    let edge = edge().await;
    let r = check(&edge, target("ok.edge.test")).await;
    assert_plane(&r.dns, PlaneState::Ready, Reason::ResolvesToEdge);
    assert_eq!(r.dns.message, "A 127.0.0.1");
    assert_plane(&r.tls, PlaneState::Ready, Reason::CertificateValid);
    assert!(
        // Issued for 90 days from now (less the seconds the test took).
        r.tls.message.starts_with("expires in 89d (")
            || r.tls.message.starts_with("expires in 90d ("),
        "{}",
        r.tls.message
    );
    assert_plane(&r.http, PlaneState::Ready, Reason::ExpectedStatus);
    assert_eq!(r.http.message, "GET / → 200 (acme/web@v4)");
    assert!(r.is_ready());
}

#[tokio::test]
async fn a_cname_chain_is_followed_to_the_edge() {
    let edge = edge().await;
    let r = check(&edge, target("alias.edge.test")).await;
    assert_plane(&r.dns, PlaneState::Ready, Reason::ResolvesToEdge);
    assert_eq!(
        r.dns.message,
        "CNAME alias2.edge.test → CNAME ok.edge.test → A 127.0.0.1"
    );
    let by_cname = check(
        &edge,
        EndpointTarget::new("alias.edge.test").with_cname("ok.edge.test"),
    )
    .await;
    assert_plane(&by_cname.dns, PlaneState::Ready, Reason::ResolvesToEdge);
}

#[tokio::test]
async fn a_stray_address_is_a_wrong_target_with_the_record_to_create() {
    let edge = edge().await;
    let r = check(&edge, target("wrong.edge.test").custom_domain(true)).await;
    assert_plane(&r.dns, PlaneState::Failed, Reason::WrongTarget);
    assert!(r.dns.message.contains("A 192.0.2.1"), "{}", r.dns.message);
    assert_eq!(
        r.dns.remediation.as_deref(),
        Some("replace its records with \"wrong.edge.test. A 127.0.0.1\"")
    );
    // The edge is dialled whatever DNS says: TLS and HTTP are judged on their own.
    assert_plane(&r.tls, PlaneState::Ready, Reason::CertificateValid);
    assert_plane(&r.http, PlaneState::Ready, Reason::ExpectedStatus);
}

#[tokio::test]
async fn missing_names_and_names_without_addresses_differ() {
    let edge = edge().await;
    let nx = check(&edge, target("missing.edge.test").custom_domain(true)).await;
    assert_plane(&nx.dns, PlaneState::Failed, Reason::NxDomain);
    assert_eq!(
        nx.dns.remediation.as_deref(),
        Some("create \"missing.edge.test. A 127.0.0.1\"")
    );
    let txt = check(&edge, target("txt.edge.test")).await;
    assert_plane(&txt.dns, PlaneState::Failed, Reason::NoAnswer);
}

#[tokio::test]
async fn a_zone_that_does_not_answer_is_servfail() {
    let edge = edge().await;
    let r = check(&edge, target("api.broken.edge.test")).await;
    assert_plane(&r.dns, PlaneState::Failed, Reason::ServFail);
    assert!(r.dns.message.contains("SERVFAIL"), "{}", r.dns.message);
}

#[tokio::test]
async fn a_record_change_is_seen_by_the_next_check() {
    let edge = edge().await;
    let prober = Prober::new(edge.config(TIMEOUT)).unwrap();
    let t = target("later.edge.test");
    let before = prober.check(&t).await;
    assert_plane(&before.dns, PlaneState::Failed, Reason::NxDomain);
    edge.add_address("later.edge.test", "127.0.0.1").await;
    let after = prober.check(&t).await;
    assert_plane(&after.dns, PlaneState::Ready, Reason::ResolvesToEdge);
}

#[tokio::test]
async fn certificate_failures_have_their_own_reasons() {
    let edge = edge().await;
    let cases = [
        ("expired.edge.test", Reason::Expired),
        ("early.edge.test", Reason::NotYetValid),
        ("wrongname.edge.test", Reason::NotValidForName),
        ("stranger.edge.test", Reason::UnknownIssuer),
    ];
    for (host, reason) in cases {
        let r = check(&edge, target(host)).await;
        assert_plane(&r.tls, PlaneState::Failed, reason);
        assert!(r.tls.remediation.is_some(), "{host}: {:?}", r.tls);
        assert!(!r.is_ready());
    }
    let r = check(&edge, target("wrongname.edge.test")).await;
    assert_eq!(
        r.tls.message,
        "the certificate covers someone-else.edge.test, not wrongname.edge.test"
    );
    let r = check(&edge, target("stranger.edge.test")).await;
    assert!(
        r.tls.message.contains("Unknown Test CA"),
        "{}",
        r.tls.message
    );
}

#[tokio::test]
async fn http_is_still_observed_behind_a_rejected_certificate() {
    let edge = edge().await;
    let r = check(&edge, target("expired.edge.test")).await;
    assert_plane(&r.tls, PlaneState::Failed, Reason::Expired);
    assert!(
        r.tls.message.starts_with("expired 2d ago"),
        "{}",
        r.tls.message
    );
    assert_plane(&r.http, PlaneState::Ready, Reason::ExpectedStatus);
}

#[tokio::test]
async fn a_certificate_expiring_in_five_days_is_ready_with_a_warning() {
    let edge = edge().await;
    let r = check(&edge, target("soon.edge.test")).await;
    assert_plane(&r.tls, PlaneState::Ready, Reason::ExpiringSoon);
    assert!(
        r.tls.message.starts_with("expires in 4d") || r.tls.message.starts_with("expires in 5d"),
        "{}",
        r.tls.message
    );
    assert!(
        r.is_ready(),
        "ExpiringSoon is a warning, the endpoint is ready"
    );
}

#[tokio::test]
async fn no_certificate_for_the_name_fails_the_handshake_and_http_waits() {
    let edge = edge().await;
    let r = check(&edge, target("nocert.edge.test")).await;
    assert_plane(&r.tls, PlaneState::Failed, Reason::HandshakeFailed);
    assert!(
        r.tls.message.contains("no certificate for this hostname"),
        "{}",
        r.tls.message
    );
    assert_plane(&r.http, PlaneState::Pending, Reason::Waiting);
}

#[tokio::test]
async fn plain_http_on_the_tls_port_is_not_tls() {
    let edge = edge().await;
    let (plain, server) = support::plain_http_server().await;
    let mut config = edge.config(TIMEOUT);
    config.edge = Some(plain);
    let r = Prober::new(config)
        .unwrap()
        .check(&target("ok.edge.test"))
        .await;
    assert_plane(&r.tls, PlaneState::Failed, Reason::NotTls);
    assert!(
        r.tls
            .message
            .contains("plain HTTP (HTTP/1.1 400 Bad Request)"),
        "{}",
        r.tls.message
    );
    let fix = r.tls.remediation.as_deref().unwrap_or_default();
    assert!(
        fix.contains(&format!("a plain HTTP server listens on {plain}")),
        "{fix}"
    );
    assert_plane(&r.http, PlaneState::Pending, Reason::Waiting);
    server.abort();
}

#[tokio::test]
async fn http_statuses_map_to_their_reasons() {
    let edge = edge().await;
    let cases = [
        ("notfound.edge.test", Reason::UnexpectedStatus),
        ("badgw.edge.test", Reason::BadGateway),
        ("unavailable.edge.test", Reason::ServiceUnavailable),
        ("norelease.edge.test", Reason::ReleaseHeaderMissing),
        ("foreign.edge.test", Reason::ForeignRelease),
        ("close.edge.test", Reason::ConnectionReset),
    ];
    for (host, reason) in cases {
        let r = check(&edge, target(host)).await;
        assert_plane(&r.tls, PlaneState::Ready, Reason::CertificateValid);
        assert_plane(&r.http, PlaneState::Failed, reason);
    }
    let r = check(&edge, target("notfound.edge.test")).await;
    assert_eq!(r.http.message, "GET / → 404 (expected 2xx)");
    let r = check(&edge, target("foreign.edge.test")).await;
    assert_eq!(
        r.http.message,
        "answered by acme/web@v3, expected acme/web@v4"
    );
}

#[tokio::test]
async fn redirect_hosts_must_redirect_permanently_to_their_target() {
    let edge = edge().await;
    let ok = check(
        &edge,
        target("redirect-ok.edge.test").with_redirect_to("https://ok.edge.test"),
    )
    .await;
    assert_plane(&ok.http, PlaneState::Ready, Reason::Redirects);
    assert_eq!(ok.http.message, "GET / → 301 https://ok.edge.test/");
    let bad = check(
        &edge,
        target("redirect-bad.edge.test").with_redirect_to("https://ok.edge.test"),
    )
    .await;
    assert_plane(&bad.http, PlaneState::Failed, Reason::WrongRedirect);
    assert!(
        bad.http.message.contains("302 https://elsewhere.test/"),
        "{}",
        bad.http.message
    );
}

#[tokio::test]
async fn a_redirect_to_itself_is_a_loop_naming_the_location() {
    let edge = edge().await;
    let r = check(
        &edge,
        target("self.edge.test").with_redirect_to("https://ok.edge.test"),
    )
    .await;
    assert_plane(&r.http, PlaneState::Failed, Reason::RedirectLoop);
    assert_eq!(
        r.http.message,
        "self.edge.test → self.edge.test: self.edge.test answers 301 with Location \
         https://self.edge.test/"
    );
    assert!(r.http.remediation.is_some(), "{:?}", r.http);
    // Not a redirect host: the same answer is still the loop, not a bare status.
    let r = check(&edge, target("self.edge.test")).await;
    assert_plane(&r.http, PlaneState::Failed, Reason::RedirectLoop);
}

#[tokio::test]
async fn redirect_hosts_pointing_at_each_other_are_a_loop_naming_the_chain() {
    let edge = edge().await;
    let prober = Prober::new(edge.config(TIMEOUT)).unwrap();
    let r = prober
        .check(&target("ping.edge.test").with_redirect_to("https://pong.edge.test"))
        .await;
    assert_plane(&r.tls, PlaneState::Ready, Reason::CertificateValid);
    assert_plane(&r.http, PlaneState::Failed, Reason::RedirectLoop);
    assert_eq!(
        r.http.message,
        "ping.edge.test → pong.edge.test → ping.edge.test: pong.edge.test answers 308 with \
         Location https://ping.edge.test/"
    );
    assert!(r.http.remediation.is_some(), "{:?}", r.http);
    // Seen from the other end, the same loop.
    let r = prober
        .check(&target("pong.edge.test").with_redirect_to("https://ping.edge.test"))
        .await;
    assert_plane(&r.http, PlaneState::Failed, Reason::RedirectLoop);
    assert!(
        r.http
            .message
            .starts_with("pong.edge.test → ping.edge.test → pong.edge.test:"),
        "{}",
        r.http.message
    );
}

#[tokio::test]
async fn every_hop_of_a_chain_gets_the_checks_timeout() {
    let edge = edge().await;
    // The prober's own limit is shorter than the hop's answer; `[checks] timeout` is longer.
    let prober = Prober::new(edge.config(Duration::from_millis(200))).unwrap();
    let t = target("tick.edge.test").with_redirect_to("https://tock.edge.test");
    let r = prober.check(&t.clone().with_http_timeout(SLOW * 3)).await;
    assert_plane(&r.http, PlaneState::Failed, Reason::RedirectLoop);
    assert!(
        r.http
            .message
            .starts_with("tick.edge.test → tock.edge.test → tick.edge.test:"),
        "{}",
        r.http.message
    );
    // Under a shorter `[checks] timeout` the hop does not answer in time: the chain ends
    // there, and the first answer's verdict stands.
    let r = prober
        .check(&t.with_http_timeout(Duration::from_millis(150)))
        .await;
    assert_plane(&r.http, PlaneState::Ready, Reason::Redirects);
}

#[tokio::test]
async fn the_checks_timeout_is_honoured_and_named() {
    let edge = edge().await;
    // The prober's own limit would time out; the app's `[checks] timeout` is what counts.
    let prober = Prober::new(edge.config(Duration::from_millis(200))).unwrap();
    let t = target("slow.edge.test");
    let r = prober.check(&t.clone().with_http_timeout(SLOW * 3)).await;
    assert_plane(&r.http, PlaneState::Ready, Reason::ExpectedStatus);
    // And it is a limit too, whatever the prober's own says.
    let prober = Prober::new(edge.config(TIMEOUT)).unwrap();
    let started = std::time::Instant::now();
    let r = prober
        .check(&t.with_http_timeout(Duration::from_millis(250)))
        .await;
    assert_plane(&r.http, PlaneState::Failed, Reason::Timeout);
    assert!(
        r.http
            .message
            .ends_with("no response within 250ms ([checks] timeout)"),
        "{}",
        r.http.message
    );
    assert!(
        r.http
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("[checks] timeout"),
        "{:?}",
        r.http
    );
    assert!(started.elapsed() < SLOW, "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_app_that_never_answers_times_out_on_http() {
    let edge = edge().await;
    let prober = Prober::new(edge.config(Duration::from_millis(400))).unwrap();
    let started = std::time::Instant::now();
    let r = prober.check(&target("hang.edge.test")).await;
    assert_plane(&r.http, PlaneState::Failed, Reason::Timeout);
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_batch_comes_back_in_input_order() {
    let edge = edge().await;
    let mut config = edge.config(TIMEOUT);
    config.concurrency = 3;
    let prober = Prober::new(config).unwrap();
    let hosts = [
        "ok.edge.test",
        "missing.edge.test",
        "badgw.edge.test",
        "alias.edge.test",
        "foreign.edge.test",
        "stranger.edge.test",
        "txt.edge.test",
    ];
    let targets: Vec<EndpointTarget> = hosts.iter().map(|h| target(h)).collect();
    let results = prober.check_all(&targets).await;
    let got: Vec<&str> = results.iter().map(|r| r.hostname.as_str()).collect();
    assert_eq!(got, hosts);
    assert_eq!(results[1].dns.reason, Reason::NxDomain);
    assert_eq!(results[2].http.reason, Reason::BadGateway);
    assert_eq!(results[5].tls.reason, Reason::UnknownIssuer);
}

#[tokio::test]
async fn localhost_zones_are_asked_not_answered_by_the_resolver_library() {
    // `satusky dev` serves `*.satusky.localhost`: the check must ask its DNS server instead of
    // answering 127.0.0.1/::1 itself as RFC 6761 resolvers do.
    let edge = EdgeBuilder::new("satusky.localhost")
        .a("web-acme.satusky.localhost", "127.0.0.2")
        .start()
        .await;
    let prober = Prober::new(edge.config(TIMEOUT)).unwrap();
    let t = EndpointTarget::new("web-acme.satusky.localhost")
        .with_addresses(["127.0.0.2".parse::<IpAddr>().unwrap()]);
    let r = prober.check(&t).await;
    assert_plane(&r.dns, PlaneState::Ready, Reason::ResolvesToEdge);
    assert_eq!(r.dns.message, "A 127.0.0.2");
    let missing = prober
        .check(&EndpointTarget::new("nobody.satusky.localhost"))
        .await;
    assert_plane(&missing.dns, PlaneState::Failed, Reason::NxDomain);
}

#[tokio::test]
async fn every_failed_plane_on_the_edge_has_a_remediation() {
    let edge = edge().await;
    let prober = Prober::new(edge.config(Duration::from_millis(400))).unwrap();
    let mut targets: Vec<EndpointTarget> = [
        "ok.edge.test",
        "wrong.edge.test",
        "txt.edge.test",
        "missing.edge.test",
        "api.broken.edge.test",
        "expired.edge.test",
        "early.edge.test",
        "wrongname.edge.test",
        "stranger.edge.test",
        "nocert.edge.test",
        "notfound.edge.test",
        "badgw.edge.test",
        "unavailable.edge.test",
        "norelease.edge.test",
        "foreign.edge.test",
        "hang.edge.test",
        "close.edge.test",
        "self.edge.test",
    ]
    .iter()
    .flat_map(|h| [target(h), target(h).custom_domain(true)])
    .collect();
    targets.push(target("redirect-bad.edge.test").with_redirect_to("https://ok.edge.test"));
    targets.push(target("ping.edge.test").with_redirect_to("https://pong.edge.test"));
    let mut failed = 0;
    for r in prober.check_all(&targets).await {
        for (name, p) in r.planes() {
            if p.state == PlaneState::Failed {
                failed += 1;
                assert!(
                    p.remediation
                        .as_deref()
                        .is_some_and(|f| !f.trim().is_empty()),
                    "{} {name}: {p:?}",
                    r.hostname
                );
            }
        }
    }
    assert!(failed >= 20, "the walk meets failures: {failed}");
}

//! Dead and black-holed targets cost about their timeout, never the OS default, and say
//! `Timeout` (or `ConnectionRefused` when nothing listens); a resolver that answers nothing is
//! `ResolverUnreachable`, named.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use satusky_probe::{
    EndpointTarget, PlaneState, ProbeConfig, ProbedEndpoint, Prober, Reason, Timeouts,
};
use support::EdgeBuilder;

const LIMIT: Duration = Duration::from_millis(500);

fn target(host: &str) -> EndpointTarget {
    EndpointTarget::new(host).with_addresses(["127.0.0.1".parse::<IpAddr>().unwrap()])
}

#[tokio::test]
async fn a_listener_that_never_accepts_times_out_the_handshake() {
    let edge = EdgeBuilder::new("edge.test")
        .healthy("ok.edge.test", "acme/web@v1")
        .start()
        .await;
    // Bound and listening, never accepted: the kernel completes TCP, nobody speaks TLS.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = edge.config(LIMIT);
    config.edge = Some(hole.local_addr().unwrap());
    let prober = Prober::new(config).unwrap();

    let started = Instant::now();
    let r = prober.check(&target("ok.edge.test")).await;
    let took = started.elapsed();
    assert_eq!(
        (r.tls.state, r.tls.reason),
        (PlaneState::Failed, Reason::Timeout),
        "{:?}",
        r.tls
    );
    assert_eq!(
        (r.http.state, r.http.reason),
        (PlaneState::Failed, Reason::Timeout)
    );
    assert_eq!(
        r.dns.reason,
        Reason::ResolvesToEdge,
        "DNS is judged on its own"
    );
    assert!(took >= LIMIT, "{took:?}");
    assert!(
        took < LIMIT * 3,
        "a black hole costs about its timeout, took {took:?}"
    );
    drop(hole);
}

fn resolver_config(resolver: SocketAddr) -> ProbeConfig {
    ProbeConfig {
        resolvers: vec![resolver],
        edge: None,
        extra_roots: Vec::new(),
        timeouts: Timeouts::uniform(LIMIT),
        concurrency: 4,
    }
}

fn assert_unreachable(r: &ProbedEndpoint, resolver: SocketAddr) {
    assert_eq!(
        (r.dns.state, r.dns.reason),
        (PlaneState::Failed, Reason::ResolverUnreachable),
        "{:?}",
        r.dns
    );
    assert_eq!(
        r.dns.message,
        format!(
            "the resolver {resolver} did not answer for app.example.test: nothing within 500ms"
        )
    );
    let fix = r.dns.remediation.as_deref().unwrap_or_default();
    assert!(
        fix.contains(&resolver.to_string()) && fix.contains("resolvers"),
        "the fix names the resolver and the setting: {fix}"
    );
    // No address to dial: TLS and HTTP wait for DNS.
    assert_eq!(
        (r.tls.state, r.tls.reason),
        (PlaneState::Pending, Reason::Waiting)
    );
    assert_eq!(
        (r.http.state, r.http.reason),
        (PlaneState::Pending, Reason::Waiting)
    );
}

#[tokio::test]
async fn a_resolver_that_never_answers_is_unreachable() {
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let resolver = silent.local_addr().unwrap();
    let prober = Prober::new(resolver_config(resolver)).unwrap();
    let started = Instant::now();
    let r = prober.check(&target("app.example.test")).await;
    let took = started.elapsed();
    assert_unreachable(&r, resolver);
    assert!(took < LIMIT * 3, "took {took:?}");
    drop(silent);
}

#[tokio::test]
async fn a_dead_resolver_port_is_unreachable() {
    // Bound then closed: nothing listens there, on UDP or TCP.
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let prober = Prober::new(resolver_config(dead)).unwrap();
    let started = Instant::now();
    let r = prober.check(&target("app.example.test")).await;
    assert_unreachable(&r, dead);
    assert!(started.elapsed() < LIMIT * 3, "{:?}", started.elapsed());
}

#[tokio::test]
async fn nothing_listening_is_connection_refused() {
    let edge = EdgeBuilder::new("edge.test")
        .healthy("ok.edge.test", "acme/web@v1")
        .start()
        .await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut config = edge.config(LIMIT);
    config.edge = Some(closed);
    let r = Prober::new(config)
        .unwrap()
        .check(&target("ok.edge.test"))
        .await;
    assert_eq!(
        (r.tls.state, r.tls.reason),
        (PlaneState::Failed, Reason::HandshakeFailed)
    );
    assert_eq!(
        (r.http.state, r.http.reason),
        (PlaneState::Failed, Reason::ConnectionRefused)
    );
    assert!(r.http.remediation.is_some());
}

#[tokio::test]
async fn a_batch_of_black_holes_costs_one_timeout_not_one_each() {
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let edge = EdgeBuilder::new("edge.test")
        .healthy("ok.edge.test", "acme/web@v1")
        .start()
        .await;
    let mut config = edge.config(LIMIT);
    config.edge = Some(hole.local_addr().unwrap());
    config.concurrency = 8;
    let prober = Prober::new(config).unwrap();
    let targets: Vec<EndpointTarget> = (0..8).map(|_| target("ok.edge.test")).collect();
    let started = Instant::now();
    let results = prober.check_all(&targets).await;
    let took = started.elapsed();
    assert!(results.iter().all(|r| r.tls.reason == Reason::Timeout));
    assert!(
        took < LIMIT * 3,
        "8 black holes at concurrency 8 took {took:?}"
    );
}

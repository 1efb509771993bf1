//! Unit tests of the DNS plane's decision (no resolver involved).

use super::*;
use crate::verdict_test_support::record_failed;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn answer(ips: &[&str]) -> QueryOutcome {
    QueryOutcome::Answer(ips.iter().map(|s| DnsRecord::Address(ip(s))).collect())
}

fn obs(a: QueryOutcome, aaaa: QueryOutcome) -> DnsObservation {
    DnsObservation {
        a,
        aaaa,
        asked: Resolvers {
            servers: vec!["127.0.0.1:5353".parse().unwrap()],
            from_system: false,
        },
    }
}

fn edge_target() -> EndpointTarget {
    EndpointTarget::new("api.example.com").with_addresses([ip("203.0.113.7")])
}

#[test]
fn every_address_on_the_edge_is_ready() {
    let p = dns_plane(
        &obs(answer(&["203.0.113.7"]), QueryOutcome::NoData),
        &edge_target(),
    );
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Ready, Reason::ResolvesToEdge)
    );
    assert_eq!(p.message, "A 203.0.113.7");
}

#[test]
fn one_stray_address_is_a_wrong_target_naming_it() {
    let p = dns_plane(
        &obs(answer(&["203.0.113.7", "192.0.2.1"]), QueryOutcome::NoData),
        &edge_target(),
    );
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Failed, Reason::WrongTarget)
    );
    assert!(
        p.message.contains("not the edge: A 192.0.2.1"),
        "{}",
        p.message
    );
}

#[test]
fn wrong_target_on_a_custom_domain_names_the_record_to_create() {
    let t = edge_target().custom_domain(true);
    let p = dns_plane(&obs(answer(&["192.0.2.1"]), QueryOutcome::NoData), &t);
    assert_eq!(p.reason, Reason::WrongTarget);
    assert!(p.message.contains("points to A 192.0.2.1"), "{}", p.message);
    assert_eq!(
        p.remediation.as_deref(),
        Some("replace its records with \"api.example.com. A 203.0.113.7\"")
    );
}

#[test]
fn nxdomain_on_a_custom_domain_says_what_to_create() {
    let t = edge_target().custom_domain(true);
    let p = dns_plane(&obs(QueryOutcome::NxDomain, QueryOutcome::NxDomain), &t);
    assert_eq!((p.state, p.reason), (PlaneState::Failed, Reason::NxDomain));
    assert_eq!(
        p.remediation.as_deref(),
        Some("create \"api.example.com. A 203.0.113.7\"")
    );
}

#[test]
fn a_cname_expectation_is_met_by_the_chain() {
    let t = EndpointTarget::new("www.shop.example")
        .with_cname("edge.apps.example.net.")
        .custom_domain(true);
    let chain = QueryOutcome::Answer(vec![
        DnsRecord::Cname {
            name: "www.shop.example".into(),
            target: "Edge.Apps.Example.net".into(),
        },
        DnsRecord::Address(ip("198.51.100.4")),
    ]);
    let p = dns_plane(&obs(chain, QueryOutcome::NoData), &t);
    assert_eq!(p.reason, Reason::ResolvesToEdge);
    assert_eq!(p.message, "CNAME Edge.Apps.Example.net → A 198.51.100.4");
}

#[test]
fn a_missing_cname_remediation_is_the_cname_record() {
    let t = EndpointTarget::new("www.shop.example")
        .with_cname("edge.apps.example.net")
        .custom_domain(true);
    let p = dns_plane(&obs(answer(&["192.0.2.9"]), QueryOutcome::NoData), &t);
    assert_eq!(p.reason, Reason::WrongTarget);
    assert!(
        p.message.contains("expected CNAME edge.apps.example.net"),
        "{}",
        p.message
    );
    assert_eq!(
        p.remediation.as_deref(),
        Some("replace its records with \"www.shop.example. CNAME edge.apps.example.net.\"")
    );
}

#[test]
fn no_data_is_no_answer_and_beats_nxdomain() {
    let p = dns_plane(
        &obs(QueryOutcome::NoData, QueryOutcome::NxDomain),
        &edge_target(),
    );
    assert_eq!(p.reason, Reason::NoAnswer);
}

#[test]
fn servfail_beats_timeout_and_timeout_beats_nxdomain() {
    let p = dns_plane(
        &obs(
            QueryOutcome::Timeout,
            QueryOutcome::Failure("SERVFAIL".into()),
        ),
        &edge_target(),
    );
    assert_eq!(p.reason, Reason::ServFail);
    let p = dns_plane(
        &obs(QueryOutcome::Timeout, QueryOutcome::NxDomain),
        &edge_target(),
    );
    assert_eq!((p.state, p.reason), (PlaneState::Failed, Reason::Timeout));
}

#[test]
fn an_answer_on_one_family_wins_over_a_timeout_on_the_other() {
    let p = dns_plane(
        &obs(answer(&["203.0.113.7"]), QueryOutcome::Timeout),
        &edge_target(),
    );
    assert_eq!(p.reason, Reason::ResolvesToEdge);
}

#[test]
fn without_expectation_any_answer_is_ready_and_says_so() {
    let p = dns_plane(
        &obs(answer(&["192.0.2.1"]), QueryOutcome::NoData),
        &EndpointTarget::new("x.example"),
    );
    assert_eq!(p.reason, Reason::ResolvesToEdge);
    assert!(p.message.contains("no edge address given"), "{}", p.message);
}

#[test]
fn platform_hostnames_do_not_get_a_record_to_create() {
    let p = dns_plane(
        &obs(QueryOutcome::NxDomain, QueryOutcome::NxDomain),
        &edge_target(),
    );
    let r = p.remediation.unwrap_or_default();
    assert!(r.contains("platform zone"), "{r}");
    assert!(!r.contains("create \""), "{r}");
}

#[test]
fn ipv6_edges_are_aaaa_records() {
    let t = EndpointTarget::new("v6.example.com")
        .with_addresses([ip("2001:db8::7")])
        .custom_domain(true);
    assert_eq!(records_to_create(&t), ["v6.example.com. AAAA 2001:db8::7"]);
    let p = dns_plane(&obs(QueryOutcome::NoData, answer(&["2001:db8::7"])), &t);
    assert_eq!(
        (p.reason, p.message.as_str()),
        (Reason::ResolvesToEdge, "AAAA 2001:db8::7")
    );
}

#[test]
fn a_resolver_that_answers_nothing_is_unreachable_and_named() {
    let silent = || QueryOutcome::Unreachable("nothing within 2s".into());
    let p = dns_plane(&obs(silent(), silent()), &edge_target());
    assert_eq!(
        (p.state, p.reason),
        (PlaneState::Failed, Reason::ResolverUnreachable)
    );
    assert_eq!(
        p.message,
        "the resolver 127.0.0.1:5353 did not answer for api.example.com: nothing within 2s"
    );
    let fix = p.remediation.unwrap_or_default();
    assert!(
        fix.contains("127.0.0.1:5353") && fix.contains("`resolvers` in server.toml"),
        "{fix}"
    );
    // From the system's configuration: the fix says where that is.
    let mut o = obs(silent(), silent());
    o.asked = Resolvers {
        servers: vec![
            "10.0.0.2:53".parse().unwrap(),
            "10.0.0.3:53".parse().unwrap(),
        ],
        from_system: true,
    };
    let p = dns_plane(&o, &edge_target());
    assert!(
        p.message
            .starts_with("the resolvers 10.0.0.2:53 and 10.0.0.3:53 did not answer"),
        "{}",
        p.message
    );
    assert!(
        p.remediation
            .unwrap_or_default()
            .contains("/etc/resolv.conf"),
        "the system's resolvers are named as such"
    );
}

#[test]
fn a_resolver_that_answered_one_query_is_reachable() {
    // It answered A: the silence on AAAA is a timeout, not an unreachable resolver.
    let p = dns_plane(
        &obs(
            QueryOutcome::NxDomain,
            QueryOutcome::Unreachable("nothing within 2s".into()),
        ),
        &edge_target(),
    );
    assert_eq!(p.reason, Reason::Timeout);
    let p = dns_plane(
        &obs(
            QueryOutcome::Failure("SERVFAIL".into()),
            QueryOutcome::Unreachable("nothing within 2s".into()),
        ),
        &edge_target(),
    );
    assert_eq!(p.reason, Reason::ServFail);
}

#[test]
fn every_failed_plane_has_a_remediation() {
    let chain_to_nowhere = QueryOutcome::Answer(vec![DnsRecord::Cname {
        name: "api.example.com".into(),
        target: "edge.apps.example.net".into(),
    }]);
    let outcomes = [
        answer(&["203.0.113.7"]),
        answer(&["192.0.2.1"]),
        answer(&["203.0.113.7", "192.0.2.1"]),
        chain_to_nowhere,
        QueryOutcome::NxDomain,
        QueryOutcome::NoData,
        QueryOutcome::Failure("SERVFAIL (Server Failure)".into()),
        QueryOutcome::Timeout,
        QueryOutcome::Unreachable("nothing within 2s".into()),
    ];
    let targets = [
        edge_target(),
        edge_target().custom_domain(true),
        EndpointTarget::new("api.example.com")
            .with_cname("edge.apps.example.net")
            .custom_domain(true),
        // No expectation at all (a bare `satusky probe HOST`), in and out of the zone.
        EndpointTarget::new("api.example.com"),
        EndpointTarget::new("api.example.com").custom_domain(true),
    ];
    let mut failed = std::collections::BTreeSet::new();
    for t in &targets {
        for a in &outcomes {
            for aaaa in &outcomes {
                let p = dns_plane(&obs(a.clone(), aaaa.clone()), t);
                record_failed(&mut failed, &(t, a, aaaa), &p);
            }
        }
    }
    let every = [
        Reason::NxDomain,
        Reason::NoAnswer,
        Reason::WrongTarget,
        Reason::ServFail,
        Reason::ResolverUnreachable,
        Reason::Timeout,
    ];
    for reason in every {
        assert!(failed.contains(&reason.code()), "{reason} is produced");
    }
}

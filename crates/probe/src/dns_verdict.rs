//! The DNS plane's decision, pure: what the resolver answered for A and AAAA (following
//! CNAMEs) → a [`Plane`]. No I/O; [`crate::dns`] gathers the [`DnsObservation`].
//!
//! Rules (SPEC §4, DNS plane):
//! - A hostname is ready (`ResolvesToEdge`) when the answer reaches the edge: its CNAME chain
//!   contains the expected CNAME target, **or** it resolves to at least one address and
//!   *every* address it resolves to is an edge address. One stray address is `WrongTarget`:
//!   some clients would land there. With no expectation at all (a bare `satusky probe HOST`),
//!   any address counts and the message says there was nothing to compare with.
//! - With no address: when the resolver answered neither query at all (silence within the
//!   timeout, or it could not be reached), it is `ResolverUnreachable`, naming the resolvers
//!   asked — the fault is the resolver, not the name. Otherwise SERVFAIL (or any other
//!   resolver failure) beats a timeout, which beats "the name exists but has no A/AAAA"
//!   (`NoAnswer`, also for a CNAME leading nowhere), which beats NXDOMAIN — the most specific
//!   fault the resolver showed wins.
//! - A custom domain's remediation names the exact records to create; a platform hostname's
//!   points at the platform's DNS zone, which the user does not edit; an unreachable resolver's
//!   names the `resolvers` setting. Every `failed` plane has one.

use std::net::{IpAddr, SocketAddr};

use satusky_types::{Plane, PlaneState, Reason};

use satusky_core::runtime::EndpointTarget;

/// One record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRecord {
    /// `name` is an alias of `target` (names without the final dot).
    Cname {
        name: String,
        target: String,
    },
    Address(IpAddr),
}

/// What one query type (A or AAAA) got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutcome {
    /// Records in the answer section, CNAMEs first as the chain was followed.
    Answer(Vec<DnsRecord>),
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// NOERROR without records of this type.
    NoData,
    /// SERVFAIL, or another resolver failure (REFUSED, I/O error); the text says which.
    Failure(String),
    /// The resolver answered, but the whole lookup (a CNAME chain) did not end in time.
    Timeout,
    /// The resolver never answered this query: nothing came back within the limit, or it
    /// could not be reached at all. The text says which (`nothing within 2s`).
    Unreachable(String),
}

/// Which resolvers a check asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolvers {
    /// Their addresses, in the order they are asked.
    pub servers: Vec<SocketAddr>,
    /// Read from the system's configuration (`/etc/resolv.conf`) rather than configured.
    pub from_system: bool,
}

/// The A and AAAA outcomes for one hostname, and who was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsObservation {
    pub a: QueryOutcome,
    pub aaaa: QueryOutcome,
    pub asked: Resolvers,
}

impl DnsObservation {
    fn records(&self) -> impl Iterator<Item = &DnsRecord> {
        [&self.a, &self.aaaa].into_iter().flat_map(|o| match o {
            QueryOutcome::Answer(records) => records.as_slice(),
            _ => &[],
        })
    }

    /// Every address the hostname resolved to, A first, without duplicates.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for r in self.records() {
            if let DnsRecord::Address(ip) = r
                && !out.contains(ip)
            {
                out.push(*ip);
            }
        }
        out
    }

    /// The CNAME chain, in order, without duplicates (A and AAAA follow the same chain).
    pub fn cnames(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for r in self.records() {
            if let DnsRecord::Cname { name, target } = r {
                let pair = (name.clone(), target.clone());
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
        out
    }

    fn any(&self, f: impl Fn(&QueryOutcome) -> bool) -> bool {
        f(&self.a) || f(&self.aaaa)
    }
}

/// `A 203.0.113.7` / `AAAA 2001:db8::1`.
pub fn address_record(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("A {v4}"),
        IpAddr::V6(v6) => format!("AAAA {v6}"),
    }
}

/// What the name points to, e.g. `CNAME lb.example.net → A 192.0.2.1, A 192.0.2.2`.
pub fn describe_answer(obs: &DnsObservation) -> String {
    let chain: Vec<String> = obs
        .cnames()
        .into_iter()
        .map(|(_, target)| format!("CNAME {target}"))
        .collect();
    let addrs: Vec<String> = obs.addresses().iter().map(address_record).collect();
    let mut parts = chain;
    if addrs.is_empty() {
        parts.push("no A/AAAA".to_string());
    } else {
        parts.push(addrs.join(", "));
    }
    parts.join(" → ")
}

/// Names compare case-insensitively and with or without the final dot.
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The records a custom domain's owner should create, zone-file style, e.g.
/// `api.example.com. A 203.0.113.7` (one per edge address), or the CNAME when one is expected.
pub fn records_to_create(target: &EndpointTarget) -> Vec<String> {
    let host = format!("{}.", target.hostname.trim_end_matches('.'));
    if let Some(cname) = &target.edge.cname_target {
        return vec![format!("{host} CNAME {}.", cname.trim_end_matches('.'))];
    }
    target
        .edge
        .addresses
        .iter()
        .map(|ip| format!("{host} {}", address_record(ip)))
        .collect()
}

/// The fix for a name that does not lead to the edge: the exact records for a custom domain
/// when the edge is known, the platform's zone for a platform hostname, else `fallback`.
fn remediation(target: &EndpointTarget, verb: &str, fallback: &str) -> String {
    let host = target.hostname.trim_end_matches('.');
    if target.platform_owned {
        return format!(
            "{host} is in the platform zone: the control plane's DNS zone must serve it \
             (check the server's DNS settings and that its zone is delegated to it)"
        );
    }
    let records = records_to_create(target);
    if records.is_empty() {
        return format!("{fallback} for {host} at its DNS provider");
    }
    let quoted: Vec<String> = records.iter().map(|r| format!("\"{r}\"")).collect();
    format!("{verb} {}", quoted.join(" and "))
}

fn plane(state: PlaneState, reason: Reason, message: String) -> Plane {
    Plane::new(state, reason, message)
}

/// The DNS plane for `target`, given what the resolver answered.
pub fn dns_plane(obs: &DnsObservation, target: &EndpointTarget) -> Plane {
    let host = target.hostname.trim_end_matches('.');
    let addresses = obs.addresses();
    let cnames = obs.cnames();
    let expected = &target.edge;

    let cname_ok = expected
        .cname_target
        .as_ref()
        .is_some_and(|want| cnames.iter().any(|(_, t)| same_name(t, want)));

    if !addresses.is_empty() || cname_ok {
        if addresses.is_empty() {
            // The chain reaches the platform's target, but that name has no address.
            return plane(
                PlaneState::Failed,
                Reason::NoAnswer,
                format!("{host} → {}", describe_answer(obs)),
            )
            .with_remediation(format!(
                "{host} points to the edge name, which has no A/AAAA record yet: \
                 the platform's edge name must resolve"
            ));
        }
        if !target.has_dns_expectation() {
            return plane(
                PlaneState::Ready,
                Reason::ResolvesToEdge,
                format!(
                    "{} (no edge address given to compare with)",
                    describe_answer(obs)
                ),
            );
        }
        let stray: Vec<&IpAddr> = addresses
            .iter()
            .filter(|ip| !expected.addresses.contains(ip))
            .collect();
        if cname_ok || (!expected.addresses.is_empty() && stray.is_empty()) {
            return plane(
                PlaneState::Ready,
                Reason::ResolvesToEdge,
                describe_answer(obs),
            );
        }
        let wanted = expected_description(target);
        let stray_note = if stray.len() < addresses.len() && !stray.is_empty() {
            let s: Vec<String> = stray.iter().map(|ip| address_record(ip)).collect();
            format!("; not the edge: {}", s.join(", "))
        } else {
            String::new()
        };
        return plane(
            PlaneState::Failed,
            Reason::WrongTarget,
            format!(
                "{host} points to {}{stray_note} (expected {wanted})",
                describe_answer(obs)
            ),
        )
        .with_remediation(remediation(
            target,
            "replace its records with",
            "point the records to the platform's edge",
        ));
    }

    // No address. A resolver that answered nothing at all is the fault, whatever the name.
    if let (QueryOutcome::Unreachable(why), QueryOutcome::Unreachable(_)) = (&obs.a, &obs.aaaa) {
        return resolver_unreachable(host, &obs.asked, why);
    }
    // Pick the most specific fault.
    let failure = [&obs.a, &obs.aaaa].into_iter().find_map(|o| match o {
        QueryOutcome::Failure(text) => Some(text.clone()),
        _ => None,
    });
    if let Some(text) = failure {
        return plane(
            PlaneState::Failed,
            Reason::ServFail,
            format!("the resolver failed for {host}: {text}"),
        )
        .with_remediation(
            "check the zone's delegation and its name servers, and that the resolver asked \
             serves this name"
                .to_string(),
        );
    }
    if obs.any(|o| matches!(o, QueryOutcome::Timeout | QueryOutcome::Unreachable(_))) {
        let who = resolver_names(&obs.asked);
        return plane(
            PlaneState::Failed,
            Reason::Timeout,
            format!("no DNS answer for {host} within the timeout"),
        )
        .with_remediation(format!(
            "{who} answered, but not the whole lookup in time: check the name servers of \
             {host}'s zone (a slow or broken delegation), then check again with \
             `1ctl app status`"
        ));
    }
    let exists = obs.any(|o| matches!(o, QueryOutcome::NoData | QueryOutcome::Answer(_)));
    let (reason, message, verb) = if exists {
        let what = if cnames.is_empty() {
            format!("{host} exists but has no A/AAAA record")
        } else {
            format!("{host} → {}", describe_answer(obs))
        };
        (Reason::NoAnswer, what, "create")
    } else {
        (
            Reason::NxDomain,
            format!("{host} does not exist (NXDOMAIN)"),
            "create",
        )
    };
    plane(PlaneState::Failed, reason, message).with_remediation(remediation(
        target,
        verb,
        "create an A/AAAA record (or a CNAME) leading to the platform's edge",
    ))
}

/// `127.0.0.1:5353`, `10.0.0.2:53 and 10.0.0.3:53`, or `the system's resolver`.
pub fn resolver_names(asked: &Resolvers) -> String {
    let names: Vec<String> = asked.servers.iter().map(ToString::to_string).collect();
    match names.as_slice() {
        [] => "the system's resolver".to_string(),
        [one] => format!("the resolver {one}"),
        [rest @ .., last] => format!("the resolvers {} and {last}", rest.join(", ")),
    }
}

fn resolver_unreachable(host: &str, asked: &Resolvers, why: &str) -> Plane {
    let who = resolver_names(asked);
    let fix = if asked.from_system {
        format!(
            "make {who} (from /etc/resolv.conf) answer, or set `resolvers` in server.toml \
             (`--resolver IP:PORT` for satusky probe)"
        )
    } else {
        format!(
            "make {who} answer (a DNS server must listen there), or fix `resolvers` in \
             server.toml (`--resolver IP:PORT` for satusky probe)"
        )
    };
    plane(
        PlaneState::Failed,
        Reason::ResolverUnreachable,
        format!("{who} did not answer for {host}: {why}"),
    )
    .with_remediation(fix)
}

fn expected_description(target: &EndpointTarget) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(c) = &target.edge.cname_target {
        parts.push(format!("CNAME {}", c.trim_end_matches('.')));
    }
    if !target.edge.addresses.is_empty() {
        let a: Vec<String> = target.edge.addresses.iter().map(address_record).collect();
        parts.push(a.join(", "));
    }
    parts.join(" or ")
}

#[cfg(test)]
#[path = "dns_verdict_tests.rs"]
mod tests;

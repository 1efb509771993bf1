//! Custom-domain ownership (SPEC §10): the TXT record that proves an org controls a hostname,
//! what a lookup of it means, when to look again, the metadata plane each state shows, and
//! the DNS records `1ctl domains setup` prints. Pure: the lookup itself is the prober's
//! (`EndpointProber::txt`), the states are the store's.
//!
//! The value is bound to (org, hostname): `satusky-verify=` and the first 32 hex digits of
//! SHA-256 over both. Anyone can compute it; only whoever controls the hostname's DNS can
//! publish it — which is the proof.

use std::time::Duration;

use satusky_types::{
    DnsRecord, Domain, DomainSetup, HostnameKind, OwnershipState, Plane, PlaneState, Reason,
};

use crate::runtime::EdgeInfo;

/// The label under which the proof is published: `_satusky-challenge.HOST`.
pub const CHALLENGE_LABEL: &str = "_satusky-challenge";

/// The first re-check of a missing proof waits this long; each further miss doubles it…
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// …up to this.
pub const MAX_RETRY: Duration = Duration::from_secs(600);

/// How long custom domains that existed before ownership proof keep serving unproven.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The TXT record's name for `host`.
pub fn txt_name(host: &str) -> String {
    format!("{CHALLENGE_LABEL}.{}", normalize(host))
}

/// The TXT value `org` publishes to prove `host`.
pub fn txt_value(org: &str, host: &str) -> String {
    let input = format!("satusky-ownership-v1\0{org}\0{}", normalize(host));
    let d = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    format!("satusky-verify={}", &crate::digest::hex(d.as_ref())[..32])
}

fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// What one lookup of `_satusky-challenge.HOST` means for the org claiming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// This org's value is there and no other claimant's is.
    Verified,
    /// No TXT record at all.
    Missing,
    /// TXT records, none with this org's value.
    Wrong { found: Vec<String> },
    /// This org's value and another claimant's are both there: one must go.
    Conflict { rival: String },
}

/// Judges the TXT strings `found` at `_satusky-challenge.HOST` for a claim whose value is
/// `own`, while other orgs claiming the hostname have `rivals` as their values.
pub fn judge(own: &str, found: &[String], rivals: &[String]) -> Proof {
    let has = |v: &str| found.iter().any(|f| f.trim() == v);
    if !has(own) {
        return if found.is_empty() {
            Proof::Missing
        } else {
            Proof::Wrong {
                found: found.to_vec(),
            }
        };
    }
    match rivals.iter().find(|r| has(r)) {
        Some(rival) => Proof::Conflict {
            rival: rival.clone(),
        },
        None => Proof::Verified,
    }
}

/// How a conflict's message starts (the store keeps the message; the metadata plane tells a
/// conflict from a missing proof by it).
const CONFLICT: &str = "both this org's value and another org's are published";

/// What a lookup's result says, for the domain's `ownership.message`.
pub fn describe(host: &str, own: &str, proof: &Proof) -> String {
    let name = txt_name(host);
    match proof {
        Proof::Verified => format!("TXT {name} holds {own:?}"),
        Proof::Missing => format!("no TXT record at {name} yet"),
        Proof::Wrong { found } => format!(
            "TXT {name} holds {}, not the expected {own:?}",
            found
                .iter()
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Proof::Conflict { rival } => format!(
            "{CONFLICT} ({rival:?}) at TXT {name}; remove the TXT record {name} = {rival:?} so only one org's proof is published"
        ),
    }
}

/// How long to wait before looking again after `misses` consecutive failed lookups.
pub fn retry_after(misses: u32) -> Duration {
    let factor = 1u64 << misses.min(16);
    FIRST_RETRY
        .saturating_mul(u32::try_from(factor).unwrap_or(u32::MAX))
        .min(MAX_RETRY)
}

/// The remediation of an unproven hostname: the exact record to create.
pub fn remediation(org: &str, host: &str) -> String {
    format!(
        "create the DNS record TXT {} = \"{}\", then run `1ctl domains check {host}`",
        txt_name(host),
        txt_value(org, host)
    )
}

/// The metadata plane of one of `org/app`'s domains (SPEC §4): stored and unique, and for a
/// custom domain, proven.
pub fn metadata_plane(org: &str, app: &str, d: &Domain) -> Plane {
    let what = match d.kind {
        HostnameKind::Generated => "generated hostname",
        HostnameKind::Alias => "custom domain",
        HostnameKind::Redirect => "redirect host",
    };
    match d.ownership.state {
        OwnershipState::NotRequired => Plane::new(
            PlaneState::Ready,
            Reason::Stored,
            format!("{what} stored for {org}/{app}, unique across orgs"),
        ),
        OwnershipState::Verified => Plane::new(
            PlaneState::Ready,
            Reason::OwnershipVerified,
            match &d.ownership.verified_at {
                Some(at) => format!("{what} stored for {org}/{app}; ownership proven at {at}"),
                None => format!("{what} stored for {org}/{app}; ownership proven"),
            },
        ),
        OwnershipState::Pending | OwnershipState::Grace => {
            let conflict = d.ownership.message.starts_with(CONFLICT);
            let mut msg = if conflict {
                d.ownership.message.clone()
            } else {
                let seen = if d.ownership.message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.ownership.message)
                };
                format!(
                    "ownership of {} is not proven{seen}: it is not routed, certified or served",
                    d.hostname
                )
            };
            if let (OwnershipState::Grace, Some(until)) =
                (d.ownership.state, &d.ownership.serving_until)
            {
                msg = format!(
                    "ownership of {} is not proven: it was served before ownership proof existed and is still served until {until}, then only once proven",
                    d.hostname
                );
            }
            Plane::new(
                PlaneState::Pending,
                if conflict {
                    Reason::OwnershipConflict
                } else {
                    Reason::OwnershipUnverified
                },
                msg,
            )
            .with_remediation(remediation(org, &d.hostname))
        }
        OwnershipState::Lost => Plane::new(
            PlaneState::Failed,
            Reason::OwnershipLost,
            format!(
                "another org proved ownership of {}; {org}/{app} no longer serves it",
                d.hostname
            ),
        )
        .with_remediation(format!(
            "publish TXT {} = \"{}\" (and have the other org's value removed) to claim it again, or `1ctl domains remove {}`",
            txt_name(&d.hostname),
            txt_value(org, &d.hostname),
            d.hostname
        )),
    }
}

/// Whether `host` is a registrable domain's apex (`example.co.uk`, not `shop.example.co.uk`),
/// by the public suffix list. An apex cannot hold a CNAME, so it points at the edge's
/// addresses instead.
pub fn is_apex(host: &str) -> bool {
    let host = normalize(host);
    psl::domain_str(&host) == Some(host.as_str())
}

/// `www.HOST` for an apex `host` (the `--with-www` companion); `None` when `host` already
/// starts with `www.`.
pub fn www_companion(host: &str) -> Option<String> {
    let host = normalize(host);
    (!host.starts_with("www.")).then(|| format!("www.{host}"))
}

/// The records to create for `host` of `org`: the ownership TXT, then A/AAAA to the edge's
/// addresses for an apex (or when there is no generated hostname to alias), or a CNAME to
/// `generated` for a subdomain.
pub fn setup(org: &str, host: &str, generated: &str, edge: &EdgeInfo) -> DomainSetup {
    let host = normalize(host);
    let apex = is_apex(&host);
    let mut records = vec![DnsRecord {
        name: txt_name(&host),
        kind: "TXT".into(),
        value: txt_value(org, &host),
    }];
    if apex || edge.addresses.is_empty() && edge.cname_target.is_none() {
        for a in &edge.addresses {
            records.push(DnsRecord {
                name: host.clone(),
                kind: if a.is_ipv4() { "A" } else { "AAAA" }.into(),
                value: a.to_string(),
            });
        }
        if edge.addresses.is_empty()
            && let Some(t) = &edge.cname_target
        {
            // An apex cannot hold a CNAME: the provider's ALIAS/ANAME flattening is the way.
            records.push(DnsRecord {
                name: host.clone(),
                kind: "ALIAS".into(),
                value: t.clone(),
            });
        }
    } else {
        records.push(DnsRecord {
            name: host.clone(),
            kind: "CNAME".into(),
            value: generated.to_string(),
        });
    }
    DomainSetup {
        hostname: host,
        apex,
        records,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_is_bound_to_org_and_host_in_any_case() {
        let a = txt_value("acme", "Shop.Example.test.");
        assert_eq!(a, txt_value("acme", "shop.example.test"));
        assert_ne!(a, txt_value("bobco", "shop.example.test"));
        assert_ne!(a, txt_value("acme", "www.example.test"));
        assert!(
            a.starts_with("satusky-verify=") && a.len() == 15 + 32,
            "{a}"
        );
        assert_eq!(
            txt_name("Shop.Example.test"),
            "_satusky-challenge.shop.example.test"
        );
    }

    #[test]
    fn a_lookup_is_judged_missing_wrong_conflicting_or_verified() {
        let own = "satusky-verify=aa".to_string();
        let rival = "satusky-verify=bb".to_string();
        assert_eq!(judge(&own, &[], &[]), Proof::Missing);
        assert_eq!(
            judge(
                &own,
                std::slice::from_ref(&rival),
                std::slice::from_ref(&rival)
            ),
            Proof::Wrong {
                found: vec![rival.clone()]
            }
        );
        assert_eq!(
            judge(
                &own,
                &[own.clone(), "v=spf1".into()],
                std::slice::from_ref(&rival)
            ),
            Proof::Verified
        );
        assert_eq!(
            judge(
                &own,
                &[rival.clone(), own.clone()],
                std::slice::from_ref(&rival)
            ),
            Proof::Conflict {
                rival: rival.clone()
            }
        );
        let text = describe(
            "shop.example.test",
            &own,
            &Proof::Wrong {
                found: vec!["x".into()],
            },
        );
        assert!(
            text.contains("not the expected \"satusky-verify=aa\""),
            "{text}"
        );
        let text = describe("shop.example.test", &own, &Proof::Conflict { rival });
        assert!(text.starts_with(CONFLICT), "{text}");
        assert!(
            text.contains(
                "remove the TXT record _satusky-challenge.shop.example.test = \"satusky-verify=bb\""
            ),
            "{text}"
        );
    }

    #[test]
    fn retries_back_off_from_five_seconds_to_ten_minutes() {
        assert_eq!(retry_after(0), Duration::from_secs(5));
        assert_eq!(retry_after(1), Duration::from_secs(10));
        assert_eq!(retry_after(3), Duration::from_secs(40));
        assert_eq!(retry_after(7), MAX_RETRY);
        assert_eq!(retry_after(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn apexes_come_from_the_public_suffix_list() {
        assert!(is_apex("example.com"));
        assert!(is_apex("Example.co.uk."));
        assert!(!is_apex("shop.example.co.uk"));
        assert!(!is_apex("www.example.com"));
        assert!(is_apex("example.test"), "unknown TLDs count as one label");
        assert!(!is_apex("shop.example.test"));
        assert_eq!(
            www_companion("Example.com").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(www_companion("www.example.com"), None);
    }

    #[test]
    fn setup_gives_the_txt_then_a_cname_for_a_subdomain_or_addresses_for_an_apex() {
        let edge = EdgeInfo {
            addresses: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            cname_target: None,
            ..EdgeInfo::default()
        };
        let sub = setup(
            "acme",
            "shop.example.test",
            "web-acme.satusky.localhost",
            &edge,
        );
        assert!(!sub.apex);
        let kinds: Vec<_> = sub
            .records
            .iter()
            .map(|r| (r.kind.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(kinds[0].0, "TXT");
        assert_eq!(kinds[0].1, txt_value("acme", "shop.example.test"));
        assert_eq!(kinds[1], ("CNAME", "web-acme.satusky.localhost"));
        assert_eq!(kinds.len(), 2);
        let apex = setup("acme", "example.test", "web-acme.satusky.localhost", &edge);
        assert!(apex.apex);
        let kinds: Vec<_> = apex
            .records
            .iter()
            .map(|r| (r.kind.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(&kinds[1..], [("A", "127.0.0.1"), ("AAAA", "::1")]);
    }
}

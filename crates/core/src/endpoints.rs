//! What the endpoint prober is asked and what it answers, one type each: an
//! [`EndpointTarget`] per hostname (what its DNS should lead to, which HTTP answer counts) and
//! the [`ProbedEndpoint`] planes that come back. The engine builds targets from the stored
//! release; `satusky probe` builds them from flags; `satusky-probe` checks them.
//!
//! Plain data: no I/O here.

use satusky_types::{HostnameKind, Plane};
use serde::{Deserialize, Serialize};

use crate::expect::ExpectedStatus;
use crate::runtime::EdgeInfo;

/// The HTTP expectation when none is given (`2xx`).
pub const DEFAULT_EXPECT: &str = "2xx";

/// One hostname to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointTarget {
    pub hostname: String,
    pub kind: HostnameKind,
    /// Inside the platform zone (the platform owns its DNS). Outside it, a custom domain: the
    /// user owns its DNS, so a DNS failure's remediation names the exact record to create.
    pub platform_owned: bool,
    /// The path of the HTTP check, starting with `/`.
    pub path: String,
    /// `[checks] expect` (see [`EndpointTarget::expected_status`]).
    pub expect: String,
    /// `ORG/APP@vN` the answer must carry (not for redirect hosts).
    pub expect_release: Option<String>,
    /// A redirect host: it must answer 301/308 with this `Location` (a URL, or a bare host
    /// meaning `https://HOST/`).
    pub redirect_to: Option<String>,
    /// Where DNS should lead: the edge's addresses, a CNAME target, or both (either counts).
    /// Empty means "nothing to compare with": any answer is accepted.
    pub edge: EdgeInfo,
    /// `[checks] timeout`: how long the HTTP exchange may take (`None`: the prober's own).
    pub http_timeout: Option<std::time::Duration>,
}

impl EndpointTarget {
    /// A target with the defaults: in the platform zone, path `/`, status `2xx`, no DNS
    /// expectation, no release.
    pub fn new(hostname: impl Into<String>) -> Self {
        EndpointTarget {
            hostname: hostname.into(),
            kind: HostnameKind::Generated,
            platform_owned: true,
            path: "/".to_string(),
            expect: DEFAULT_EXPECT.to_string(),
            expect_release: None,
            redirect_to: None,
            edge: EdgeInfo::default(),
            http_timeout: None,
        }
    }

    pub fn with_addresses(mut self, addresses: impl IntoIterator<Item = std::net::IpAddr>) -> Self {
        self.edge.addresses = addresses.into_iter().collect();
        self
    }

    pub fn with_cname(mut self, cname: impl Into<String>) -> Self {
        self.edge.cname_target = Some(cname.into());
        self
    }

    /// Outside the platform zone (`true`): the user owns the hostname's DNS.
    pub fn custom_domain(mut self, custom: bool) -> Self {
        self.platform_owned = !custom;
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    pub fn with_expect(mut self, expect: &ExpectedStatus) -> Self {
        self.expect = expect.to_string();
        self
    }

    pub fn with_release(mut self, release: impl Into<String>) -> Self {
        self.expect_release = Some(release.into());
        self
    }

    pub fn with_redirect_to(mut self, to: impl Into<String>) -> Self {
        self.redirect_to = Some(to.into());
        self
    }

    /// The HTTP exchange may take `limit` (`[checks] timeout`).
    pub fn with_http_timeout(mut self, limit: std::time::Duration) -> Self {
        self.http_timeout = Some(limit);
        self
    }

    /// The statuses that count as healthy: [`EndpointTarget::expect`] parsed, or `2xx` when it
    /// does not parse (specs are validated before they get here; this is the last resort).
    pub fn expected_status(&self) -> ExpectedStatus {
        ExpectedStatus::parse(&self.expect)
            .or_else(|_| ExpectedStatus::parse(DEFAULT_EXPECT))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// Whether DNS has anything to be compared with (addresses or a CNAME target).
    pub fn has_dns_expectation(&self) -> bool {
        !self.edge.addresses.is_empty() || self.edge.cname_target.is_some()
    }
}

/// The probed planes of one hostname, in the SPEC §4 plane format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbedEndpoint {
    pub hostname: String,
    pub dns: Plane,
    pub tls: Plane,
    pub http: Plane,
}

impl ProbedEndpoint {
    /// The planes with their names, in report order.
    pub fn planes(&self) -> [(&'static str, &Plane); 3] {
        [("dns", &self.dns), ("tls", &self.tls), ("http", &self.http)]
    }

    /// Every plane ready (an `ExpiringSoon` certificate counts: it is a warning).
    pub fn is_ready(&self) -> bool {
        self.planes().iter().all(|(_, p)| p.state.is_satisfied())
    }
}

/// The TLS plane of each probed hostname combined with what the runtime's issuer says
/// (`issuer[i]` for `probed[i]`; see `Runtime::certificates`): while the issuer has no valid
/// certificate yet (awaiting ownership or DNS, issuing, challenged, failed) its step is the
/// plane — a handshake failing then says less than the step does. Once it holds one, the
/// handshake decides (the certificate served is what a client sees).
pub fn with_issuer(probed: &mut [ProbedEndpoint], issuer: &[Option<Plane>]) {
    for (p, cert) in probed.iter_mut().zip(issuer) {
        if let Some(cert) = cert
            && !cert.state.is_satisfied()
        {
            p.tls = cert.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_target_expects_2xx_on_the_root_path_in_the_platform_zone() {
        let t = EndpointTarget::new("a.example.net");
        assert_eq!((t.path.as_str(), t.expect.as_str()), ("/", "2xx"));
        assert!(t.platform_owned && !t.has_dns_expectation());
        assert_eq!(t.expected_status().to_string(), "2xx");
        assert!(t.expected_status().matches(204) && !t.expected_status().matches(301));
        let t = t
            .custom_domain(true)
            .with_cname("edge.example.net")
            .with_expect(&ExpectedStatus::parse("200,204").unwrap());
        assert!(!t.platform_owned && t.has_dns_expectation());
        assert!(t.expected_status().matches(204) && !t.expected_status().matches(201));
    }

    #[test]
    fn the_issuers_step_shows_until_it_holds_a_certificate_then_the_handshake_decides() {
        use satusky_types::{PlaneState, Reason};
        let probed = |tls: Plane| ProbedEndpoint {
            hostname: "shop.example.test".into(),
            dns: Plane::new(PlaneState::Ready, Reason::ResolvesToEdge, ""),
            tls,
            http: Plane::new(PlaneState::Ready, Reason::ExpectedStatus, ""),
        };
        let handshake_failed = Plane::new(PlaneState::Failed, Reason::UnknownIssuer, "local CA");
        let challenged = Plane::new(PlaneState::InProgress, Reason::ChallengePending, "http-01");
        let issued = Plane::new(PlaneState::Ready, Reason::CertificateValid, "pebble");
        let mut list = [
            probed(handshake_failed.clone()),
            probed(handshake_failed.clone()),
        ];
        with_issuer(&mut list, &[Some(challenged.clone()), None]);
        assert_eq!(list[0].tls, challenged);
        assert_eq!(
            list[1].tls, handshake_failed,
            "no issuer: the handshake alone"
        );
        let mut list = [probed(handshake_failed.clone())];
        with_issuer(&mut list, &[Some(issued)]);
        assert_eq!(
            list[0].tls, handshake_failed,
            "issued, yet not served: the handshake says so"
        );
    }

    #[test]
    fn an_unparsable_expectation_falls_back_to_2xx() {
        let mut t = EndpointTarget::new("a.example.net");
        t.expect = "2xy".into();
        assert_eq!(t.expected_status().to_string(), "2xx");
    }
}

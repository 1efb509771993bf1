//! DNS I/O: asks the configured resolvers (UDP, then TCP on truncation) or the system's for A
//! and AAAA, following CNAMEs, and turns the answers into a [`DnsObservation`] for
//! [`crate::dns_verdict`]. Owns the hickory resolver; decides nothing.
//!
//! No answer is cached between checks: the cache holds nothing (size 0, every TTL clamped to
//! 0), so a re-check after a record change sees the change. `/etc/hosts` is never consulted:
//! the plane is about what DNS answers, not about this machine.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use crate::ProbeError;
use crate::dns_verdict::{DnsObservation, DnsRecord, QueryOutcome};

/// Queries in flight per connection to one name server. hickory's default (32) answers "busy"
/// beyond it; a batch runs up to `concurrency` checks of two queries each.
const MIN_ACTIVE_REQUESTS: usize = 256;

/// The DNS side of a prober.
#[derive(Clone)]
pub(crate) struct DnsClient {
    resolver: TokioResolver,
    timeout: Duration,
}

impl DnsClient {
    pub(crate) fn new(
        resolvers: &[SocketAddr],
        timeout: Duration,
        concurrency: usize,
    ) -> Result<Self, ProbeError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if resolvers.is_empty() {
            TokioResolver::builder(provider).map_err(ProbeError::SystemResolvers)?
        } else {
            let servers = resolvers.iter().map(name_server).collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.use_hosts_file = ResolveHosts::Never;
        opts.timeout = timeout;
        // One try per server: the check's own deadline bounds the whole lookup anyway, and a
        // second try would hide a flaky server behind a slow success.
        opts.attempts = 1;
        opts.max_active_requests = MIN_ACTIVE_REQUESTS.max(concurrency.saturating_mul(4));
        opts.preserve_intermediates = true;
        let resolver = builder.build().map_err(ProbeError::Resolver)?;
        Ok(DnsClient { resolver, timeout })
    }

    /// A and AAAA for `hostname`, asked at once; each bounded by the DNS timeout.
    pub(crate) async fn observe(&self, hostname: &str) -> DnsObservation {
        let name = match Name::from_ascii(fqdn(hostname)) {
            Ok(name) => name,
            Err(e) => {
                let bad = QueryOutcome::Failure(format!("{hostname:?} is not a DNS name: {e}"));
                return DnsObservation {
                    a: bad.clone(),
                    aaaa: bad,
                };
            }
        };
        let (a, aaaa) = tokio::join!(
            self.query(name.clone(), RecordType::A),
            self.query(name, RecordType::AAAA)
        );
        DnsObservation { a, aaaa }
    }

    async fn query(&self, name: Name, rtype: RecordType) -> QueryOutcome {
        match tokio::time::timeout(self.timeout, self.resolver.lookup(name, rtype)).await {
            Err(_) => QueryOutcome::Timeout,
            Ok(Ok(lookup)) => {
                let records = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::A(a) => Some(DnsRecord::Address(a.0.into())),
                        RData::AAAA(a) => Some(DnsRecord::Address(a.0.into())),
                        RData::CNAME(c) => Some(DnsRecord::Cname {
                            name: display_name(&r.name),
                            target: display_name(&c.0),
                        }),
                        _ => None,
                    })
                    .collect::<Vec<_>>();
                if records.is_empty() {
                    QueryOutcome::NoData
                } else {
                    // Possibly a CNAME chain that ends without an address of this type: the
                    // verdict tells that apart from an answer with addresses.
                    QueryOutcome::Answer(records)
                }
            }
            Ok(Err(e)) => outcome_of_error(&e),
        }
    }
}

fn name_server(addr: &SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

/// `host` → `host.`: a fully qualified name is asked as is, never with search domains.
fn fqdn(hostname: &str) -> String {
    if hostname.ends_with('.') {
        hostname.to_string()
    } else {
        format!("{hostname}.")
    }
}

fn display_name(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_string()
}

/// Maps a resolver error to what the plane needs to know.
pub(crate) fn outcome_of_error(e: &NetError) -> QueryOutcome {
    match e {
        NetError::Timeout => QueryOutcome::Timeout,
        NetError::Dns(DnsError::NoRecordsFound(no)) => match no.response_code {
            ResponseCode::NXDomain => QueryOutcome::NxDomain,
            ResponseCode::NoError => QueryOutcome::NoData,
            code => QueryOutcome::Failure(rcode_text(code)),
        },
        NetError::Dns(DnsError::ResponseCode(code)) => QueryOutcome::Failure(rcode_text(*code)),
        NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => QueryOutcome::Timeout,
        other => QueryOutcome::Failure(other.to_string()),
    }
}

/// `SERVFAIL (Server Failure)`: the mnemonic people grep for, and its meaning.
fn rcode_text(code: ResponseCode) -> String {
    format!("{} ({code})", format!("{code:?}").to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_asked_fully_qualified() {
        assert_eq!(fqdn("a.example"), "a.example.");
        assert_eq!(fqdn("a.example."), "a.example.");
    }

    #[test]
    fn resolver_errors_map_to_outcomes() {
        assert_eq!(outcome_of_error(&NetError::Timeout), QueryOutcome::Timeout);
        let servfail = NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail));
        assert_eq!(
            outcome_of_error(&servfail),
            QueryOutcome::Failure("SERVFAIL (Server Failure)".into())
        );
        let refused = NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused));
        assert_eq!(
            outcome_of_error(&refused),
            QueryOutcome::Failure("REFUSED (Query Refused)".into())
        );
    }
}

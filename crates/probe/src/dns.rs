//! DNS I/O: asks the configured name servers (UDP, then TCP on truncation) or the system's
//! (`/etc/resolv.conf`) for A and AAAA, following CNAMEs, and turns the answers into a
//! [`DnsObservation`] for [`crate::dns_verdict`]. Decides nothing. A query the resolver never
//! answered (silence within the timeout, or no way to reach it) is told apart from one it
//! answered too slowly, and the observation names the resolvers asked.
//!
//! It talks to the servers through hickory's `NameServerPool` and follows CNAME chains itself
//! rather than through hickory's `Resolver`, because the resolver (a) answers `*.localhost`
//! names itself with 127.0.0.1/::1 (RFC 6761) — and `satusky dev`'s zone is
//! `satusky.localhost` — and (b) caches. Here every check asks the servers, so a re-check
//! after a record change sees the change; `/etc/hosts` is never consulted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::FirstAnswer;
use hickory_resolver::net::{DnsError, DnsHandle, NetError};
use hickory_resolver::proto::op::{DnsRequestOptions, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};

use crate::ProbeError;
use crate::dns_verdict::{DnsObservation, DnsRecord, QueryOutcome, Resolvers};
use satusky_core::ForeignError;
use satusky_core::runtime::TxtLookupError;

/// Queries in flight per connection to one name server. hickory's default (32) answers "busy"
/// beyond it; a batch runs up to `concurrency` checks of two queries each.
const MIN_ACTIVE_REQUESTS: usize = 256;

/// A CNAME chain longer than this is reported as a resolver failure (loops, misconfiguration).
const MAX_CNAME_HOPS: usize = 8;

/// The DNS side of a prober.
#[derive(Clone)]
pub(crate) struct DnsClient {
    pool: NameServerPool<TokioRuntimeProvider>,
    options: DnsRequestOptions,
    timeout: Duration,
    asked: Resolvers,
}

impl DnsClient {
    pub(crate) fn new(
        resolvers: &[SocketAddr],
        timeout: Duration,
        concurrency: usize,
    ) -> Result<Self, ProbeError> {
        let (config, mut opts) = if resolvers.is_empty() {
            hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| ProbeError::SystemResolvers(ForeignError::new(&e)))?
        } else {
            let servers = resolvers.iter().map(name_server).collect();
            (
                ResolverConfig::from_name_servers(servers),
                ResolverOpts::default(),
            )
        };
        opts.timeout = timeout;
        opts.max_active_requests = MIN_ACTIVE_REQUESTS.max(concurrency.saturating_mul(4));
        let tls = TlsConfig::new().map_err(|e| ProbeError::Resolver(ForeignError::new(&e)))?;
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = opts.recursion_desired;
        options.use_edns = opts.edns0;
        options.edns_payload_len = opts.edns_payload_len;
        let (_, _, name_servers) = config.into_parts();
        let mut servers = Vec::new();
        for addr in name_servers.iter().map(server_address) {
            if !servers.contains(&addr) {
                servers.push(addr);
            }
        }
        let asked = Resolvers {
            servers,
            from_system: resolvers.is_empty(),
        };
        let context = Arc::new(PoolContext::new(opts, tls));
        let pool =
            NameServerPool::from_config(name_servers, context, TokioRuntimeProvider::default());
        Ok(DnsClient {
            pool,
            options,
            timeout,
            asked,
        })
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
                    asked: self.asked.clone(),
                };
            }
        };
        let (a, aaaa) = tokio::join!(
            self.query(name.clone(), RecordType::A),
            self.query(name, RecordType::AAAA)
        );
        DnsObservation {
            a,
            aaaa,
            asked: self.asked.clone(),
        }
    }

    /// The TXT strings at `name` (each record's character-strings joined), asked afresh.
    pub(crate) async fn txt(&self, name: &str) -> Result<Vec<String>, TxtLookupError> {
        let qname = Name::from_ascii(fqdn(name))
            .map_err(|e| TxtLookupError::Failed(format!("{name:?} is not a DNS name: {e}")))?;
        let lookup = self
            .pool
            .lookup(Query::query(qname.clone(), RecordType::TXT), self.options)
            .first_answer();
        let asked = || {
            self.asked
                .servers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let response = match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => {
                return Err(TxtLookupError::Unreachable {
                    asked: asked(),
                    detail: format!(
                        "nothing within {}",
                        humantime::format_duration(self.timeout)
                    ),
                });
            }
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return match outcome_of_error(&e) {
                    QueryOutcome::NxDomain | QueryOutcome::NoData => Ok(Vec::new()),
                    QueryOutcome::Unreachable(detail) => Err(TxtLookupError::Unreachable {
                        asked: asked(),
                        detail,
                    }),
                    QueryOutcome::Timeout => Err(TxtLookupError::Unreachable {
                        asked: asked(),
                        detail: "timed out".into(),
                    }),
                    QueryOutcome::Failure(f) => Err(TxtLookupError::Failed(f)),
                    QueryOutcome::Answer(_) => Ok(Vec::new()),
                };
            }
        };
        Ok(response
            .answers
            .iter()
            .filter(|r| r.name == qname)
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    async fn query(&self, name: Name, rtype: RecordType) -> QueryOutcome {
        let mut answered = false;
        let outcome =
            tokio::time::timeout(self.timeout, self.follow(name, rtype, &mut answered)).await;
        match outcome {
            Err(_) if !answered => self.silence(),
            Err(_) => QueryOutcome::Timeout,
            Ok(outcome) => outcome,
        }
    }

    fn silence(&self) -> QueryOutcome {
        QueryOutcome::Unreachable(format!(
            "nothing within {}",
            humantime::format_duration(self.timeout)
        ))
    }

    /// Asks for `rtype` at `name`, then at each CNAME target the answers leave unresolved.
    /// `answered` turns true with the resolver's first response of any kind.
    async fn follow(&self, name: Name, rtype: RecordType, answered: &mut bool) -> QueryOutcome {
        let mut records: Vec<DnsRecord> = Vec::new();
        let mut current = name;
        for _ in 0..MAX_CNAME_HOPS {
            let response = self
                .pool
                .lookup(Query::query(current.clone(), rtype), self.options)
                .first_answer()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    let outcome = match outcome_of_error(&e) {
                        QueryOutcome::Timeout if !*answered => self.silence(),
                        // Heard once: it is reachable, this lookup only ran out of time.
                        QueryOutcome::Unreachable(_) if *answered => QueryOutcome::Timeout,
                        other => other,
                    };
                    // A CNAME already followed to a name without data: the chain ends nowhere.
                    return match outcome {
                        QueryOutcome::NxDomain | QueryOutcome::NoData if !records.is_empty() => {
                            QueryOutcome::Answer(records)
                        }
                        other => other,
                    };
                }
            };
            *answered = true;
            let (end, found) = walk_answers(&response.answers, &current, rtype, &mut records);
            if found || response.response_code == ResponseCode::NXDomain || end == current {
                return if records.is_empty() {
                    QueryOutcome::NoData
                } else {
                    QueryOutcome::Answer(records)
                };
            }
            // The chain leads out of what this answer holds: ask for its end.
            current = end;
        }
        QueryOutcome::Failure(format!("CNAME chain longer than {MAX_CNAME_HOPS} links"))
    }
}

/// Follows `name` through the answer section: pushes each CNAME link and then the addresses
/// of the chain's end. Returns the end of the chain and whether addresses were found.
fn walk_answers(
    answers: &[hickory_resolver::proto::rr::Record],
    name: &Name,
    rtype: RecordType,
    out: &mut Vec<DnsRecord>,
) -> (Name, bool) {
    let mut current = name.clone();
    for _ in 0..MAX_CNAME_HOPS {
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == current => Some(c.0.clone()),
            _ => None,
        });
        let Some(target) = next else { break };
        out.push(DnsRecord::Cname {
            name: display_name(&current),
            target: display_name(&target),
        });
        current = target;
    }
    let mut found = false;
    for r in answers.iter().filter(|r| r.name == current) {
        match (&r.data, rtype) {
            (RData::A(a), RecordType::A) => out.push(DnsRecord::Address(a.0.into())),
            (RData::AAAA(a), RecordType::AAAA) => out.push(DnsRecord::Address(a.0.into())),
            _ => continue,
        }
        found = true;
    }
    (current, found)
}

/// Where a configured name server is asked: its address and first connection's port.
fn server_address(server: &NameServerConfig) -> SocketAddr {
    let port = server.connections.first().map_or(53, |c| c.port);
    SocketAddr::new(server.ip, port)
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

/// Maps a resolver error to what the plane needs to know. Errors meaning that the resolver
/// could not be reached at all are `Unreachable`; a timeout is told apart by the caller, which
/// knows whether anything was heard before.
pub(crate) fn outcome_of_error(e: &NetError) -> QueryOutcome {
    use std::io::ErrorKind;
    match e {
        NetError::Timeout => QueryOutcome::Timeout,
        NetError::NoConnections => QueryOutcome::Unreachable("no connection to it".to_string()),
        NetError::Io(io)
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::AddrNotAvailable
            ) =>
        {
            QueryOutcome::Unreachable(io.to_string())
        }
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
        // Not a DNS answer at all: the resolver is out of reach.
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            outcome_of_error(&NetError::Io(Arc::new(io))),
            QueryOutcome::Unreachable(_)
        ));
        assert!(matches!(
            outcome_of_error(&NetError::NoConnections),
            QueryOutcome::Unreachable(_)
        ));
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn record(owner: &str, data: RData) -> hickory_resolver::proto::rr::Record {
        hickory_resolver::proto::rr::Record::from_rdata(name(owner), 60, data)
    }

    #[test]
    fn a_chain_in_one_answer_is_walked_to_its_addresses() {
        use hickory_resolver::proto::rr::rdata::{A, CNAME};
        let answers = [
            record("b.example.", RData::CNAME(CNAME(name("c.example.")))),
            record("a.example.", RData::CNAME(CNAME(name("B.example.")))),
            record("c.example.", RData::A(A([192, 0, 2, 7].into()))),
            record("other.example.", RData::A(A([192, 0, 2, 9].into()))),
        ];
        let mut out = Vec::new();
        let (end, found) = walk_answers(&answers, &name("a.example."), RecordType::A, &mut out);
        assert!(found);
        assert_eq!(end, name("c.example."));
        assert_eq!(
            out,
            [
                DnsRecord::Cname {
                    name: "a.example".into(),
                    target: "B.example".into()
                },
                DnsRecord::Cname {
                    name: "B.example".into(),
                    target: "c.example".into()
                },
                DnsRecord::Address("192.0.2.7".parse().unwrap()),
            ]
        );
    }

    #[test]
    fn a_chain_leaving_the_answer_reports_its_end_to_ask_next() {
        use hickory_resolver::proto::rr::rdata::CNAME;
        let answers = [record(
            "www.shop.example.",
            RData::CNAME(CNAME(name("edge.platform.example."))),
        )];
        let mut out = Vec::new();
        let (end, found) = walk_answers(
            &answers,
            &name("www.shop.example."),
            RecordType::AAAA,
            &mut out,
        );
        assert!(!found);
        assert_eq!(end, name("edge.platform.example."));
        assert_eq!(out.len(), 1);
    }
}

//! The embedded authoritative DNS server (hickory-server, UDP and TCP on one address). It
//! answers from [`ZoneRecords`] as they are at the moment of each query, so a record the
//! runtime changes is seen by the next query; TTLs are short ([`TTL`]) for the same reason.
//!
//! What it answers:
//! - names under the platform zone: their A/AAAA, CNAME (the chain is followed inside the
//!   records and the target's records added) and TXT records, with the AA bit; the apex also
//!   answers SOA and NS; a name without records is NXDOMAIN with the SOA in the authority
//!   section, and a name with records but none of the asked type is NODATA (NOERROR, empty);
//! - names outside the zone that have static records (test zones, dev extra zones): the same;
//! - any other name: NXDOMAIN. In dev this server is also the resolver the prober uses for
//!   custom domains, and "does not exist" is the truthful answer for a name nobody configured
//!   here; it never forwards or recurses.
//!
//! The decision is the pure [`Authority::answer`]; the [`RequestHandler`] only encodes it.
//! Which names are in the zone is [`satusky_core::hostnames::Zone::contains`]. This module owns
//! its sockets; it must not edit the records (the runtime does, through [`ZoneRecords`]).

use std::iter;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};

use satusky_core::hostnames::Zone;

use crate::records::{RecordData, ZoneRecords};

/// TTL of every answer, and the SOA minimum (negative caching): records change at run time.
pub const TTL: u32 = 5;
/// CNAME hops followed inside the records before giving up (a loop, or a silly chain).
const MAX_CNAME_CHAIN: usize = 8;
/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection (hickory's own tests use 32).
const TCP_RESPONSE_BUFFER: usize = 32;
/// Tries to find a port free for both UDP and TCP when asked for port 0.
const PORT_PAIR_TRIES: usize = 50;

/// What can go wrong starting the server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{zone:?} is not a DNS name hickory accepts")]
    BadZone {
        zone: String,
        #[source]
        source: hickory_server::proto::ProtoError,
    },
    #[error("cannot listen for DNS over {proto} on {addr}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the DNS server stopped with an error")]
    Stopped(#[source] hickory_server::net::NetError),
}

/// A running server. Dropping it stops it too.
pub struct DnsServer {
    local_addr: SocketAddr,
    server: Server<Handler>,
}

impl DnsServer {
    /// The address it answers on (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting queries and waits for the server's tasks to end.
    pub async fn shutdown(mut self) -> Result<(), DnsError> {
        self.server
            .shutdown_gracefully()
            .await
            .map_err(DnsError::Stopped)
    }
}

/// Serves `zone` (e.g. `satusky.localhost`) from `records` on `addr`, UDP and TCP. Port 0
/// picks a port free for both.
pub async fn start(
    addr: SocketAddr,
    zone: &Zone,
    records: ZoneRecords,
) -> Result<DnsServer, DnsError> {
    let zone = Authority::new(zone, records, Some(addr.ip()))?;
    let (udp, tcp) = bind_pair(addr).await?;
    let local_addr = udp.local_addr().map_err(|source| DnsError::Bind {
        proto: "UDP",
        addr,
        source,
    })?;
    let mut server = Server::new(Handler { zone });
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
    tracing::info!(%local_addr, "DNS server listening");
    Ok(DnsServer { local_addr, server })
}

async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let udp_err = |source| DnsError::Bind {
        proto: "UDP",
        addr,
        source,
    };
    let tcp_err = |source| DnsError::Bind {
        proto: "TCP",
        addr,
        source,
    };
    if addr.port() != 0 {
        let udp = UdpSocket::bind(addr).await.map_err(udp_err)?;
        let tcp = TcpListener::bind(addr).await.map_err(tcp_err)?;
        return Ok((udp, tcp));
    }
    let mut last = None;
    for _ in 0..PORT_PAIR_TRIES {
        let udp = UdpSocket::bind(addr).await.map_err(udp_err)?;
        let bound = udp.local_addr().map_err(udp_err)?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(tcp_err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free UDP+TCP port pair")
    })))
}

/// The answer to one question, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub code: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    /// The SOA for negative answers inside the zone.
    pub authority: Vec<Record>,
}

/// The platform zone and the records it (and any static names) answer with.
#[derive(Debug, Clone)]
pub struct Authority {
    zone: Zone,
    apex: Name,
    ns_name: Name,
    ns_addr: Option<IpAddr>,
    records: ZoneRecords,
}

impl Authority {
    /// `ns_addr` is what the apex's name server `ns.ZONE` resolves to (this server's address),
    /// unless it is unspecified.
    pub fn new(
        zone: &Zone,
        records: ZoneRecords,
        ns_addr: Option<IpAddr>,
    ) -> Result<Authority, DnsError> {
        let bad = |source| DnsError::BadZone {
            zone: zone.to_string(),
            source,
        };
        let apex = Name::from_ascii(fqdn(zone.as_str())).map_err(bad)?;
        let ns_name = Name::from_ascii(format!("ns.{}", fqdn(zone.as_str()))).map_err(bad)?;
        Ok(Authority {
            zone: zone.clone(),
            apex,
            ns_name,
            ns_addr: ns_addr.filter(|ip| !ip.is_unspecified()),
            records,
        })
    }

    fn in_zone(&self, name: &Name) -> bool {
        self.zone.contains(&name.to_ascii())
    }

    /// The answer for `(qname, qtype)`, from the records as they are now.
    pub fn answer(&self, qname: &Name, qtype: RecordType) -> Answer {
        let mut out = Answer {
            code: ResponseCode::NoError,
            authoritative: self.in_zone(qname) || self.rrset(qname).is_some(),
            answers: Vec::new(),
            authority: Vec::new(),
        };
        let mut name = qname.clone();
        for _ in 0..=MAX_CNAME_CHAIN {
            let Some(rrset) = self.rrset(&name) else {
                // The name (the question, or the end of a CNAME chain) does not exist. Outside
                // the zone, after a CNAME, the resolver asks about the target itself.
                let exists_below = self.in_zone(&name) && self.has_descendants(&name);
                if exists_below {
                    out.authority.push(self.soa());
                } else if self.in_zone(&name) {
                    out.code = ResponseCode::NXDomain;
                    out.authority.push(self.soa());
                } else if out.answers.is_empty() {
                    out.code = ResponseCode::NXDomain;
                }
                return out;
            };
            let matching: Vec<_> = rrset
                .iter()
                .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                .cloned()
                .collect();
            if !matching.is_empty() {
                out.answers.extend(matching);
                return out;
            }
            let cname = rrset.into_iter().find_map(|r| match &r.data {
                RData::CNAME(CNAME(target)) if qtype != RecordType::CNAME => {
                    Some((r.clone(), target.clone()))
                }
                _ => None,
            });
            match cname {
                Some((record, target)) => {
                    out.answers.push(record);
                    name = target;
                }
                None => {
                    // NODATA: the name exists, nothing of this type.
                    if self.in_zone(&name) {
                        out.authority.push(self.soa());
                    }
                    return out;
                }
            }
        }
        out
    }

    /// Every record at `name`, or `None` when the name does not exist.
    fn rrset(&self, name: &Name) -> Option<Vec<Record>> {
        let key = name.to_lowercase().to_ascii();
        let stored = self.records.lookup(&key);
        let mut out = Vec::new();
        if name == &self.apex {
            out.push(self.soa());
            out.push(Record::from_rdata(
                self.apex.clone(),
                TTL,
                RData::NS(NS(self.ns_name.clone())),
            ));
        } else if name == &self.ns_name
            && stored.is_none()
            && let Some(ip) = self.ns_addr
        {
            out.push(Record::from_rdata(name.clone(), TTL, address(ip)));
        }
        for data in stored.iter().flatten() {
            let rdata = match data {
                RecordData::A(ip) => address(*ip),
                RecordData::Cname(target) => match Name::from_ascii(fqdn(target)) {
                    Ok(target) => RData::CNAME(CNAME(target)),
                    Err(e) => {
                        tracing::warn!(name = %key, target, error = %e, "skipping a bad CNAME");
                        continue;
                    }
                },
                RecordData::Txt(text) => RData::TXT(TXT::new(vec![text.clone()])),
            };
            out.push(Record::from_rdata(name.clone(), TTL, rdata));
        }
        (stored.is_some() || !out.is_empty()).then_some(out)
    }

    /// Whether some name below `name` has records (then `name` is an empty non-terminal:
    /// NODATA, not NXDOMAIN, per RFC 8020).
    fn has_descendants(&self, name: &Name) -> bool {
        let suffix = format!(".{}", name.to_lowercase().to_ascii().trim_end_matches('.'));
        self.records.names().iter().any(|n| n.ends_with(&suffix))
    }

    fn soa(&self) -> Record {
        let rname = Name::from_ascii(format!("hostmaster.{}", self.apex.to_ascii()))
            .unwrap_or_else(|_| self.ns_name.clone());
        let soa = SOA::new(self.ns_name.clone(), rname, 1, 3600, 600, 86_400, TTL);
        Record::from_rdata(self.apex.clone(), TTL, RData::SOA(soa))
    }
}

fn address(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

/// `host` → `host.`.
fn fqdn(name: &str) -> String {
    let name = name.trim();
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// Encodes [`Authority::answer`] for each request.
struct Handler {
    zone: Authority,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        // RFC 6891: a request with OPT gets OPT back.
        let response_edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512));
            edns.set_version(0);
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &response_edns {
            builder.edns(edns);
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let answer = match (request.metadata.message_type, request.metadata.op_code) {
            (MessageType::Query, OpCode::Query) => match request.request_info() {
                Ok(info) if matches!(info.query.query_class(), DNSClass::IN | DNSClass::ANY) => {
                    let query = info.query.original();
                    Ok(self.zone.answer(query.name(), query.query_type()))
                }
                Ok(_) => Err(ResponseCode::Refused),
                Err(_) => Err(ResponseCode::FormErr),
            },
            (MessageType::Query, _) => Err(ResponseCode::NotImp),
            (MessageType::Response, _) => Err(ResponseCode::FormErr),
        };
        let answer = answer.unwrap_or_else(|code| Answer {
            code,
            authoritative: false,
            answers: Vec::new(),
            authority: Vec::new(),
        });
        metadata.authoritative = answer.authoritative;
        metadata.response_code = answer.code;
        let response = builder.build(
            metadata,
            answer.answers.iter(),
            answer.authority.iter(),
            iter::empty(),
            iter::empty(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, src = %request.src(), "cannot send a DNS response");
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;

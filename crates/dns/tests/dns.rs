//! The embedded DNS server over real sockets on 127.0.0.1, asked by hickory-resolver the way
//! the prober would, and by raw DNS messages the way `dig @127.0.0.1 -p PORT` would.
//!
//! hickory-resolver answers every `*.localhost` name itself (RFC 6761: loopback, never sent to
//! a server), so the resolver tests use the zone `satusky.test`; the default zone
//! `satusky.localhost` is tested with raw messages over UDP and TCP.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::op::{Message, Query};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use satusky_core::hostnames::Zone;
use satusky_dns as dns;
use satusky_dns::{RecordData, ZoneRecords};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const ZONE: &str = "satusky.test";

/// A resolver that asks only `server`, over UDP (or TCP only), with no cache.
fn resolver(server: SocketAddr, tcp_only: bool) -> TokioResolver {
    let mut conns = Vec::new();
    if !tcp_only {
        let mut udp = ConnectionConfig::udp();
        udp.port = server.port();
        conns.push(udp);
    }
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    conns.push(tcp);
    let ns = NameServerConfig::new(server.ip(), true, conns);
    let mut builder = TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    );
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 1;
    opts.preserve_intermediates = true;
    builder.build().unwrap()
}

async fn server() -> (dns::DnsServer, ZoneRecords) {
    server_for(ZONE).await
}

async fn server_for(zone: &str) -> (dns::DnsServer, ZoneRecords) {
    let records = ZoneRecords::new();
    records.set_app(
        "acme",
        "web",
        &[format!("web-acme.{zone}")],
        &["127.0.0.1".parse().unwrap()],
    );
    let zone = Zone::parse(zone).unwrap();
    let server = dns::start("127.0.0.1:0".parse().unwrap(), &zone, records.clone())
        .await
        .unwrap();
    (server, records)
}

fn fq(name: &str) -> Name {
    Name::from_ascii(format!("{name}.")).unwrap()
}

async fn lookup(r: &TokioResolver, name: &str, rtype: RecordType) -> Result<Vec<String>, NetError> {
    let lookup = r.lookup(fq(name), rtype).await?;
    Ok(lookup
        .answers()
        .iter()
        .map(|r| r.data.to_string())
        .collect())
}

fn rcode(err: &NetError) -> Option<ResponseCode> {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no)) => Some(no.response_code),
        _ => None,
    }
}

#[tokio::test]
async fn an_app_hostname_resolves_to_its_address() {
    let (server, _) = server().await;
    let r = resolver(server.local_addr(), false);
    let ips: Vec<IpAddr> = r
        .lookup_ip(format!("web-acme.{ZONE}."))
        .await
        .unwrap()
        .iter()
        .collect();
    assert_eq!(ips, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_cname_chain_ends_in_the_apps_address() {
    let (server, records) = server().await;
    records.set_static(
        "api.example.test",
        vec![RecordData::Cname(format!("www.{ZONE}"))],
    );
    records.set_static(
        &format!("www.{ZONE}"),
        vec![RecordData::Cname(format!("web-acme.{ZONE}"))],
    );
    let r = resolver(server.local_addr(), false);
    let lookup = r
        .lookup(fq("api.example.test"), RecordType::A)
        .await
        .unwrap();
    let cnames: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(
        cnames,
        vec![format!("www.{ZONE}."), format!("web-acme.{ZONE}.")]
    );
    let addrs: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(addrs, vec!["127.0.0.1"]);
}

#[tokio::test]
async fn unknown_names_do_not_exist_inside_and_outside_the_zone() {
    let (server, _) = server().await;
    let r = resolver(server.local_addr(), false);
    let inside = lookup(&r, &format!("nobody.{ZONE}"), RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(rcode(&inside), Some(ResponseCode::NXDomain), "{inside}");
    let outside = lookup(&r, "www.example.com", RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(rcode(&outside), Some(ResponseCode::NXDomain), "{outside}");
}

#[tokio::test]
async fn a_name_without_the_asked_type_is_nodata() {
    let (server, _) = server().await;
    let r = resolver(server.local_addr(), false);
    let err = lookup(&r, &format!("web-acme.{ZONE}"), RecordType::TXT)
        .await
        .unwrap_err();
    assert_eq!(rcode(&err), Some(ResponseCode::NoError), "{err}");
}

#[tokio::test]
async fn txt_and_soa_are_answered() {
    let (server, records) = server().await;
    records.set_static(
        "_satusky-challenge.shop.example",
        vec![RecordData::Txt("proof-123".into())],
    );
    let r = resolver(server.local_addr(), false);
    let txt = lookup(&r, "_satusky-challenge.shop.example", RecordType::TXT)
        .await
        .unwrap();
    assert_eq!(txt.len(), 1);
    assert!(txt[0].contains("proof-123"), "{txt:?}");
    let soa = lookup(&r, ZONE, RecordType::SOA).await.unwrap();
    assert!(soa[0].starts_with(&format!("ns.{ZONE}.")), "{soa:?}");
}

#[tokio::test]
async fn tcp_answers_too() {
    let (server, _) = server().await;
    let r = resolver(server.local_addr(), true);
    let ips = lookup(&r, &format!("web-acme.{ZONE}"), RecordType::A)
        .await
        .unwrap();
    assert_eq!(ips, vec!["127.0.0.1"]);
}

#[tokio::test]
async fn records_changed_at_run_time_are_seen_by_the_next_query() {
    let (server, records) = server().await;
    let r = resolver(server.local_addr(), false);
    let host = format!("new-acme.{ZONE}");
    assert!(lookup(&r, &host, RecordType::A).await.is_err());
    records.set_app(
        "acme",
        "new",
        std::slice::from_ref(&host),
        &["127.0.0.9".parse().unwrap()],
    );
    assert_eq!(
        lookup(&r, &host, RecordType::A).await.unwrap(),
        vec!["127.0.0.9"]
    );
    records.remove_app("acme", "new");
    let gone = lookup(&r, &host, RecordType::A).await.unwrap_err();
    assert_eq!(rcode(&gone), Some(ResponseCode::NXDomain));
}

#[tokio::test]
async fn a_stopped_server_no_longer_answers() {
    let (server, _) = server().await;
    let addr = server.local_addr();
    server.shutdown().await.unwrap();
    // Over TCP a closed server is refused at once (over UDP the query would time out).
    let r = resolver(addr, true);
    let err = lookup(&r, &format!("web-acme.{ZONE}"), RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(rcode(&err), None, "no DNS answer expected: {err}");
}

/// One raw query, as `dig` sends it: over UDP, or over TCP with the 2-byte length prefix.
async fn ask(server: SocketAddr, name: &str, rtype: RecordType, tcp: bool) -> Message {
    let mut query = Message::query();
    query.metadata.id = 4242;
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(fq(name), rtype));
    let bytes = query.to_vec().unwrap();
    let answer = if tcp {
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream
            .write_all(&(bytes.len() as u16).to_be_bytes())
            .await
            .unwrap();
        stream.write_all(&bytes).await.unwrap();
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0; usize::from(len)];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    } else {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(&bytes, server).await.unwrap();
        let mut buf = vec![0; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        buf.truncate(n);
        buf
    };
    let message = Message::from_vec(&answer).unwrap();
    assert_eq!(message.metadata.id, 4242);
    message
}

#[tokio::test]
async fn the_default_localhost_zone_is_served_over_udp_and_tcp() {
    let (server, _) = server_for("satusky.localhost").await;
    let addr = server.local_addr();
    for tcp in [false, true] {
        let found = ask(addr, "web-acme.satusky.localhost", RecordType::A, tcp).await;
        assert_eq!(found.metadata.response_code, ResponseCode::NoError);
        assert!(found.metadata.authoritative, "the AA bit is set");
        let data: Vec<String> = found.answers.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(data, vec!["127.0.0.1"], "tcp={tcp}");
        assert!(found.answers[0].ttl <= dns::TTL);

        let missing = ask(addr, "nobody.satusky.localhost", RecordType::A, tcp).await;
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        assert!(missing.answers.is_empty());
        assert_eq!(
            missing.authorities.first().map(|r| r.record_type()),
            Some(RecordType::SOA),
            "NXDOMAIN carries the SOA for negative caching"
        );
    }
}

//! The simulated external DNS of `satusky dev` (issue 13, "Simulated external DNS on one
//! machine"): `[[dns_records]]` in `STATE_DIR/server.toml` accepts underscore names such as
//! `_satusky-challenge.*`, several TXT values per name and A/AAAA lists, and an edit of the
//! file is picked up without a restart; an edit that does not parse keeps the last good
//! records and says why on `/readyz` (and in the log) until a good edit clears it.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{Dev, bins};
use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::{Name, RData, RecordType};
use std::str::FromStr;

const CHALLENGE: &str = "_satusky-challenge.shop.example.test";
const SHOP: &str = "shop.example.test";

/// The answers of the dev DNS server for `name`/`kind`, as text.
fn ask(dns: SocketAddr, name: &str, kind: RecordType) -> Vec<String> {
    let mut msg = Message::query();
    msg.add_query(Query::query(Name::from_str(name).unwrap(), kind));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(&msg.to_vec().unwrap(), dns).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    let answer = Message::from_vec(&buf[..n]).unwrap();
    let mut out: Vec<String> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.to_string()),
            RData::A(a) => Some(a.to_string()),
            RData::AAAA(a) => Some(a.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn readyz(dev: &Dev) -> String {
    let url = format!("{}/readyz", dev.info["api_url"].as_str().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        common::http()
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}

#[test]
fn dns_records_take_underscore_names_and_several_values_and_reload_without_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let toml = state.path().join("server.toml");
    std::fs::write(
        &toml,
        format!("[[dns_records]]\nname = \"{CHALLENGE}\"\ntxt = [\"one\", \"two\"]\n"),
    )
    .unwrap();
    let dev = Dev::start(&bins(), state.path());
    let dns: SocketAddr = dev.info["dns_addr"].as_str().unwrap().parse().unwrap();
    assert_eq!(ask(dns, CHALLENGE, RecordType::TXT), ["one", "two"]);

    // An edit: a new value, and A + AAAA records for the domain (two entries add up).
    std::fs::write(
        &toml,
        format!(
            "[[dns_records]]\nname = \"{CHALLENGE}\"\ntxt = \"three\"\n\n\
             [[dns_records]]\nname = \"{SHOP}\"\na = [\"127.0.0.1\", \"::1\"]\n\n\
             [[dns_records]]\nname = \"{SHOP}\"\na = \"127.0.0.2\"\n"
        ),
    )
    .unwrap();
    eventually("the edit to be served", || {
        ask(dns, CHALLENGE, RecordType::TXT) == ["three"]
    });
    assert_eq!(ask(dns, SHOP, RecordType::A), ["127.0.0.1", "127.0.0.2"]);
    assert_eq!(ask(dns, SHOP, RecordType::AAAA), ["::1"]);
    assert_eq!(readyz(&dev), "ready\n");

    // A bad edit: the last good records stay, and /readyz says why.
    std::fs::write(&toml, "[[dns_records]]\nname = \"bad name\"\ntxt = \"x\"\n").unwrap();
    eventually("the bad edit to be reported", || {
        readyz(&dev).contains("warning:")
    });
    let body = readyz(&dev);
    assert!(
        body.starts_with("ready\n")
            && body.contains("dns_records[0].name")
            && body.contains("the last good dns_records are kept"),
        "{body}"
    );
    assert_eq!(ask(dns, CHALLENGE, RecordType::TXT), ["three"]);

    // A good edit clears it; a name that left the file stops answering.
    std::fs::write(
        &toml,
        format!("[[dns_records]]\nname = \"{SHOP}\"\na = \"127.0.0.3\"\n"),
    )
    .unwrap();
    eventually("the good edit", || {
        ask(dns, SHOP, RecordType::A) == ["127.0.0.3"]
    });
    assert_eq!(readyz(&dev), "ready\n");
    assert_eq!(ask(dns, CHALLENGE, RecordType::TXT), Vec::<String>::new());
}

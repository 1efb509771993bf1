//! Unit tests of [`Authority::answer`]: the DNS decisions, without sockets.

use super::*;

fn name(s: &str) -> Name {
    Name::from_ascii(fqdn(s)).unwrap()
}

fn zone() -> (Authority, ZoneRecords) {
    let records = ZoneRecords::new();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    records.set_app(
        "acme",
        "web",
        &["web-acme.satusky.localhost".into()],
        &[lo, "::1".parse().unwrap()],
    );
    records.set_static(
        "www.satusky.localhost",
        vec![RecordData::Cname("web-acme.satusky.localhost".into())],
    );
    records.set_static(
        "_satusky-challenge.shop.example",
        vec![RecordData::Txt("token-1".into())],
    );
    records.set_static(
        "shop.example",
        vec![RecordData::Cname("www.satusky.localhost".into())],
    );
    let zone = Zone::parse("satusky.localhost").unwrap();
    let zone = Authority::new(&zone, records.clone(), Some(lo)).unwrap();
    (zone, records)
}

fn rdata(a: &Answer) -> Vec<String> {
    a.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn an_app_name_answers_its_address_authoritatively() {
    let (z, _) = zone();
    let a = z.answer(&name("WEB-acme.satusky.localhost"), RecordType::A);
    assert_eq!(a.code, ResponseCode::NoError);
    assert!(a.authoritative);
    assert_eq!(rdata(&a), vec!["127.0.0.1"]);
    assert_eq!(a.answers[0].ttl, TTL);
    let aaaa = z.answer(&name("web-acme.satusky.localhost"), RecordType::AAAA);
    assert_eq!(rdata(&aaaa), vec!["::1"]);
}

#[test]
fn a_cname_chain_is_followed_inside_the_records() {
    let (z, _) = zone();
    let a = z.answer(&name("shop.example"), RecordType::A);
    assert_eq!(a.code, ResponseCode::NoError);
    assert_eq!(
        rdata(&a),
        vec![
            "www.satusky.localhost.",
            "web-acme.satusky.localhost.",
            "127.0.0.1"
        ]
    );
    // Asked for the CNAME itself: only that record.
    let c = z.answer(&name("shop.example"), RecordType::CNAME);
    assert_eq!(rdata(&c), vec!["www.satusky.localhost."]);
}

#[test]
fn a_cname_loop_stops() {
    let (z, records) = zone();
    records.set_static("a.loop.test", vec![RecordData::Cname("b.loop.test".into())]);
    records.set_static("b.loop.test", vec![RecordData::Cname("a.loop.test".into())]);
    let a = z.answer(&name("a.loop.test"), RecordType::A);
    assert!(a.answers.len() <= MAX_CNAME_CHAIN + 1);
}

#[test]
fn a_cname_into_the_zone_to_nothing_is_nxdomain() {
    let (z, records) = zone();
    records.set_static(
        "dangling.example",
        vec![RecordData::Cname("gone.satusky.localhost".into())],
    );
    let a = z.answer(&name("dangling.example"), RecordType::A);
    assert_eq!(a.code, ResponseCode::NXDomain);
    assert_eq!(rdata(&a), vec!["gone.satusky.localhost."]);
    assert_eq!(a.authority[0].record_type(), RecordType::SOA);
}

#[test]
fn txt_records() {
    let (z, _) = zone();
    let a = z.answer(&name("_satusky-challenge.shop.example"), RecordType::TXT);
    assert_eq!(a.answers.len(), 1);
    assert!(rdata(&a)[0].contains("token-1"));
}

#[test]
fn missing_names_in_the_zone_are_nxdomain_with_the_soa() {
    let (z, _) = zone();
    let a = z.answer(&name("nobody.satusky.localhost"), RecordType::A);
    assert_eq!(a.code, ResponseCode::NXDomain);
    assert!(a.authoritative);
    assert!(a.answers.is_empty());
    assert_eq!(a.authority.len(), 1);
    assert_eq!(a.authority[0].record_type(), RecordType::SOA);
}

#[test]
fn names_outside_the_zone_without_records_are_nxdomain() {
    let (z, _) = zone();
    let a = z.answer(&name("example.com"), RecordType::A);
    assert_eq!(a.code, ResponseCode::NXDomain);
    assert!(!a.authoritative);
    assert!(a.authority.is_empty());
}

#[test]
fn an_existing_name_without_that_type_is_nodata() {
    let (z, _) = zone();
    let a = z.answer(&name("web-acme.satusky.localhost"), RecordType::TXT);
    assert_eq!(a.code, ResponseCode::NoError);
    assert!(a.answers.is_empty());
    assert_eq!(a.authority[0].record_type(), RecordType::SOA);
}

#[test]
fn an_empty_non_terminal_is_nodata() {
    let (z, records) = zone();
    records.set_static(
        "_satusky-challenge.app.satusky.localhost",
        vec![RecordData::Txt("x".into())],
    );
    let a = z.answer(&name("app.satusky.localhost"), RecordType::A);
    assert_eq!(a.code, ResponseCode::NoError);
    assert!(a.answers.is_empty());
}

#[test]
fn the_apex_answers_soa_and_ns() {
    let (z, _) = zone();
    let soa = z.answer(&name("satusky.localhost"), RecordType::SOA);
    assert_eq!(soa.answers.len(), 1);
    assert_eq!(soa.answers[0].record_type(), RecordType::SOA);
    let ns = z.answer(&name("satusky.localhost"), RecordType::NS);
    assert_eq!(rdata(&ns), vec!["ns.satusky.localhost."]);
    let ns_a = z.answer(&name("ns.satusky.localhost"), RecordType::A);
    assert_eq!(rdata(&ns_a), vec!["127.0.0.1"]);
    let apex_a = z.answer(&name("satusky.localhost"), RecordType::A);
    assert_eq!(apex_a.code, ResponseCode::NoError);
    assert!(apex_a.answers.is_empty());
}

#[test]
fn records_changed_at_run_time_are_answered() {
    let (z, records) = zone();
    records.set_app(
        "acme",
        "web",
        &["web-acme.satusky.localhost".into()],
        &["127.0.0.2".parse().unwrap()],
    );
    let a = z.answer(&name("web-acme.satusky.localhost"), RecordType::A);
    assert_eq!(rdata(&a), vec!["127.0.0.2"]);
    records.remove_app("acme", "web");
    let a = z.answer(&name("web-acme.satusky.localhost"), RecordType::A);
    assert_eq!(a.code, ResponseCode::NXDomain);
}

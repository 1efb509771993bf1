//! Custom domains end to end on `satusky dev`, as a user lives with them: `1ctl domains add`
//! prints the records, `setup -o json` gives them as data, `check` names what is missing (the
//! expected TXT value when a wrong one is published), and once the records are in
//! `STATE_DIR/server.toml` (the machine's simulated external DNS) every plane turns ready; the
//! `--with-www` companion answers 308 to the apex; a deploy whose file does not list a
//! CLI-added domain keeps it and says so; `domains remove` stops the routing and drift then
//! finds nothing serving it. A deploy whose own `[[domains]]` entry is unproven exits 12 with
//! the record to create, and `--wait-for workload` does not wait for it.

mod common;

use std::path::Path;

use common::{Dev, bins, dns_records_toml, json, stderr, stdout};
use serde_json::Value;

const SHOP: &str = "shop.example.test";
const WWW: &str = "www.shop.example.test";

/// Writes the simulated external DNS: `records` as `(name, type, value)`.
fn publish(state: &Path, records: &[(String, &str, String)]) {
    std::fs::write(state.join("server.toml"), dns_records_toml(records)).unwrap();
}

/// `domains check HOST -o json` until `done` holds for it.
fn check_until(
    dev: &Dev,
    dir: &Path,
    host: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    common::check_until(dev, dir, host, what, done, |_| {}, || dev.log())
}

fn all_ready(c: &Value) -> bool {
    ["ownership", "route", "dns", "tls", "http"]
        .iter()
        .all(|p| c[p]["state"] == "ready")
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_cli_domain_is_proven_by_its_records_kept_by_deploys_and_stops_when_removed() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir("web", &[], "");
    let dir = app.path();
    dev.onectl_exits(0, dir, &["deploy"]);

    // Added with its www companion: nothing is served yet; the records to create are printed.
    let out = dev.onectl_exits(0, dir, &["domains", "add", SHOP, "--with-www"]);
    let text = stdout(&out);
    assert!(text.contains(&format!("added {SHOP}")), "{text}");
    assert!(
        text.contains(&format!(
            "added {WWW} to dev/web (redirect to https://{SHOP})"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("_satusky-challenge.{SHOP}")),
        "{text}"
    );
    let setup = json(&dev.onectl_exits(0, dir, &["domains", "setup", SHOP, "-o", "json"]));
    assert_eq!(setup["hostname"], SHOP);
    let records = setup["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{setup:#}");
    assert_eq!(records[0]["type"], "TXT");
    assert_eq!(records[0]["name"], format!("_satusky-challenge.{SHOP}"));
    assert_eq!(
        records[1]["type"], "CNAME",
        "a subdomain points at the app: {setup:#}"
    );
    let generated = records[1]["value"].as_str().unwrap().to_string();
    assert!(generated.starts_with("web-"), "{generated}");
    let value = records[0]["value"].as_str().unwrap().to_string();
    let www_value = json(&dev.onectl_exits(0, dir, &["domains", "setup", WWW, "-o", "json"]))
        ["records"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();

    let list = json(&dev.onectl_exits(0, dir, &["domains", "list", "-o", "json"]));
    let shop = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["hostname"] == SHOP)
        .unwrap();
    assert_eq!(shop["source"], "cli");
    assert_eq!(shop["ownership"]["state"], "pending");
    assert_eq!(shop["ownership"]["txt_value"], value.as_str());
    assert_eq!(shop["routed"], false);

    let before = dev.onectl_exits(12, dir, &["domains", "check", SHOP, "-o", "json"]);
    let c = json(&before);
    assert_eq!(c["ownership"]["reason"], "OwnershipUnverified", "{c:#}");
    assert_eq!(c["tls"]["reason"], "AwaitingOwnership", "{c:#}");
    assert!(
        c["ownership"]["remediation"]
            .as_str()
            .unwrap()
            .contains(&value),
        "{c:#}"
    );

    // A wrong value is named against the expected one.
    publish(
        state.path(),
        &[(
            format!("_satusky-challenge.{SHOP}"),
            "TXT",
            "satusky-verify=not-mine".into(),
        )],
    );
    let c = check_until(&dev, dir, SHOP, "the wrong TXT to be seen", |c| {
        c["ownership"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not-mine"))
    });
    let msg = c["ownership"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("not the expected \"{value}\"")),
        "{msg}"
    );

    // The records setup printed, for both hostnames: every plane turns ready.
    publish(
        state.path(),
        &[
            (format!("_satusky-challenge.{SHOP}"), "TXT", value.clone()),
            (SHOP.to_string(), "CNAME", generated.clone()),
            (
                format!("_satusky-challenge.{WWW}"),
                "TXT",
                www_value.clone(),
            ),
            (WWW.to_string(), "CNAME", generated.clone()),
        ],
    );
    check_until(&dev, dir, SHOP, "every plane of shop ready", all_ready);
    check_until(&dev, dir, WWW, "every plane of www ready", all_ready);
    dev.onectl_exits(0, dir, &["domains", "check", SHOP]);
    let release = block_on(async { dev.get(SHOP, "/healthz").await });
    assert_eq!(
        release.headers()["x-satusky-release"].to_str().unwrap(),
        format!(
            "{}/web@v1",
            generated
                .trim_start_matches("web-")
                .split('.')
                .next()
                .unwrap()
        )
    );
    let www = block_on(async {
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(dev.ca_pem()).unwrap()).unwrap(),
            )
            .resolve(WWW, dev.https_addr())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        client.get(dev.url(WWW, "/a?b=1")).send().await.unwrap()
    });
    assert_eq!(www.status(), 308);
    assert_eq!(
        www.headers()["location"].to_str().unwrap(),
        format!("https://{SHOP}/a?b=1")
    );

    // A deploy whose satusky.toml does not list them keeps them, and says so.
    let out = dev.onectl_exits(0, dir, &["deploy"]);
    let said = stderr(&out);
    assert!(
        said.contains(&format!("kept {SHOP} (added with 1ctl domains add): add it to satusky.toml, or 1ctl domains remove {SHOP}")),
        "{said}"
    );
    let served = block_on(async { dev.get(SHOP, "/healthz").await });
    assert!(
        served.headers()["x-satusky-release"]
            .to_str()
            .unwrap()
            .ends_with("/web@v2"),
        "still served, by the new release"
    );

    // Removed: no longer routed, and nothing serves it (drift finds nothing).
    dev.onectl_exits(2, dir, &["domains", "remove", SHOP]);
    dev.onectl_exits(0, dir, &["domains", "remove", SHOP, "--yes"]);
    // The edge has no route, so no certificate for it: the handshake is refused.
    let gone = block_on(async {
        dev.client_for(SHOP)
            .get(dev.url(SHOP, "/healthz"))
            .send()
            .await
    });
    match gone {
        Err(e) => assert!(format!("{e:?}").contains("AccessDenied"), "{e:?}"),
        Ok(res) => assert!(
            res.headers().get("x-satusky-release").is_none(),
            "still served: {:?}",
            res.headers()
        ),
    }
    let drift = json(&dev.onectl_exits(0, dir, &["app", "drift", "--check", "-o", "json"]));
    let about_shop: Vec<_> = drift["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["hostname"] == SHOP)
        .collect();
    assert!(about_shop.is_empty(), "nothing serves {SHOP}: {drift:#}");
    let list = json(&dev.onectl_exits(0, dir, &["domains", "list", "-o", "json"]));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|d| d["hostname"] != SHOP),
        "{list:#}"
    );
}

#[test]
fn a_deploy_whose_own_domain_is_unproven_exits_12_with_the_record_to_create() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let app = bins.test_app_dir("api", &[], "[[domains]]\nhost = \"api.example.test\"\n");
    let out = dev.onectl_exits(12, app.path(), &["deploy"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("OwnershipUnverified"), "{said}");
    assert!(
        said.contains("_satusky-challenge.api.example.test"),
        "{said}"
    );
    dev.onectl_exits(0, app.path(), &["deploy", "--wait-for", "workload"]);
}

//! The drift checker on the local runtime, in-process (issue 6, acceptance 3 and 4): a store in
//! a temp dir, the local stack (CA, DNS server, edge, runtime, prober, engine) on 127.0.0.1:0,
//! an app of the local runtime's test server deployed through the API, then its route table
//! and zone records edited out of band: a dropped route, a foreign hostname on the app's
//! route, a changed platform-zone record and a stale release are found and healed; a custom
//! domain pointing elsewhere is reported with the record to create and stays open until the
//! user fixes it. The findings show in `GET …/drift`, the `drift` events and `/metrics`.
//! The edge's certificate replaced out of band (unknown issuer, wrong name, expired) and a
//! redirect host's route edited (redirecting elsewhere, serving instead) are found as
//! platform drift and healed: the edge serves the local CA's certificate and the stored
//! redirect again.

mod drift_common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use axum::http::{Method, StatusCode};
use drift_common::{Api, ORG, assert_healed, drift_events, eventually, finding, finding_events};
use satusky_dns::{RecordData, ZoneRecords};
use satusky_local::ca::LocalCa;
use satusky_local::edge::RELEASE_HEADER;
use satusky_local::routes::Route;
use satusky_stack::{LocalStack, LocalStackConfig};
use serde_json::{Value, json};

const ZONE: &str = "satusky.localhost";
const SHOP: &str = "shop.example.test";

fn generated(app: &str) -> String {
    format!("{app}-{ORG}.{ZONE}")
}

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

struct Env {
    _dir: tempfile::TempDir,
    stack: LocalStack,
    api: Api,
    other_token: String,
}

async fn start(probe_interval: Duration) -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (store, token, other_token) = drift_common::store(dir.path()).await;
    // The custom domain resolves to the edge, as its owner set it up.
    let records = ZoneRecords::new();
    records.set_static(SHOP, vec![RecordData::A(IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    // …and proved it is theirs (every custom domain these tests route).
    drift_common::publish_proofs(
        &records,
        ORG,
        &[
            SHOP,
            "intruder.example.test",
            "old.example.test",
            "ping.example.test",
            "pong.example.test",
        ],
    );
    let stack = LocalStack::start(
        LocalStackConfig {
            state_dir: dir.path().join("state"),
            zone: satusky_core::hostnames::Zone::parse(ZONE).unwrap(),
            http_addr: any_port(),
            https_addr: any_port(),
            dns_addr: any_port(),
            probe_interval,
            isolation: satusky_local::isolation::Isolation::SameUser,
            build_timeout: satusky_server::engine::DEFAULT_BUILD_TIMEOUT,
            ready_recheck: satusky_local::supervisor::READY_RECHECK,
            acme: None,
            extra_roots: Vec::new(),
        },
        store,
        records,
    )
    .await
    .unwrap();
    stack.engine.start().await;
    let api = Api {
        router: satusky_server::router(stack.state.clone()),
        token,
    };
    Env {
        _dir: dir,
        stack,
        api,
        other_token,
    }
}

/// Upload the context and deploy `app` (one replica of the test server, with the custom
/// domain); the release number.
async fn deploy(env: &Env, app: &str) -> u64 {
    deploy_with(env, app, json!([{ "host": SHOP }])).await
}

/// [`deploy`] with these `domains`.
async fn deploy_with(env: &Env, app: &str, domains: Value) -> u64 {
    let mut spec = drift_common::test_app_spec(app, &[]);
    spec["domains"] = domains;
    env.api.deploy_spec(app, spec).await
}

/// `GET https://HOST/healthz` at the edge with a client that trusts only the local CA, as a
/// user's browser set up by `satusky dev` would: the answer's release header, or why the
/// request failed (the client refused the certificate).
async fn https_release(env: &Env, host: &str) -> Result<String, String> {
    let ca = reqwest::Certificate::from_pem(env.stack.ca.ca_pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(host, env.stack.edge.https_addr())
        .no_proxy()
        .build()
        .unwrap();
    let res = client
        .get(format!("https://{host}/healthz"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let release = res
        .headers()
        .get(RELEASE_HEADER)
        .map(|v| v.to_str().unwrap());
    Ok(release.unwrap_or("no release header").to_string())
}

/// `GET http://HOST/a/b?c=1` at the edge, redirects not followed: the status and `Location`.
async fn http_answer(env: &Env, host: &str) -> (u16, Option<String>) {
    let client = reqwest::Client::builder()
        .resolve(host, env.stack.edge.http_addr())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let res = client
        .get(format!("http://{host}/a/b?c=1"))
        .send()
        .await
        .unwrap();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap());
    (res.status().as_u16(), location.map(str::to_string))
}

/// The (hostname, plane) of a report's open findings.
fn open_findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["healed_at"].is_null())
        .map(|f| (f["hostname"].to_string(), f["plane"].to_string()))
        .collect()
}

/// Run `body`, then stop the stack (its replicas are real processes) whatever happened.
async fn with_stack<F, Fut>(env: Env, body: F)
where
    F: FnOnce(std::sync::Arc<Env>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let env = std::sync::Arc::new(env);
    let result = tokio::spawn(body(env.clone())).await;
    if let Ok(env) = std::sync::Arc::try_unwrap(env) {
        env.stack.shutdown().await;
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_route_is_found_and_healed_by_the_sweep_on_its_timer() {
    let env = start(Duration::from_secs(1)).await;
    with_stack(env, |env| async move {
        let app = "timer";
        let host = generated(app);
        let v = deploy(&env, app).await;
        env.api.wait_ready(app, v).await;
        let report = env.api.drift(app, false).await;
        assert_eq!(report["findings"], json!([]), "{report:#}");

        env.stack.routes.remove_host(&host);
        let report = eventually(
            "the sweep to heal the dropped route",
            Duration::from_secs(30),
            || async {
                let r = env.api.drift(app, false).await;
                // The heal is recorded during the sweep, its `checked_at` when the sweep ends:
                // wait for both (CI read the report in between).
                (finding(&r, &host, "route").is_some_and(|f| f["healed_at"].is_string())
                    && r["checked_at"].is_string())
                .then_some(r)
            },
        )
        .await;
        assert!(
            env.stack.routes.lookup(&host).is_some(),
            "the route serves {host} again"
        );
        assert_healed(&env.stack.store, &report, app, &host, "route").await;
        let f = finding(&report, &host, "route").unwrap();
        assert_eq!(f["expected"], format!("routed to {ORG}/{app}@v{v}"));
        assert!(
            f["observed"].as_str().unwrap().contains("no route"),
            "{f:#}"
        );

        // Another org's token sees nothing of it.
        let (status, body) = env
            .api
            .call_as(
                &env.other_token,
                Method::GET,
                &format!("/v1/orgs/{ORG}/apps/{app}/drift"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

        let (status, body) = env
            .api
            .call(
                Method::GET,
                &format!("/v1/orgs/{ORG}/apps/{app}/drift?check=maybe"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{body}");
        let (_, doc) = env.api.call(Method::GET, "/v1/openapi.json", None).await;
        let op = &doc["paths"]["/v1/orgs/{org}/apps/{app}/drift"]["get"];
        assert!(
            op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "check")),
            "{op:#}"
        );

        let metrics = env.api.metrics().await;
        for line in [
            "satusky_drift_findings{plane=\"route\"} 0",
            "satusky_reconciles_total{runtime=\"local\",result=\"ok\"}",
            "satusky_probes_total{plane=\"http\",state=\"ready\"}",
            "satusky_drift_check_seconds_bucket",
            "satusky_probe_seconds_count",
            "satusky_reconcile_seconds_sum",
        ] {
            assert!(metrics.contains(line), "{line} in:\n{metrics}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_drift_kind_is_found_and_the_platforms_healed_on_demand() {
    // The timer never fires during the test: every check is asked for.
    let env = start(Duration::from_secs(3600)).await;
    with_stack(env, |env| async move {
        let app = "web";
        let host = generated(app);
        let v1 = deploy(&env, app).await;
        env.api.wait_ready(app, v1).await;
        let v2 = deploy(&env, app).await;
        env.api.wait_ready(app, v2).await;
        env.api.assert_no_drift(app, "after a deploy").await;
        let serving = match env.stack.routes.lookup(&host) {
            Some(Route::Serve { upstreams, .. }) => upstreams,
            other => panic!("{host} is not served: {other:?}"),
        };

        // A hostname the store does not hold, added to the app's route.
        let intruder = "intruder.example.test";
        env.stack.routes.set_host(
            intruder,
            Route::Serve {
                org: ORG.into(),
                app: app.into(),
                release_id: format!("{ORG}/{app}@v{v2}"),
                upstreams: serving.clone(),
            },
        );
        let report = env.api.drift(app, true).await;
        assert_healed(&env.stack.store, &report, app, intruder, "route").await;
        let f = finding(&report, intruder, "route").unwrap();
        assert!(
            f["expected"].as_str().unwrap().starts_with("not routed"),
            "{f:#}"
        );
        assert!(
            env.stack.routes.lookup(intruder).is_none(),
            "the intruder is gone"
        );

        // The platform zone's record of the app changed.
        let elsewhere: IpAddr = "10.9.9.9".parse().unwrap();
        env.stack
            .records
            .set_app(ORG, app, std::slice::from_ref(&host), &[elsewhere]);
        let report = env.api.drift(app, true).await;
        assert_healed(&env.stack.store, &report, app, &host, "dns").await;
        let f = finding(&report, &host, "dns").unwrap();
        assert!(
            f["observed"].as_str().unwrap().contains("10.9.9.9"),
            "{f:#}"
        );
        assert_eq!(
            env.stack.records.lookup(&host),
            Some(vec![RecordData::A(IpAddr::V4(Ipv4Addr::LOCALHOST))])
        );

        // A stale release answering on the hostname.
        env.stack.routes.set_host(
            &host,
            Route::Serve {
                org: ORG.into(),
                app: app.into(),
                release_id: format!("{ORG}/{app}@v{v1}"),
                upstreams: serving.clone(),
            },
        );
        let report = env.api.drift(app, true).await;
        let f = drift_common::stale_release_finding(&report, &host, v1);
        assert_eq!(
            f["expected"],
            format!("x-satusky-release: {ORG}/{app}@v{v2}")
        );
        assert_healed(&env.stack.store, &report, app, &host, "http").await;
        assert_healed(&env.stack.store, &report, app, &host, "route").await;

        // The custom domain's DNS points elsewhere: the user's to fix, never "healed".
        env.stack
            .records
            .set_static(SHOP, vec![RecordData::A("192.0.2.1".parse().unwrap())]);
        let report = env.api.drift(app, true).await;
        let f = finding(&report, SHOP, "dns")
            .unwrap_or_else(|| panic!("the custom domain's DNS is found: {report:#}"))
            .clone();
        assert_eq!(f["owner"], "user", "{f:#}");
        assert!(f["healed_at"].is_null(), "{f:#}");
        let fix = f["remediation"].as_str().unwrap();
        assert!(fix.contains(SHOP) && fix.contains("A 127.0.0.1"), "{fix}");
        env.api.assert_drift_gauge("dns", 1).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = env.api.drift(app, true).await;
        let g = finding(&again, SHOP, "dns").unwrap();
        assert!(g["healed_at"].is_null(), "still open: {g:#}");
        assert_eq!(g["first_seen"], f["first_seen"]);
        assert!(
            g["last_seen"].as_str() > f["last_seen"].as_str(),
            "{f:#}\n{g:#}"
        );
        assert_eq!(
            env.stack.records.lookup(SHOP),
            Some(vec![RecordData::A("192.0.2.1".parse().unwrap())]),
            "the platform never touches the user's records"
        );
        let opened: Vec<Value> = drift_events(&env.stack.store, app)
            .await
            .into_iter()
            .filter(|e| e["hostname"] == SHOP)
            .collect();
        assert_eq!(
            opened.len(),
            1,
            "one event when it opened, none per refresh: {opened:#?}"
        );
        assert_eq!(opened[0]["owner"], "user");
        assert!(opened[0]["remediation"].as_str().unwrap().contains(SHOP));

        // The user fixes it: no longer observed, so it closes.
        env.stack
            .records
            .set_static(SHOP, vec![RecordData::A(IpAddr::V4(Ipv4Addr::LOCALHOST))]);
        let report = env.api.drift(app, true).await;
        let f = finding(&report, SHOP, "dns").unwrap();
        assert!(f["healed_at"].is_string(), "closed once fixed: {f:#}");
        assert!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["healed_at"].is_string()),
            "nothing open: {report:#}"
        );
        env.api.assert_drift_gauge("dns", 0).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_replaced_on_the_edge_is_found_and_healed() {
    let env = start(Duration::from_secs(3600)).await;
    with_stack(env, |env| async move {
        let app = "secure";
        let host = generated(app);
        let v = deploy(&env, app).await;
        env.api.wait_ready(app, v).await;
        let report = env.api.drift(app, true).await;
        assert_eq!(report["findings"], json!([]), "{report:#}");
        let release = format!("{ORG}/{app}@v{v}");
        for name in [host.as_str(), SHOP] {
            assert_eq!(https_release(&env, name).await, Ok(release.clone()));
        }

        // Certificates someone else put on the edge: from another local CA (another state
        // dir), the local CA's own for another name, and one that has ended.
        let stranger_dir = tempfile::tempdir().unwrap();
        let stranger = LocalCa::load_or_create(stranger_dir.path()).unwrap();
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();
        let replaced = [
            (
                host.clone(),
                stranger.issue(&host).unwrap(),
                format!("the certificate for {host} (issued by "),
                "does not chain to a trusted root",
            ),
            (
                SHOP.to_string(),
                env.stack.ca.issue("elsewhere.example.test").unwrap(),
                format!("the certificate covers elsewhere.example.test, not {SHOP}"),
                "",
            ),
            (
                host.clone(),
                env.stack
                    .ca
                    .issue_with_validity(&host, now - 91 * day, now - day)
                    .unwrap(),
                "expired 1d ago (".to_string(),
                "",
            ),
        ];
        for (name, certificate, starts, ends) in replaced {
            env.stack.routes.install_certificate(&name, certificate);
            let refused = https_release(&env, &name)
                .await
                .expect_err("the edge serves the replaced certificate");

            let report = env.api.drift(app, true).await;
            let f = finding(&report, &name, "tls")
                .unwrap_or_else(|| panic!("the replaced certificate is found: {report:#}"));
            assert_eq!(f["owner"], "platform", "{f:#}");
            assert_eq!(
                f["expected"],
                format!("a certificate for {name} from a trusted issuer, valid now")
            );
            let observed = f["observed"].as_str().unwrap();
            assert!(
                observed.starts_with(&starts) && observed.ends_with(ends),
                "{f:#}"
            );
            assert!(
                f["remediation"].is_null(),
                "the platform heals its own: {f:#}"
            );
            assert_healed(&env.stack.store, &report, app, &name, "tls").await;
            assert_eq!(open_findings(&report), Vec::<(String, String)>::new());

            assert!(env.stack.routes.installed_certificate(&name).is_none());
            assert_eq!(
                https_release(&env, &name).await,
                Ok(release.clone()),
                "the local CA's certificate again (before the heal: {refused})"
            );
        }

        // The generated hostname drifted twice: two openings, two closings.
        let events = finding_events(&env.stack.store, app, &host, "tls").await;
        let opened: Vec<&Value> = events.iter().filter(|e| e["healed_at"].is_null()).collect();
        assert_eq!(opened.len(), 2, "{events:#?}");
        assert_eq!(events.len(), 4, "{events:#?}");
        assert!(
            opened[1]["observed"]
                .as_str()
                .unwrap()
                .starts_with("expired")
        );
        env.api.assert_drift_gauge("tls", 0).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_host_rerouted_out_of_band_is_found_and_healed() {
    const OLD: &str = "old.example.test";
    let env = start(Duration::from_secs(3600)).await;
    // The redirect host resolves to the edge, as its owner set it up.
    env.stack
        .records
        .set_static(OLD, vec![RecordData::A(IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    with_stack(env, |env| async move {
        let app = "moved";
        let target = format!("https://{SHOP}");
        let domains = json!([{"host": SHOP}, {"host": OLD, "redirect_to": target}]);
        let v = deploy_with(&env, app, domains).await;
        env.api.wait_ready(app, v).await;
        let report = env.api.drift(app, true).await;
        assert_eq!(report["findings"], json!([]), "{report:#}");
        let redirected = (308, Some(format!("{target}/a/b?c=1")));
        assert_eq!(http_answer(&env, OLD).await, redirected);
        let stored = env.stack.routes.lookup(OLD);
        let expected = Route::Redirect {
            org: ORG.into(),
            app: app.into(),
            to: target.clone(),
        };
        assert_eq!(stored, Some(expected));
        let serving = match env.stack.routes.lookup(SHOP) {
            Some(Route::Serve { upstreams, .. }) => upstreams,
            other => panic!("{SHOP} is not served: {other:?}"),
        };

        let edits = [
            (
                Route::Redirect {
                    org: ORG.into(),
                    app: app.into(),
                    to: "https://evil.example.test".into(),
                },
                format!("{OLD} redirects to https://evil.example.test, not to {target}"),
            ),
            (
                Route::Serve {
                    org: ORG.into(),
                    app: app.into(),
                    release_id: format!("{ORG}/{app}@v{v}"),
                    upstreams: serving,
                },
                format!("{OLD} serves {ORG}/{app}@v{v} instead of redirecting to {target}"),
            ),
        ];
        for (round, (edit, observed)) in edits.into_iter().enumerate() {
            env.stack.routes.set_host(OLD, edit);
            let edited = http_answer(&env, OLD).await;
            assert_ne!(edited, redirected, "the edit took effect");

            let report = env.api.drift(app, true).await;
            let f = finding(&report, OLD, "route")
                .unwrap_or_else(|| panic!("the edited redirect is found: {report:#}"));
            assert_eq!(f["expected"], format!("redirected to {target}"), "{f:#}");
            assert_eq!(f["observed"], observed, "{f:#}");
            assert_healed(&env.stack.store, &report, app, OLD, "route").await;
            assert_eq!(open_findings(&report), Vec::<(String, String)>::new());

            assert_eq!(env.stack.routes.lookup(OLD), stored, "the stored redirect");
            assert_eq!(
                http_answer(&env, OLD).await,
                redirected,
                "redirected again (before the heal: {edited:?})"
            );
            let events = finding_events(&env.stack.store, app, OLD, "route").await;
            assert_eq!(events.len(), 2 * (round + 1), "{events:#?}");
            assert_eq!(events[2 * round]["observed"], observed, "{events:#?}");
        }
        env.api.assert_drift_gauge("route", 0).await;
    })
    .await;
}

/// Issue 12, acceptance 4 (second half): two apps' redirect hosts sending requests to each
/// other pass validation (each app alone has no cycle), but the HTTP plane follows the chain
/// through the edge and fails `RedirectLoop`, naming it, with a fix.
#[tokio::test]
async fn redirect_hosts_of_two_apps_pointing_at_each_other_fail_redirect_loop_naming_the_chain() {
    const PING: &str = "ping.example.test";
    const PONG: &str = "pong.example.test";
    let env = start(Duration::from_secs(3600)).await;
    for host in [PING, PONG] {
        env.stack
            .records
            .set_static(host, vec![RecordData::A(IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    }
    with_stack(env, |env| async move {
        let a = deploy_with(
            &env,
            "ping",
            json!([{"host": PING, "redirect_to": format!("https://{PONG}")}]),
        )
        .await;
        env.api.wait_ready("ping", a).await;
        let b = deploy_with(
            &env,
            "pong",
            json!([{"host": PONG, "redirect_to": format!("https://{PING}")}]),
        )
        .await;
        let http = eventually(
            "pong's redirect host to fail RedirectLoop",
            Duration::from_secs(30),
            || {
                let api = &env.api;
                async move {
                    // The sweep is off (1 h): a check re-probes the endpoints, so a first probe
                    // made before the proof of PONG routed it is not the last word.
                    api.drift("pong", true).await;
                    let s = api.status("pong").await;
                    let e = s["endpoints"]
                        .as_array()?
                        .iter()
                        .find(|e| e["hostname"] == PONG)?
                        .clone();
                    (s["target_release"] == b && e["http"]["reason"] == "RedirectLoop")
                        .then(|| e["http"].clone())
                }
            },
        )
        .await;
        assert_eq!(http["state"], "failed", "{http:#}");
        let message = http["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{PONG} → {PING} → {PONG}")),
            "the chain is named: {message}"
        );
        assert!(
            http["remediation"].as_str().is_some_and(|r| !r.is_empty()),
            "{http:#}"
        );
    })
    .await;
}

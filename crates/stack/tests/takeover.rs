//! Ownership before routing, on a whole local control plane (real edge, DNS server, TLS and
//! HTTP on loopback): org `other` claiming a hostname org `acme` serves is never served for
//! `other` until `other` proves it; a proof by `other` (its own TXT value) ends acme's claim,
//! which acme sees as an event and a drift finding; both values published at once is a
//! conflict that names the record to remove.

mod drift_common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use satusky_core::ownership::{txt_name, txt_value};
use satusky_dns::{RecordData, ZoneRecords};
use satusky_stack::LocalStack;
use serde_json::{Value, json};
use tower::ServiceExt;

use drift_common::{Api, ORG, eventually, finding};

const HOST: &str = "shop.example.test";
const OTHER: &str = "other";

struct Env {
    _dir: tempfile::TempDir,
    stack: LocalStack,
    api: Api,
    other_token: String,
    records: ZoneRecords,
}

async fn start() -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (store, token, other_token) = drift_common::store(dir.path()).await;
    let stack = drift_common::local_stack(&dir.path().join("state"), store).await;
    // The hostname resolves to the edge, as its owner set it up.
    let records = stack.records.clone();
    records.set_static(HOST, vec![RecordData::A(IpAddr::V4(Ipv4Addr::LOCALHOST))]);
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
        records,
    }
}

/// Publish exactly these orgs' values at `_satusky-challenge.HOST`.
fn publish(env: &Env, orgs: &[&str]) {
    let values = orgs
        .iter()
        .map(|o| RecordData::Txt(txt_value(o, HOST)))
        .collect();
    env.records.set_static(&txt_name(HOST), values);
}

/// Upload the test app's context as `org` and `PUT` `app` with `HOST` as a custom domain.
async fn deploy_as(env: &Env, token: &str, org: &str, app: &str) -> Value {
    let req = Request::post(format!("/v1/orgs/{org}/builds"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/gzip")
        .body(Body::from(drift_common::context()))
        .unwrap();
    let res = env.api.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let ctx: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let mut spec = drift_common::test_app_spec(app, &[]);
    spec["domains"] = json!([{ "host": HOST }]);
    let (status, body) = env
        .api
        .call_as(
            token,
            Method::PUT,
            &format!("/v1/orgs/{org}/apps/{app}"),
            Some(json!({"spec": spec, "context": ctx["context"]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body
}

async fn get_as(env: &Env, token: &str, path: &str) -> Value {
    let (status, body) = env.api.call_as(token, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// The release header of a real HTTPS request to `HOST` at the edge (trusting the local CA),
/// or why it got none.
async fn served_release(env: &Env) -> String {
    let ca = reqwest::Certificate::from_pem(env.stack.ca.ca_pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(HOST, env.stack.edge.https_addr())
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    match client.get(format!("https://{HOST}/healthz")).send().await {
        Ok(res) => res
            .headers()
            .get("x-satusky-release")
            .and_then(|v| v.to_str().ok())
            .map_or_else(
                || format!("no release header ({})", res.status()),
                str::to_string,
            ),
        Err(e) => format!("request failed: {e}"),
    }
}

fn endpoint<'a>(status: &'a Value, host: &str) -> &'a Value {
    status["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["hostname"] == host)
        .unwrap_or_else(|| panic!("no endpoint {host} in {status:#}"))
}

fn domain<'a>(list: &'a Value, host: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["hostname"] == host)
        .unwrap_or_else(|| panic!("no domain {host} in {list:#}"))
}

#[tokio::test]
async fn another_org_never_serves_a_hostname_before_its_own_proof_then_takes_it_over() {
    let env = start().await;
    let other = env.other_token.clone();

    // acme proves and serves HOST.
    publish(&env, &[ORG]);
    let v = deploy_as(&env, &env.api.token, ORG, "shop").await["release"]
        .as_u64()
        .unwrap();
    let s = env.api.wait_ready("shop", v).await;
    assert_eq!(
        endpoint(&s, HOST)["metadata"]["reason"],
        "OwnershipVerified"
    );
    assert_eq!(served_release(&env).await, "acme/shop@v1");

    // other claims it: accepted, pending, never served for it.
    let accepted = deploy_as(&env, &other, OTHER, "squat").await;
    assert!(accepted["kept"].is_null(), "{accepted}");
    let squat = eventually(
        "other/squat's rollout to settle",
        Duration::from_secs(60),
        || async {
            let s = get_as(&env, &other, "/v1/orgs/other/apps/squat/status").await;
            (s["active_release"] == 1 && s["phase"] != "rolling_out").then_some(s)
        },
    )
    .await;
    let meta = &endpoint(&squat, HOST)["metadata"];
    assert_eq!(meta["state"], "pending", "{squat:#}");
    assert_eq!(meta["reason"], "OwnershipUnverified", "{squat:#}");
    let fix = meta["remediation"].as_str().unwrap();
    assert!(
        fix.contains(&txt_name(HOST)) && fix.contains(&txt_value(OTHER, HOST)),
        "the record other must create: {fix}"
    );
    assert_eq!(endpoint(&squat, HOST)["tls"]["reason"], "AwaitingOwnership");
    let route = &endpoint(&squat, HOST)["route"];
    assert_eq!(
        (&route["state"], &route["reason"]),
        (&json!("pending"), &json!("Waiting")),
        "not a missing route to heal: {route}"
    );
    assert_eq!(
        squat["phase"], "degraded",
        "workload ready, a hostname not: {squat:#}"
    );
    for _ in 0..3 {
        assert_eq!(
            served_release(&env).await,
            "acme/shop@v1",
            "acme still answers"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let route = env.stack.routes.lookup(HOST).expect("acme's route");
    assert_eq!(
        route.owner(),
        (ORG, "shop"),
        "the edge's route for {HOST} stays acme's"
    );
    let acme = env.api.status("shop").await;
    assert_eq!(acme["phase"], "ready", "acme unaffected: {acme:#}");

    // Both values published: other's claim is refused, naming acme's record to remove.
    publish(&env, &[ORG, OTHER]);
    let check = get_as(
        &env,
        &other,
        &format!("/v1/orgs/other/apps/squat/domains/{HOST}/check"),
    )
    .await;
    assert_eq!(
        check["ownership"]["reason"], "OwnershipConflict",
        "{check:#}"
    );
    let msg = check["ownership"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&txt_value(ORG, HOST)),
        "names the record to remove: {msg}"
    );
    assert_eq!(served_release(&env).await, "acme/shop@v1");

    // The DNS now says other: other takes the hostname, acme's claim ends and acme sees it.
    publish(&env, &[OTHER]);
    let check = get_as(
        &env,
        &other,
        &format!("/v1/orgs/other/apps/squat/domains/{HOST}/check"),
    )
    .await;
    assert_eq!(check["ownership"]["state"], "ready", "{check:#}");
    assert_eq!(
        check["ownership"]["reason"], "OwnershipVerified",
        "{check:#}"
    );
    assert_eq!(
        check["route"]["state"], "ready",
        "routed before check answered: {check:#}"
    );
    eventually("other to be served", Duration::from_secs(10), || async {
        (served_release(&env).await == "other/squat@v1").then_some(())
    })
    .await;
    let domains = env
        .api
        .call(
            Method::GET,
            &format!("/v1/orgs/{ORG}/apps/shop/domains"),
            None,
        )
        .await
        .1;
    let mine = domain(&domains, HOST);
    assert_eq!(mine["ownership"]["state"], "lost", "{domains:#}");
    assert_eq!(mine["routed"], false, "{domains:#}");
    let events = env
        .stack
        .store
        .events_page(ORG, "shop", 0, 1 << 20)
        .await
        .unwrap()
        .events;
    assert!(
        events
            .iter()
            .any(|e| e.kind == satusky_types::EventType::Domain && e.data["change"] == "lost"),
        "acme has a `lost` domain event"
    );
    let report = env.api.drift("shop", false).await;
    let f = finding(&report, HOST, "metadata").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(f["owner"], "user", "{f}");
    env.stack.runtime.shutdown().await;
}

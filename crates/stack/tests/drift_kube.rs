//! The drift checker on Kubernetes (issue 6, acceptance 3): the engine over `KubeRuntime`
//! against fakekube in-process, with the embedded edge playing the Gateway (GUIDE §4): a small
//! controller programs the local edge's route table from the HTTPRoutes stored in fakekube, as
//! a Gateway implementation would, and the "pod" behind every route is a tiny HTTP server of
//! the test. The platform zone is served by the embedded DNS server and programmed by
//! `KubeRuntime` itself (`with_zone`) with the Gateway's address, as `satusky serve --runtime
//! kubernetes` does when `dns_listen` is set. Then an HTTPRoute edited out of band
//! (merge-patch by another field manager) to drop or add a hostname, or to stamp a stale
//! release, is found and healed by server-side apply taking its fields back; a platform-zone
//! record changed out of band is found and healed by writing the zone again.

mod drift_common;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use drift_common::{Api, ORG, assert_healed, finding};
use fakekube::{Auto, FakeKube, Options};
use kube::api::{Api as KubeApi, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use satusky_core::runtime::Runtime;
use satusky_dns::{RecordData, ZoneRecords};
use satusky_kube::render::labels::{APP, ORG as ORG_LABEL};
use satusky_kube::runtime::{KubeConfig, KubeRuntime};
use satusky_local::ca::LocalCa;
use satusky_local::edge::{self, EdgeConfig};
use satusky_local::routes::{Route, RouteTable};
use satusky_probe::{ProbeConfig, Prober, Timeouts, parse_pem_certs};
use satusky_server::{AppState, Engine, EngineConfig, Settings};
use serde_json::{Value, json};

const ZONE: &str = "apps.test";
const NS: &str = "satusky-acme";
const SHOP: &str = "shop.example.test";
const ROUTES: &str = "gateway.networking.k8s.io/v1";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// The embedded edge playing the Gateway: programs the route table from fakekube's
/// HTTPRoutes whenever one changes (a watch, in effect).
struct Gateway {
    fake: FakeKube,
    routes: RouteTable,
    pod: SocketAddr,
    programmed: Mutex<HashSet<(String, String)>>,
}

impl Gateway {
    fn resync(&self) {
        let mut apps: BTreeMap<(String, String), Vec<(String, Route)>> = BTreeMap::new();
        for r in self.fake.objects(ROUTES, "HTTPRoute", None) {
            let label = |k: &str| r["metadata"]["labels"][k].as_str().map(str::to_string);
            let (Some(org), Some(app)) = (label(ORG_LABEL), label(APP)) else {
                continue;
            };
            let release_id = r["spec"]["rules"][0]["filters"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|f| f["responseHeaderModifier"]["set"][0]["value"].as_str())
                .unwrap_or_default()
                .to_string();
            let entries = apps.entry((org.clone(), app.clone())).or_default();
            for h in r["spec"]["hostnames"].as_array().into_iter().flatten() {
                let route = Route::Serve {
                    org: org.clone(),
                    app: app.clone(),
                    release_id: release_id.clone(),
                    upstreams: vec![self.pod],
                };
                entries.push((h.as_str().unwrap_or_default().to_string(), route));
            }
        }
        let mut programmed = self.programmed.lock().unwrap();
        for (org, app) in programmed.iter() {
            if !apps.contains_key(&(org.clone(), app.clone())) {
                self.routes.remove_app(org, app);
            }
        }
        programmed.clear();
        for ((org, app), entries) in apps {
            self.routes.set_app(&org, &app, entries);
            programmed.insert((org, app));
        }
    }

    fn fingerprint(&self) -> Vec<String> {
        self.fake
            .objects(ROUTES, "HTTPRoute", None)
            .iter()
            .map(|r| {
                format!(
                    "{}/{}@{}",
                    r["metadata"]["namespace"],
                    r["metadata"]["name"],
                    r["metadata"]["resourceVersion"]
                )
            })
            .collect()
    }

    /// Program on every change of the HTTPRoutes.
    fn watch(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let now = self.fingerprint();
                if now != seen {
                    self.resync();
                    seen = now;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
}

struct Env {
    _dir: tempfile::TempDir,
    fake: FakeKube,
    gateway: Arc<Gateway>,
    /// The platform zone the embedded DNS server answers from.
    records: ZoneRecords,
    api: Api,
    store: satusky_store::Store,
}

async fn start() -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (store, token, _) = drift_common::store(dir.path()).await;
    let fake = FakeKube::with_options(Options {
        auto: Auto {
            rollouts: true,
            routes: true,
        },
        ..Options::default()
    });
    let client = fake.client();
    satusky_testkit::kube::platform_gateway(&client).await;
    // fakekube's automatic controller programs the Gateway with the address 127.0.0.1: the
    // loopback edge below.

    // The data plane: DNS, the edge, and the pod every route sends to.
    let pod_listener = tokio::net::TcpListener::bind(any_port()).await.unwrap();
    let pod = pod_listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "hello from the pod\n" });
        let _ = axum::serve(pod_listener, app).await;
    });
    let (routes, records) = (RouteTable::new(), ZoneRecords::new());
    records.set_static(SHOP, vec![RecordData::A(LOOPBACK)]);
    drift_common::publish_proofs(&records, drift_common::ORG, &[SHOP]);
    let ca = Arc::new(LocalCa::load_or_create(&dir.path().join("ca")).unwrap());
    let dns = satusky_dns::start(
        any_port(),
        &satusky_core::hostnames::Zone::parse(ZONE).unwrap(),
        records.clone(),
    )
    .await
    .unwrap();
    let edge = edge::start(
        EdgeConfig {
            http_addr: any_port(),
            https_addr: any_port(),
        },
        routes.clone(),
        ca.clone(),
    )
    .await
    .unwrap();
    let gateway = Arc::new(Gateway {
        fake: fake.clone(),
        routes,
        pod,
        programmed: Mutex::new(HashSet::new()),
    });
    gateway.clone().watch();

    let runtime = Arc::new(
        KubeRuntime::new(
            client,
            KubeConfig {
                zone: ZONE.parse().expect("a zone"),
                gateway: Default::default(),
                issuer: Default::default(),
                probe_addr: Some(edge.https_addr()),
            },
            None,
        )
        .with_zone(Arc::new(records.clone())),
    );
    let prober = Prober::new(ProbeConfig {
        resolvers: vec![dns.local_addr()],
        edge: Some(edge.https_addr()),
        extra_roots: parse_pem_certs(ca.ca_pem()).unwrap(),
        timeouts: Timeouts::uniform(Duration::from_secs(3)),
        ..ProbeConfig::default()
    })
    .unwrap();
    let settings = Settings {
        dns_zone: ZONE.parse().expect("a zone"),
        contexts: None,
    };
    let state = AppState::new(store.clone(), settings);
    let engine = Engine::new(
        store.clone(),
        runtime as Arc<dyn Runtime>,
        Some(Arc::new(prober)),
        state.hub.clone(),
        EngineConfig {
            // Every check in this test is asked for.
            probe_interval: Duration::from_secs(3600),
            dns_zone: ZONE.parse().expect("a zone"),
            build_timeout: satusky_server::engine::DEFAULT_BUILD_TIMEOUT,
        },
    );
    let state = state.with_engine(engine.clone());
    engine.start().await;
    // The servers live as long as the test's runtime.
    std::mem::forget(dns);
    std::mem::forget(edge);
    Env {
        _dir: dir,
        fake,
        gateway,
        records,
        api: Api {
            router: satusky_server::router(state),
            token,
        },
        store,
    }
}

async fn deploy(env: &Env, app: &str) -> u64 {
    let spec = json!({
        "name": app, "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
        "image": "nginx:1.27",
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "checks": {"path": "/", "expect": "2xx", "timeout_ms": 1000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 120},
        "domains": [{"host": SHOP}]
    });
    let (status, body) = env
        .api
        .call(
            Method::PUT,
            &format!("/v1/orgs/{ORG}/apps/{app}"),
            Some(json!({ "spec": spec })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["release"].as_u64().unwrap()
}

/// Merge-patch the app's HTTPRoute as another field manager (`kubectl edit`).
async fn edit_route(env: &Env, app: &str, patch: Value) {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    );
    let api: KubeApi<DynamicObject> = KubeApi::namespaced_with(env.fake.client(), NS, &ar);
    let params = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    api.patch(app, &params, &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn route_hostnames(env: &Env, app: &str) -> Vec<String> {
    let r = env.fake.object(ROUTES, "HTTPRoute", NS, app).unwrap();
    let mut v: Vec<String> = r["spec"]["hostnames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Wait until the edge serves what the HTTPRoutes say (the controller polls every 50 ms).
async fn edge_follows(env: &Env, host: &str, present: bool) {
    drift_common::eventually(
        "the edge to follow the HTTPRoute",
        Duration::from_secs(5),
        || async { (env.gateway.routes.lookup(host).is_some() == present).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproutes_edited_out_of_band_are_found_both_ways_and_taken_back() {
    let env = start().await;
    let app = "web";
    let host = format!("{app}-{ORG}.{ZONE}");
    let v1 = deploy(&env, app).await;
    env.api.wait_ready(app, v1).await;
    let v2 = deploy(&env, app).await;
    env.api.wait_ready(app, v2).await;
    env.api.assert_no_drift(app, "after a deploy").await;
    let stored = {
        let mut v = vec![host.clone(), SHOP.to_string()];
        v.sort();
        v
    };
    assert_eq!(route_hostnames(&env, app), stored);

    // Drop a hostname from the HTTPRoute.
    edit_route(&env, app, json!({"spec": {"hostnames": [host]}})).await;
    edge_follows(&env, SHOP, false).await;
    let report = env.api.drift(app, true).await;
    assert_healed(&env.store, &report, app, SHOP, "route").await;
    let f = finding(&report, SHOP, "route").unwrap();
    assert!(
        f["observed"]
            .as_str()
            .unwrap()
            .contains("no HTTPRoute of the app serves"),
        "{f:#}"
    );
    assert_eq!(
        route_hostnames(&env, app),
        stored,
        "the hostnames are taken back"
    );

    // Add a hostname the store does not hold.
    let intruder = "intruder.example.test";
    edit_route(
        &env,
        app,
        json!({"spec": {"hostnames": [host, SHOP, intruder]}}),
    )
    .await;
    edge_follows(&env, intruder, true).await;
    let report = env.api.drift(app, true).await;
    assert_healed(&env.store, &report, app, intruder, "route").await;
    let f = finding(&report, intruder, "route").unwrap();
    assert!(
        f["expected"].as_str().unwrap().starts_with("not routed"),
        "{f:#}"
    );
    assert_eq!(
        route_hostnames(&env, app),
        stored,
        "the intruder is removed"
    );
    edge_follows(&env, intruder, false).await;

    // A stale release stamped on the answers.
    let mut rules = env.fake.object(ROUTES, "HTTPRoute", NS, app).unwrap()["spec"]["rules"].clone();
    rules[0]["filters"][0]["responseHeaderModifier"]["set"][0]["value"] =
        json!(format!("{ORG}/{app}@v{v1}"));
    edit_route(&env, app, json!({"spec": {"rules": rules}})).await;
    drift_common::eventually("the edge to serve the stale release", Duration::from_secs(5), || async {
        matches!(env.gateway.routes.lookup(&host), Some(Route::Serve { release_id, .. }) if release_id.ends_with(&format!("@v{v1}")))
            .then_some(())
    })
    .await;
    let report = env.api.drift(app, true).await;
    drift_common::stale_release_finding(&report, &host, v1);
    assert_healed(&env.store, &report, app, &host, "http").await;
    let route = env.fake.object(ROUTES, "HTTPRoute", NS, app).unwrap();
    assert_eq!(
        route["spec"]["rules"][0]["filters"][0]["responseHeaderModifier"]["set"][0]["value"],
        format!("{ORG}/{app}@v{v2}")
    );

    // A platform-zone record changed out of band (the zone is Satusky's): found, and healed
    // by writing the zone again with the Gateway's address.
    assert_eq!(
        env.records.lookup(&host),
        Some(vec![RecordData::A(LOOPBACK)]),
        "the apply wrote the Gateway's address"
    );
    assert_eq!(
        env.records.lookup(SHOP),
        Some(vec![RecordData::A(LOOPBACK)]),
        "the custom domain's record is not the platform's"
    );
    env.records.set_app(
        ORG,
        app,
        std::slice::from_ref(&host),
        &["10.9.9.9".parse().unwrap()],
    );
    let report = env.api.drift(app, true).await;
    let f =
        finding(&report, &host, "dns").unwrap_or_else(|| panic!("the record is found: {report:#}"));
    assert_eq!(f["owner"], "platform");
    assert!(
        f["observed"].as_str().unwrap().contains("10.9.9.9"),
        "{f:#}"
    );
    assert_healed(&env.store, &report, app, &host, "dns").await;
    assert_eq!(
        env.records.lookup(&host),
        Some(vec![RecordData::A(LOOPBACK)]),
        "the heal wrote the record back"
    );

    let metrics = env.api.metrics().await;
    assert!(
        metrics.contains("satusky_reconciles_total{runtime=\"kubernetes\",result=\"ok\"}"),
        "{metrics}"
    );
    env.api.assert_drift_gauge("route", 0).await;
}

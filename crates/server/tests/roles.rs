//! Roles and the token lifecycle (issue 10, item 7, acceptance 5), over real HTTP on loopback
//! with the real router and a SQLite store (runtime none; contexts stored, apps deployed from
//! image specs).
//!
//! The table test takes EVERY operation of `satusky_server::openapi()` and calls it as five
//! callers — an admin of the org, a member of the org, an admin of another org, a revoked
//! admin (revoked through the API, in this process, just before) and an expired admin — and
//! compares each status with one expectations table. An operation without a row fails the
//! test, naming it: adding a route means deciding who may call it.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use reqwest::Method;
use satusky_local::contexts::ContextStore;
use satusky_server::{AppState, Settings};
use satusky_store::{NewToken, Store};
use satusky_types::{ReleaseStatus, Role};
use serde_json::{Value, json};

const ORG: &str = "acme";
const APP: &str = "web";

/// The callers, in the order each row's statuses are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Member,
    OtherOrg,
    Revoked,
    Expired,
}

/// The order callers make their requests in a row's world: the admin last, so an operation
/// that succeeds for it (a destroy, a revocation) cannot change what the others get.
/// The custom domain of the app every row acts on.
const DOMAIN: &str = "shop.example.test";

const CALL_ORDER: [Who; 5] = [
    Who::Member,
    Who::OtherOrg,
    Who::Revoked,
    Who::Expired,
    Who::Admin,
];

/// One request, made the same way for every caller.
struct Req {
    method: Method,
    path: String,
    body: Body,
}

enum Body {
    None,
    Json(Value),
    Gzip(Vec<u8>),
    /// A WebSocket upgrade handshake (no body).
    Upgrade,
}

/// One operation: its OpenAPI method and path, how to call it in a world, and the status
/// each caller gets, in the order admin, member, other org, revoked, expired.
struct Row {
    op: &'static str,
    req: fn(&World) -> Req,
    expect: [u16; 5],
}

fn req(method: Method, path: String, body: Body) -> Req {
    Req { method, path, body }
}

/// What the roles table (README "Roles") says, operation by operation.
fn rows() -> Vec<Row> {
    vec![
        // Health, readiness, metrics and the document need no token: every caller gets 200.
        Row {
            op: "GET /healthz",
            req: |_| req(Method::GET, "/healthz".into(), Body::None),
            expect: [200, 200, 200, 200, 200],
        },
        Row {
            op: "GET /readyz",
            req: |_| req(Method::GET, "/readyz".into(), Body::None),
            expect: [200, 200, 200, 200, 200],
        },
        Row {
            op: "GET /metrics",
            req: |_| req(Method::GET, "/metrics".into(), Body::None),
            expect: [200, 200, 200, 200, 200],
        },
        Row {
            op: "GET /v1/openapi.json",
            req: |_| req(Method::GET, "/v1/openapi.json".into(), Body::None),
            expect: [200, 200, 200, 200, 200],
        },
        Row {
            op: "GET /v1/whoami",
            req: |_| req(Method::GET, "/v1/whoami".into(), Body::None),
            expect: [200, 200, 200, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps",
            req: |_| req(Method::GET, format!("/v1/orgs/{ORG}/apps"), Body::None),
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "PUT /v1/orgs/{org}/apps/{app}",
            req: |_| {
                let body = json!({ "spec": spec(APP, "2") });
                req(
                    Method::PUT,
                    format!("/v1/orgs/{ORG}/apps/{APP}"),
                    Body::Json(body),
                )
            },
            expect: [202, 202, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}",
            req: |_| {
                req(
                    Method::GET,
                    format!("/v1/orgs/{ORG}/apps/{APP}"),
                    Body::None,
                )
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "DELETE /v1/orgs/{org}/apps/{app}",
            req: |_| {
                req(
                    Method::DELETE,
                    format!("/v1/orgs/{ORG}/apps/{APP}"),
                    Body::None,
                )
            },
            expect: [200, 403, 404, 401, 401],
        },
        // Domains: members add and check them; only admins remove one.
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/domains",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/domains");
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "POST /v1/orgs/{org}/apps/{app}/domains",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/domains");
                let body = json!({"hostname": "new.example.test"});
                req(Method::POST, path, Body::Json(body))
            },
            expect: [201, 201, 404, 401, 401],
        },
        Row {
            op: "DELETE /v1/orgs/{org}/apps/{app}/domains/{host}",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/domains/{DOMAIN}");
                req(Method::DELETE, path, Body::None)
            },
            expect: [200, 403, 404, 401, 401],
        },
        // Env: members may change it; secrets are admin-only, and write-only for everyone. The
        // world's app runs (its release active): a change is a config release (202); the
        // admin, asking after the member, finds the env already so (200, no release).
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/releases/{version}/build",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/releases/1/build");
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        // The roles world runs no runtime: an allowed caller learns there are no logs (501).
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/logs",
            req: |_| {
                req(
                    Method::GET,
                    format!("/v1/orgs/{ORG}/apps/{APP}/logs?tail=5"),
                    Body::None,
                )
            },
            expect: [501, 501, 404, 401, 401],
        },
        // The stream answers the same before any upgrade: 501 without a runtime.
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/logs/stream",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/logs/stream?tail=5");
                req(Method::GET, path, Body::Upgrade)
            },
            expect: [501, 501, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/env",
            req: |_| {
                req(
                    Method::GET,
                    format!("/v1/orgs/{ORG}/apps/{APP}/env"),
                    Body::None,
                )
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "PATCH /v1/orgs/{org}/apps/{app}/env",
            req: |_| {
                let body = Body::Json(json!({"set": {"LOG_LEVEL": "debug"}}));
                req(
                    Method::PATCH,
                    format!("/v1/orgs/{ORG}/apps/{APP}/env"),
                    body,
                )
            },
            expect: [200, 202, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/secrets",
            req: |_| {
                req(
                    Method::GET,
                    format!("/v1/orgs/{ORG}/apps/{APP}/secrets"),
                    Body::None,
                )
            },
            expect: [200, 403, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/secrets/missing",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/secrets/missing?names=API_KEY");
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "PATCH /v1/orgs/{org}/apps/{app}/secrets",
            req: |_| {
                let body = Body::Json(json!({"set": {"API_KEY": "s3cr3t"}}));
                req(
                    Method::PATCH,
                    format!("/v1/orgs/{ORG}/apps/{APP}/secrets"),
                    body,
                )
            },
            expect: [202, 403, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/domains/{host}/check",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/domains/{DOMAIN}/check");
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/domains/{host}/setup",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/domains/{DOMAIN}/setup");
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/status",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/status");
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/releases",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/releases");
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "POST /v1/orgs/{org}/apps/{app}/rollback",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/rollback");
                req(Method::POST, path, Body::Json(json!({"version": 1})))
            },
            expect: [202, 202, 404, 401, 401],
        },
        // Operating the running release: members may; the world runs no runtime, so the
        // request is recorded and nothing rolls (a repeated count is a no-op, still 202).
        Row {
            op: "POST /v1/orgs/{org}/apps/{app}/scale",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/scale");
                req(Method::POST, path, Body::Json(json!({"replicas": 2})))
            },
            expect: [202, 202, 404, 401, 401],
        },
        Row {
            op: "POST /v1/orgs/{org}/apps/{app}/restart",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/restart");
                req(Method::POST, path, Body::Json(json!({})))
            },
            expect: [202, 202, 404, 401, 401],
        },
        // The catalog: any live token reads it.
        Row {
            op: "GET /v1/templates",
            req: |_| req(Method::GET, "/v1/templates".into(), Body::None),
            expect: [200, 200, 200, 401, 401],
        },
        Row {
            op: "GET /v1/templates/{name}",
            req: |_| req(Method::GET, "/v1/templates/redis".into(), Body::None),
            expect: [200, 200, 200, 401, 401],
        },
        // Members deploy templates and bind them (SPEC §10): the member's call creates
        // `cache2`, the admin's redeploys it with the stored values.
        Row {
            op: "POST /v1/orgs/{org}/templates/{name}/deploy",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/templates/redis/deploy");
                req(Method::POST, path, Body::Json(json!({"app": "cache2"})))
            },
            expect: [202, 202, 404, 401, 401],
        },
        // The member's binding writes web's secret (a config release of the running web: 202);
        // the admin's writes the same value again (200, nothing rolls).
        Row {
            op: "POST /v1/orgs/{org}/apps/{app}/bindings",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/cache/bindings");
                let body = json!({"target": APP, "output": "password"});
                req(Method::POST, path, Body::Json(body))
            },
            expect: [200, 202, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/drift",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/drift");
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/apps/{app}/events",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/apps/{APP}/events");
                req(Method::GET, path, Body::Upgrade)
            },
            expect: [101, 101, 404, 401, 401],
        },
        Row {
            op: "POST /v1/orgs/{org}/builds",
            req: |_| {
                let path = format!("/v1/orgs/{ORG}/builds");
                req(Method::POST, path, Body::Gzip(tar_gz("uploaded")))
            },
            expect: [201, 201, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/builds/{context}/context",
            req: |w| {
                let path = format!("/v1/orgs/{ORG}/builds/{}/context", w.context);
                req(Method::GET, path, Body::None)
            },
            expect: [200, 200, 404, 401, 401],
        },
        Row {
            op: "GET /v1/orgs/{org}/tokens",
            req: |_| req(Method::GET, format!("/v1/orgs/{ORG}/tokens"), Body::None),
            expect: [200, 403, 404, 401, 401],
        },
        Row {
            op: "POST /v1/orgs/{org}/tokens",
            req: |_| {
                let body = json!({"role": "member", "expires_in": "30d", "name": "ci"});
                req(
                    Method::POST,
                    format!("/v1/orgs/{ORG}/tokens"),
                    Body::Json(body),
                )
            },
            expect: [201, 403, 404, 401, 401],
        },
        Row {
            op: "DELETE /v1/orgs/{org}/tokens/{id}",
            req: |w| {
                let path = format!("/v1/orgs/{ORG}/tokens/{}", w.victim);
                req(Method::DELETE, path, Body::None)
            },
            expect: [200, 403, 404, 401, 401],
        },
    ]
}

/// Every operation of the OpenAPI document, as `METHOD /path`.
fn documented_operations() -> BTreeSet<String> {
    let doc = serde_json::to_value(satusky_server::openapi()).unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                ops.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    ops
}

/// A running control plane with org `acme` (app `web` at v2, v1 active before it, one stored
/// context, a spare member token to revoke) and a token for each caller.
struct World {
    _dir: tempfile::TempDir,
    store: Store,
    url: String,
    http: reqwest::Client,
    admin: String,
    member: String,
    other: String,
    revoked: String,
    expired: String,
    context: String,
    victim: String,
}

impl World {
    async fn new() -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite_file(&dir.path().join("state.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let keys = satusky_core::secrets::KeyRing::new(vec![("k1".into(), [7; 32])]).unwrap();
        let store = store.with_keys(std::sync::Arc::new(keys));
        store.ensure_org(ORG).await.unwrap();
        store.ensure_org("other").await.unwrap();
        let admin = store.create_token(ORG, Role::Admin).await.unwrap();
        let member = store.create_token(ORG, Role::Member).await.unwrap();
        let other = store.create_token("other", Role::Admin).await.unwrap();
        let past = NewToken {
            role: Role::Admin,
            name: Some("expired"),
            expires_at_ms: Some(satusky_core::time::now_ms() - 1),
            created_by: None,
            max_live: None,
        };
        let (expired, _) = store
            .create_token_with(ORG, &past, satusky_core::time::now_ms() - 2)
            .await
            .unwrap();
        let (_, victim) = store
            .create_token_with(
                ORG,
                &NewToken {
                    role: Role::Member,
                    name: Some("victim"),
                    expires_at_ms: None,
                    created_by: None,
                    max_live: None,
                },
                satusky_core::time::now_ms(),
            )
            .await
            .unwrap();
        let contexts = ContextStore::new(dir.path().join("contexts"));
        let context = contexts.put(ORG, &tar_gz("stored")).unwrap().digest;
        let settings = Settings {
            contexts: Some(std::sync::Arc::new(contexts)),
            ..Settings::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(store.clone(), settings);
        tokio::spawn(satusky_server::serve_state(
            listener,
            state,
            std::future::pending(),
        ));
        let mut world = World {
            _dir: dir,
            store,
            url,
            http: reqwest::Client::new(),
            admin,
            member,
            other,
            revoked: String::new(),
            expired,
            context,
            victim: victim.id,
        };
        world.deploy_two_releases().await;
        world.deploy_a_template().await;
        world.revoked = world.revoke_a_fresh_admin().await;
        world
    }

    /// v1 then v2 of `web`, each made active in turn, so v1 is there to roll back to.
    async fn deploy_two_releases(&self) {
        for (v, tag) in [(1, "1"), (2, "2")] {
            let (status, body) = self
                .call(
                    &self.admin,
                    req(
                        Method::PUT,
                        format!("/v1/orgs/{ORG}/apps/{APP}"),
                        Body::Json(json!({"spec": spec(APP, tag)})),
                    ),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            let mut changes = vec![(v, ReleaseStatus::Active)];
            if v > 1 {
                changes.push((v - 1, ReleaseStatus::Superseded));
            }
            self.store
                .transition_releases(ORG, APP, &changes, Some(v), None, 0)
                .await
                .unwrap();
        }
    }

    /// `cache`, made from the redis template (a service to bind).
    async fn deploy_a_template(&self) {
        let (status, body) = self
            .call(
                &self.admin,
                req(
                    Method::POST,
                    format!("/v1/orgs/{ORG}/templates/redis/deploy"),
                    Body::Json(json!({"app": "cache"})),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }

    /// An admin token made through the API, shown to work, then revoked through the API:
    /// the table's "revoked" caller uses it right after, in this same process.
    async fn revoke_a_fresh_admin(&self) -> String {
        let (status, created) = self
            .call(
                &self.admin,
                req(
                    Method::POST,
                    format!("/v1/orgs/{ORG}/tokens"),
                    Body::Json(json!({"role": "admin", "name": "soon revoked"})),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let token = created["token"].as_str().unwrap().to_string();
        let (status, _) = self.whoami(&token).await;
        assert_eq!(status, StatusCode::OK, "the new token works");
        let id = created["id"].as_str().unwrap();
        let (status, body) = self
            .call(
                &self.admin,
                req(
                    Method::DELETE,
                    format!("/v1/orgs/{ORG}/tokens/{id}"),
                    Body::None,
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["revoked_at"].is_string(), "{body}");
        token
    }

    fn token(&self, who: Who) -> &str {
        match who {
            Who::Admin => &self.admin,
            Who::Member => &self.member,
            Who::OtherOrg => &self.other,
            Who::Revoked => &self.revoked,
            Who::Expired => &self.expired,
        }
    }

    async fn whoami(&self, token: &str) -> (StatusCode, Value) {
        self.call(token, req(Method::GET, "/v1/whoami".into(), Body::None))
            .await
    }

    async fn call(&self, token: &str, r: Req) -> (StatusCode, Value) {
        let mut b = self
            .http
            .request(r.method, format!("{}{}", self.url, r.path))
            .bearer_auth(token);
        b = match r.body {
            Body::None => b,
            Body::Json(v) => b.json(&v),
            Body::Gzip(bytes) => b.header("content-type", "application/gzip").body(bytes),
            Body::Upgrade => b
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        };
        let res = b.send().await.unwrap();
        let status = res.status();
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return (status, Value::Null);
        }
        let bytes = res.bytes().await.unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }
}

fn spec(app: &str, tag: &str) -> Value {
    json!({
        "name": app, "port": 8080, "replicas": 1, "cpu": "250m", "memory": "256Mi",
        "image": format!("registry.example/{app}:{tag}"),
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "checks": {"path": "/healthz", "expect": "2xx", "timeout_ms": 1000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 120},
        "domains": [{"host": DOMAIN}]
    })
}

fn tar_gz(content: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "Dockerfile", content.as_bytes())
        .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

/// The error code an error status must carry.
fn code_for(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("unauthenticated"),
        403 => Some("forbidden"),
        404 => Some("not_found"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_each_caller_as_the_roles_table_says() {
    let rows = rows();
    let documented = documented_operations();
    let covered: BTreeSet<String> = rows.iter().map(|r| r.op.to_string()).collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "these operations of the OpenAPI document have no row in rows() of {}: {missing:#?}\n\
         add one saying what an admin, a member, another org's admin, a revoked and an expired \
         token get (and declare the handler's roles::Action)",
        file!()
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "rows for operations that no longer exist: {stale:#?}"
    );

    let mut wrong = Vec::new();
    for row in &rows {
        let world = World::new().await;
        for who in CALL_ORDER {
            let col = [
                Who::Admin,
                Who::Member,
                Who::OtherOrg,
                Who::Revoked,
                Who::Expired,
            ]
            .iter()
            .position(|w| *w == who)
            .unwrap();
            let expected = row.expect[col];
            let (status, body) = world.call(world.token(who), (row.req)(&world)).await;
            if status.as_u16() != expected {
                wrong.push(format!(
                    "{} as {who:?}: expected {expected}, got {status}: {body}",
                    row.op
                ));
                continue;
            }
            if let Some(code) = code_for(expected)
                && body["error"]["code"] != code
            {
                wrong.push(format!(
                    "{} as {who:?}: {expected} without the error body of code {code}: {body}",
                    row.op
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} answers differ from the roles table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn a_forbidden_member_is_told_what_it_cannot_do_and_who_can() {
    let world = World::new().await;
    let (status, body) = world
        .call(
            &world.member,
            req(
                Method::DELETE,
                format!("/v1/orgs/{ORG}/apps/{APP}"),
                Body::None,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"error": {"code": "forbidden", "message":
            "a member token cannot destroy apps; ask an admin of org acme (1ctl token create --role admin)"}})
    );
    // Nothing was destroyed.
    let (status, _) = world
        .call(
            &world.admin,
            req(
                Method::GET,
                format!("/v1/orgs/{ORG}/apps/{APP}"),
                Body::None,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, revoked) = world.whoami(&world.revoked).await;
    let message = revoked["error"]["message"].as_str().unwrap();
    assert!(message.contains("was revoked at"), "{message}");
    let (_, expired) = world.whoami(&world.expired).await;
    let message = expired["error"]["message"].as_str().unwrap();
    assert!(message.contains("expired at"), "{message}");
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked_with_bounded_inputs() {
    let world = World::new().await;
    let post = |body: Value| {
        req(
            Method::POST,
            format!("/v1/orgs/{ORG}/tokens"),
            Body::Json(body),
        )
    };

    let (status, created) = world
        .call(
            &world.admin,
            post(json!({"role": "member", "expires_in": "30d", "name": "ci"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("sky_"), "{created}");
    assert_eq!(created["role"], "member");
    assert_eq!(created["name"], "ci");
    assert!(created["expires_at"].is_string(), "{created}");
    assert_eq!(created["revoked_at"], Value::Null);
    let (status, who) = world.whoami(&token).await;
    assert_eq!(
        (status, who["role"].as_str()),
        (StatusCode::OK, Some("member"))
    );

    // Listed with its metadata and last use, never with its secret; the creator is named.
    let (status, list) = world
        .call(
            &world.admin,
            req(Method::GET, format!("/v1/orgs/{ORG}/tokens"), Body::None),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.to_string().contains(&token[4..]), "{list}");
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == created["id"])
        .expect("the new token is listed");
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert!(listed["created_by"].as_str().unwrap().starts_with("tok_"));

    // Bounded, named refusals that change nothing.
    for (body, field) in [
        (json!({"name": "x".repeat(65)}), "name"),
        (json!({"expires_in": "10m"}), "expires_in"),
        (json!({"expires_in": "2y"}), "expires_in"),
        (json!({"expires_in": "400d"}), "expires_in"),
    ] {
        let (status, err) = world.call(&world.admin, post(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(
            err["error"]["details"]["fields"][0]["field"], field,
            "{err}"
        );
        assert!(err["error"]["message"].as_str().unwrap().starts_with(field));
    }
    let (status, _) = world
        .call(&world.admin, post(json!({"role": "owner"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, after) = world
        .call(
            &world.admin,
            req(Method::GET, format!("/v1/orgs/{ORG}/tokens"), Body::None),
        )
        .await;
    assert_eq!(
        after.as_array().unwrap().len(),
        list.as_array().unwrap().len()
    );

    // Revoked: refused at once; revoking again answers the same; another org's admin and an
    // unknown id get 404.
    let id = created["id"].as_str().unwrap();
    let revoke = || {
        req(
            Method::DELETE,
            format!("/v1/orgs/{ORG}/tokens/{id}"),
            Body::None,
        )
    };
    let (status, first) = world.call(&world.admin, revoke()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, _) = world.whoami(&token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, again) = world.call(&world.admin, revoke()).await;
    assert_eq!(
        (status, &again["revoked_at"]),
        (StatusCode::OK, &first["revoked_at"])
    );
    let other_org = req(
        Method::DELETE,
        format!("/v1/orgs/other/tokens/{id}"),
        Body::None,
    );
    let (status, _) = world.call(&world.other, other_org).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "acme's token id in org other"
    );
    let unknown = req(
        Method::DELETE,
        format!("/v1/orgs/{ORG}/tokens/tok_nope"),
        Body::None,
    );
    let (status, _) = world.call(&world.admin, unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A token may revoke itself; that answer is its last.
    let (_, me) = world
        .call(&world.admin, post(json!({"role": "admin"})))
        .await;
    let me_token = me["token"].as_str().unwrap();
    let me_id = me["id"].as_str().unwrap();
    let (status, _) = world
        .call(
            me_token,
            req(
                Method::DELETE,
                format!("/v1/orgs/{ORG}/tokens/{me_id}"),
                Body::None,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = world.whoami(me_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

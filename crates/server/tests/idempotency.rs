//! `Idempotency-Key` through the real router and a real store, on SQLite and (when
//! `SATUSKY_TEST_DATABASE_URL` is set) PostgreSQL (issue 10, acceptance 4): the same key and
//! body replay the first answer and make one release; another body is 422 and changes
//! nothing; ten concurrent duplicates make one release and get one answer; keys are scoped to
//! the token and the path; a key older than 24 h is new again. Also: requests without a key
//! behave as before, a malformed key is 400, a 5xx answer is not kept, uploads are not
//! covered.

#[path = "../../store/tests/common/mod.rs"]
mod store_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use satusky_server::{AppState, Settings};
use satusky_store::Store;
use satusky_types::Role;
use serde_json::{Value, json};
use sqlx::Row;
use store_common::{Ctx, on_each_backend};
use tower::ServiceExt;

const ORG: &str = "acme";
const WEB: &str = "/v1/orgs/acme/apps/web";

/// An answer as a client sees it.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    replayed: bool,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

struct Api {
    router: axum::Router,
    token: String,
    /// Another token of the same org.
    token2: String,
}

impl Api {
    async fn new(store: Store, settings: Settings) -> Api {
        store.ensure_org(ORG).await.unwrap();
        let token = store.create_token(ORG, Role::Admin).await.unwrap();
        let token2 = store.create_token(ORG, Role::Admin).await.unwrap();
        let router = satusky_server::router(AppState::new(store.clone(), settings));
        Api {
            router,
            token,
            token2,
        }
    }

    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        send(&self.router, token, method, path, key, body).await
    }

    async fn put(&self, path: &str, key: Option<&str>, spec: Value) -> Answer {
        self.send(
            &self.token,
            Method::PUT,
            path,
            key,
            Some(json!({ "spec": spec })),
        )
        .await
    }

    /// The app's release versions.
    async fn releases(&self, app: &str) -> Vec<u64> {
        let a = self
            .send(
                &self.token,
                Method::GET,
                &format!("/v1/orgs/{ORG}/apps/{app}/releases"),
                None,
                None,
            )
            .await;
        if a.status == StatusCode::NOT_FOUND {
            return Vec::new();
        }
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["version"].as_u64().unwrap())
            .collect()
    }
}

async fn send(
    router: &axum::Router,
    token: &str,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let res = router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let replayed = match res.headers().get("idempotency-replayed") {
        None => false,
        Some(v) => {
            assert_eq!(v, "true");
            true
        }
    };
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        body,
        replayed,
    }
}

fn spec(app: &str, replicas: u32) -> Value {
    json!({
        "name": app, "port": 8080, "replicas": replicas, "cpu": "250m", "memory": "256Mi",
        "image": format!("registry.example/{app}:1"),
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "checks": {"path": "/healthz", "expect": "2xx", "timeout_ms": 2000},
        "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0",
                   "progress_deadline_seconds": 600}
    })
}

async fn idempotency_rows(ctx: &Ctx) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM idempotency_keys")
        .fetch_one(&mut ctx.raw().await)
        .await
        .unwrap()
        .get("n")
}

#[tokio::test]
async fn same_key_and_body_replay_the_first_answer_and_make_one_release() {
    on_each_backend(|ctx| async move {
        let api = Api::new(ctx.store.clone(), Settings::default()).await;
        let first = api.put(WEB, Some("k-1"), spec("web", 1)).await;
        assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.json());
        assert!(!first.replayed, "the first answer is not a replay");
        let again = api.put(WEB, Some("k-1"), spec("web", 1)).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.body, first.body, "the same bytes");
        assert!(again.replayed);
        assert_eq!(api.releases("web").await, [1]);

        // Without a key, requests behave as before: each one is a deploy.
        let plain = api.put(WEB, None, spec("web", 1)).await;
        assert_eq!(plain.status, StatusCode::ACCEPTED);
        assert!(!plain.replayed);
        assert_eq!(plain.json()["release"], 2);
        assert_eq!(api.releases("web").await, [2, 1]);
    })
    .await;
}

#[tokio::test]
async fn same_key_with_another_body_is_422_and_changes_nothing() {
    on_each_backend(|ctx| async move {
        let api = Api::new(ctx.store.clone(), Settings::default()).await;
        let first = api.put(WEB, Some("k-2"), spec("web", 1)).await;
        assert_eq!(first.status, StatusCode::ACCEPTED);
        let other = api.put(WEB, Some("k-2"), spec("web", 3)).await;
        assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = other.json();
        assert_eq!(body["error"]["code"], "invalid_input", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("Idempotency-Key k-2 was already used with another request body"),
            "{message}"
        );
        assert!(!other.replayed);
        assert_eq!(api.releases("web").await, [1]);
        let app = api
            .send(&api.token, Method::GET, WEB, None, None)
            .await
            .json();
        assert_eq!(app["spec"]["replicas"], 1, "{app}");
        // The first answer is still the one replayed.
        let again = api.put(WEB, Some("k-2"), spec("web", 1)).await;
        assert_eq!(
            (again.status, &again.body, again.replayed),
            (first.status, &first.body, true)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_duplicates_make_one_release_and_get_one_answer() {
    on_each_backend(|ctx| async move {
        let api = Arc::new(Api::new(ctx.store.clone(), Settings::default()).await);
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let api = api.clone();
                tokio::spawn(async move { api.put(WEB, Some("k-3"), spec("web", 1)).await })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        assert_eq!(api.releases("web").await, [1]);
        let first = &answers[0];
        assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.json());
        for a in &answers {
            assert_eq!((a.status, &a.body), (first.status, &first.body));
        }
        let ran = answers.iter().filter(|a| !a.replayed).count();
        assert_eq!(ran, 1, "exactly one request ran; the others were replays");
    })
    .await;
}

#[tokio::test]
async fn keys_are_scoped_to_the_token_and_the_path() {
    on_each_backend(|ctx| async move {
        let api = Api::new(ctx.store.clone(), Settings::default()).await;
        let web = api.put(WEB, Some("shared"), spec("web", 1)).await;
        assert_eq!(web.status, StatusCode::ACCEPTED);
        // The same token, path and body: the key is recognised (the control for what follows).
        let again = api.put(WEB, Some("shared"), spec("web", 1)).await;
        assert_eq!((again.replayed, &again.body), (true, &web.body));

        // Another path: an independent request (another body is not a mismatch there).
        let other_app = api
            .put("/v1/orgs/acme/apps/api", Some("shared"), spec("api", 1))
            .await;
        assert_eq!(
            other_app.status,
            StatusCode::ACCEPTED,
            "{:?}",
            other_app.json()
        );
        assert!(!other_app.replayed);
        assert_eq!(api.releases("api").await, [1]);

        // Another token of the same org, same path and body: runs again.
        let body = Some(json!({ "spec": spec("web", 1) }));
        let by_other = api
            .send(&api.token2, Method::PUT, WEB, Some("shared"), body)
            .await;
        assert_eq!(by_other.status, StatusCode::ACCEPTED);
        assert!(!by_other.replayed);
        assert_eq!(by_other.json()["release"], 2);
        // And another method on the same path is independent too.
        let deleted = api
            .send(
                &api.token,
                Method::DELETE,
                "/v1/orgs/acme/apps/api",
                Some("shared"),
                None,
            )
            .await;
        assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.json());
        assert!(!deleted.replayed);
        assert_eq!(api.releases("web").await, [2, 1]);
        assert_eq!(api.releases("api").await, Vec::<u64>::new());
    })
    .await;
}

#[tokio::test]
async fn a_key_older_than_24_hours_is_new_again() {
    on_each_backend(|ctx| async move {
        let api = Api::new(ctx.store.clone(), Settings::default()).await;
        let first = api.put(WEB, Some("k-5"), spec("web", 1)).await;
        assert_eq!(first.status, StatusCode::ACCEPTED);
        let day_and_an_hour: i64 = 25 * 60 * 60 * 1000;
        sqlx::query("UPDATE idempotency_keys SET created_at = created_at - $1")
            .bind(day_and_an_hour)
            .execute(&mut ctx.raw().await)
            .await
            .unwrap();
        let again = api.put(WEB, Some("k-5"), spec("web", 1)).await;
        assert_eq!(again.status, StatusCode::ACCEPTED);
        assert!(!again.replayed, "expired: not a replay");
        assert_eq!(again.json()["release"], 2);
        // The key now names the new request: it replays that one, and another body is 422.
        let third = api.put(WEB, Some("k-5"), spec("web", 1)).await;
        assert_eq!((third.replayed, &third.body), (true, &again.body));
        assert_eq!(api.releases("web").await, [2, 1]);

        // Expired with another body: also new, not a mismatch.
        sqlx::query("UPDATE idempotency_keys SET created_at = created_at - $1")
            .bind(day_and_an_hour)
            .execute(&mut ctx.raw().await)
            .await
            .unwrap();
        let changed = api.put(WEB, Some("k-5"), spec("web", 2)).await;
        assert_eq!(changed.status, StatusCode::ACCEPTED, "{:?}", changed.json());
        assert_eq!(api.releases("web").await, [3, 2, 1]);
    })
    .await;
}

#[tokio::test]
async fn a_malformed_key_is_400_naming_the_header_and_runs_nothing() {
    on_each_backend(|ctx| async move {
        let api = Api::new(ctx.store.clone(), Settings::default()).await;
        let long = "k".repeat(256);
        for key in [long.as_str(), "tab\there"] {
            let a = api.put(WEB, Some(key), spec("web", 1)).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{key}");
            let body = a.json();
            assert_eq!(body["error"]["code"], "invalid_input");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("Idempotency-Key"),
                "{body}"
            );
            assert_eq!(body["error"]["details"]["header"], "Idempotency-Key");
        }
        assert_eq!(api.releases("web").await, Vec::<u64>::new());
        assert_eq!(idempotency_rows(&ctx).await, 0);
        // A read with a key is just a read.
        let a = api
            .send(
                &api.token,
                Method::GET,
                "/v1/orgs/acme/apps",
                Some(&long),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn unauthenticated_requests_leave_no_rows() {
    on_each_backend(|ctx| async move {
        let api = Api::new(ctx.store.clone(), Settings::default()).await;
        let body = Some(json!({ "spec": spec("web", 1) }));
        let a = api
            .send("sky_not_a_token", Method::PUT, WEB, Some("k-7"), body)
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(idempotency_rows(&ctx).await, 0);
    })
    .await;
}

/// A route of its own behind the same middleware: fails with 500 the first time, then
/// answers 201 with how many times it ran.
#[tokio::test]
async fn a_server_error_is_not_kept_so_the_retry_runs() {
    on_each_backend(|ctx| async move {
        let store = ctx.store.clone();
        store.ensure_org(ORG).await.unwrap();
        let token = store.create_token(ORG, Role::Admin).await.unwrap();
        let state = AppState::new(store.clone(), Settings::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let router = axum::Router::new()
            .route(
                "/v1/flaky",
                axum::routing::post(move || {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        if n == 1 {
                            (StatusCode::INTERNAL_SERVER_ERROR, "failed".to_string())
                        } else {
                            (StatusCode::CREATED, format!("{{\"run\":{n}}}"))
                        }
                    }
                }),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                satusky_server::idempotency::Keyed::from(&state),
                satusky_server::idempotency::middleware,
            ));
        let call = || {
            send(
                &router,
                &token,
                Method::POST,
                "/v1/flaky",
                Some("k-8"),
                Some(json!({})),
            )
        };
        let a = call().await;
        assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
        let b = call().await;
        assert_eq!((b.status, b.replayed), (StatusCode::CREATED, false));
        assert_eq!(b.body, b"{\"run\":2}");
        let c = call().await;
        assert_eq!(
            (c.status, c.replayed, &c.body),
            (StatusCode::CREATED, true, &b.body)
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    })
    .await;
}

/// Uploads are content-addressed and streamed: a key on them is not checked.
#[tokio::test]
async fn uploads_are_not_covered() {
    on_each_backend(|ctx| async move {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            contexts: Some(std::sync::Arc::new(
                satusky_local::contexts::ContextStore::new(dir.path().join("contexts")),
            )),
            ..Settings::default()
        };
        let api = Api::new(ctx.store.clone(), settings).await;
        for tree in ["one", "two"] {
            let req = Request::post(format!("/v1/orgs/{ORG}/builds"))
                .header("authorization", format!("Bearer {}", api.token))
                .header("content-type", "application/gzip")
                .header("idempotency-key", "upload-key")
                .body(Body::from(context(tree)))
                .unwrap();
            let res = api.router.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::CREATED, "{tree}");
            assert!(res.headers().get("idempotency-replayed").is_none());
        }
        // Not even read: a key the other routes refuse is ignored here.
        let req = Request::post(format!("/v1/orgs/{ORG}/builds"))
            .header("authorization", format!("Bearer {}", api.token))
            .header("content-type", "application/gzip")
            .header("idempotency-key", "k".repeat(300))
            .body(Body::from(context("three")))
            .unwrap();
        let res = api.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(idempotency_rows(&ctx).await, 0);
    })
    .await;
}

fn context(tree: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let data = format!("{tree}\n");
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "tree.txt", data.as_bytes()).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

/// A duplicate of a request that is still running waits for it; past the wait it gets 409,
/// and once the first finishes its answer is replayed. The handler runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_of_a_running_request_gets_409_then_its_answer() {
    on_each_backend(|ctx| async move {
        let store = ctx.store.clone();
        store.ensure_org(ORG).await.unwrap();
        let token = store.create_token(ORG, Role::Admin).await.unwrap();
        let state = AppState::new(store.clone(), Settings::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel::<()>();
        let finish = Arc::new(tokio::sync::Notify::new());
        let (counter, release) = (runs.clone(), finish.clone());
        let router = axum::Router::new()
            .route(
                "/v1/slow",
                axum::routing::post(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = started_tx.send(());
                    let release = release.clone();
                    async move {
                        release.notified().await;
                        (StatusCode::CREATED, "{\"done\":true}")
                    }
                }),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                satusky_server::idempotency::Keyed::from(&state),
                satusky_server::idempotency::middleware,
            ));
        let call = {
            let (router, token) = (router.clone(), token.clone());
            move || {
                let (router, token) = (router.clone(), token.clone());
                async move {
                    send(
                        &router,
                        &token,
                        Method::POST,
                        "/v1/slow",
                        Some("k-9"),
                        Some(json!({})),
                    )
                    .await
                }
            }
        };
        let first = tokio::spawn(call());
        started.recv().await.unwrap();
        let waited = call().await;
        assert_eq!(waited.status, StatusCode::CONFLICT);
        let body = waited.json();
        assert_eq!(body["error"]["code"], "conflict", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("a request with this Idempotency-Key is still in progress"),
            "{body}"
        );
        let second = tokio::spawn(call());
        finish.notify_one();
        let first = first.await.unwrap();
        assert_eq!((first.status, first.replayed), (StatusCode::CREATED, false));
        let second = second.await.unwrap();
        assert_eq!((second.status, &second.body), (first.status, &first.body));
        assert!(second.replayed);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    })
    .await;
}

/// A new token's plaintext is a secret: its answer carries `Cache-Control: no-store` and is
/// never written to the key store, so a retry with the key mints another token instead of
/// reading the first one back from the database.
#[tokio::test]
async fn a_created_token_is_never_kept_for_replay() {
    on_each_backend(|ctx| async move {
        let api = Api::new(ctx.store.clone(), Settings::default()).await;
        let path = format!("/v1/orgs/{ORG}/tokens");
        let body = json!({"role": "member", "name": "ci"});
        let first = api
            .send(
                &api.token,
                Method::POST,
                &path,
                Some("tok-1"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json());
        let plaintext = first.json()["token"].as_str().unwrap().to_string();
        assert_eq!(idempotency_rows(&ctx).await, 0, "nothing kept for replay");
        let again = api
            .send(&api.token, Method::POST, &path, Some("tok-1"), Some(body))
            .await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert!(!again.replayed);
        assert_ne!(again.json()["token"].as_str().unwrap(), plaintext);
        let dump: Vec<String> = sqlx::query("SELECT scope FROM idempotency_keys")
            .fetch_all(&mut ctx.raw().await)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("scope"))
            .collect();
        assert!(dump.is_empty(), "{dump:?}");
    })
    .await;
}

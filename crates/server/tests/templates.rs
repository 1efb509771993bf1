//! Template deploys over real HTTP on loopback with the real router and a SQLite store
//! (runtime none: nothing rolls; what is recorded is what a runtime would be handed).
//!
//! - No second path: a template deploy and a `PUT` of the spec it produced (as another app,
//!   with the same context) record the same app row and the same release, except the name
//!   and the release source.
//! - A redeploy keeps the stored values, the generated password included; a `--set` value
//!   the template's rules refuse is a 422 naming the parameter and the rule, and changes
//!   nothing; an app made from a file is never taken over by a template deploy.
//! - Bindings: an output without the service's address is written into the target's secret
//!   (never readable), listed on both apps, and gone from the service's list once the target
//!   is destroyed.

use satusky_local::contexts::ContextStore;
use satusky_server::{AppState, Settings};
use satusky_store::Store;
use satusky_types::{ReleaseStatus, Role};
use serde_json::{Value, json};

const ORG: &str = "acme";

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    url: String,
    http: reqwest::Client,
    token: String,
}

impl World {
    async fn new() -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite_file(&dir.path().join("state.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let keys = satusky_core::secrets::KeyRing::new(vec![("k1".into(), [9; 32])]).unwrap();
        let store = store.with_keys(std::sync::Arc::new(keys));
        store.ensure_org(ORG).await.unwrap();
        let token = store.create_token(ORG, Role::Admin).await.unwrap();
        let settings = Settings {
            contexts: Some(std::sync::Arc::new(ContextStore::new(
                dir.path().join("contexts"),
            ))),
            ..Settings::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(satusky_server::serve_state(
            listener,
            AppState::new(store.clone(), settings),
            std::future::pending(),
        ));
        World {
            _dir: dir,
            store,
            url,
            http: reqwest::Client::new(),
            token,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut b = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let res = b.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn deploy(&self, template: &str, body: Value) -> (u16, Value) {
        let path = format!("/v1/orgs/{ORG}/templates/{template}/deploy");
        self.call(reqwest::Method::POST, &path, Some(body)).await
    }

    /// The app's stored `password` parameter (a template's generated secret), opened.
    async fn password(&self, app: &str) -> String {
        let stored = self.store.template_of(ORG, app).await.unwrap().unwrap();
        stored.secret_values["password"].expose().to_string()
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

#[tokio::test]
async fn a_template_deploy_records_what_a_put_of_its_spec_records() {
    let w = World::new().await;
    let (status, body) = w
        .deploy(
            "echo",
            json!({"app": "tpl", "set": {"banner": "hi", "replicas": "2"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["template"], "echo@1");
    assert_eq!(body["release"], 1);
    assert_eq!(body["parameters"]["replicas"], "2");

    // The spec it produced, deployed as another app with the same (bundled) context.
    let app = w.get(&format!("/v1/orgs/{ORG}/apps/tpl")).await;
    assert_eq!(app["template"], "echo@1");
    let releases = w.store.list_releases(ORG, "tpl").await.unwrap();
    let context = releases[0]
        .context
        .clone()
        .expect("the bundled context is stored");
    let mut spec = app["spec"].clone();
    spec["name"] = json!("plain");
    let (status, body) = w
        .call(
            reqwest::Method::PUT,
            &format!("/v1/orgs/{ORG}/apps/plain"),
            Some(json!({"spec": spec, "context": context})),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    let a = w.store.get_app(ORG, "tpl").await.unwrap().unwrap();
    let b = w.store.get_app(ORG, "plain").await.unwrap().unwrap();
    let mut b_spec = b.spec.clone();
    b_spec.name = a.spec.name.clone();
    assert_eq!(a.spec, b_spec, "the same stored spec");
    assert_eq!(a.spec.replicas, 2);
    assert_eq!(a.spec.env["ECHO_BANNER"], "hi");
    assert_eq!((a.generation, a.phase), (b.generation, b.phase));
    assert_eq!((&a.status, &a.work), (&b.status, &b.work));
    let ra = &w.store.list_releases(ORG, "tpl").await.unwrap()[0];
    let rb = &w.store.list_releases(ORG, "plain").await.unwrap()[0];
    assert_eq!(ra.source, "template(echo@1)");
    assert_eq!(rb.source, "deploy");
    let mut rb_spec = rb.spec.clone();
    rb_spec.name = ra.spec.name.clone();
    assert_eq!(ra.spec, rb_spec, "the same release snapshot");
    assert_eq!(
        (ra.version, ra.status, &ra.image, &ra.context, &ra.artifact),
        (rb.version, rb.status, &rb.image, &rb.context, &rb.artifact)
    );
    // Only the template's app remembers a template.
    assert!(w.store.template_use(ORG, "plain").await.unwrap().is_none());
}

#[tokio::test]
async fn a_redeploy_keeps_the_generated_password_and_a_refused_value_changes_nothing() {
    let w = World::new().await;
    let (status, body) = w.deploy("redis", json!({"app": "cache"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["generated"], json!(["password"]));
    assert_eq!(body["parameters"]["password"], "<secret REDIS_PASSWORD>");
    let first = w.store.template_of(ORG, "cache").await.unwrap().unwrap();
    let password = first.secret_values["password"].expose().to_string();
    assert_eq!(password.len(), 32);
    // Never in an answer.
    let app = w.get(&format!("/v1/orgs/{ORG}/apps/cache")).await;
    assert!(!app.to_string().contains(&password));
    assert!(!body.to_string().contains(&password));

    // A redeploy with a new value: the password is the stored one.
    let (status, body) = w
        .deploy("redis", json!({"app": "cache", "set": {"memory": "512Mi"}}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["generated"].is_null(),
        "nothing generated again: {body}"
    );
    let again = w.store.template_of(ORG, "cache").await.unwrap().unwrap();
    assert_eq!(again.secret_values["password"].expose(), password);
    assert_eq!(again.used.plain["memory"], "512Mi");
    let secrets = w.store.list_secrets(ORG, "cache").await.unwrap();
    assert_eq!(secrets[0].version, 1, "the same value is not written again");

    // A value the rules refuse: 422 naming the parameter and the rule; nothing recorded.
    let before = w.store.get_app(ORG, "cache").await.unwrap().unwrap();
    let (status, body) = w
        .deploy("redis", json!({"app": "cache", "set": {"memory": "1Mi"}}))
        .await;
    assert_eq!(status, 422, "{body}");
    let fields = &body["error"]["details"]["fields"];
    assert_eq!(fields[0]["field"], "--set memory", "{body}");
    assert!(
        fields[0]["message"].as_str().unwrap().contains("64Mi"),
        "names the bound: {body}"
    );
    let after = w.store.get_app(ORG, "cache").await.unwrap().unwrap();
    assert_eq!(after.generation, before.generation);
    assert_eq!(w.store.list_releases(ORG, "cache").await.unwrap().len(), 2);

    // An upgrade of an app that does not exist, and an app made from a file.
    let (status, body) = w
        .deploy("redis", json!({"app": "nothere", "upgrade": true}))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = w.deploy("postgres", json!({"app": "cache"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("runs the template redis")
    );
    // A static site serves the files of a folder the caller uploads: without one, 422.
    let (status, body) = w.deploy("static-site", json!({"app": "site"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("context"),
        "{body}"
    );
    assert!(w.store.get_app(ORG, "site").await.unwrap().is_none());
    let (status, body) = w.deploy("nope", json!({"app": "x"})).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no template")
    );
}

#[tokio::test]
async fn a_binding_writes_the_output_into_the_targets_secret_and_is_listed_on_both() {
    let w = World::new().await;
    let (status, body) = w.deploy("redis", json!({"app": "cache"})).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = w.deploy("echo", json!({"app": "web"})).await;
    assert_eq!(status, 202, "{body}");
    let password = w.password("cache").await;

    let bind = |body: Value| {
        let path = format!("/v1/orgs/{ORG}/apps/cache/bindings");
        let w = &w;
        async move { w.call(reqwest::Method::POST, &path, Some(body)).await }
    };
    // The url needs the service's internal address, which no runtime gives here.
    let (status, body) = bind(json!({"target": "web"})).await;
    assert_eq!(status, 409, "{body}");
    // An output that is not there names the ones that are.
    let (status, body) = bind(json!({"target": "web", "output": "nope"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("url"),
        "{body}"
    );

    // While web's v1 is being deployed, its secrets do not change (as with `secret set`).
    let (status, body) = bind(json!({"target": "web", "output": "password"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(w.store.bindings_of(ORG, "web").await.unwrap().is_empty());

    // Once v1 runs, the binding is a config release of web.
    w.store
        .transition_releases(ORG, "web", &[(1, ReleaseStatus::Active)], Some(1), None, 0)
        .await
        .unwrap();
    let (status, body) = bind(json!({"target": "web", "output": "password"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["change"]["release"], 2, "{body}");
    assert_eq!(body["binding"]["secret"], "CACHE_PASSWORD");
    let (status, body) = bind(json!({"target": "web", "output": "password"})).await;
    assert_eq!(status, 200, "the same value again rolls nothing: {body}");
    assert!(!body.to_string().contains(&password));
    let opened = w.store.open_secrets(ORG, "web").await.unwrap();
    assert_eq!(opened["CACHE_PASSWORD"].value.expose(), password);
    for app in ["cache", "web"] {
        let detail = w.get(&format!("/v1/orgs/{ORG}/apps/{app}")).await;
        assert_eq!(detail["bindings"][0]["service"], "cache", "{detail}");
        assert_eq!(detail["bindings"][0]["target"], "web", "{detail}");
        assert!(!detail.to_string().contains(&password));
    }

    // Destroying the target removes the binding from the service's list too.
    let (status, body) = w
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/orgs/{ORG}/apps/web"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bindings_removed"][0]["secret"], "CACHE_PASSWORD");
    let detail = w.get(&format!("/v1/orgs/{ORG}/apps/cache")).await;
    assert!(detail["bindings"].is_null(), "{detail}");
}

#[tokio::test]
async fn an_upgrade_checks_the_stored_values_against_the_new_version_first() {
    let w = World::new().await;
    let (status, body) = w
        .deploy(
            "redis",
            json!({"app": "cache", "version": 1, "set": {"memory": "48Mi"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["template"], "redis@1");
    let password = w.password("cache").await;

    // A redeploy without a version stays on the app's version.
    let (status, body) = w.deploy("redis", json!({"app": "cache"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["template"], "redis@1");

    // Version 2 needs at least 64Mi: the stored 48Mi stops the upgrade, and nothing changes.
    let before = w.store.get_app(ORG, "cache").await.unwrap().unwrap();
    let (status, body) = w
        .deploy("redis", json!({"app": "cache", "upgrade": true}))
        .await;
    assert_eq!(status, 422, "{body}");
    let fields = &body["error"]["details"]["fields"];
    assert_eq!(fields[0]["field"], "memory", "the stored value: {body}");
    assert!(
        fields[0]["message"].as_str().unwrap().contains("64Mi"),
        "{body}"
    );
    let after = w.store.get_app(ORG, "cache").await.unwrap().unwrap();
    assert_eq!(after.generation, before.generation);
    assert_eq!(
        w.store
            .template_use(ORG, "cache")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    // With a value version 2 takes: a new release from redis@2, the password kept, the new
    // parameter at its default.
    let (status, body) = w
        .deploy(
            "redis",
            json!({"app": "cache", "upgrade": true, "set": {"memory": "128Mi"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["template"], "redis@2");
    assert_eq!(body["previous_version"], 1);
    assert_eq!(body["parameters"]["eviction"], "noeviction");
    let releases = w.store.list_releases(ORG, "cache").await.unwrap();
    assert_eq!(releases[0].source, "template(redis@2)");
    assert_eq!(releases.len(), 3);
    let stored = w.store.template_of(ORG, "cache").await.unwrap().unwrap();
    assert_eq!(stored.used.version, 2);
    assert_eq!(stored.secret_values["password"].expose(), password);
}

//! End to end on loopback: the real `satusky serve` on a temp SQLite store and the real
//! `1ctl`, as a user drives them (issue "Foundation").

mod common;

use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[test]
fn serve_creates_store_and_token_create_works_while_serving() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("fresh");
    let server = Server::start(&bins(), &dir);
    assert!(
        dir.join("state.db").exists(),
        "SQLite store created in the state dir"
    );
    // A second process writes a token into the same store while serve runs.
    let token = create_token(&dir, "acme");
    assert!(token.starts_with("sky_"));
    let home = tempfile::tempdir().unwrap();
    let out = onectl(
        state.path(),
        home.path(),
        &server.url(),
        &token,
        &["auth", "status", "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["org"], "acme");
}

#[test]
fn deploy_twice_records_generations_and_releases() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&bins(), state.path());
    let token = create_token(state.path(), "acme");
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    write_app(work.path(), "my-api");

    let first = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token,
        &["deploy", "--image", "nginx:1.27", "--no-wait"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let text = stdout(&first) + &stderr(&first);
    assert!(
        text.contains("my-api") && text.contains("v1"),
        "prints app and release: {text}"
    );

    let second = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token,
        &["deploy", "--image", "nginx:1.27", "--no-wait", "-o", "json"],
    );
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let report = json(&second);
    assert_eq!(report["generation"], 2);
    assert_eq!(report["target_release"], 2);
    assert_eq!(report["exit_code"], 0);

    let rel = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token,
        &["-o", "json", "app", "releases"],
    );
    assert_eq!(rel.status.code(), Some(0), "{}", stderr(&rel));
    let rel = json(&rel);
    let versions: Vec<u64> = rel
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, vec![2, 1], "newest first");
    // No runtime runs them: v2 waits, and it overtook the pending v1 (SPEC §3).
    assert_eq!(rel[0]["status"], "pending");
    assert_eq!(rel[1]["status"], "superseded");
    for r in rel.as_array().unwrap() {
        assert_eq!(r["image"], "nginx:1.27");
        assert_eq!(r["source"], "deploy");
        assert!(r["created_at"].as_str().unwrap().ends_with('Z'));
    }

    let get = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token,
        &["app", "get", "-o", "json"],
    );
    assert_eq!(get.status.code(), Some(0), "{}", stderr(&get));
    let app = json(&get);
    assert_eq!(app["name"], "my-api");
    assert_eq!(app["org"], "acme");
    assert_eq!(app["generation"], 2);
    assert_eq!(app["spec"]["replicas"], 2);
    assert_eq!(app["spec"]["memory"], "256Mi");
    assert_eq!(app["spec"]["image"], "nginx:1.27");
    assert_eq!(app["spec"]["checks"]["path"], "/healthz");
    assert_eq!(app["spec"]["env"]["LOG_LEVEL"], "info");
    assert_eq!(app["hostnames"][0], "my-api-acme.satusky.localhost");

    let list = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token,
        &["app", "list", "-o", "json"],
    );
    assert_eq!(list.status.code(), Some(0));
    let list = json(&list);
    assert_eq!(list[0]["name"], "my-api");
    assert_eq!(list[0]["phase"], "accepted");
}

#[test]
fn wrong_token_exits_3_and_stopped_server_exits_4() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&bins(), state.path());
    create_token(state.path(), "acme");
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    write_app(work.path(), "my-api");
    let bad = onectl(
        work.path(),
        home.path(),
        &server.url(),
        "sky_not_a_real_token",
        &["deploy", "--image", "nginx:1.27", "--no-wait"],
    );
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
    let msg = stderr(&bad);
    assert_eq!(msg.trim().lines().count(), 1, "one line: {msg}");
    assert!(
        msg.contains("auth login") || msg.contains("SATUSKY_TOKEN"),
        "says what to do: {msg}"
    );

    let url = server.url();
    server.kill9();
    let down = onectl(work.path(), home.path(), &url, "sky_x", &["app", "list"]);
    assert_eq!(down.status.code(), Some(4), "{}", stderr(&down));
    let msg = stderr(&down);
    assert_eq!(msg.trim().lines().count(), 1, "one line: {msg}");
    assert!(
        msg.contains("satusky serve") || msg.contains("SATUSKY_API_URL"),
        "says what to do: {msg}"
    );
}

#[test]
fn org_isolation_404_through_api_and_exit_5_through_cli() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&bins(), state.path());
    let token_a = create_token(state.path(), "orga");
    let token_b = create_token(state.path(), "orgb");
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    write_app(work.path(), "secret-app");
    let out = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token_a,
        &["deploy", "--image", "nginx:1.27", "--no-wait"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = http();
        for path in ["", "/status", "/releases", "/releases/1/build", "/logs"] {
            let r = c
                .get(format!(
                    "{}/v1/orgs/orga/apps/secret-app{path}",
                    server.url()
                ))
                .bearer_auth(&token_b)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 404, "org B reading org A's app{path}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "not_found");
            assert!(body["error"]["message"].is_string());
        }
        // The log stream answers before any upgrade: org B's handshake is refused with 404,
        // org A's with 501 (`--runtime none` keeps no logs).
        for (token, status, code) in [
            (&token_b, 404, "not_found"),
            (&token_a, 501, "not_implemented"),
        ] {
            let mut req = format!(
                "ws://{}/v1/orgs/orga/apps/secret-app/logs/stream",
                server.addr
            )
            .into_client_request()
            .unwrap();
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
            match tokio_tungstenite::connect_async(req).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                    assert_eq!(res.status().as_u16(), status, "the log stream's handshake");
                    let body: serde_json::Value =
                        serde_json::from_slice(res.body().as_deref().unwrap_or_default()).unwrap();
                    assert_eq!(body["error"]["code"], code, "{body}");
                }
                other => panic!("the log stream's handshake: {other:?}"),
            }
        }
        // Operating it: scale and restart are 404 for org B too, and change nothing.
        for (path, body) in [
            ("/scale", serde_json::json!({"replicas": 5})),
            ("/restart", serde_json::json!({})),
        ] {
            let r = c
                .post(format!(
                    "{}/v1/orgs/orga/apps/secret-app{path}",
                    server.url()
                ))
                .bearer_auth(&token_b)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 404, "POST {path} as org B");
        }
        let generation_after = c
            .get(format!("{}/v1/orgs/orga/apps/secret-app", server.url()))
            .bearer_auth(&token_a)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert_eq!(generation_after["generation"], 1, "org B changed nothing");
        assert!(generation_after["scaled_replicas"].is_null());
        assert!(generation_after["restarted_at"].is_null());
        let r = c
            .delete(format!("{}/v1/orgs/orga/apps/secret-app", server.url()))
            .bearer_auth(&token_b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "org B cannot delete org A's app");
        // Org A still sees it.
        let r = c
            .get(format!("{}/v1/orgs/orga/apps/secret-app", server.url()))
            .bearer_auth(&token_a)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    });

    let out = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token_b,
        &["--org", "orga", "app", "get", "secret-app"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let out = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token_b,
        &["app", "status", "secret-app", "--org", "orga"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

/// A custom domain on `satusky serve` is accepted but waits for its ownership proof: pending,
/// not routed, with the record to create. An old server.toml with the retired
/// `allow_unproven_domains` still loads and routes nothing unproven.
#[test]
fn custom_domains_on_serve_wait_for_their_proof_whatever_the_retired_setting_says() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("server.toml"),
        "allow_unproven_domains = true\n",
    )
    .unwrap();
    let server = Server::start(&bins(), state.path());
    let token = create_token(state.path(), "acme");
    let home = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    write_app(app.path(), "web");
    let mut t = std::fs::read_to_string(app.path().join("satusky.toml")).unwrap();
    t.push_str("\n[[domains]]\nhost = \"www.victim-example.test\"\n");
    std::fs::write(app.path().join("satusky.toml"), t).unwrap();
    let run = |args: &[&str]| onectl(app.path(), home.path(), &server.url(), &token, args);
    let out = run(&["deploy", "--image", "nginx:1.27", "--no-wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = json(&run(&["domains", "list", "-o", "json"]));
    let d = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["hostname"] == "www.victim-example.test")
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(d["ownership"]["state"], "pending", "{d}");
    assert_eq!(d["routed"], false, "{d}");
    assert_eq!(
        d["ownership"]["txt_name"], "_satusky-challenge.www.victim-example.test",
        "{d}"
    );
}

/// Within an org a hostname belongs to one app (409, exit 2, nothing created); another org may
/// claim it, pending its own proof.
#[test]
fn a_hostname_is_one_apps_per_org_and_another_org_only_claims_it() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&bins(), state.path());
    let token_a = create_token(state.path(), "orga");
    let token_b = create_token(state.path(), "orgb");
    let home = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = ["web", "api", "site"]
        .iter()
        .map(|name| {
            let dir = tempfile::tempdir().unwrap();
            write_app(dir.path(), name);
            let mut t = std::fs::read_to_string(dir.path().join("satusky.toml")).unwrap();
            t.push_str("\n[[domains]]\nhost = \"shop.example.com\"\n");
            std::fs::write(dir.path().join("satusky.toml"), t).unwrap();
            dir
        })
        .collect();
    let deploy = |dir: &tempfile::TempDir, token: &str| {
        onectl(
            dir.path(),
            home.path(),
            &server.url(),
            token,
            &["deploy", "--image", "nginx:1.27", "--no-wait"],
        )
    };
    let ok = deploy(&dirs[0], &token_a);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let taken = deploy(&dirs[1], &token_a);
    assert_eq!(taken.status.code(), Some(2), "{}", stderr(&taken));
    assert!(stderr(&taken).contains("shop.example.com"));
    let list = onectl(
        dirs[1].path(),
        home.path(),
        &server.url(),
        &token_a,
        &["app", "list", "-o", "json"],
    );
    let names: Vec<_> = json(&list)
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["web"], "api was not created");
    let claimed = deploy(&dirs[2], &token_b);
    assert_eq!(claimed.status.code(), Some(0), "{}", stderr(&claimed));
    let list = json(&onectl(
        dirs[2].path(),
        home.path(),
        &server.url(),
        &token_b,
        &["domains", "list", "-o", "json"],
    ));
    let d = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["hostname"] == "shop.example.com")
        .unwrap();
    assert_eq!(
        (d["ownership"]["state"].as_str(), d["routed"].as_bool()),
        (Some("pending"), Some(false))
    );
}

#[test]
fn events_replay_in_order_then_resume_after_n() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&bins(), state.path());
    let token = create_token(state.path(), "acme");
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    write_app(work.path(), "streamer");
    for _ in 0..3 {
        let out = onectl(
            work.path(),
            home.path(),
            &server.url(),
            &token,
            &["deploy", "--image", "nginx:1.27", "--no-wait"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = |after: u64| {
            format!(
                "ws://{}/v1/orgs/acme/apps/streamer/events?after={after}",
                server.addr
            )
        };
        let connect = |after: u64| {
            let mut req = url(after).into_client_request().unwrap();
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
            tokio_tungstenite::connect_async(req)
        };
        // Three deploys: v1 (release, phase), then for v2 and v3 the overtaken release's
        // `superseded` event, the new release, and the phase: 8 events.
        let (mut ws, _) = connect(0).await.expect("connect");
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(next(&mut ws).await);
        }
        let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(
            seen.iter()
                .all(|e| e["app"] == "streamer" && e["at"].is_string())
        );
        assert_eq!(seen[0]["type"], "release");
        assert_eq!(seen[0]["data"]["version"], 1);
        assert_eq!(seen[1]["type"], "phase");
        assert_eq!(seen[2]["data"]["status"], "superseded");
        assert_eq!(seen[3]["data"]["version"], 2);
        assert_eq!(seen[7]["data"]["generation"], 3);

        // Live follow: a new deploy arrives on the open stream.
        let out = onectl(
            work.path(),
            home.path(),
            &server.url(),
            &token,
            &["deploy", "--image", "nginx:1.27", "--no-wait"],
        );
        assert_eq!(out.status.code(), Some(0));
        let live = next(&mut ws).await;
        assert_eq!(live["seq"], 9);
        assert_eq!(live["data"]["version"], 3);
        assert_eq!(live["data"]["status"], "superseded");
        let live = next(&mut ws).await;
        assert_eq!(live["data"]["version"], 4);
        drop(ws);

        // Reconnect after 6: only 7..11.
        let (mut ws, _) = connect(6).await.expect("reconnect");
        let mut resumed = Vec::new();
        for _ in 0..5 {
            resumed.push(next(&mut ws).await["seq"].as_u64().unwrap());
        }
        assert_eq!(resumed, vec![7, 8, 9, 10, 11]);
        let extra = tokio::time::timeout(std::time::Duration::from_millis(1500), ws.next()).await;
        assert!(extra.is_err(), "nothing beyond the last event: {extra:?}");
    });
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Ws) -> serde_json::Value {
    let msg = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("an event within 5 s")
        .expect("stream open")
        .expect("frame");
    serde_json::from_str::<serde_json::Value>(msg.to_text().unwrap()).unwrap()
}

#[test]
fn sigkill_after_accepted_deploy_loses_nothing() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&bins(), state.path());
    let token = create_token(state.path(), "acme");
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    write_app(work.path(), "durable");
    let out = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token,
        &["deploy", "--image", "nginx:1.27", "--no-wait"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Kill right after the 202.
    server.kill9();

    let server = Server::start(&bins(), state.path());
    let get = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token,
        &["app", "get", "-o", "json"],
    );
    assert_eq!(get.status.code(), Some(0), "{}", stderr(&get));
    let app = json(&get);
    assert_eq!(app["generation"], 1);
    assert_eq!(app["target_release"], 1);
    let rel = onectl(
        work.path(),
        home.path(),
        &server.url(),
        &token,
        &["app", "releases", "-o", "json"],
    );
    let rel = json(&rel);
    assert_eq!(rel.as_array().unwrap().len(), 1);
    assert_eq!(rel[0]["version"], 1);
    assert_eq!(rel[0]["status"], "pending");
}

#[test]
fn api_errors_use_the_error_body_and_openapi_is_served() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(&bins(), state.path());
    let token = create_token(state.path(), "acme");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = http();
        let r = c.get(format!("{}/healthz", server.url())).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);

        let r = c.get(format!("{}/v1/openapi.json", server.url())).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "served without auth");
        let doc: serde_json::Value = r.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for p in ["/v1/whoami", "/v1/orgs/{org}/apps", "/v1/orgs/{org}/apps/{app}",
                  "/v1/orgs/{org}/apps/{app}/status", "/v1/orgs/{org}/apps/{app}/releases",
                  "/v1/orgs/{org}/apps/{app}/events"] {
            assert!(doc["paths"][p].is_object(), "openapi has {p}");
        }
        assert!(doc["components"]["schemas"]["ReadinessReport"].is_object());

        let r = c.get(format!("{}/v1/whoami", server.url())).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");

        // An invalid spec over the API: 422 naming every bad field, nothing stored.
        let spec = serde_json::json!({"spec": {
            "name": "web", "port": 8080, "replicas": 1, "cpu": "lots", "memory": "12 apples",
            "build": {"dockerfile": "Dockerfile", "context": "."},
            "checks": {"path": "/", "expect": "2xx", "timeout_ms": 2000},
            "deploy": {"strategy": "rolling", "max_surge": "25%", "max_unavailable": "0", "progress_deadline_seconds": 600}
        }});
        let r = c.put(format!("{}/v1/orgs/acme/apps/web", server.url()))
            .bearer_auth(&token).json(&spec).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 422);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_input");
        let fields: Vec<String> = body["error"]["details"]["fields"].as_array().unwrap()
            .iter().map(|f| f["field"].as_str().unwrap().to_string()).collect();
        assert!(fields.contains(&"app.cpu".to_string()) && fields.contains(&"app.memory".to_string()), "{fields:?}");

        let r = c.put(format!("{}/v1/orgs/acme/apps/web", server.url()))
            .bearer_auth(&token).body("{not json").header("content-type", "application/json")
            .send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);

        let r = c.get(format!("{}/v1/orgs/acme/apps/web", server.url()))
            .bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "the invalid deploys stored nothing");
    });
}

//! `[app] expose = "tcp"` on `satusky dev` (issue 16, "Not every app is public HTTP"): a TCP
//! service (the test app's `--tcp-echo`) deploys with exit 0, its workload is ready by a TCP
//! check, every endpoint plane is `not_applicable NotPublic`, nothing of it is routed on the
//! edge, and a real connection to its `internal_address` reaches a replica and echoes. The
//! address stays the same across a redeploy (now reaching the new release) and a
//! control-plane restart. An HTTP app has an internal address too, proxying its bytes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Dev, bins, json, stderr, stdout};

/// A satusky.toml for the test app in TCP echo mode, exposed as `tcp`.
fn tcp_app(test_app: &Path, extra_env: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[app]\nname = \"cache\"\nreplicas = 2\nexpose = \"tcp\"\ncommand = [{:?}, \"--tcp-echo\"]\n\n[checks]\ntimeout = \"1s\"\n\n[env]\nROUND = \"{extra_env}\"\n",
        test_app.display().to_string()
    );
    std::fs::write(dir.path().join("satusky.toml"), toml).unwrap();
    dir
}

/// Connects to `address`, reads the greeting line, sends a line and reads it back.
fn echo(address: &str) -> Result<(String, String), String> {
    let stream = TcpStream::connect(address).map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut greeting = String::new();
    reader
        .read_line(&mut greeting)
        .map_err(|e| format!("greeting from {address}: {e}"))?;
    let mut writer = stream;
    writer
        .write_all(b"ping 42\n")
        .map_err(|e| format!("write to {address}: {e}"))?;
    let mut back = String::new();
    reader
        .read_line(&mut back)
        .map_err(|e| format!("echo from {address}: {e}"))?;
    Ok((greeting.trim().to_string(), back.trim().to_string()))
}

/// [`echo`] until it greets as `release` (a switched route takes effect at once; old
/// replicas drain), within 20 s.
fn echo_from(address: &str, release: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match echo(address) {
            Ok((greeting, back)) if greeting == format!("test-app {release}") => return back,
            other => assert!(
                Instant::now() < deadline,
                "{address} never answered as {release}: last {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status(dev: &Dev, dir: &Path) -> serde_json::Value {
    json(&dev.onectl_exits(0, dir, &["app", "status", "-o", "json"]))
}

#[test]
fn a_tcp_service_is_ready_not_public_and_reached_at_a_stable_internal_address() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(&bins, state.path());
    let app = tcp_app(&bins.test_app(), "1");
    let dir = app.path();

    let out = dev.onectl_exits(0, dir, &["deploy", "-o", "json"]);
    let report = json(&out);
    assert_eq!(report["exit_code"], 0, "{}", stderr(&out));
    assert_eq!(report["workload"]["state"], "ready", "{report}");

    let st = status(&dev, dir);
    assert_eq!(st["phase"], "ready", "{st}");
    assert_eq!(st["workload"]["replicas"]["ready"], 2, "{st}");
    let endpoints = st["endpoints"].as_array().unwrap();
    assert!(!endpoints.is_empty(), "{st}");
    for e in endpoints {
        for plane in ["metadata", "route", "dns", "tls", "http"] {
            assert_eq!(e[plane]["state"], "not_applicable", "{plane}: {e}");
            assert_eq!(e[plane]["reason"], "NotPublic", "{plane}: {e}");
        }
    }
    let address = st["internal_address"]
        .as_str()
        .expect("an internal address")
        .to_string();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    let got = json(&dev.onectl_exits(0, dir, &["app", "get", "-o", "json"]));
    assert_eq!(got["internal_address"], address.as_str());
    assert_eq!(got["spec"]["expose"], "tcp");
    let human = dev.onectl_exits(0, dir, &["app", "status"]);
    assert!(
        stdout(&human).contains(&format!(
            "internal address {address} (reachable by the org's apps)"
        )),
        "{}",
        stdout(&human)
    );

    // A real connection through the internal address reaches a replica of v1.
    assert_eq!(echo_from(&address, "dev/cache@v1"), "ping 42");
    // Nothing of it is served on the edge: no certificate, no answer for its reserved name.
    let host = got["hostnames"][0].as_str().unwrap().to_string();
    let edge = dev.client_for(&host);
    let url = dev.url(&host, "/");
    let code = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { edge.get(&url).send().await.map(|r| r.status().as_u16()) });
    assert!(
        !matches!(code, Ok(200)),
        "{host} must not be served by the edge: {code:?}"
    );

    // A redeploy keeps the address, which now reaches v2.
    let app2 = tcp_app(&bins.test_app(), "2");
    std::fs::copy(app2.path().join("satusky.toml"), dir.join("satusky.toml")).unwrap();
    dev.onectl_exits(0, dir, &["deploy"]);
    assert_eq!(status(&dev, dir)["internal_address"], address.as_str());
    assert_eq!(echo_from(&address, "dev/cache@v2"), "ping 42");

    // So does a control-plane restart.
    dev.kill9();
    drop(dev);
    let dev = Dev::start(&bins, state.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = status(&dev, dir);
        if st["workload"]["state"] == "ready" && st["phase"] == "ready" {
            assert_eq!(st["internal_address"], address.as_str(), "{st}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready after the restart: {st}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(echo_from(&address, "dev/cache@v2"), "ping 42");
}

#[test]
fn domains_are_refused_for_a_tcp_service_and_an_http_app_has_an_internal_address_too() {
    let bins = bins();
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins, state.path());
    let app = tcp_app(&bins.test_app(), "1");
    let dir = app.path();
    dev.onectl_exits(0, dir, &["deploy", "--wait-for", "workload"]);
    let refused = dev.onectl(dir, &["domains", "add", "cache.example.com"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("has expose = \"tcp\""),
        "{}",
        stderr(&refused)
    );
    let mut toml = std::fs::read_to_string(dir.join("satusky.toml")).unwrap();
    toml.push_str("\n[[domains]]\nhost = \"cache.example.com\"\n");
    std::fs::write(dir.join("satusky.toml"), &toml).unwrap();
    let refused = dev.onectl(dir, &["deploy"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("domains[0].host: [[domains]] needs a public app"),
        "{}",
        stderr(&refused)
    );

    // An HTTP app's internal address proxies its bytes as they are.
    let web = bins.test_app_dir("web", &[], "");
    dev.onectl_exits(0, web.path(), &["deploy", "--wait-for", "workload"]);
    let got = json(&dev.onectl_exits(0, web.path(), &["app", "get", "-o", "json"]));
    let address = got["internal_address"]
        .as_str()
        .expect("an internal address");
    let cache = json(&dev.onectl_exits(0, dir, &["app", "get", "-o", "json"]));
    assert_ne!(cache["internal_address"].as_str(), Some(address));
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("hello from dev/web@v1"), "{answer}");
}

//! The marketplace end to end on `satusky dev` (issue 16, acceptance 1 and 3), with the
//! machine's own `redis-server` and PostgreSQL, apps run as the unprivileged `satusky-app`
//! user (PostgreSQL refuses root):
//!
//! - `1ctl marketplace deploy redis cache` exits 0, the workload is ready, the endpoint planes
//!   are `not_applicable NotPublic`, and a real `PING` on its internal address answers `PONG`;
//!   its release says `template(redis@…)`.
//! - `1ctl marketplace deploy postgres db --bind web` rolls `web` (an HTTP app of this test
//!   that runs `psql "$DATABASE_URL"` per request) to a config release whose app answers
//!   `SELECT 1` through the bound URL.
//! - A `--set` value the template refuses exits 2 naming the parameter and the rule, and
//!   changes nothing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{Dev, bins, json, stderr, stdout};

fn dev(state: &Path) -> Dev {
    Dev::start_with(&bins(), state, &["--local-user", "satusky-app"])
}

/// `host:port` from `app get -o json`.
fn internal_address(dev: &Dev, dir: &Path, app: &str) -> String {
    let out = dev.onectl(dir, &["app", "get", app, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let detail = json(&out);
    detail["internal_address"]
        .as_str()
        .unwrap_or_else(|| panic!("no internal_address: {detail:#}"))
        .to_string()
}

/// Sends RESP commands and reads one reply line each.
fn redis(addr: &str, commands: &[&[&str]]) -> Vec<String> {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut replies = Vec::new();
    for cmd in commands {
        let mut wire = format!("*{}\r\n", cmd.len());
        for arg in *cmd {
            wire.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        writer.write_all(wire.as_bytes()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        replies.push(line.trim_end().to_string());
    }
    replies
}

fn have(binary: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn redis_from_the_catalog_answers_pong_on_its_internal_address() {
    assert!(
        have("redis-server"),
        "redis-server must be installed (.ci/run installs it)"
    );
    let state = tempfile::tempdir().unwrap();
    let dev = dev(state.path());
    let here = tempfile::tempdir().unwrap();
    let password = "pong-test-password-0123456789";

    let out = dev.onectl(
        here.path(),
        &[
            "marketplace",
            "deploy",
            "redis@1",
            "cache",
            "--set",
            &format!("password={password}"),
            "--set",
            "memory=48Mi",
            "--timeout",
            "90s",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let said = stdout(&out);
    assert!(said.contains("from template redis@1"), "{said}");
    assert!(
        !said.contains(password),
        "the password is never shown: {said}"
    );

    let out = dev.onectl(here.path(), &["app", "status", "cache", "-o", "json"]);
    let report = json(&out);
    assert_eq!(report["workload"]["state"], "ready", "{report:#}");
    for host in report["endpoints"].as_array().into_iter().flatten() {
        for plane in ["metadata", "route", "dns", "tls", "http"] {
            assert_eq!(host[plane]["state"], "not_applicable", "{report:#}");
            assert_eq!(host[plane]["reason"], "NotPublic", "{report:#}");
        }
    }
    let addr = internal_address(&dev, here.path(), "cache");
    assert_eq!(
        redis(&addr, &[&["AUTH", password], &["PING"]]),
        ["+OK", "+PONG"],
        "at {addr}"
    );

    let out = dev.onectl(here.path(), &["app", "releases", "cache", "-o", "json"]);
    let releases = json(&out);
    assert_eq!(releases[0]["source"], "template(redis@1)", "{releases:#}");

    // A value the template refuses: exit 2 naming the parameter and its rule; nothing changes.
    let out = dev.onectl(
        here.path(),
        &[
            "marketplace",
            "deploy",
            "redis",
            "cache",
            "--set",
            "memory=1Mi",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--set memory"), "{}", stderr(&out));
    // Version 2 needs at least 64Mi: the upgrade stops on the stored 48Mi before any change.
    let out = dev.onectl(here.path(), &["marketplace", "upgrade", "cache"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("memory"), "{}", stderr(&out));
    assert!(stderr(&out).contains("64Mi"), "{}", stderr(&out));
    let out = dev.onectl(here.path(), &["app", "releases", "cache", "-o", "json"]);
    assert_eq!(json(&out).as_array().unwrap().len(), 1, "nothing changed");

    // With a value version 2 takes: a new release from redis@2, the password kept.
    let out = dev.onectl(
        here.path(),
        &[
            "marketplace",
            "upgrade",
            "cache",
            "--set",
            "memory=128Mi",
            "--timeout",
            "90s",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = dev.onectl(here.path(), &["app", "releases", "cache", "-o", "json"]);
    let releases = json(&out);
    assert_eq!(releases[0]["source"], "template(redis@2)", "{releases:#}");
    let addr = internal_address(&dev, here.path(), "cache");
    assert_eq!(
        redis(&addr, &[&["AUTH", password], &["PING"]]),
        ["+OK", "+PONG"],
        "the upgraded server at {addr}, same password"
    );
}

#[test]
fn postgres_bound_into_web_lets_web_select_1() {
    assert!(
        have("postgres") || Path::new("/usr/lib/postgresql").exists(),
        "PostgreSQL's server binaries must be installed"
    );
    assert!(have("psql"), "psql must be installed");
    let state = tempfile::tempdir().unwrap();
    let dev = dev(state.path());
    let web = tempfile::tempdir().unwrap();
    // An HTTP app that answers /db with what `psql "$DATABASE_URL" -c 'SELECT 1'` prints.
    std::fs::write(
        web.path().join("app.py"),
        r#"import http.server, os, subprocess
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/db":
            url = os.environ.get("DATABASE_URL", "")
            r = subprocess.run(["psql", url, "-tAc", "SELECT 1"], capture_output=True, text=True)
            body = (r.stdout if r.returncode == 0 else "psql failed: " + r.stderr).encode()
            self.send_response(200 if r.returncode == 0 else 500)
        else:
            body = b"ok"
            self.send_response(200)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#,
    )
    .unwrap();
    std::fs::write(
        web.path().join("satusky.toml"),
        "[app]\nname = \"web\"\nreplicas = 1\ncommand = [\"python3\", \"app.py\"]\n\n[checks]\npath = \"/\"\n",
    )
    .unwrap();
    let out = dev.onectl(web.path(), &["deploy", "--timeout", "90s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = dev.onectl(
        web.path(),
        &[
            "marketplace",
            "deploy",
            "postgres",
            "db",
            "--bind",
            "web",
            "--timeout",
            "180s",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        dev.log()
    );
    assert!(
        stdout(&out).contains("db's url → web's secret DATABASE_URL"),
        "{}",
        stdout(&out)
    );
    // web rolled to a config release holding the bound URL.
    let out = dev.onectl(web.path(), &["app", "releases", "web", "-o", "json"]);
    let releases = json(&out);
    assert_eq!(releases[0]["version"], 2, "{releases:#}");
    assert_eq!(releases[0]["source"], "config", "{releases:#}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = "web-dev.satusky.localhost";
    let (status, body) = rt.block_on(async {
        let r = dev
            .client_for(host)
            .get(dev.url(host, "/db"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!((status, body.trim()), (200, "1"), "{body}");

    // Listed on both apps.
    for app in ["db", "web"] {
        let out = dev.onectl(web.path(), &["app", "get", app, "-o", "json"]);
        let detail = json(&out);
        assert_eq!(
            detail["bindings"][0]["secret"], "DATABASE_URL",
            "{detail:#}"
        );
    }
}

#[test]
fn a_template_whose_programs_the_machine_lacks_is_refused_naming_the_package() {
    let state = tempfile::tempdir().unwrap();
    // A PATH holding a shell only: no redis-server, no cargo.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.path().join("sh")).unwrap();
    let path = bin.path().display().to_string();
    let dev = Dev::start_with_env(&bins(), state.path(), &[], &[("PATH", &path)]);
    let here = tempfile::tempdir().unwrap();
    let out = dev.onectl(here.path(), &["marketplace", "deploy", "redis", "cache"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("this machine has no redis-server"), "{said}");
    assert!(said.contains("apt-get install redis-server"), "{said}");
    // Nothing was recorded.
    let out = dev.onectl(here.path(), &["app", "get", "cache"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

/// Issue 16, acceptance 2: the static-site template with a folder of files — no process; the
/// edge serves them over HTTPS with the release header; all five planes ready; the workload
/// ready with reason `Static`.
#[test]
fn a_static_site_is_served_by_the_edge_with_every_plane_ready() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("public")).unwrap();
    std::fs::write(
        site.path().join("public/index.html"),
        "<h1>static site of the marketplace test</h1>",
    )
    .unwrap();
    std::fs::write(site.path().join("public/style.css"), "h1 { color: teal }").unwrap();
    std::fs::write(site.path().join("outside.txt"), "not under root").unwrap();
    let out = dev.onectl(
        site.path(),
        &[
            "marketplace",
            "deploy",
            "static-site",
            "site",
            "--set",
            "root=public",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let out = dev.onectl(site.path(), &["app", "status", "site", "-o", "json"]);
    let report = json(&out);
    assert_eq!(report["workload"]["state"], "ready", "{report:#}");
    assert_eq!(report["workload"]["reason"], "Static", "{report:#}");
    assert!(
        report["workload"]["message"]
            .as_str()
            .unwrap()
            .contains("2 files from public"),
        "{report:#}"
    );
    let hosts = report["endpoints"].as_array().unwrap();
    assert!(!hosts.is_empty(), "{report:#}");
    for host in hosts {
        for plane in ["metadata", "route", "dns", "tls", "http"] {
            assert_eq!(host[plane]["state"], "ready", "{plane}: {report:#}");
        }
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = "site-dev.satusky.localhost";
    let get = |path: &str| {
        rt.block_on(async {
            let r = dev
                .client_for(host)
                .get(dev.url(host, path))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let release = r
                .headers()
                .get("x-satusky-release")
                .map(|v| v.to_str().unwrap().to_string());
            let kind = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (status, release, kind, r.text().await.unwrap())
        })
    };
    let (status, release, kind, body) = get("/");
    assert_eq!(status, 200, "{body}");
    assert_eq!(release.as_deref(), Some("dev/site@v1"));
    assert_eq!(kind.as_deref(), Some("text/html; charset=utf-8"));
    assert!(
        body.contains("static site of the marketplace test"),
        "{body}"
    );
    let (status, _, kind, body) = get("/style.css");
    assert_eq!(
        (status, kind.as_deref()),
        (200, Some("text/css; charset=utf-8"))
    );
    assert!(body.contains("teal"));
    assert_eq!(get("/missing.html").0, 404);
    assert_eq!(get("/../outside.txt").0, 404);
    assert_eq!(get("/%2e%2e/outside.txt").0, 404);
}

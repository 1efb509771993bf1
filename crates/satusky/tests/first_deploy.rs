//! The first deploy works out of the box (issue 12, acceptance 5): in a folder holding only a
//! small web app, `1ctl init --yes && 1ctl deploy` exits 0 on `satusky dev`, and the app
//! answers through the edge — for each language whose toolchain this machine has (Python,
//! Node.js, Rust; the rest are covered by the detection's unit tests in satusky-core).

mod common;

use std::path::Path;
use std::process::Command;

use common::{Dev, bins, stdout};

/// Whether `program --version` runs here.
fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

const PYTHON_APP: &str = r#"import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello from python\n")

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Hello).serve_forever()
"#;

const NODE_APP: &str = r#"require("http")
  .createServer((req, res) => res.end("hello from node\n"))
  .listen(Number(process.env.PORT), "127.0.0.1");
"#;

const RUST_APP: &str = r#"use std::io::{Read, Write};
fn main() {
    let port = std::env::var("PORT").unwrap();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    for stream in listener.incoming() {
        let mut s = stream.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let body = "hello from rust\n";
        let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    }
}
"#;

/// A toolchain, the app's name, its files, and what it answers.
type LanguageApp = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_deploy_works_for_each_installed_language() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let cargo_toml = "[package]\nname = \"hello-rs\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
    let apps: [LanguageApp; 3] = [
        (
            "python3",
            "py",
            vec![("app.py", PYTHON_APP), ("requirements.txt", "")],
            "hello from python",
        ),
        (
            "node",
            "nodejs",
            vec![("server.js", NODE_APP), ("package.json", r#"{"name":"n"}"#)],
            "hello from node",
        ),
        (
            "cargo",
            "rs",
            vec![("Cargo.toml", cargo_toml), ("src/main.rs", RUST_APP)],
            "hello from rust",
        ),
    ];
    let mut deployed = 0;
    for (toolchain, name, files, answer) in apps {
        if !have(toolchain) {
            eprintln!("{toolchain} is not installed here: {name} skipped");
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &files);
        let out = dev.onectl_exits(0, dir.path(), &["init", "--yes", "--name", name]);
        assert!(
            stdout(&out).contains("it must listen on $PORT"),
            "{}",
            stdout(&out)
        );
        dev.onectl_exits(0, dir.path(), &["deploy"]);
        let host = format!("{name}-dev.satusky.localhost");
        let res = dev.get(&host, "/").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), format!("{answer}\n"));
        deployed += 1;
    }
    assert!(deployed > 0, "no toolchain at all: nothing was tested");
}

#[test]
fn a_spec_without_command_or_image_is_refused_and_no_app_exists() {
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&bins(), state.path());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("satusky.toml"), "[app]\nname = \"bare\"\n").unwrap();
    std::fs::write(dir.path().join("README"), "nothing to run").unwrap();
    let out = dev.onectl_exits(2, dir.path(), &["deploy"]);
    let err = common::stderr(&out);
    assert!(err.contains("command"), "{err}");
    assert!(err.contains("$PORT"), "{err}");
    let out = dev.onectl_exits(5, dir.path(), &["app", "get", "bare"]);
    assert!(
        common::stderr(&out).contains("not found"),
        "{}",
        common::stderr(&out)
    );
}

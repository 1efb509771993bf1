//! Acceptance 7: the reference client agrees with fakekube. The standalone server (the
//! `fakekube` binary) runs with a kubeconfig in a temp dir and the installed `kubectl` runs
//! `api-resources`, `apply --server-side` of a multi-document manifest, `get -o yaml
//! --show-managed-fields`, `get -w` and `rollout status` while the control endpoint moves the
//! rollout. Without kubectl the test prints a notice and passes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MANIFEST: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: acme
  labels:
    app.kubernetes.io/managed-by: satusky
    satusky.io/org: acme
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-env
  namespace: acme
  labels:
    app.kubernetes.io/managed-by: satusky
    satusky.io/org: acme
    satusky.io/app: web
data:
  GREETING: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: acme
  labels:
    app.kubernetes.io/managed-by: satusky
    satusky.io/org: acme
    satusky.io/app: web
spec:
  replicas: 2
  progressDeadlineSeconds: 120
  selector:
    matchLabels:
      satusky.io/app: web
  template:
    metadata:
      labels:
        satusky.io/app: web
      annotations:
        satusky.io/config-hash: 3f2a
    spec:
      containers:
      - name: web
        image: registry.example/acme/web@sha256:0123456789abcdef
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: web-env
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: acme
  labels:
    app.kubernetes.io/managed-by: satusky
    satusky.io/org: acme
    satusky.io/app: web
spec:
  selector:
    satusky.io/app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: acme
  labels:
    app.kubernetes.io/managed-by: satusky
    satusky.io/org: acme
    satusky.io/app: web
spec:
  parentRefs:
  - name: platform
    namespace: gateway-system
  hostnames:
  - web-acme.apps.example.net
  rules:
  - backendRefs:
    - name: web
      port: 80
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add:
        - name: x-satusky-release
          value: acme/web@v1
"#;

fn find_kubectl() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/kubectl");
    if fixed.exists() {
        return Some(fixed);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("kubectl"))
            .find(|c| c.exists())
    })
}

/// The standalone server, killed (by its own pid) when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Server {
    let kubeconfig = dir.join("kubeconfig");
    let child = Command::new(env!("CARGO_BIN_EXE_fakekube"))
        .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fakekube");
    let mut server = Server {
        child,
        addr: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&kubeconfig)
            && let Some(line) = text.lines().find(|l| l.contains("server: http://"))
        {
            server.addr = line
                .trim()
                .trim_start_matches("server: http://")
                .to_string();
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fakekube did not write its kubeconfig");
}

struct Kubectl {
    bin: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args);
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// POST to the control endpoint over plain HTTP/1.1; returns the status code.
fn control(addr: &str, path: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_line(
    rx: &mpsc::Receiver<String>,
    what: impl Fn(&str) -> bool,
    seen: &mut Vec<String>,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = what(&l);
                seen.push(l);
                if hit {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn kubectl_agrees_with_fakekube() {
    let Some(bin) = find_kubectl() else {
        println!("NOTICE: kubectl not found; skipping the reference-client test (acceptance 7)");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start_server(tmp.path());
    let k = Kubectl {
        bin,
        dir: tmp.path().to_path_buf(),
    };

    // api-resources lists every kind we use, with kubectl's short names.
    let out = String::from_utf8_lossy(&k.run(&["api-resources"]).stdout).to_string();
    for needle in [
        "deployments",
        "deploy",
        "httproutes",
        "gateways",
        "listenersets",
        "certificates",
        "verticalpodautoscalers",
        "poddisruptionbudgets",
    ] {
        assert!(out.contains(needle), "api-resources lacks {needle}:\n{out}");
    }

    // Server-side apply of a multi-document manifest, as `satusky render` outputs it.
    let manifest = tmp.path().join("app.yaml");
    std::fs::write(&manifest, MANIFEST).expect("manifest");
    let manifest = manifest.to_string_lossy().to_string();
    let out = String::from_utf8_lossy(
        &k.run(&[
            "apply",
            "--server-side",
            "--field-manager",
            "satusky",
            "-f",
            &manifest,
        ])
        .stdout,
    )
    .to_string();
    assert_eq!(out.matches("serverside-applied").count(), 5, "{out}");
    // Applying the same manifest again changes nothing and still succeeds.
    k.run(&[
        "apply",
        "--server-side",
        "--field-manager",
        "satusky",
        "-f",
        &manifest,
    ]);

    // get -o yaml shows managedFields with our manager and the real encoding.
    let yaml = String::from_utf8_lossy(
        &k.run(&[
            "get",
            "deploy",
            "web",
            "-n",
            "acme",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .stdout,
    )
    .to_string();
    for needle in [
        "manager: satusky",
        "operation: Apply",
        "fieldsType: FieldsV1",
        "f:replicas: {}",
        "k:{\"name\":\"web\"}:",
    ] {
        assert!(yaml.contains(needle), "missing {needle:?} in:\n{yaml}");
    }
    let plain = String::from_utf8_lossy(
        &k.run(&["get", "deploy", "web", "-n", "acme", "-o", "yaml"])
            .stdout,
    )
    .to_string();
    assert!(
        !plain.contains("managedFields"),
        "kubectl hides managedFields by default"
    );

    // get -w sees an update made through the control endpoint. (The list form: for a single
    // named object kubectl watches from resourceVersion 0 and drops the first event, so an
    // update racing the watch start would be invisible — against any server.)
    let mut watch = k
        .cmd(&["get", "deploy", "-n", "acme", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let rx = lines_of(&mut watch);
    let mut seen = Vec::new();
    assert!(
        wait_for_line(
            &rx,
            |l| l.starts_with("web") && l.contains("0/2"),
            &mut seen
        ),
        "initial row: {seen:?}"
    );
    assert_eq!(
        control(
            &server.addr,
            "/fakekube/v1/deployments/acme/web/progress",
            r#"{"ready":1}"#
        ),
        200
    );
    assert!(
        wait_for_line(
            &rx,
            |l| l.starts_with("web") && l.contains("1/2"),
            &mut seen
        ),
        "update row: {seen:?}"
    );
    let _ = watch.kill();
    let _ = watch.wait();

    // rollout status waits, and succeeds once the control endpoint completes the rollout.
    let mut rollout = k
        .cmd(&[
            "rollout",
            "status",
            "deploy/web",
            "-n",
            "acme",
            "--timeout=20s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rollout");
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        rollout.try_wait().expect("try_wait").is_none(),
        "rollout status must wait for the rollout"
    );
    assert_eq!(
        control(
            &server.addr,
            "/fakekube/v1/deployments/acme/web/complete",
            ""
        ),
        200
    );
    let out = rollout.wait_with_output().expect("rollout output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rollout status failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("successfully rolled out"), "{stdout}");

    // A stalled rollout makes rollout status fail, as against a cluster.
    k.run(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "acme",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    assert_eq!(
        control(&server.addr, "/fakekube/v1/deployments/acme/web/stall", ""),
        200
    );
    let out = k
        .cmd(&[
            "rollout",
            "status",
            "deploy/web",
            "-n",
            "acme",
            "--timeout=10s",
        ])
        .output()
        .expect("rollout");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exceeded its progress deadline"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

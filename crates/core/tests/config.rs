//! End-to-end checks of `satusky.toml` parsing through the public API: the SPEC §2 example,
//! and a snapshot of a fully-populated spec as the API would carry it.

use std::path::Path;

use satusky_core::config::{Overrides, parse_str};
use satusky_types::{HostnameKind, Strategy, VpaMode};

const SPEC_EXAMPLE: &str = r#"
[app]
name = "my-api"        # DNS-1035 label, 1–40 chars; the app's identity within an org
port = 8080            # the container port on Kubernetes; the local runtime gives each
                       # replica its own port in $PORT instead
replicas = 2
cpu = "250m"           # request; cpu_limit optional
memory = "256Mi"       # request (= limit unless memory_limit)
image = "ghcr.io/acme/api:1.4"   # optional: skip the build
command = ["./server"]  # optional; required by the local runtime (listen on $PORT)
zone = "dev-1"         # optional: which cluster (zone) runs it

[build]
dockerfile = "Dockerfile"   # kubernetes runtime (Kaniko)
context = "."
command = "cargo build --release"  # local runtime build step, run in the unpacked context

[checks]                # readiness probe, and the HTTP plane's path
path = "/healthz"
expect = "2xx"          # or "2xx,3xx", or an exact code
timeout = "2s"

[deploy]
strategy = "recreate"   # or "rolling" (not with [volume]: one writer)
max_surge = "25%"
max_unavailable = "0"
progress_deadline = "10m"   # default; the workload fails (exit 11) when it passes

[env]
LOG_LEVEL = "info"

[[domains]]
host = "api.example.com"            # a custom domain serving this app (alias)
[[domains]]
host = "www.example.com"
redirect_to = "https://api.example.com"   # a redirect host

[volume]
size = "1Gi"
mount = "/data"

[hpa]
min = 2
max = 5
cpu_target = 70

[vpa]
mode = "Off"

[pdb]
min_available = "1"
"#;

#[test]
fn the_spec_example_parses() {
    let app = parse_str(
        SPEC_EXAMPLE,
        Path::new("satusky.toml"),
        &Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let spec = app.spec();
    assert_eq!(
        (spec.name.as_str(), spec.port, spec.replicas),
        ("my-api", 8080, 2)
    );
    assert_eq!(spec.checks.timeout_ms, 2000);
    assert_eq!(spec.deploy.strategy, Strategy::Recreate);
    assert_eq!(spec.deploy.progress_deadline_seconds, 600);
    assert_eq!(spec.vpa.as_ref().map(|v| v.mode), Some(VpaMode::Off));
    let hosts = satusky_core::hostnames::hostnames("acme", "apps.test", spec);
    let kinds: Vec<HostnameKind> = hosts.iter().map(|h| h.kind).collect();
    assert_eq!(
        kinds,
        [
            HostnameKind::Generated,
            HostnameKind::Alias,
            HostnameKind::Redirect
        ]
    );
    insta::assert_json_snapshot!("spec_example", spec);
}

#[test]
fn a_fully_populated_spec_survives_json() {
    let text = format!(
        "{SPEC_EXAMPLE}\n# more\n"
    )
    .replace("[volume]\n", "[volume]\nstorage_class = \"fast\"\n")
    .replace("cpu_target = 70\n", "cpu_target = 70\nmemory_target = 80\n")
    .replace(
        "mode = \"Off\"\n",
        "mode = \"Off\"\nmin_cpu = \"100m\"\nmax_cpu = \"2\"\nmin_memory = \"128Mi\"\nmax_memory = \"1Gi\"\n",
    )
    .replace("memory = \"256Mi\"", "memory = \"256Mi\"\nmemory_limit = \"512Mi\"\ncpu_limit = \"1\"");
    let app = parse_str(&text, Path::new("satusky.toml"), &Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_string(app.spec()).unwrap_or_else(|e| panic!("{e}"));
    let back: satusky_types::AppSpec =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&back, app.spec());
    assert!(satusky_core::validate_spec(back).is_ok());
    insta::assert_json_snapshot!("fully_populated", app.spec());
}

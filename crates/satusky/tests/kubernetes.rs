//! The server and the CLI against fakekube over loopback (issue "Kubernetes runtime",
//! acceptance 4): objects applied with manager `satusky` and our labels, kstatus rules for the
//! workload, the route plane from HTTPRoute and Gateway status, pruning, rolling on env.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{create_token, json, onectl, stderr};
use fakekube::FakeKube;
use fakekube::hooks::routes::{GatewayStatus, RouteStatus};
use serde_json::{Value, json};

const NS: &str = "satusky-acme";

/// fakekube on loopback, a Gateway for routes, and `satusky serve --runtime kubernetes`.
struct Cluster {
    fake: FakeKube,
    _rt: tokio::runtime::Runtime,
    server: common::Server,
    token: String,
    home: tempfile::TempDir,
    _state: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        // acme owns the custom domains these tests use, and proved it (TXT records served by
        // the embedded DNS server, which the DNS plane asks).
        Self::start_with_toml(&dns_toml(
            free_port(),
            &[("acme", "web.example.com"), ("acme", "shop.example.com")],
        ))
    }

    /// A cluster whose control plane has a secret key (so secrets and template passwords are
    /// sealed), its rollouts completed by fakekube and its routes not; the key's folder
    /// lives as long as the second value.
    fn with_secret_key() -> (Cluster, tempfile::TempDir) {
        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("k1.key");
        std::fs::write(&key, satusky_core::secrets::new_key_text().unwrap()).unwrap();
        let toml = format!(
            "secret_keys = [{{ id = \"k1\", file = \"{}\" }}]\n{}",
            key.display(),
            dns_toml(free_port(), &[])
        );
        let c = Cluster::start_with_toml(&toml);
        c.fake.set_auto(fakekube::Auto {
            rollouts: true,
            routes: false,
        });
        (c, keys)
    }

    fn start_with_toml(server_toml: &str) -> Cluster {
        Self::start_with(server_toml, "1s")
    }

    fn start_with(server_toml: &str, probe_interval: &str) -> Cluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let _in_runtime = rt.enter();
        let fake = FakeKube::new();
        let (addr, handle) = rt
            .block_on(fake.serve("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        std::mem::forget(handle); // serves until the runtime drops
        let state = tempfile::tempdir().unwrap();
        let kubeconfig = state.path().join("kubeconfig");
        fakekube::kubeconfig::write(&kubeconfig, addr).unwrap();
        // The platform Gateway, as an operator would have set it up.
        rt.block_on(satusky_testkit::kube::platform_gateway(&fake.client()));
        fake.set_gateway_status(
            "satusky-system",
            "satusky",
            &GatewayStatus::programmed(vec!["203.0.113.7".into()]),
        )
        .unwrap();
        std::fs::write(state.path().join("server.toml"), server_toml).unwrap();
        let server = common::serve_kubernetes(state.path(), &kubeconfig, probe_interval);
        let token = create_token(state.path(), "acme");
        Cluster {
            fake,
            _rt: rt,
            server,
            token,
            home: tempfile::tempdir().unwrap(),
            _state: state,
        }
    }

    /// `1ctl ARGS` in `dir` on another thread (while the test plays the cluster).
    fn onectl_in_background(
        &self,
        dir: &Path,
        args: &[&str],
    ) -> std::thread::JoinHandle<std::process::Output> {
        let dir = dir.to_path_buf();
        let (url, token, home) = (
            self.server.url(),
            self.token.clone(),
            self.home.path().to_path_buf(),
        );
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            onectl(&dir, &home, &url, &token, &args)
        })
    }

    fn onectl(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        onectl(dir, self.home.path(), &self.server.url(), &self.token, args)
    }

    fn object(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        self.fake.object(api_version, kind, NS, name)
    }

    /// Wait until `f` holds (fakekube's state or the API's), or fail with `what`.
    fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn status(&self, dir: &Path) -> Value {
        json(&self.onectl(dir, &["app", "status", "-o", "json"]))
    }
}

/// A loopback port nothing listens on, TCP or UDP, below the kernel's ephemeral range (a port
/// bound to `:0` and released is one an outgoing connection may take before the server
/// binds it: CI saw "Address already in use" for the DNS server), never handed out twice.
use satusky_testkit::pebble::free_port;

/// server.toml with the embedded DNS server on `port` (the DNS plane asks it) holding each
/// `(org, host)`'s ownership proof, as the hostname's owner would publish it.
fn dns_toml(port: u16, proofs: &[(&str, &str)]) -> String {
    let mut toml =
        format!("dns_listen = \"127.0.0.1:{port}\"\nresolvers = [\"127.0.0.1:{port}\"]\n");
    for (org, host) in proofs {
        toml.push_str(&format!(
            "\n[[dns_records]]\nname = \"{}\"\ntxt = \"{}\"\n",
            satusky_core::ownership::txt_name(host),
            satusky_core::ownership::txt_value(org, host)
        ));
    }
    toml
}

/// The hostnames of HTTPRoute `name` in `ns` (none when it does not exist).
fn route_hosts(fake: &FakeKube, ns: &str, name: &str) -> Vec<String> {
    fake.object("gateway.networking.k8s.io/v1", "HTTPRoute", ns, name)
        .and_then(|r| r["spec"]["hostnames"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect()
}

/// Whether any ListenerSet or Certificate in `ns` names `host`.
fn host_in_listeners_or_certificates(fake: &FakeKube, ns: &str, host: &str) -> bool {
    let sets = fake.objects("gateway.networking.k8s.io/v1", "ListenerSet", Some(ns));
    let certs = fake.objects("cert-manager.io/v1", "Certificate", Some(ns));
    sets.iter()
        .chain(certs.iter())
        .any(|o| o.to_string().contains(host))
}

fn app_dir(name: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("satusky.toml"),
        format!("[app]\nname = \"{name}\"\nreplicas = 2\nimage = \"nginx:1.27\"\n\n[checks]\npath = \"/\"\n\n[deploy]\nprogress_deadline = \"10m\"\n{extra}"),
    )
    .unwrap();
    dir
}

fn managers(obj: &Value) -> Vec<String> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["manager"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn deploy_applies_every_object_with_our_manager_and_labels_then_rollout_completes() {
    let c = Cluster::start();
    let app = app_dir(
        "web",
        "[hpa]\nmin = 2\nmax = 4\n\n[pdb]\nmin_available = \"1\"\n\n[[domains]]\nhost = \"web.example.com\"\n",
    );
    let deploy = c.onectl_in_background(
        app.path(),
        &[
            "deploy",
            "--timeout",
            "60s",
            "--wait-for",
            "workload",
            "-o",
            "json",
        ],
    );
    c.wait_for("the Deployment", || {
        c.object("apps/v1", "Deployment", "web").is_some()
    });
    // Nothing is ready until the cluster says so.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!deploy.is_finished(), "the deploy waits for the rollout");
    c.fake.complete_rollout(NS, "web").unwrap();
    let out = deploy.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["workload"]["state"], "ready");

    for (api_version, kind, name) in [
        ("v1", "ConfigMap", "web-env"),
        ("v1", "Service", "web"),
        ("apps/v1", "Deployment", "web"),
        ("autoscaling/v2", "HorizontalPodAutoscaler", "web"),
        ("policy/v1", "PodDisruptionBudget", "web"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute", "web"),
    ] {
        let obj = c
            .object(api_version, kind, name)
            .unwrap_or_else(|| panic!("{kind} {name} applied"));
        assert!(
            managers(&obj).contains(&"satusky".to_string()),
            "{kind}: {:?}",
            managers(&obj)
        );
        let labels = &obj["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "satusky", "{kind}");
        assert_eq!(labels["satusky.io/org"], "acme", "{kind}");
        assert_eq!(labels["satusky.io/app"], "web", "{kind}");
    }
    // The custom domain is routed once its proof is seen (at once: it is published).
    c.wait_for("the proven domain on the HTTPRoute", || {
        route_hosts(&c.fake, NS, "web").contains(&"web.example.com".to_string())
    });
    let hosts = route_hosts(&c.fake, NS, "web");
    assert!(
        hosts.contains(&"web-acme.satusky.localhost".to_string()),
        "{hosts:?}"
    );
    let releases = json(&c.onectl(app.path(), &["app", "releases", "-o", "json"]));
    assert_eq!(releases[0]["status"], "active");
}

#[test]
fn crash_loop_exits_11_and_deadline_exceeded_fails() {
    let c = Cluster::start();
    let app = app_dir("crashy", "");
    let deploy = c.onectl_in_background(
        app.path(),
        &[
            "deploy",
            "--timeout",
            "60s",
            "--wait-for",
            "workload",
            "-o",
            "json",
        ],
    );
    c.wait_for("the Deployment", || {
        c.object("apps/v1", "Deployment", "crashy").is_some()
    });
    c.fake
        .crash_loop(
            NS,
            "crashy",
            Some("back-off restarting failed container app"),
        )
        .unwrap();
    let out = deploy.join().unwrap();
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["workload"]["reason"], "CrashLoopBackOff");
    assert!(
        report["workload"]["message"]
            .as_str()
            .unwrap()
            .contains("back-off restarting"),
        "{}",
        report["workload"]
    );

    let app = app_dir("stuck", "");
    let deploy = c.onectl_in_background(
        app.path(),
        &[
            "deploy",
            "--timeout",
            "60s",
            "--wait-for",
            "workload",
            "-o",
            "json",
        ],
    );
    c.wait_for("the Deployment", || {
        c.object("apps/v1", "Deployment", "stuck").is_some()
    });
    c.fake.stall_rollout(NS, "stuck").unwrap();
    let out = deploy.join().unwrap();
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["workload"]["state"], "failed");
    assert_eq!(report["workload"]["reason"], "ProgressDeadlineExceeded");
}

#[test]
fn an_active_release_going_crash_loop_is_seen_through_a_watch_and_seen_recovering() {
    // No periodic sweep during the test: any request to the API server comes from the watch.
    // DNS checks ask a resolver that does not answer: endpoint planes are not the subject.
    let c = Cluster::start_with("resolvers = [\"127.0.0.1:9\"]\n", "1h");
    let app = app_dir("steady", "");
    let deploy = c.onectl_in_background(
        app.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    c.wait_for("the Deployment", || {
        c.object("apps/v1", "Deployment", "steady").is_some()
    });
    c.fake.complete_rollout(NS, "steady").unwrap();
    let out = deploy.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // At rest once the deploy's endpoint check settled (its DNS resolver does not answer).
    c.wait_for("the deploy's work to finish", || {
        let s = c.status(app.path());
        s["phase"] != "rolling_out" && s["workload"]["state"] == "ready"
    });

    // Idle (once the deploy's endpoint check has given up, within 10 s): nothing reads the
    // cluster for 3 s on end.
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        c.fake.reset_stats();
        std::thread::sleep(Duration::from_secs(3));
        let idle = c.fake.stats();
        if (idle.get, idle.list) == (0, 0) {
            break;
        }
        assert!(Instant::now() < deadline, "never idle: {idle:?}");
    }
    // And it stays so: 6 s more without a read (no loop polls at any period under 9 s).
    c.fake.reset_stats();
    std::thread::sleep(Duration::from_secs(6));
    let idle = c.fake.stats();
    assert_eq!(
        (idle.get, idle.list),
        (0, 0),
        "no polling while idle: {idle:?}"
    );

    // The pods of the active release go CrashLoopBackOff: seen within 5 s, through the watch.
    let t0 = Instant::now();
    c.fake
        .crash_loop(
            NS,
            "steady",
            Some("back-off 10s restarting failed container app"),
        )
        .unwrap();
    c.wait_for("the workload plane to fail", || {
        c.status(app.path())["workload"]["reason"] == "CrashLoopBackOff"
    });
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "seen after {took:?}");
    let s = c.status(app.path());
    assert_eq!(s["workload"]["state"], "failed", "{s:#}");
    assert_eq!(s["phase"], "failed", "{s:#}");
    assert_eq!(s["active_release"], 1);
    assert!(
        s["workload"]["message"]
            .as_str()
            .unwrap()
            .contains("back-off 10s"),
        "{s:#}"
    );
    assert!(
        s["workload"]["remediation"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{s:#}"
    );
    let after = c.fake.stats();
    assert!(
        after.get + after.list <= 8,
        "a few reads after the event, not a polling loop: {after:?}"
    );

    // The pods recover: ready again by itself.
    c.fake.complete_rollout(NS, "steady").unwrap();
    c.wait_for("the workload plane to recover", || {
        let s = c.status(app.path());
        s["workload"]["state"] == "ready"
    });
}

#[test]
fn a_status_for_an_old_generation_never_counts_and_env_changes_roll_the_pods() {
    let c = Cluster::start();
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: false,
    });
    let app = app_dir("gen", "[env]\nCOLOR = \"green\"\n");
    let out = c.onectl(
        app.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hash = |c: &Cluster| {
        c.object("apps/v1", "Deployment", "gen").unwrap()["spec"]["template"]["metadata"]["annotations"]["satusky.io/config-hash"].clone()
    };
    let before = hash(&c);

    // Now the controller lags: the next spec change is not observed.
    c.fake.set_auto(fakekube::Auto {
        rollouts: false,
        routes: false,
    });
    let out = c.onectl(app.path(), &["deploy", "--env", "COLOR=blue", "--no-wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    c.wait_for("the new pod template", || hash(&c) != before);
    let d = c.object("apps/v1", "Deployment", "gen").unwrap();
    assert!(
        d["status"]["observedGeneration"].as_i64() < d["metadata"]["generation"].as_i64(),
        "{}",
        d["status"]
    );
    assert_eq!(
        d["status"]["readyReplicas"], 2,
        "the old status says all ready"
    );
    std::thread::sleep(Duration::from_secs(2));
    let st = c.status(app.path());
    assert_ne!(
        st["workload"]["state"], "ready",
        "a status for an old generation is never counted: {}",
        st["workload"]
    );
    assert_eq!(st["active_release"], 1);
    c.fake.complete_rollout(NS, "gen").unwrap();
    c.wait_for("v2 active", || c.status(app.path())["active_release"] == 2);
}

#[test]
fn route_plane_follows_httproute_and_gateway_status() {
    let c = Cluster::start();
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: false,
    });
    let app = app_dir("routed", "");
    let out = c.onectl(
        app.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let route_plane = |c: &Cluster| c.status(app.path())["endpoints"][0]["route"].clone();

    c.fake
        .set_route_status(
            NS,
            "routed",
            &RouteStatus::rejected("NotAllowedByListeners"),
        )
        .unwrap();
    c.wait_for("route plane failed", || {
        route_plane(&c)["state"] == "failed"
    });
    let plane = route_plane(&c);
    assert_eq!(plane["reason"], "NotAccepted");
    assert!(
        plane["message"]
            .as_str()
            .unwrap()
            .contains("NotAllowedByListeners"),
        "{plane}"
    );

    c.fake
        .set_route_status(NS, "routed", &RouteStatus::accepted())
        .unwrap();
    c.wait_for("route plane ready", || route_plane(&c)["state"] == "ready");

    c.fake
        .set_gateway_status(
            "satusky-system",
            "satusky",
            &GatewayStatus {
                programmed: false,
                addresses: vec![],
                reason: None,
            },
        )
        .unwrap();
    c.wait_for("route plane not ready", || {
        route_plane(&c)["state"] != "ready"
    });
    assert_eq!(route_plane(&c)["reason"], "GatewayNotProgrammed");
}

#[test]
fn removing_hpa_deletes_it_and_removing_a_domain_drops_it_from_the_route() {
    let c = Cluster::start();
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: true,
    });
    let with = app_dir(
        "prune",
        "[hpa]\nmin = 2\nmax = 3\n\n[[domains]]\nhost = \"shop.example.com\"\n",
    );
    let out = c.onectl(
        with.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        c.object("autoscaling/v2", "HorizontalPodAutoscaler", "prune")
            .is_some()
    );

    let without = app_dir("prune", "");
    let out = c.onectl(
        without.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        c.object("autoscaling/v2", "HorizontalPodAutoscaler", "prune")
            .is_none(),
        "the HPA is pruned"
    );
    let route = c
        .object("gateway.networking.k8s.io/v1", "HTTPRoute", "prune")
        .unwrap();
    assert_eq!(
        route["spec"]["hostnames"],
        json!(["prune-acme.satusky.localhost"])
    );
}

/// A build Job completed by fakekube with a digest pins the release; a failed Job exits 10
/// with the log tail (acceptance 5).
#[test]
fn build_jobs_pin_the_digest_or_fail_with_the_log_tail() {
    let c = Cluster::start_with_toml(
        "resolvers = [\"127.0.0.1:9\"]\nregistry = \"registry.test/satusky\"\nbuild_api_url = \"http://satusky.test:7070\"\nbuild_poll = \"100ms\"\n",
    );
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: false,
    });
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("satusky.toml"),
        "[app]\nname = \"built\"\nreplicas = 1\n\n[build]\ndockerfile = \"Dockerfile\"\n",
    )
    .unwrap();
    std::fs::write(app.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));

    let deploy = c.onectl_in_background(
        app.path(),
        &[
            "deploy",
            "--timeout",
            "60s",
            "--wait-for",
            "workload",
            "-o",
            "json",
        ],
    );
    c.wait_for("the build Job", || {
        c.object("batch/v1", "Job", "built-build-v1").is_some()
    });
    let job = c.object("batch/v1", "Job", "built-build-v1").unwrap();
    assert!(
        !job.to_string().contains("sbt_"),
        "the build token never appears in the Job"
    );
    c.fake
        .finish_job(
            NS,
            "built-build-v1",
            &fakekube::hooks::jobs::JobEnd {
                succeeded: true,
                logs: "INFO building layer one\nINFO Pushed image\n",
                message: &digest,
                exit_code: 0,
            },
        )
        .unwrap();
    let out = deploy.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pinned = format!("registry.test/satusky/acme/built@{digest}");
    let d = c.object("apps/v1", "Deployment", "built").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        pinned.as_str()
    );
    let report = json(&out);
    assert!(
        report["build"]["message"]
            .as_str()
            .unwrap()
            .contains(&digest),
        "{}",
        report["build"]
    );

    // A second release whose build fails: exit 10 with the log tail; v1 keeps running.
    std::fs::write(app.path().join("Dockerfile"), "FROM scratch\nRUN false\n").unwrap();
    let deploy = c.onectl_in_background(
        app.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    c.wait_for("the second build Job", || {
        c.object("batch/v1", "Job", "built-build-v2").is_some()
    });
    c.fake
        .finish_job(
            NS,
            "built-build-v2",
            &fakekube::hooks::jobs::JobEnd {
                succeeded: false,
                logs: "INFO RUN false\nerror building image: the-step-that-broke exited 1\n",
                message: "",
                exit_code: 1,
            },
        )
        .unwrap();
    let out = deploy.join().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the-step-that-broke"),
        "the log tail: {}",
        stderr(&out)
    );
    let d = c.object("apps/v1", "Deployment", "built").unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        pinned.as_str(),
        "v1 keeps running"
    );
}

/// A port free for UDP and TCP on loopback right now (the embedded DNS server binds both).
fn free_dns_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[test]
fn platform_zone_served_by_satusky_follows_the_gateway_and_heals() {
    // `dns_listen`: Satusky serves the platform zone itself, so its records are the
    // platform's to heal. TLS and HTTP go to a closed port: not the subject here.
    let port = free_dns_port();
    let c = Cluster::start_with_toml(&format!(
        "dns_listen = \"127.0.0.1:{port}\"\nprobe_edge = \"127.0.0.1:9\"\n"
    ));
    let app = app_dir("zoned", "");
    let deploy = c.onectl_in_background(
        app.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    c.wait_for("the Deployment", || {
        c.object("apps/v1", "Deployment", "zoned").is_some()
    });
    c.fake.complete_rollout(NS, "zoned").unwrap();
    let out = deploy.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let host = "zoned-acme.satusky.localhost";
    let dns_plane = |c: &Cluster| {
        c.status(app.path())["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["hostname"] == host)
            .map(|e| e["dns"].clone())
            .unwrap_or(Value::Null)
    };
    c.wait_for(
        "the platform record to answer with the Gateway's address",
        || {
            let p = dns_plane(&c);
            p["state"] == "ready" && p["message"].as_str().unwrap_or("").contains("203.0.113.7")
        },
    );

    // The Gateway's load balancer moves: the record no longer points at it. The drift
    // checker finds it (platform-owned) and heals it by writing the zone again.
    c.fake
        .set_gateway_status(
            "satusky-system",
            "satusky",
            &GatewayStatus::programmed(vec!["203.0.113.8".into()]),
        )
        .unwrap();
    let mut report = Value::Null;
    c.wait_for("the DNS drift to be found and healed", || {
        let out = c.onectl(app.path(), &["app", "drift", "--check", "-o", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        report = json(&out);
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["hostname"] == host && f["plane"] == "dns" && f["healed_at"].is_string())
    });
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["hostname"] == host && f["plane"] == "dns")
        .unwrap();
    assert_eq!(f["owner"], "platform", "{f:#}");
    assert!(
        f["observed"].as_str().unwrap().contains("203.0.113.7"),
        "{f:#}"
    );
    assert!(
        f["expected"].as_str().unwrap().contains("203.0.113.8"),
        "{f:#}"
    );
    c.wait_for("the record to answer with the new address", || {
        let p = dns_plane(&c);
        p["state"] == "ready" && p["message"].as_str().unwrap_or("").contains("203.0.113.8")
    });
}

/// Issue 13, acceptance 1 on Kubernetes: another org's HTTPRoute, ListenerSet and Certificate
/// never carry a hostname before that org's own proof; once the DNS says the other org (its
/// TXT value replaces acme's), the hostname moves: the other org's route carries it, acme's
/// no longer does, and acme's claim reads `lost`.
#[test]
fn another_orgs_route_never_carries_a_hostname_before_its_proof_then_takes_it_over() {
    const HOST: &str = "web.example.com";
    let port = free_port();
    let c = Cluster::start_with_toml(&dns_toml(port, &[("acme", HOST)]));
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: true,
    });
    let web = app_dir("web", &format!("[[domains]]\nhost = \"{HOST}\"\n"));
    let out = c.onectl(
        web.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    c.wait_for("acme's route to carry the proven host", || {
        route_hosts(&c.fake, NS, "web").contains(&HOST.to_string())
    });
    assert!(host_in_listeners_or_certificates(&c.fake, NS, HOST));

    let other = create_token(c._state.path(), "other");
    let squat = app_dir("squat", &format!("[[domains]]\nhost = \"{HOST}\"\n"));
    let as_other =
        |args: &[&str]| onectl(squat.path(), c.home.path(), &c.server.url(), &other, args);
    let out = as_other(&["deploy", "--timeout", "60s", "--wait-for", "workload"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let theirs = "satusky-other";
    for _ in 0..10 {
        // Several ownership lookups pass: nothing of the other org ever names the host.
        let hosts = route_hosts(&c.fake, theirs, "squat");
        assert_eq!(hosts, ["squat-other.satusky.localhost"], "{hosts:?}");
        assert!(!host_in_listeners_or_certificates(&c.fake, theirs, HOST));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        route_hosts(&c.fake, NS, "web").contains(&HOST.to_string()),
        "acme unaffected"
    );
    let list = json(&as_other(&["domains", "list", "-o", "json"]));
    let claim = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["hostname"] == HOST)
        .unwrap();
    assert_eq!(claim["ownership"]["state"], "pending", "{list:#}");
    assert_eq!(
        claim["ownership"]["txt_value"],
        satusky_core::ownership::txt_value("other", HOST),
        "{list:#}"
    );

    // The DNS now holds the other org's value only (the server reloads server.toml).
    std::fs::write(
        c._state.path().join("server.toml"),
        dns_toml(port, &[("other", HOST)]),
    )
    .unwrap();
    c.wait_for("the other org's proof to be seen", || {
        let out = as_other(&["domains", "check", HOST, "-o", "json"]);
        json(&out)["ownership"]["state"] == "ready"
    });
    c.wait_for("the hostname to move", || {
        route_hosts(&c.fake, theirs, "squat").contains(&HOST.to_string())
            && !route_hosts(&c.fake, NS, "web").contains(&HOST.to_string())
    });
    assert!(host_in_listeners_or_certificates(&c.fake, theirs, HOST));
    let mine = json(&c.onectl(web.path(), &["domains", "list", "-o", "json"]));
    let lost = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["hostname"] == HOST)
        .unwrap();
    assert_eq!(lost["ownership"]["state"], "lost", "{mine:#}");
}

#[test]
fn a_secret_set_rolls_the_pods_through_the_hash_and_only_the_secret_holds_the_value() {
    let (c, _keys) = Cluster::with_secret_key();
    let app = app_dir("sec", "");
    let wait = ["--wait-for", "workload", "--timeout", "60s"];
    let out = c.onectl(app.path(), &[&["deploy"][..], &wait].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hash = |c: &Cluster| {
        c.object("apps/v1", "Deployment", "sec").unwrap()["spec"]["template"]["metadata"]
            ["annotations"]["satusky.io/config-hash"]
            .clone()
    };
    let before = hash(&c);

    let value = format!(
        "kube-s3cr3t-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let set = format!("API_KEY={value}");
    let out = c.onectl(app.path(), &[&["secret", "set", &set][..], &wait].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("release v2 rolls the secret change out"),
        "{}",
        stderr(&out)
    );
    let after = hash(&c);
    assert_ne!(after, before, "a new secret version rolls the pods");
    let secret = c.object("v1", "Secret", "sec-secrets").unwrap();
    assert_eq!(
        secret["data"]["API_KEY"],
        fakekube::meta::base64(value.as_bytes())
    );
    let encoded = fakekube::meta::base64(value.as_bytes());
    for obj in c.fake.all_objects() {
        if obj["kind"] == "Secret" && obj["metadata"]["name"] == "sec-secrets" {
            continue;
        }
        let text = obj.to_string();
        assert!(
            !text.contains(&value) && !text.contains(&encoded),
            "{} {} carries the value",
            obj["kind"],
            obj["metadata"]["name"]
        );
    }

    // The same value again: no release, no rollout, and it says so.
    let out = c.onectl(app.path(), &["secret", "set", &set]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no secret changed"),
        "{}",
        stderr(&out)
    );
    let releases = json(&c.onectl(app.path(), &["app", "releases", "-o", "json"]));
    assert_eq!(releases.as_array().unwrap().len(), 2, "{releases}");
    assert_eq!(hash(&c), after);
}

#[test]
fn logs_of_the_apps_pods_come_merged_with_their_release_and_pod() {
    let c = Cluster::start();
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: false,
    });
    let app = app_dir("chat", "");
    let out = c.onectl(
        app.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // fakekube plays the Deployment controller (a ReplicaSet carrying the Deployment's
    // annotations); the test makes two pods of its own to write the logs it reads.
    let rs = c
        .fake
        .all_objects()
        .into_iter()
        .find(|o| {
            o["kind"] == "ReplicaSet" && o["metadata"]["ownerReferences"][0]["name"] == "chat"
        })
        .expect("the Deployment's ReplicaSet");
    assert_eq!(
        rs["metadata"]["annotations"]["satusky.io/release"], "1",
        "{rs}"
    );
    let labels = rs["spec"]["template"]["metadata"]["labels"].clone();
    let pods = vec!["chat-7d9f-a".to_string(), "chat-7d9f-b".to_string()];
    c._rt.block_on(async {
        let client = c.fake.client();
        let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
            client,
            NS,
            &kube::api::ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "Pod".into(),
                plural: "pods".into(),
            },
        );
        for name in &pods {
            let pod: kube::api::DynamicObject = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": labels,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"],
                        "controller": true}]},
                "spec": {"containers": [{"name": "chat", "image": "i"}]}
            }))
            .unwrap();
            api.create(&kube::api::PostParams::default(), &pod)
                .await
                .expect("pod");
        }
    });
    let t0: i128 = 1_796_000_000_000_000_000;
    c.fake
        .append_log_at(NS, &pods[1], "chat", "second pod, first line\n", t0);
    c.fake.append_log_at(
        NS,
        &pods[0],
        "chat",
        "first pod, later line\n",
        t0 + 5_000_000,
    );
    let out = c.onectl(app.path(), &["logs", "--tail", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!("v1#{}| second pod, first line", pods[1]),
            format!("v1#{}| first pod, later line", pods[0]),
        ],
        "merged in time order, each with its release and pod"
    );
}

#[test]
fn scale_sets_the_deployments_replicas_and_restart_stamps_its_pod_template() {
    let c = Cluster::start();
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: false,
    });
    let app = app_dir("ops", "");
    let wait = ["--timeout", "60s"];
    let out = c.onectl(
        app.path(),
        &[&["deploy", "--wait-for", "workload"][..], &wait].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let deployment = |c: &Cluster| c.object("apps/v1", "Deployment", "ops").unwrap();

    let out = c.onectl(app.path(), &[&["app", "scale", "4"][..], &wait].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = deployment(&c);
    assert_eq!(d["spec"]["replicas"], 4);
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["satusky.io/restarted-at"].is_null(),
        "a scale does not roll the pods: {d}"
    );
    let status = json(&c.onectl(app.path(), &["app", "status", "-o", "json"]));
    assert_eq!(status["workload"]["replicas"]["ready"], 4);

    let out = c.onectl(app.path(), &[&["app", "restart"][..], &wait].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = deployment(&c);
    let stamp = d["spec"]["template"]["metadata"]["annotations"]["satusky.io/restarted-at"]
        .as_str()
        .unwrap_or_else(|| panic!("the pod template is stamped: {d}"))
        .to_string();
    assert!(stamp.ends_with('Z'), "RFC 3339: {stamp}");
    assert_eq!(d["spec"]["replicas"], 4, "a restart keeps the scaled count");
    let releases = json(&c.onectl(app.path(), &["app", "releases", "-o", "json"]));
    assert_eq!(
        releases.as_array().unwrap().len(),
        1,
        "neither is a release"
    );
}

/// Issue 16, acceptance 4: an app with a (ReadWriteOnce) volume rolls out with `Recreate`
/// and completes — fakekube stalls a surging rollout whose new pod needs the claim the old
/// pods hold, so a rolling render would time out here —; the claim outlives `[volume]`
/// leaving the spec and `app destroy`, which says so; `--purge-volumes` deletes it.
#[test]
fn a_volume_rolls_with_recreate_and_outlives_the_spec_and_destroy_until_purged() {
    let c = Cluster::start();
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: true,
    });
    let volume = "[volume]\nsize = \"5Gi\"\nmount = \"/data\"\n";
    let deploy = |dir: &Path| {
        let out = c.onectl(
            dir,
            &["deploy", "--timeout", "60s", "--wait-for", "workload"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    };
    let v1 = app_dir("db", volume);
    deploy(v1.path());
    let claim = c
        .object("v1", "PersistentVolumeClaim", "db-data")
        .expect("the claim");
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    let d = c.object("apps/v1", "Deployment", "db").unwrap();
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));

    // A new pod template while the old pods hold the claim: Recreate completes.
    let v2 = app_dir("db", &format!("{volume}\n[env]\nV = \"2\"\n"));
    deploy(v2.path());
    let status = c.status(v2.path());
    assert_eq!(status["workload"]["state"], "ready", "{status}");

    // `[volume]` leaves the spec: the claim is kept (not pruned), the rest follows.
    let without = app_dir("db", "");
    deploy(without.path());
    let d = c.object("apps/v1", "Deployment", "db").unwrap();
    assert!(d["spec"]["template"]["spec"]["volumes"].is_null(), "{d}");
    assert!(c.object("v1", "PersistentVolumeClaim", "db-data").is_some());

    // Destroy keeps the claim and says so, with how to delete it.
    let out = c.onectl(without.path(), &["app", "destroy", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = common::stdout(&out);
    assert!(
        said.contains("kept volume: persistentvolumeclaim satusky-acme/db-data (5Gi)"),
        "{said}"
    );
    assert!(said.contains("--purge-volumes"), "{said}");
    c.wait_for("the Deployment removed", || {
        c.object("apps/v1", "Deployment", "db").is_none()
    });
    assert!(c.object("v1", "PersistentVolumeClaim", "db-data").is_some());

    // Deployed again under the same name: the kept claim is its volume again. Destroyed
    // with --purge-volumes: the claim goes once the workload is removed.
    deploy(v1.path());
    let out = c.onectl(
        v1.path(),
        &["app", "destroy", "--yes", "--purge-volumes", "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let gone = json(&out);
    assert_eq!(
        gone["volumes_purged"],
        json!(["persistentvolumeclaim satusky-acme/db-data (5Gi)"])
    );
    assert_eq!(gone["volumes_kept"], json!([]));
    c.wait_for("the claim deleted", || {
        c.object("v1", "PersistentVolumeClaim", "db-data").is_none()
    });
    assert!(c.object("apps/v1", "Deployment", "db").is_none());

    // Nothing left: a destroy (with or without purge) of the gone app is a 404 (exit 3?).
    let out = c.onectl(v1.path(), &["app", "destroy", "--yes", "--purge-volumes"]);
    assert_ne!(out.status.code(), Some(0), "{}", common::stdout(&out));
}

/// Issue 16, acceptance 4 through the marketplace: the redis template on Kubernetes is the
/// official image with a ReadWriteOnce claim, rolled with `Recreate` (a redeploy with a new
/// value completes while the old pod holds the claim); its release says `template(redis@2)`;
/// `app destroy` leaves the claim and says so; `--purge-volumes` removes it.
#[test]
fn the_redis_template_rolls_with_recreate_and_its_claim_outlives_destroy_until_purged() {
    let (c, _keys) = Cluster::with_secret_key();
    let here = tempfile::tempdir().unwrap();
    let wait = ["--wait-for", "workload", "--timeout", "60s"];
    let out = c.onectl(
        here.path(),
        &[&["marketplace", "deploy", "redis", "cache"][..], &wait].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = c.object("apps/v1", "Deployment", "cache").unwrap();
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "redis:7"
    );
    let claim = c
        .object("v1", "PersistentVolumeClaim", "cache-data")
        .unwrap();
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert!(
        c.object("gateway.networking.k8s.io/v1", "HTTPRoute", "cache")
            .is_none()
    );
    let out = c.onectl(here.path(), &["app", "releases", "cache", "-o", "json"]);
    assert_eq!(json(&out)[0]["source"], "template(redis@2)");

    // A new value: a new pod template while the old pod holds the claim; Recreate completes.
    let out = c.onectl(
        here.path(),
        &[
            &[
                "marketplace",
                "deploy",
                "redis",
                "cache",
                "--set",
                "memory=512Mi",
            ][..],
            &wait,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = c.onectl(here.path(), &["app", "destroy", "cache", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = common::stdout(&out);
    assert!(
        said.contains("kept volume: persistentvolumeclaim satusky-acme/cache-data (1Gi)"),
        "{said}"
    );
    c.wait_for("the Deployment removed", || {
        c.object("apps/v1", "Deployment", "cache").is_none()
    });
    assert!(
        c.object("v1", "PersistentVolumeClaim", "cache-data")
            .is_some()
    );
    let out = c.onectl(
        here.path(),
        &["app", "destroy", "cache", "--yes", "--purge-volumes"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    c.wait_for("the claim purged", || {
        c.object("v1", "PersistentVolumeClaim", "cache-data")
            .is_none()
    });
}

/// A destroy without --purge-volumes keeps the claim; a second destroy of the gone app with
/// --purge-volumes deletes what it kept.
#[test]
fn a_destroyed_apps_kept_volume_is_purged_by_a_second_destroy() {
    let c = Cluster::start();
    c.fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: true,
    });
    let app = app_dir("cache", "[volume]\nsize = \"1Gi\"\nmount = \"/data\"\n");
    let out = c.onectl(
        app.path(),
        &["deploy", "--timeout", "60s", "--wait-for", "workload"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = c.onectl(app.path(), &["app", "destroy", "--yes", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(&out)["volumes_kept"],
        json!(["persistentvolumeclaim satusky-acme/cache-data (1Gi)"])
    );
    // Gone, its volume kept: a plain destroy says what it left and how to delete it.
    let out = c.onectl(app.path(), &["app", "destroy", "--yes"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("purge_volumes"), "{}", stderr(&out));
    let out = c.onectl(app.path(), &["app", "destroy", "--yes", "--purge-volumes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = common::stdout(&out);
    assert!(
        said.contains("deleted the volumes app cache left in org acme")
            && said.contains("deleted volume: persistentvolumeclaim satusky-acme/cache-data (1Gi)"),
        "{said}"
    );
    assert!(
        c.object("v1", "PersistentVolumeClaim", "cache-data")
            .is_none()
    );
}

#[test]
fn a_tcp_app_gets_a_tcp_probe_no_route_and_its_service_dns_name_as_internal_address() {
    let c = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("satusky.toml"),
        "[app]\nname = \"cache\"\nport = 6379\nexpose = \"tcp\"\nimage = \"redis:7\"\n",
    )
    .unwrap();
    let deploy = c.onectl_in_background(dir.path(), &["deploy", "--timeout", "60s", "-o", "json"]);
    c.wait_for("the Deployment", || {
        c.object("apps/v1", "Deployment", "cache").is_some()
    });
    c.fake.complete_rollout(NS, "cache").unwrap();
    let out = deploy.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["phase"], "ready", "{report}");
    assert_eq!(report["endpoints"][0]["route"]["reason"], "NotPublic");
    assert_eq!(
        report["internal_address"],
        format!("cache.{NS}.svc.cluster.local:6379")
    );
    let deployment = c.object("apps/v1", "Deployment", "cache").unwrap();
    let probe = &deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
    assert_eq!(probe["tcpSocket"]["port"], "http", "{probe}");
    let service = c.object("v1", "Service", "cache").unwrap();
    assert_eq!(service["spec"]["ports"][0]["port"], 6379, "{service}");
    assert!(
        c.object("gateway.networking.k8s.io/v1", "HTTPRoute", "cache")
            .is_none(),
        "no route for a tcp app"
    );
    let got = json(&c.onectl(dir.path(), &["app", "get", "-o", "json"]));
    assert_eq!(got["internal_address"], report["internal_address"]);
}

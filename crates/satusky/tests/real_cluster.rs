//! The server and the CLI against a real cluster (issue "Kubernetes runtime", acceptance 6):
//! what fakekube can get wrong — a real kube-controller-manager rolling nginx out and rolling
//! it again on an env change, a real kubelet failing to pull an image, real garbage collection
//! after `app destroy`. Every test is ignored unless asked for:
//!
//! ```text
//! SATUSKY_E2E_KUBECONFIG=FILE cargo test -p satusky --test real_cluster -- --ignored
//! ```
//!
//! The cluster needs: the kubeconfig's user allowed to create namespaces and everything in
//! them (cluster-admin on a disposable cluster: kind, k3d, minikube), the Gateway API CRDs
//! (standard channel: every app gets an HTTPRoute), and nodes that can pull `nginx:1.27` from
//! Docker Hub. A Gateway is not needed: the tests wait for the workload only. Optionally
//! `SATUSKY_E2E_GATEWAY=NAMESPACE/NAME` names the platform Gateway the routes attach to.
//!
//! Each test uses an org of its own (`e2e` + a random suffix, namespace `satusky-e2e…`) and
//! deletes that namespace when it ends, pass or fail. `cargo test --workspace` builds `1ctl`
//! next to `satusky`; with `-p satusky` alone, run `cargo build -p onectl` first.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{json, onectl, stderr};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// The environment variable naming the cluster's kubeconfig.
const KUBECONFIG_ENV: &str = "SATUSKY_E2E_KUBECONFIG";
/// Optional: the platform Gateway (`NAMESPACE/NAME`) written into server.toml.
const GATEWAY_ENV: &str = "SATUSKY_E2E_GATEWAY";
/// The image that must roll out.
const IMAGE: &str = "nginx:1.27";
/// An image that cannot be pulled: the tag does not exist.
const MISSING_IMAGE: &str = "docker.io/library/nginx:satusky-e2e-no-such-tag";
/// Our objects carry these (SPEC §8).
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const ORG_LABEL: &str = "satusky.io/org";
const APP_LABEL: &str = "satusky.io/app";
const CONFIG_HASH: &str = "satusky.io/config-hash";

/// A `satusky serve --runtime kubernetes` on loopback driving the cluster, an org of its own,
/// and a kube client for checking what landed in the cluster.
struct RealCluster {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
    org: String,
    ns: String,
    server: common::Server,
    token: String,
    home: tempfile::TempDir,
    _state: tempfile::TempDir,
}

impl RealCluster {
    fn start() -> RealCluster {
        let kubeconfig = kubeconfig_path();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let client = rt.block_on(client(&kubeconfig));
        rt.block_on(preflight(&client, &kubeconfig));

        let org = unique_org();
        let ns = satusky_kube::render::names::default_namespace(&org);
        let state = tempfile::tempdir().expect("state dir");
        // Endpoint planes (DNS, TLS, HTTP) are not the subject: the prober asks a resolver that
        // does not answer, and the tests wait for the workload only.
        let mut server_toml = String::from("resolvers = [\"127.0.0.1:9\"]\n");
        if let Ok(gw) = std::env::var(GATEWAY_ENV) {
            server_toml.push_str(&format!("gateway = {gw:?}\n"));
        }
        std::fs::write(state.path().join("server.toml"), server_toml).expect("server.toml");
        let server = common::serve_kubernetes(state.path(), &kubeconfig, "2s");
        let token = common::create_token(state.path(), &org);
        eprintln!("real cluster: org {org}, namespace {ns}");
        RealCluster {
            rt,
            client,
            org,
            ns,
            server,
            token,
            home: tempfile::tempdir().expect("home"),
            _state: state,
        }
    }

    fn onectl(&self, dir: &Path, args: &[&str]) -> Output {
        onectl(dir, self.home.path(), &self.server.url(), &self.token, args)
    }

    /// `1ctl deploy -o json --wait-for workload` plus `extra`; prints what it got.
    fn deploy(&self, dir: &Path, extra: &[&str]) -> (Output, Value) {
        let mut args = vec!["deploy", "-o", "json", "--wait-for", "workload"];
        args.extend_from_slice(extra);
        let t0 = Instant::now();
        let out = self.onectl(dir, &args);
        eprintln!(
            "1ctl {} → exit {:?} after {:.1}s",
            args.join(" "),
            out.status.code(),
            t0.elapsed().as_secs_f64()
        );
        let report = json(&out);
        (out, report)
    }

    fn api(&self, group: &str, version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &resource(group, version, kind, plural),
        )
    }

    /// One object as JSON, or `None` when it does not exist.
    fn get(&self, api: &Api<DynamicObject>, name: &str) -> Option<Value> {
        self.rt
            .block_on(api.get_opt(name))
            .unwrap_or_else(|e| panic!("GET {name}: {e}"))
            .map(|o| serde_json::to_value(o).expect("object as JSON"))
    }

    /// Objects of `api` selected by `selector`, as JSON; `None` when the cluster does not
    /// serve the kind (404).
    fn list(&self, api: &Api<DynamicObject>, selector: &str) -> Option<Vec<Value>> {
        match self
            .rt
            .block_on(api.list(&ListParams::default().labels(selector)))
        {
            Ok(list) => Some(
                list.items
                    .into_iter()
                    .map(|o| serde_json::to_value(o).expect("object as JSON"))
                    .collect(),
            ),
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => panic!("LIST with {selector}: {e}"),
        }
    }

    /// The selector of everything we render for `app`.
    fn ours(&self, app: &str) -> String {
        format!(
            "{MANAGED_BY}=satusky,{ORG_LABEL}={},{APP_LABEL}={app}",
            self.org
        )
    }

    /// `Kind/name` of every object of a kind Satusky manages that still carries the app's
    /// labels.
    fn labelled(&self, app: &str) -> Vec<String> {
        let mut found = Vec::new();
        for k in satusky_kube::kinds::MANAGED {
            let api = self.api(k.group, k.version, k.kind, k.plural);
            for o in self.list(&api, &self.ours(app)).unwrap_or_default() {
                found.push(format!("{}/{}", k.kind, name(&o)));
            }
        }
        found
    }

    fn replica_sets(&self, app: &str) -> Vec<Value> {
        self.list(
            &self.api("apps", "v1", "ReplicaSet", "replicasets"),
            &self.ours(app),
        )
        .unwrap_or_default()
    }

    fn pods(&self, app: &str) -> Vec<Value> {
        self.list(&self.api("", "v1", "Pod", "pods"), &self.ours(app))
            .unwrap_or_default()
    }
}

impl Drop for RealCluster {
    /// Stop the server (so nothing re-applies), then delete the org's namespace and wait a
    /// little for it to go. Never panics: a failed cleanup is reported, not fatal.
    fn drop(&mut self) {
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
        let api: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &resource("", "v1", "Namespace", "namespaces"),
        );
        let ns = self.ns.clone();
        self.rt.block_on(async {
            match api.delete(&ns, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => return,
                Err(e) => {
                    eprintln!("cleanup: deleting namespace {ns} failed: {e}; delete it by hand");
                    return;
                }
            }
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                match api.get_opt(&ns).await {
                    Ok(None) => return,
                    Ok(Some(_)) | Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
                }
            }
            eprintln!("cleanup: namespace {ns} is still terminating after 120s");
        });
    }
}

/// The kubeconfig named by `SATUSKY_E2E_KUBECONFIG`; fails clearly when it is unset or absent.
fn kubeconfig_path() -> PathBuf {
    let Some(path) = std::env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty()) else {
        panic!(
            "{KUBECONFIG_ENV} is not set: these tests need a disposable cluster. Run them with \
             {KUBECONFIG_ENV}=/path/to/kubeconfig cargo test -p satusky --test real_cluster -- --ignored"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{KUBECONFIG_ENV}={} is not a readable file",
        path.display()
    );
    path
}

/// A kube client from the file, built the way `satusky serve --kubeconfig` builds its own.
async fn client(path: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={}: {e}", path.display()));
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={} is not usable: {e}", path.display()));
    kube::Client::try_from(config).expect("kube client")
}

/// The cluster answers and serves HTTPRoutes; otherwise say what is missing.
async fn preflight(client: &kube::Client, path: &Path) {
    let version = client.apiserver_version().await.unwrap_or_else(|e| {
        panic!(
            "the cluster of {KUBECONFIG_ENV}={} does not answer: {e}",
            path.display()
        )
    });
    eprintln!(
        "real cluster: Kubernetes {}.{} ({})",
        version.major, version.minor, version.git_version
    );
    let served = client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
        .map(|l| l.resources.iter().any(|r| r.name == "httproutes"))
        .unwrap_or(false);
    assert!(
        served,
        "the cluster does not serve gateway.networking.k8s.io/v1 HTTPRoutes: install the Gateway \
         API CRDs (standard channel), e.g. kubectl apply --server-side -f \
         https://github.com/kubernetes-sigs/gateway-api/releases/latest/download/standard-install.yaml"
    );
}

/// `e2e` + 8 hex digits: a valid org name (≤ 20 lowercase letters and digits) unlikely to
/// collide with an earlier or parallel run.
fn unique_org() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
    let mix = nanos
        .wrapping_mul(2_654_435_761)
        .wrapping_add(std::process::id().wrapping_mul(40_503));
    format!("e2e{mix:08x}")
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn name(o: &Value) -> String {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn managers(o: &Value) -> Vec<String> {
    o.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m["manager"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Wait until `f` holds, or fail with `what` (and the last state `f` left in `last`).
fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(()) => return,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

fn app_dir(name: &str, image: &str, deadline: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("app dir");
    std::fs::write(
        dir.path().join("satusky.toml"),
        format!(
            "[app]\nname = \"{name}\"\nimage = \"{image}\"\nport = 80\nreplicas = 2\n\n\
             [checks]\npath = \"/\"\n\n[deploy]\nprogress_deadline = \"{deadline}\"\n\n\
             [env]\nCOLOR = \"green\"\n"
        ),
    )
    .expect("write satusky.toml");
    dir
}

#[test]
#[ignore = "needs a cluster: SATUSKY_E2E_KUBECONFIG=FILE cargo test -p satusky --test real_cluster -- --ignored"]
fn nginx_rolls_out_rolls_again_on_an_env_change_and_is_destroyed() {
    let c = RealCluster::start();
    let app = app_dir("web", IMAGE, "5m");

    // A real controller manager and kubelet roll it out.
    let (out, report) = c.deploy(app.path(), &["--timeout", "5m"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{report}", stderr(&out));
    assert_eq!(
        report["workload"]["state"], "ready",
        "{}",
        report["workload"]
    );

    // The objects exist, applied by our field manager, with our labels.
    let deployments = c.api("apps", "v1", "Deployment", "deployments");
    for (kind, api, obj_name) in [
        (
            "ConfigMap",
            c.api("", "v1", "ConfigMap", "configmaps"),
            "web-env",
        ),
        ("Service", c.api("", "v1", "Service", "services"), "web"),
        ("Deployment", deployments.clone(), "web"),
        (
            "HTTPRoute",
            c.api("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
            "web",
        ),
    ] {
        let obj = c
            .get(&api, obj_name)
            .unwrap_or_else(|| panic!("{kind} {obj_name} exists"));
        let labels = &obj["metadata"]["labels"];
        assert_eq!(labels[MANAGED_BY], "satusky", "{kind}: {labels}");
        assert_eq!(labels[ORG_LABEL], c.org.as_str(), "{kind}: {labels}");
        assert_eq!(labels[APP_LABEL], "web", "{kind}: {labels}");
        assert!(
            managers(&obj).iter().any(|m| m == "satusky"),
            "{kind} {obj_name} managed by satusky: {:?}",
            managers(&obj)
        );
    }
    let deploy = c.get(&deployments, "web").expect("Deployment web");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        IMAGE
    );
    assert_eq!(deploy["status"]["readyReplicas"], 2, "{}", deploy["status"]);
    let hash_before = deploy["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH].clone();
    let rs_before: Vec<String> = c.replica_sets("web").iter().map(name).collect();
    assert_eq!(rs_before.len(), 1, "one ReplicaSet after the first rollout");

    // An env change rolls the pods: a new ReplicaSet, its pods ready, the old one scaled down.
    let (out, report) = c.deploy(app.path(), &["--timeout", "5m", "--env", "COLOR=blue"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{report}", stderr(&out));
    assert_eq!(
        report["workload"]["state"], "ready",
        "{}",
        report["workload"]
    );
    let deploy = c.get(&deployments, "web").expect("Deployment web");
    assert_ne!(
        deploy["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH], hash_before,
        "the env change changed the pod template"
    );
    let config_map = c
        .get(&c.api("", "v1", "ConfigMap", "configmaps"), "web-env")
        .expect("ConfigMap web-env");
    assert_eq!(
        config_map["data"]["COLOR"], "blue",
        "{}",
        config_map["data"]
    );
    let replica_sets = c.replica_sets("web");
    let new: Vec<&Value> = replica_sets
        .iter()
        .filter(|rs| !rs_before.contains(&name(rs)))
        .collect();
    assert_eq!(
        new.len(),
        1,
        "one new ReplicaSet: {:?}",
        replica_sets.iter().map(name).collect::<Vec<_>>()
    );
    let new_rs = name(new[0]);
    assert_eq!(new[0]["status"]["readyReplicas"], 2, "{}", new[0]["status"]);
    wait_for(
        "the old ReplicaSet scaled to 0",
        Duration::from_secs(120),
        || {
            let old: Vec<Value> = c
                .replica_sets("web")
                .into_iter()
                .filter(|rs| rs_before.contains(&name(rs)))
                .collect();
            match old.iter().find(|rs| rs["spec"]["replicas"] != 0) {
                Some(rs) => Err(format!("{} wants {}", name(rs), rs["spec"]["replicas"])),
                None => Ok(()),
            }
        },
    );
    let pods = c.pods("web");
    let ready_new = pods
        .iter()
        .filter(|p| {
            p["metadata"]["ownerReferences"][0]["name"] == new_rs.as_str()
                && p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .count();
    assert_eq!(ready_new, 2, "two ready pods of {new_rs}");

    // Destroy: every labelled object goes; the cluster's garbage collector takes the rest.
    let out = c.onectl(app.path(), &["app", "destroy", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for(
        "the app's objects deleted",
        Duration::from_secs(120),
        || match c.labelled("web") {
            left if left.is_empty() => Ok(()),
            left => Err(format!("still there: {left:?}")),
        },
    );
    wait_for(
        "the app's ReplicaSets and pods collected",
        Duration::from_secs(180),
        || {
            let left: Vec<String> = c
                .replica_sets("web")
                .iter()
                .chain(c.pods("web").iter())
                .map(name)
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("still there: {left:?}"))
            }
        },
    );
}

#[test]
#[ignore = "needs a cluster: SATUSKY_E2E_KUBECONFIG=FILE cargo test -p satusky --test real_cluster -- --ignored"]
fn an_image_that_cannot_be_pulled_fails_with_the_kubelets_reason() {
    let c = RealCluster::start();
    let app = app_dir("nopull", MISSING_IMAGE, "60s");
    let (out, report) = c.deploy(app.path(), &["--timeout", "3m"]);
    assert_eq!(out.status.code(), Some(11), "{}\n{report}", stderr(&out));
    let workload = &report["workload"];
    assert_eq!(workload["state"], "failed", "{workload}");
    let reason = workload["reason"].as_str().unwrap_or_default();
    assert!(
        reason == "ImagePullBackOff" || reason == "ErrImagePull",
        "the kubelet's reason, before the 60s progress deadline: {workload}"
    );
    let message = workload["message"].as_str().unwrap_or_default();
    assert!(message.contains("pod nopull-"), "names the pod: {workload}");

    let out = c.onectl(app.path(), &["app", "destroy", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_for(
        "the app's objects deleted",
        Duration::from_secs(120),
        || match c.labelled("nopull") {
            left if left.is_empty() => Ok(()),
            left => Err(format!("still there: {left:?}")),
        },
    );
}

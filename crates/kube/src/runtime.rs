//! `KubeRuntime`: the Kubernetes implementation of `satusky_core::runtime::Runtime`. Apply is
//! render → server-side apply → prune; observe reads the Deployment (and its pods only when
//! something is not ready); routes read the app's HTTPRoutes and the parent Gateway, whose
//! addresses also become the edge the DNS plane expects. `served_hosts` reads back what the
//! app's HTTPRoutes serve (for the drift checker); `heal` forgets what the applier believes it
//! sent, then applies, so server-side apply takes back fields edited out of band.
//!
//! The platform zone: when the control plane serves it itself ([`KubeRuntime::with_zone`]),
//! every apply and heal writes the app's hostnames inside the zone, pointing at the Gateway's
//! current addresses (read fresh, so a Gateway that moved is followed by the next heal), and
//! `remove` drops them. Without a zone, DNS is someone else's (external-dns, a wildcard
//! record) and a DNS finding stays open until that owner fixes it.
//!
//! Secrets: the app's secrets arrive opened in memory in `DesiredWorkload::secrets`. Their
//! names and versions go to the render (the Secret `{app}-secrets` with the versions
//! annotated, the pod template's config hash over env values and versions, so a new version
//! rolls the pods); their values go only to [`Applier::apply_with_secrets`], which fills the
//! Secret's `data` on the request body just before sending it (see `crate::apply`). No value
//! is logged, rendered into another object, or kept. An app without secrets renders no Secret
//! and its pods reference none.
//!
//! Certificates: each custom domain (a hostname outside the zone) gets a cert-manager
//! Certificate from the render; `certificates` reads it back (and, while it is not ready, the
//! namespace's CertificateRequests, Orders and Challenges) into the issuance step of the TLS
//! plane ([`crate::issuance`]).

use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use satusky_core::ForeignError;
use satusky_core::changes::WorkloadChanges;
use satusky_core::error_chain;
use satusky_core::hostnames::Zone;
use satusky_core::runtime::{
    BoxFuture, BuildFailure, BuildOutput, BuildRequest, DesiredWorkload, DnsZone, EdgeInfo,
    InternalAddress, LogQuery, LogSink, Runtime, RuntimeError, RuntimeErrorKind, ServedHost,
    WorkloadObservation,
};
use satusky_types::{Hostname, Plane, PlaneState, Reason};

use crate::apply::Applier;
use crate::issuance;
use crate::kinds;
use crate::observe::{self, ParentRef};
use crate::render::labels::{APP, MANAGED_BY, MANAGER, ORG};
use crate::render::names::{default_namespace, per_host};
use crate::render::{GatewayRef, IssuerRef, RenderInput, SecretRef, render};

/// How the runtime renders and where it looks.
#[derive(Debug, Clone)]
pub struct KubeConfig {
    /// The platform zone: its hostnames are served by the Gateway's own listener (a wildcard
    /// certificate there is the platform's business); every hostname outside it is a custom
    /// domain with a ListenerSet listener and a cert-manager Certificate.
    pub zone: Zone,
    pub gateway: GatewayRef,
    /// The cert-manager issuer of custom domains' Certificates (default: ClusterIssuer
    /// `satusky-acme`, see [`IssuerRef`]); its name is quoted in the TLS plane.
    pub issuer: IssuerRef,
    /// Where the prober connects for TLS/HTTP (`None`: the resolved address on 443).
    pub probe_addr: Option<std::net::SocketAddr>,
}

/// Builds images (Kaniko Jobs); optional so a runtime without a registry still runs images.
pub trait ImageBuilder: Send + Sync + 'static {
    fn build(
        &self,
        req: BuildRequest,
        log: LogSink,
    ) -> BoxFuture<'_, Result<BuildOutput, BuildFailure>>;
}

pub struct KubeRuntime {
    applier: Arc<Applier>,
    config: KubeConfig,
    edge: Mutex<EdgeInfo>,
    builder: Option<Arc<dyn ImageBuilder>>,
    zone: Option<Arc<dyn DnsZone>>,
    /// Apps whose Deployment or Pods changed ([`crate::watch`], started on first use).
    changes: Arc<WorkloadChanges>,
    watching: std::sync::Once,
}

impl KubeRuntime {
    pub fn new(client: Client, config: KubeConfig, builder: Option<Arc<dyn ImageBuilder>>) -> Self {
        KubeRuntime {
            applier: Arc::new(Applier::new(client)),
            config,
            edge: Mutex::new(EdgeInfo::default()),
            builder,
            zone: None,
            changes: Arc::new(WorkloadChanges::new()),
            watching: std::sync::Once::new(),
        }
    }

    /// Serve the platform zone: program `zone` with each app's platform hostnames.
    pub fn with_zone(mut self, zone: Arc<dyn DnsZone>) -> Self {
        self.zone = Some(zone);
        self
    }

    pub fn applier(&self) -> &Applier {
        &self.applier
    }

    fn client(&self) -> Client {
        self.applier.client().clone()
    }

    fn parent(&self) -> ParentRef {
        ParentRef {
            namespace: self.config.gateway.namespace.clone(),
            name: self.config.gateway.name.clone(),
        }
    }

    async fn do_apply(&self, desired: DesiredWorkload) -> Result<(), RuntimeError> {
        let image = desired
            .artifact
            .clone()
            .or_else(|| desired.spec.image.clone())
            .ok_or_else(|| RuntimeError::invalid("nothing to run: no image was given or built"))?;
        let mut input = RenderInput::new(
            &desired.org,
            &desired.spec,
            desired.release,
            image,
            desired.hostnames.clone(),
        );
        input.gateway = self.config.gateway.clone();
        input.issuer = self.config.issuer.clone();
        input.zone = self.config.zone.clone();
        input.restarted_at_ms = desired.restarted_at_ms;
        // Names and versions to the render; the values only to the applier (see below).
        input.secrets = desired
            .secrets
            .iter()
            .map(|(key, entry)| SecretRef {
                key: key.clone(),
                version: entry.version,
            })
            .collect();
        let objects =
            render(&input).map_err(|e| RuntimeError::invalid("cannot render").with_source(e))?;
        let outcome = self
            .applier
            .apply_with_secrets(
                &desired.org,
                &desired.app,
                &input.namespace,
                &objects,
                &desired.secrets,
            )
            .await
            .map_err(|e| RuntimeError::wrap(RuntimeErrorKind::Unavailable, e))?;
        tracing::info!(org = %desired.org, app = %desired.app, release = desired.release,
            applied = outcome.applied, unchanged = outcome.unchanged, pruned = ?outcome.pruned,
            forced = ?outcome.forced, "applied");
        if !outcome.retained.is_empty() {
            tracing::warn!(org = %desired.org, app = %desired.app, kept = ?outcome.retained,
                "the spec no longer has [volume]: its claim and data are kept, not pruned \
                 (`1ctl app destroy --purge-volumes` deletes them)");
        }
        if let Some(zone) = &self.zone {
            self.program_zone(zone.as_ref(), &desired).await?;
        }
        Ok(())
    }

    /// Point the app's hostnames inside the platform zone at the Gateway's addresses, read
    /// now. A Gateway with no address yet gets no records: the DNS plane says so, and the
    /// next heal writes them once the Gateway has one.
    async fn program_zone(
        &self,
        zone: &dyn DnsZone,
        desired: &DesiredWorkload,
    ) -> Result<(), RuntimeError> {
        let edge = self.read_edge().await?.unwrap_or_default();
        let names = self.config.zone.names_in(&desired.hostnames);
        if edge.addresses.is_empty() && edge.cname_target.is_none() {
            tracing::warn!(org = %desired.org, app = %desired.app, gateway = %self.config.gateway.name,
                "the Gateway has no address yet: the app's platform hostnames get no DNS records");
        }
        zone.set_app(&desired.org, &desired.app, &names, &edge);
        Ok(())
    }

    /// The parent Gateway's edge (its `status.addresses`), remembered for `edge()`. `None`
    /// when the Gateway does not exist.
    async fn read_edge(&self) -> Result<Option<EdgeInfo>, RuntimeError> {
        Ok(self.read_gateway().await?.map(|gw| self.remember_edge(&gw)))
    }

    async fn read_gateway(&self) -> Result<Option<serde_json::Value>, RuntimeError> {
        let gateways: Api<DynamicObject> = Api::namespaced_with(
            self.client(),
            &self.config.gateway.namespace,
            &kinds::gateway(),
        );
        self.applier.count(1);
        Ok(gateways
            .get_opt(&self.config.gateway.name)
            .await
            .map_err(client_err)?
            .and_then(|g| serde_json::to_value(g).ok()))
    }

    fn remember_edge(&self, gateway: &serde_json::Value) -> EdgeInfo {
        let mut edge = observe::edge(gateway);
        edge.probe_addr = self.config.probe_addr;
        *self.edge.lock().unwrap_or_else(|e| e.into_inner()) = edge.clone();
        edge
    }

    async fn do_observe(&self, org: &str, app: &str) -> Result<WorkloadObservation, RuntimeError> {
        let ns = default_namespace(org);
        let deployments: Api<Deployment> = Api::namespaced(self.client(), &ns);
        self.applier.count(1);
        let Some(deploy) = deployments.get_opt(app).await.map_err(client_err)? else {
            // Gone (deleted out of band?): make the next apply send everything again.
            self.applier.forget(&ns, app);
            return Ok(WorkloadObservation {
                release: None,
                replicas: Default::default(),
                failure: None,
                old: 0,
                waiting: None,
                exited: None,
                recovering: 0,
                static_files: None,
            });
        };
        let quick = observe::workload(&deploy, &[]);
        let settled = quick.failure.is_some()
            || (quick.replicas.ready >= quick.replicas.desired
                && quick.replicas.updated >= quick.replicas.desired
                && quick.release.is_some());
        if settled {
            return Ok(quick);
        }
        // Not ready yet: the pods say why (crash loop, image pull, scheduling).
        let pods: Api<Pod> = Api::namespaced(self.client(), &ns);
        self.applier.count(1);
        let list = pods
            .list(&ListParams::default().labels(&format!("{ORG}={org},{APP}={app}")))
            .await
            .map_err(client_err)?;
        Ok(observe::workload(&deploy, &list.items))
    }

    /// The app's HTTPRoutes, as JSON.
    async fn app_routes(
        &self,
        org: &str,
        app: &str,
    ) -> Result<Vec<serde_json::Value>, RuntimeError> {
        let ns = default_namespace(org);
        let routes: Api<DynamicObject> =
            Api::namespaced_with(self.client(), &ns, &kinds::http_route());
        self.applier.count(1);
        let list = routes
            .list(
                &ListParams::default()
                    .labels(&format!("{MANAGED_BY}={MANAGER},{ORG}={org},{APP}={app}")),
            )
            .await
            .map_err(client_err)?;
        Ok(list
            .items
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect())
    }

    /// The objects of `api` in the org's namespace (all of them when `labels` is empty).
    async fn list_values(
        &self,
        ns: &str,
        api: &kube::core::ApiResource,
        labels: &str,
    ) -> Result<Vec<serde_json::Value>, RuntimeError> {
        let objects: Api<DynamicObject> = Api::namespaced_with(self.client(), ns, api);
        self.applier.count(1);
        let list = objects
            .list(&ListParams::default().labels(labels))
            .await
            .map_err(client_err)?;
        Ok(list
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect())
    }

    /// The TLS plane of each custom domain from its cert-manager Certificate (see
    /// [`crate::issuance`]); `None` for platform hostnames. One list of the app's
    /// Certificates; the requests, Orders and Challenges only while one is not ready.
    async fn do_certificates(
        &self,
        org: &str,
        app: &str,
        hostnames: &[Hostname],
    ) -> Result<Vec<Option<Plane>>, RuntimeError> {
        let custom: Vec<(usize, &str, String)> = hostnames
            .iter()
            .enumerate()
            .filter(|(_, h)| !self.config.zone.contains(&h.hostname))
            .map(|(i, h)| (i, h.hostname.as_str(), per_host(app, &h.hostname)))
            .collect();
        let mut planes = vec![None; hostnames.len()];
        if custom.is_empty() {
            return Ok(planes);
        }
        let ns = default_namespace(org);
        let certificates = self
            .list_values(
                &ns,
                &kinds::certificate(),
                &format!("{MANAGED_BY}={MANAGER},{ORG}={org},{APP}={app}"),
            )
            .await?;
        let by_name = |name: &str| {
            certificates
                .iter()
                .find(|c| c.pointer("/metadata/name").and_then(|n| n.as_str()) == Some(name))
        };
        let settled = custom.iter().all(|(_, host, name)| {
            by_name(name).is_none_or(|c| {
                issuance::certificate_plane(
                    host,
                    &self.config.issuer,
                    &issuance::Observed {
                        name,
                        certificate: Some(c),
                        requests: &[],
                        orders: &[],
                        challenges: &[],
                    },
                )
                .state
                    == PlaneState::Ready
            })
        });
        let (requests, orders, challenges) = if settled {
            Default::default()
        } else {
            (
                self.list_values(&ns, &kinds::certificate_request(), "")
                    .await?,
                self.list_values(&ns, &kinds::order(), "").await?,
                self.list_values(&ns, &kinds::challenge(), "").await?,
            )
        };
        for (i, host, name) in &custom {
            planes[*i] = Some(issuance::certificate_plane(
                host,
                &self.config.issuer,
                &issuance::Observed {
                    name,
                    certificate: by_name(name),
                    requests: &requests,
                    orders: &orders,
                    challenges: &challenges,
                },
            ));
        }
        Ok(planes)
    }

    async fn do_routes(
        &self,
        org: &str,
        app: &str,
        hostnames: &[Hostname],
    ) -> Result<Vec<Plane>, RuntimeError> {
        let values = self.app_routes(org, app).await?;
        let gateway = self.read_gateway().await?;
        if let Some(gw) = &gateway {
            self.remember_edge(gw);
        }
        Ok(observe::route_planes(
            hostnames,
            &values,
            gateway.as_ref(),
            &self.parent(),
        ))
    }
}

impl Runtime for KubeRuntime {
    /// Starts the watches on the first call (it needs the async runtime the engine runs on).
    fn workload_changes(&self) -> Option<Arc<WorkloadChanges>> {
        self.watching.call_once(|| {
            tokio::spawn(crate::watch::follow(
                self.client(),
                Arc::clone(&self.changes),
            ));
        });
        Some(Arc::clone(&self.changes))
    }

    fn name(&self) -> &'static str {
        "kubernetes"
    }

    /// A static site (`[static]`) is served by the local runtime's edge; a cluster runs
    /// containers: refused before anything is recorded, with the way to serve one here.
    fn admit(&self, spec: &satusky_core::ValidatedApp) -> Result<(), RuntimeError> {
        match &spec.spec().static_site {
            Some(_) => Err(RuntimeError::failed(
                Reason::InvalidSpec,
                "[static] sites are served by the local runtime's edge; on Kubernetes serve the files from an image (e.g. an nginx image holding them) and remove [static]",
            )),
            None => Ok(()),
        }
    }

    fn build(
        &self,
        req: BuildRequest,
        log: LogSink,
    ) -> BoxFuture<'_, Result<BuildOutput, BuildFailure>> {
        Box::pin(async move {
            match &self.builder {
                Some(b) => b.build(req, log).await,
                None => Err(BuildFailure {
                    message: "this control plane has no image registry configured for builds; set `registry` and `build_api_url` in STATE_DIR/server.toml, or deploy with --image".into(),
                    log_tail: Vec::new(),
                    timed_out: false,
                }),
            }
        })
    }

    fn apply(&self, desired: DesiredWorkload) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(self.do_apply(desired))
    }

    fn observe(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<WorkloadObservation, RuntimeError>> {
        Box::pin(async move { self.do_observe(&org, &app).await })
    }

    fn routes(
        &self,
        org: String,
        app: String,
        hostnames: Vec<Hostname>,
    ) -> BoxFuture<'_, Result<Vec<Plane>, RuntimeError>> {
        Box::pin(async move {
            match self.do_routes(&org, &app, &hostnames).await {
                Ok(p) => Ok(p),
                Err(e) => Ok(hostnames
                    .iter()
                    .map(|_| {
                        Plane::new(
                            PlaneState::Unknown,
                            Reason::NotChecked,
                            format!("cannot read routes: {}", error_chain(&e)),
                        )
                    })
                    .collect()),
            }
        })
    }

    /// cert-manager's view of each custom domain's Certificate ([`crate::issuance`]); `None`
    /// for hostnames in the platform zone (the Gateway's own certificate serves them).
    fn certificates(
        &self,
        org: String,
        app: String,
        hostnames: Vec<Hostname>,
    ) -> BoxFuture<'_, Result<Vec<Option<Plane>>, RuntimeError>> {
        Box::pin(async move { self.do_certificates(&org, &app, &hostnames).await })
    }

    fn logs(
        &self,
        org: String,
        app: String,
        query: LogQuery,
    ) -> BoxFuture<'_, Result<Vec<satusky_types::LogLine>, RuntimeError>> {
        Box::pin(async move {
            let ns = default_namespace(&org);
            crate::logs::read(self.client(), &ns, &org, &app, &query).await
        })
    }

    fn remove(&self, org: String, app: String) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let ns = default_namespace(&org);
            self.applier
                .remove(&org, &app, &ns)
                .await
                .map_err(|e| RuntimeError::wrap(RuntimeErrorKind::Unavailable, e))?;
            if let Some(zone) = &self.zone {
                zone.remove_app(&org, &app);
            }
            Ok(())
        })
    }

    /// The app's PersistentVolumeClaims, by label (kept after a destroy).
    fn volumes(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<String>, RuntimeError>> {
        Box::pin(async move {
            let ns = default_namespace(&org);
            let claims = self
                .applier
                .volumes(&org, &app, &ns)
                .await
                .map_err(|e| RuntimeError::wrap(RuntimeErrorKind::Unavailable, e))?;
            Ok(claims.iter().map(ToString::to_string).collect())
        })
    }

    fn purge_volumes(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<String>, RuntimeError>> {
        Box::pin(async move {
            let ns = default_namespace(&org);
            let claims = self
                .applier
                .purge_volumes(&org, &app, &ns)
                .await
                .map_err(|e| RuntimeError::wrap(RuntimeErrorKind::Unavailable, e))?;
            Ok(claims.iter().map(ToString::to_string).collect())
        })
    }

    /// The app's Service by its cluster DNS name: `APP.satusky-ORG.svc.cluster.local:PORT`.
    fn internal_address(
        &self,
        org: String,
        app: String,
        spec: satusky_types::AppSpec,
    ) -> BoxFuture<'_, Result<Option<InternalAddress>, RuntimeError>> {
        let address = crate::render::internal_address(&app, &default_namespace(&org), &spec);
        Box::pin(async move { Ok(Some(address)) })
    }

    fn edge(&self) -> EdgeInfo {
        self.edge.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What the app's HTTPRoutes list in `spec.hostnames`, with the release their
    /// `ResponseHeaderModifier` sets (or the redirect they answer with).
    fn served_hosts(
        &self,
        org: String,
        app: String,
    ) -> BoxFuture<'_, Result<Vec<ServedHost>, RuntimeError>> {
        Box::pin(async move {
            let routes = self.app_routes(&org, &app).await?;
            Ok(routes.iter().flat_map(served_by_route).collect())
        })
    }

    /// The applier skips objects whose rendered form it sent before, and a route edited out of
    /// band renders exactly as before: forget first, so every object is sent again (and
    /// fields another manager took are taken back under the conflict rule).
    fn heal(&self, desired: DesiredWorkload) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            self.applier
                .forget(&default_namespace(&desired.org), &desired.app);
            self.do_apply(desired).await
        })
    }
}

/// The header the app's HTTPRoute sets (rendered from `render::routes::RELEASE_HEADER`, a
/// module private to the renderer).
const RELEASE_HEADER: &str = "x-satusky-release";

/// The hostnames one HTTPRoute serves: the release its first `x-satusky-release` header
/// filter sets, or the redirect its `RequestRedirect` filter answers with.
fn served_by_route(route: &serde_json::Value) -> Vec<ServedHost> {
    use serde_json::Value;
    let filters: Vec<&Value> = route
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("filters").and_then(Value::as_array))
        .flatten()
        .collect();
    let release_id = filters
        .iter()
        .filter_map(|f| {
            f.pointer("/responseHeaderModifier/set")
                .and_then(Value::as_array)
        })
        .flatten()
        .find(|h| {
            h.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(RELEASE_HEADER))
        })
        .and_then(|h| h.get("value").and_then(Value::as_str))
        .map(str::to_string);
    let redirect_to = filters
        .iter()
        .filter_map(|f| f.get("requestRedirect"))
        .next()
        .map(|r| {
            let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            let port = r
                .get("port")
                .and_then(Value::as_u64)
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            let path = r
                .pointer("/path/replacePrefixMatch")
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!("{}://{}{port}{path}", field("scheme"), field("hostname"))
        });
    route
        .pointer("/spec/hostnames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|h| ServedHost {
            hostname: h.to_ascii_lowercase(),
            release_id: if redirect_to.is_some() {
                None
            } else {
                release_id.clone()
            },
            redirect_to: redirect_to.clone(),
        })
        .collect()
}

fn client_err(e: kube::Error) -> RuntimeError {
    RuntimeError::unavailable("Kubernetes API").with_source(ForeignError::new(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn served_hosts_read_the_release_header_and_redirects() {
        let serve = json!({"spec": {"hostnames": ["web-acme.apps.test", "Shop.Example.com"],
            "rules": [{"filters": [{"type": "ResponseHeaderModifier",
                "responseHeaderModifier": {"set": [{"name": "x-satusky-release", "value": "acme/web@v3"}]}}]}]}});
        let hosts = served_by_route(&serve);
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[1].hostname, "shop.example.com");
        assert_eq!(hosts[0].release_id.as_deref(), Some("acme/web@v3"));
        assert_eq!(hosts[0].redirect_to, None);
        let redirect = json!({"spec": {"hostnames": ["old.example.com"],
            "rules": [{"filters": [{"type": "RequestRedirect",
                "requestRedirect": {"scheme": "https", "hostname": "new.example.com", "statusCode": 301}}]}]}});
        let hosts = served_by_route(&redirect);
        assert_eq!(hosts[0].release_id, None);
        assert_eq!(
            hosts[0].redirect_to.as_deref(),
            Some("https://new.example.com")
        );
        assert!(served_by_route(&json!({"spec": {}})).is_empty());
    }
}

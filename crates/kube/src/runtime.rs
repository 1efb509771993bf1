//! `KubeRuntime`: the Kubernetes implementation of `satusky_core::runtime::Runtime`. Apply is
//! render → server-side apply → prune; observe reads the Deployment (and its pods only when
//! something is not ready); routes read the app's HTTPRoutes and the parent Gateway, whose
//! addresses also become the edge the DNS plane expects.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use satusky_core::runtime::{
    BoxFuture, BuildFailure, BuildOutput, BuildRequest, DesiredWorkload, EdgeInfo, LogSink,
    Runtime, RuntimeError, WorkloadObservation,
};
use satusky_core::validate_spec;
use satusky_types::{Hostname, Plane, PlaneState, Reason};

use crate::apply::Applier;
use crate::kinds;
use crate::observe::{self, ParentRef};
use crate::render::labels::{APP, MANAGED_BY, MANAGER, ORG};
use crate::render::names::default_namespace;
use crate::render::{GatewayRef, IssuerRef, RenderInput, render};

/// How the runtime renders and where it looks.
#[derive(Debug, Clone)]
pub struct KubeConfig {
    pub zone: String,
    pub gateway: GatewayRef,
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
}

impl KubeRuntime {
    pub fn new(client: Client, config: KubeConfig, builder: Option<Arc<dyn ImageBuilder>>) -> Self {
        KubeRuntime {
            applier: Arc::new(Applier::new(client)),
            config,
            edge: Mutex::new(EdgeInfo::default()),
            builder,
        }
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
        let validated = validate_spec(desired.spec.clone())
            .map_err(|e| RuntimeError::new(format!("the stored spec no longer validates: {e}")))?;
        let image = desired
            .artifact
            .clone()
            .or_else(|| desired.spec.image.clone())
            .ok_or_else(|| RuntimeError::new("nothing to run: no image was given or built"))?;
        let mut input = RenderInput::new(
            &desired.org,
            &validated,
            desired.release,
            image,
            &self.config.zone,
        );
        input.gateway = self.config.gateway.clone();
        input.issuer = self.config.issuer.clone();
        input.hostnames = desired.hostnames.clone();
        let objects =
            render(&input).map_err(|e| RuntimeError::new(format!("cannot render: {e}")))?;
        let outcome = self
            .applier
            .apply(&desired.org, &desired.app, &input.namespace, &objects)
            .await
            .map_err(|e| RuntimeError::new(error_chain(&e)))?;
        tracing::info!(org = %desired.org, app = %desired.app, release = desired.release,
            applied = outcome.applied, unchanged = outcome.unchanged, pruned = ?outcome.pruned,
            forced = ?outcome.forced, "applied");
        Ok(())
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

    async fn do_routes(
        &self,
        org: &str,
        app: &str,
        hostnames: &[Hostname],
    ) -> Result<Vec<Plane>, RuntimeError> {
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
        let values: Vec<serde_json::Value> = list
            .items
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect();
        let gateways: Api<DynamicObject> = Api::namespaced_with(
            self.client(),
            &self.config.gateway.namespace,
            &kinds::gateway(),
        );
        self.applier.count(1);
        let gateway = gateways
            .get_opt(&self.config.gateway.name)
            .await
            .map_err(client_err)?
            .and_then(|g| serde_json::to_value(g).ok());
        if let Some(gw) = &gateway {
            let mut edge = observe::edge(gw);
            edge.probe_addr = self.config.probe_addr;
            *self.edge.lock().unwrap_or_else(|e| e.into_inner()) = edge;
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
    fn name(&self) -> &'static str {
        "kubernetes"
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
                    message: "this control plane has no image registry configured for builds; set [build] registry in server.toml, or deploy with --image".into(),
                    log_tail: Vec::new(),
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
                            format!("cannot read routes: {e}"),
                        )
                    })
                    .collect()),
            }
        })
    }

    fn remove(&self, org: String, app: String) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let ns = default_namespace(&org);
            self.applier
                .remove(&org, &app, &ns)
                .await
                .map(|_| ())
                .map_err(|e| RuntimeError::new(error_chain(&e)))
        })
    }

    fn edge(&self) -> EdgeInfo {
        self.edge.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn client_err(e: kube::Error) -> RuntimeError {
    RuntimeError::new(format!("Kubernetes API: {}", error_chain(&e)))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

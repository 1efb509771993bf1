//! Rendering: a [`ValidatedApp`](satusky_core::ValidatedApp) plus what a release pins (image,
//! hostnames, secret versions) → the Kubernetes objects a deploy applies, in apply order.
//! SPEC §3 step 4 and §8.
//!
//! Pure and deterministic: no client, no network, no clock, no randomness — the same input
//! gives byte-identical output. Secret *values* are not an input at all: the Secret is rendered
//! without `data`, and the applier fills it from the store just before applying (see the
//! `config` module). Each kind has its own module; [`names`] and [`labels`] hold the rules
//! every object follows, and [`render`] checks the result against them before returning it.
//!
//! An app with `[app] expose = "tcp"` or `"none"` gets no HTTPRoute, ListenerSet or
//! Certificate: its Service (on the app's own port) is how the org's other apps reach it.
//!
//! Custom domains use a Gateway API `ListenerSet` (standard channel since v1.5): TLS for a
//! custom domain needs a listener with that hostname and its certificate, and a ListenerSet
//! lets the org's namespace add listeners to the shared platform Gateway without write access
//! to it. See the `certificates` module.

mod autoscaling;
mod certificates;
mod config;
mod deployment;
mod input;
pub mod labels;
pub mod names;
mod object;
mod output;
mod routes;
mod service;

pub use service::{CLUSTER_DOMAIN, internal_address, service_port};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use satusky_types::AppSpec;

pub use input::{
    DEFAULT_CLUSTER_ISSUER, DEFAULT_GATEWAY, GatewayRef, InvalidGatewayRef, InvalidIssuerRef,
    IssuerRef, RenderInput, SecretRef, zone_of,
};
pub use object::Object;
pub use output::{to_json_list, to_yaml};
pub use routes::TargetError;

pub(crate) use input::Hosts;
use input::{check_input, sort_hosts};
pub(crate) use object::check_object;
use object::kind_rank;
pub(crate) use object::{CustomObject, canonical};

/// Why an input cannot be rendered. Each names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    #[error("the route {route} would hold {count} hostnames; Gateway API allows {max}")]
    TooManyHostnames {
        route: String,
        count: usize,
        max: usize,
    },
    #[error("{count} custom domains need {count} listeners; a ListenerSet holds at most {max}")]
    TooManyDomains { count: usize, max: usize },
    #[error("redirect of {host} to {target:?}")]
    UnsupportedRedirect {
        host: String,
        target: String,
        #[source]
        reason: routes::TargetError,
    },
    #[error("rendered {kind} {name:?} is invalid: {message}")]
    InvalidObject {
        kind: String,
        name: String,
        message: String,
    },
    #[error("could not serialize a rendered object")]
    Serialize(#[source] serde_json::Error),
}

impl RenderError {
    /// `message` is what the input broke: a rule's text, or a typed rule error's.
    pub(crate) fn input(field: &str, message: impl std::fmt::Display) -> Self {
        RenderError::InvalidInput {
            field: field.to_owned(),
            message: message.to_string(),
        }
    }
}

/// What every builder needs: who, where, which release, and the spec.
pub(crate) struct Ctx<'a> {
    pub org: &'a str,
    pub app: &'a str,
    pub namespace: &'a str,
    pub release: u64,
    pub spec: &'a AppSpec,
    /// See [`RenderInput::restarted_at_ms`].
    pub restarted_at_ms: Option<i64>,
}

impl Ctx<'_> {
    /// Metadata with the app's labels and the release annotation.
    pub fn meta(&self, name: &str) -> ObjectMeta {
        labels::metadata(name, self.namespace, self.org, self.app, self.release, &[])
    }

    /// [`Ctx::meta`] plus extra annotations.
    pub fn meta_with(&self, name: &str, annotations: &[(&str, String)]) -> ObjectMeta {
        labels::metadata(
            name,
            self.namespace,
            self.org,
            self.app,
            self.release,
            annotations,
        )
    }
}

/// Every object a deploy of `input` applies, in apply order: ConfigMap, Secret, PVC,
/// Deployment, Service, HPA, VPA, PDB, Certificates, ListenerSet, HTTPRoutes (by name within
/// a kind). The org's Namespace is not included: the applier ensures it (see
/// [`render_namespace`]).
pub fn render(input: &RenderInput<'_>) -> Result<Vec<Object>, RenderError> {
    check_input(input)?;
    let spec = input.app.spec();
    let ctx = Ctx {
        org: &input.org,
        app: &spec.name,
        namespace: &input.namespace,
        release: input.release,
        spec,
        restarted_at_ms: input.restarted_at_ms,
    };
    // An app that is not public has no HTTPRoute, ListenerSet or Certificate, whatever
    // hostnames it is handed: only its Service reaches it.
    let hosts = if spec.expose.is_public() {
        sort_hosts(&input.hostnames, &input.zone)
    } else {
        Hosts::default()
    };
    let mut objects = vec![config::config_map(&ctx)?];
    if !input.secrets.is_empty() {
        objects.push(config::secret(&ctx, &input.secrets)?);
    }
    if let Some(volume) = &spec.volume {
        objects.push(deployment::volume_claim(&ctx, volume)?);
    }
    objects.push(deployment::deployment(&ctx, &input.image, &input.secrets)?);
    objects.push(service::service(&ctx)?);
    objects.extend(autoscaling::render(&ctx)?);
    objects.extend(certificates::render(
        &ctx,
        &hosts,
        &input.gateway,
        &input.issuer,
    )?);
    objects.extend(routes::render(&ctx, &hosts, &input.gateway)?);
    objects.sort_by(|a, b| (kind_rank(a.kind()), a.name()).cmp(&(kind_rank(b.kind()), b.name())));
    for object in &objects {
        check_object(object)?;
    }
    Ok(objects)
}

/// The org's namespace, labelled as Satusky's (without an app label: it holds every app of the
/// org, so pruning an app never selects it).
pub fn render_namespace(org: &str, namespace: &str) -> Result<Object, RenderError> {
    satusky_core::validate_org_name(org).map_err(|m| RenderError::input("org", m))?;
    let mut labels = labels::app_labels(org, "");
    labels.remove(labels::APP);
    labels.remove(labels::NAME);
    let ns = k8s_openapi::api::core::v1::Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Default::default()
    };
    let object = Object::new("v1", "Namespace", &ns)?;
    check_object(&object)?;
    Ok(object)
}

//! Satusky's Kubernetes runtime.
//!
//! - [`mod@render`]: the pure middle of the reconcile pipeline — the validated app (plus the
//!   release's image, hostnames and secret *versions*) becomes the exact list of Kubernetes
//!   objects a deploy applies. No client, no network, no clock, no secret values.
//!
//! - [`apply`]: server-side apply (manager `satusky`), namespace, prune by label, the conflict
//!   rule; the one place a secret value meets a Kubernetes object (the app's Secret, filled
//!   on the request body as it is sent). [`kinds`] is the table of managed kinds.
//! - [`observe`]: pure decisions over what the API returned (kstatus workload, route plane,
//!   edge addresses); [`issuance`]: the TLS plane from cert-manager's Certificate and its
//!   CertificateRequest, Order and Challenges.
//! - [`runtime`]: `KubeRuntime`, the `satusky_core::runtime::Runtime` for Kubernetes.
//! - [`logs`]: an app's pods' logs, merged in time order (`Runtime::logs`).
//! - [`watch`]: the watches on Deployments and Pods that mark apps whose workload changed.
//! - [`build`]: Kaniko build Jobs (pure Job rendering, following the Job and its logs).
//!
//! Nothing in [`mod@render`] may depend on the others.
#![forbid(unsafe_code)]

pub mod apply;
pub mod build;
pub mod issuance;
pub mod kinds;
pub mod logs;
pub mod observe;
pub mod render;
pub mod runtime;
pub mod watch;

pub use render::{
    GatewayRef, InvalidGatewayRef, InvalidIssuerRef, IssuerRef, Object, RenderError, RenderInput,
    SecretRef, render, render_namespace, to_json_list, to_yaml,
};

//! The Service `{app}`: ClusterIP, port 80 → the container's named port (an app that is not
//! public: its own `port`, as a TCP service is addressed), selecting the app's pods. The
//! HTTPRoutes' backend, and every app's internal address inside the cluster
//! ([`internal_address`]: `APP.NAMESPACE.svc.cluster.local:PORT`). Nothing else.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use satusky_core::runtime::InternalAddress;
use satusky_types::AppSpec;

use super::deployment::PORT_NAME;
use super::labels;
use super::{Ctx, Object, RenderError};

/// The Service's port of a public app, which the HTTPRoutes' backendRefs name.
pub const SERVICE_PORT: i32 = 80;

/// The cluster's DNS domain that Service names live under.
pub const CLUSTER_DOMAIN: &str = "svc.cluster.local";

/// The Service's port: [`SERVICE_PORT`] for a public (HTTP) app, the app's own `port` for one
/// that is not (`postgres` is reached on 5432, not 80).
pub fn service_port(spec: &AppSpec) -> u16 {
    if spec.expose.is_public() {
        SERVICE_PORT as u16
    } else {
        spec.port
    }
}

/// Where the org's other apps reach `app` in `namespace`: its Service's cluster DNS name and
/// port.
pub fn internal_address(app: &str, namespace: &str, spec: &AppSpec) -> InternalAddress {
    InternalAddress {
        host: format!("{app}.{namespace}.{CLUSTER_DOMAIN}"),
        port: service_port(spec),
    }
}

pub fn service(ctx: &Ctx<'_>) -> Result<Object, RenderError> {
    let service = Service {
        metadata: ctx.meta(ctx.app),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(labels::selector_labels(ctx.org, ctx.app)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_owned()),
                port: i32::from(service_port(ctx.spec)),
                target_port: Some(IntOrString::String(PORT_NAME.to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    };
    Object::new("v1", "Service", &service)
}

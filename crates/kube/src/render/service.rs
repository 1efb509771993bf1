//! The Service `{app}`: ClusterIP, port 80 → the container's named port, selecting the app's
//! pods. The HTTPRoutes' backend. Nothing else.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::deployment::PORT_NAME;
use super::labels;
use super::{Ctx, Object, RenderError};

/// The Service's port, which the HTTPRoutes' backendRefs name.
pub const SERVICE_PORT: i32 = 80;

pub fn service(ctx: &Ctx<'_>) -> Result<Object, RenderError> {
    let service = Service {
        metadata: ctx.meta(ctx.app),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(labels::selector_labels(ctx.org, ctx.app)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_owned()),
                port: SERVICE_PORT,
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

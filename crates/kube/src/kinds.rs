//! The kinds Satusky applies and prunes, with what a client needs to address them (group,
//! version, plural, scope). One table: the applier, the pruner and fakekube's tests agree.

use kube::core::{ApiResource, GroupVersionKind};

/// One managed kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

/// Every namespaced kind `render` can produce, in apply order (config before workloads,
/// workloads before routes). Prune walks the same list.
pub const MANAGED: &[Kind] = &[
    Kind {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "PersistentVolumeClaim",
        plural: "persistentvolumeclaims",
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
    },
    Kind {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
    },
    Kind {
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
    },
    Kind {
        group: "autoscaling.k8s.io",
        version: "v1",
        kind: "VerticalPodAutoscaler",
        plural: "verticalpodautoscalers",
    },
    Kind {
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
    },
    Kind {
        group: "cert-manager.io",
        version: "v1",
        kind: "Certificate",
        plural: "certificates",
    },
    Kind {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "ListenerSet",
        plural: "listenersets",
    },
    Kind {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "HTTPRoute",
        plural: "httproutes",
    },
];

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }

    /// The managed kind for an object's `apiVersion` and `kind`.
    pub fn of(api_version: &str, kind: &str) -> Option<&'static Kind> {
        MANAGED
            .iter()
            .find(|k| k.kind == kind && k.api_version() == api_version)
    }

    /// Position in apply order.
    pub fn order(api_version: &str, kind: &str) -> usize {
        MANAGED
            .iter()
            .position(|k| k.kind == kind && k.api_version() == api_version)
            .unwrap_or(MANAGED.len())
    }
}

/// The PersistentVolumeClaim kind (an app's `[volume]`).
pub fn persistent_volume_claim() -> ApiResource {
    Kind {
        group: "",
        version: "v1",
        kind: "PersistentVolumeClaim",
        plural: "persistentvolumeclaims",
    }
    .api_resource()
}

/// The Gateway kind (read, never applied by us).
pub fn gateway() -> ApiResource {
    Kind {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "Gateway",
        plural: "gateways",
    }
    .api_resource()
}

/// The HTTPRoute kind.
pub fn http_route() -> ApiResource {
    Kind {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "HTTPRoute",
        plural: "httproutes",
    }
    .api_resource()
}

/// cert-manager's Certificate (applied and pruned through [`MANAGED`]; read for the TLS plane).
pub fn certificate() -> ApiResource {
    cert_manager("cert-manager.io", "Certificate", "certificates")
}

/// cert-manager's CertificateRequest (read, never applied by us).
pub fn certificate_request() -> ApiResource {
    cert_manager(
        "cert-manager.io",
        "CertificateRequest",
        "certificaterequests",
    )
}

/// cert-manager's ACME Order (read, never applied by us).
pub fn order() -> ApiResource {
    cert_manager("acme.cert-manager.io", "Order", "orders")
}

/// cert-manager's ACME Challenge (read, never applied by us).
pub fn challenge() -> ApiResource {
    cert_manager("acme.cert-manager.io", "Challenge", "challenges")
}

fn cert_manager(group: &'static str, kind: &'static str, plural: &'static str) -> ApiResource {
    Kind {
        group,
        version: "v1",
        kind,
        plural,
    }
    .api_resource()
}

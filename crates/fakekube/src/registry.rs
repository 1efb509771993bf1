//! The static registry of every resource type fakekube serves.
//!
//! Owns *what exists*: group, served versions, plural/singular names, kind, scope, short names,
//! categories, and per-type behaviour flags (status subresource, generation tracking, whether
//! the type is a CRD). Adding a kind is one entry here; discovery, routing and the store all
//! read this table. It must not hold any state.

/// One resource type (one `group/resource`, served at one or more versions).
#[derive(Debug)]
pub struct ResourceType {
    /// API group; `""` is the core group (served under `/api`).
    pub group: &'static str,
    /// Served versions; the first is the preferred (and storage) version. Objects are stored
    /// once and served at every version with `apiVersion` rewritten (no schema conversion).
    pub versions: &'static [&'static str],
    /// Plural resource name used in paths, e.g. `deployments`.
    pub plural: &'static str,
    /// Singular name, e.g. `deployment`.
    pub singular: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Discovery categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Whether `/status` is a subresource (then main-resource writes ignore `status`).
    pub status_subresource: bool,
    /// Whether `metadata.generation` is maintained (bumped on spec changes).
    pub generation: bool,
    /// Whether this is a custom resource (CRD-backed in a real cluster): list items keep
    /// `apiVersion`/`kind`, as they do from kube-apiserver for CRDs.
    pub custom: bool,
}

impl ResourceType {
    /// The preferred version.
    pub fn preferred_version(&self) -> &'static str {
        self.versions[0]
    }

    /// `apps/v1` or `v1` for the given version.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// Whether `version` is served.
    pub fn serves(&self, version: &str) -> bool {
        self.versions.contains(&version)
    }

    /// Whether this type has the pods `/log` subresource.
    pub fn has_log(&self) -> bool {
        self.group.is_empty() && self.plural == "pods"
    }
}

const NONE: &[&str] = &[];
const ALL: &[&str] = &["all"];
const GW: &[&str] = &["gateway-api"];
const CM: &[&str] = &["cert-manager"];
const CM_ACME: &[&str] = &["cert-manager", "cert-manager-acme"];

macro_rules! rt {
    ($group:expr, $versions:expr, $plural:expr, $singular:expr, $kind:expr, ns=$ns:expr,
     short=$short:expr, cat=$cat:expr, status=$status:expr, generation=$generation:expr,
     custom=$custom:expr) => {
        ResourceType {
            group: $group,
            versions: $versions,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: $short,
            categories: $cat,
            status_subresource: $status,
            generation: $generation,
            custom: $custom,
        }
    };
}

// One line per kind reads best as a table.
#[rustfmt::skip]
static REGISTRY: &[ResourceType] = &[
    // core/v1
    rt!("", &["v1"], "namespaces", "namespace", "Namespace", ns = false, short = &["ns"], cat = NONE, status = true, generation = false, custom = false),
    rt!("", &["v1"], "configmaps", "configmap", "ConfigMap", ns = true, short = &["cm"], cat = NONE, status = false, generation = false, custom = false),
    rt!("", &["v1"], "secrets", "secret", "Secret", ns = true, short = NONE, cat = NONE, status = false, generation = false, custom = false),
    rt!("", &["v1"], "services", "service", "Service", ns = true, short = &["svc"], cat = ALL, status = true, generation = false, custom = false),
    rt!("", &["v1"], "pods", "pod", "Pod", ns = true, short = &["po"], cat = ALL, status = true, generation = true, custom = false),
    rt!("", &["v1"], "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", ns = true, short = &["pvc"], cat = NONE, status = true, generation = false, custom = false),
    rt!("", &["v1"], "events", "event", "Event", ns = true, short = &["ev"], cat = NONE, status = false, generation = false, custom = false),
    rt!("", &["v1"], "serviceaccounts", "serviceaccount", "ServiceAccount", ns = true, short = &["sa"], cat = NONE, status = false, generation = false, custom = false),
    // apps/v1
    rt!("apps", &["v1"], "deployments", "deployment", "Deployment", ns = true, short = &["deploy"], cat = ALL, status = true, generation = true, custom = false),
    rt!("apps", &["v1"], "replicasets", "replicaset", "ReplicaSet", ns = true, short = &["rs"], cat = ALL, status = true, generation = true, custom = false),
    // batch/v1
    rt!("batch", &["v1"], "jobs", "job", "Job", ns = true, short = NONE, cat = ALL, status = true, generation = true, custom = false),
    // autoscaling/v2
    rt!("autoscaling", &["v2"], "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", ns = true, short = &["hpa"], cat = ALL, status = true, generation = false, custom = false),
    // policy/v1
    rt!("policy", &["v1"], "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", ns = true, short = &["pdb"], cat = NONE, status = true, generation = true, custom = false),
    // autoscaling.k8s.io/v1 (VPA CRD)
    rt!("autoscaling.k8s.io", &["v1"], "verticalpodautoscalers", "verticalpodautoscaler", "VerticalPodAutoscaler", ns = true, short = &["vpa"], cat = NONE, status = true, generation = true, custom = true),
    // gateway.networking.k8s.io (Gateway API CRDs, standard channel; ListenerSet is standard since v1.5)
    rt!("gateway.networking.k8s.io", &["v1", "v1beta1"], "gatewayclasses", "gatewayclass", "GatewayClass", ns = false, short = &["gc"], cat = GW, status = true, generation = true, custom = true),
    rt!("gateway.networking.k8s.io", &["v1", "v1beta1"], "gateways", "gateway", "Gateway", ns = true, short = &["gtw"], cat = GW, status = true, generation = true, custom = true),
    rt!("gateway.networking.k8s.io", &["v1", "v1beta1"], "httproutes", "httproute", "HTTPRoute", ns = true, short = NONE, cat = GW, status = true, generation = true, custom = true),
    rt!("gateway.networking.k8s.io", &["v1", "v1beta1"], "referencegrants", "referencegrant", "ReferenceGrant", ns = true, short = &["refgrant"], cat = GW, status = false, generation = true, custom = true),
    rt!("gateway.networking.k8s.io", &["v1"], "listenersets", "listenerset", "ListenerSet", ns = true, short = &["lset"], cat = GW, status = true, generation = true, custom = true),
    // gateway.networking.x-k8s.io (the experimental channel's name before ListenerSet went standard)
    rt!("gateway.networking.x-k8s.io", &["v1alpha1"], "xlistenersets", "xlistenerset", "XListenerSet", ns = true, short = NONE, cat = GW, status = true, generation = true, custom = true),
    // cert-manager.io/v1
    rt!("cert-manager.io", &["v1"], "certificates", "certificate", "Certificate", ns = true, short = &["cert", "certs"], cat = CM, status = true, generation = true, custom = true),
    rt!("cert-manager.io", &["v1"], "certificaterequests", "certificaterequest", "CertificateRequest", ns = true, short = &["cr", "crs"], cat = CM, status = true, generation = true, custom = true),
    rt!("cert-manager.io", &["v1"], "issuers", "issuer", "Issuer", ns = true, short = NONE, cat = CM, status = true, generation = true, custom = true),
    rt!("cert-manager.io", &["v1"], "clusterissuers", "clusterissuer", "ClusterIssuer", ns = false, short = NONE, cat = CM, status = true, generation = true, custom = true),
    // acme.cert-manager.io/v1 (cert-manager's ACME issuer)
    rt!("acme.cert-manager.io", &["v1"], "orders", "order", "Order", ns = true, short = NONE, cat = CM_ACME, status = true, generation = true, custom = true),
    rt!("acme.cert-manager.io", &["v1"], "challenges", "challenge", "Challenge", ns = true, short = NONE, cat = CM_ACME, status = true, generation = true, custom = true),
];

/// Every served resource type.
pub fn all() -> &'static [ResourceType] {
    REGISTRY
}

/// Look a type up by group, version and plural (the URL form).
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    REGISTRY
        .iter()
        .find(|rt| rt.group == group && rt.plural == plural && rt.serves(version))
}

/// Look a type up by `apiVersion` and `kind` (the object form).
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let (group, version) = split_api_version(api_version);
    REGISTRY
        .iter()
        .find(|rt| rt.group == group && rt.kind == kind && rt.serves(version))
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Every `(group, version)` pair served, in registry order, each once.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for rt in REGISTRY {
        for v in rt.versions {
            if !out.contains(&(rt.group, *v)) {
                out.push((rt.group, v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree() {
        let d = lookup("apps", "v1", "deployments").map(|rt| rt.kind);
        assert_eq!(d, Some("Deployment"));
        assert!(lookup("apps", "v2", "deployments").is_none());
        let r = by_kind("gateway.networking.k8s.io/v1beta1", "ReferenceGrant").map(|rt| rt.plural);
        assert_eq!(r, Some("referencegrants"));
        assert_eq!(
            by_kind("v1", "Namespace").map(|rt| rt.namespaced),
            Some(false)
        );
    }

    #[test]
    fn every_type_is_unique_per_group_version() {
        for (g, v) in group_versions() {
            let mut names: Vec<_> = all()
                .iter()
                .filter(|rt| rt.group == g && rt.serves(v))
                .map(|rt| rt.plural)
                .collect();
            let n = names.len();
            names.dedup();
            assert_eq!(n, names.len(), "{g}/{v}");
        }
    }
}

//! fakekube set-up as an operator would have done it (feature `kube`): objects applied with
//! server-side apply under the manager `operator`, and the platform Gateway Satusky routes
//! through.

use ::kube::api::{Api, DynamicObject, Patch, PatchParams};
use ::kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// The platform Gateway's namespace and name (`KubeConfig`'s default gateway).
pub const GATEWAY_NAMESPACE: &str = "satusky-system";
pub const GATEWAY_NAME: &str = "satusky";

/// Server-side applies `obj` (any kind; the plural is the lower-cased kind + `s`) as the
/// manager `operator`.
pub async fn apply(client: &::kube::Client, obj: Value) {
    let api_version = obj["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = obj["kind"].as_str().unwrap();
    let plural = format!("{}s", kind.to_lowercase());
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    api.patch(&name, &PatchParams::apply("operator"), &Patch::Apply(&o))
        .await
        .unwrap();
}

/// The namespace `satusky-system` and in it the Gateway `satusky` (class `test`, one HTTPS
/// listener on 443). Its status is the test's to set (or fakekube's automatic controller's).
pub async fn platform_gateway(client: &::kube::Client) {
    apply(
        client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": GATEWAY_NAMESPACE}}),
    )
    .await;
    apply(
        client,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE},
            "spec": {"gatewayClassName": "test", "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS"}]}
        }),
    )
    .await;
}

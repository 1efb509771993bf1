//! API discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}` and
//! `/apis/{group}/{version}`, built from [`crate::registry`].
//!
//! Only the legacy (unaggregated) documents are served; clients asking for aggregated
//! discovery (`as=APIGroupDiscoveryList`) get `application/json` and fall back, as they do
//! against servers without it.

use serde_json::{Value, json};

use crate::registry::{self, ResourceType};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0-fakekube",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn group_versions(group: &str) -> Vec<&'static str> {
    registry::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(_, v)| v)
        .collect()
}

fn group_doc(group: &str) -> Value {
    let versions = group_versions(group);
    let gv = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({
        "name": group,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(|v| gv(v)).unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub fn groups() -> Value {
    let mut names: Vec<&str> = Vec::new();
    for (g, _) in registry::group_versions() {
        if !g.is_empty() && !names.contains(&g) {
            names.push(g);
        }
    }
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": names.iter().map(|g| group_doc(g)).collect::<Vec<_>>(),
    })
}

/// `/apis/{group}`, if served.
pub fn group(group: &str) -> Option<Value> {
    if group.is_empty() || group_versions(group).is_empty() {
        return None;
    }
    let mut d = group_doc(group);
    d["kind"] = json!("APIGroup");
    d["apiVersion"] = json!("v1");
    Some(d)
}

fn resource_entries(rt: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS,
    });
    if !rt.short_names.is_empty() {
        main["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        main["categories"] = json!(rt.categories);
    }
    let mut out = vec![main];
    if rt.status_subresource {
        out.push(json!({
            "name": format!("{}/status", rt.plural),
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": ["get", "patch", "update"],
        }));
    }
    if rt.has_log() {
        out.push(json!({
            "name": format!("{}/log", rt.plural),
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": ["get"],
        }));
    }
    out
}

/// `/api/v1` or `/apis/{group}/{version}`, if served.
pub fn resources(group: &str, version: &str) -> Option<Value> {
    let list: Vec<Value> = registry::all()
        .iter()
        .filter(|rt| rt.group == group && rt.serves(version))
        .flat_map(resource_entries)
        .collect();
    if list.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": list,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_list_the_registry() {
        let apis = groups();
        let names: Vec<&str> = apis["groups"]
            .as_array()
            .map(|a| a.iter().filter_map(|g| g["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            names.contains(&"apps")
                && names.contains(&"gateway.networking.k8s.io")
                && names.contains(&"cert-manager.io")
        );
        let gw = group("gateway.networking.k8s.io").unwrap_or_default();
        assert_eq!(gw["preferredVersion"]["version"], "v1");
        let core = resources("", "v1").unwrap_or_default();
        let pods = core["resources"]
            .as_array()
            .map(|r| r.iter().any(|e| e["name"] == "pods/log"));
        assert_eq!(pods, Some(true));
        assert!(resources("apps", "v9").is_none());
    }
}

//! A minimal OpenAPI v3 surface, served only because kubectl needs it.
//!
//! `kubectl apply` (and `create`, `replace`) validates by default: it fetches `/openapi/v3`,
//! then the document of the object's group-version, and looks for the PATCH operation of
//! the object's kind (`x-kubernetes-group-version-kind`) with a `fieldValidation` query
//! parameter; when found, it leaves validation to the server (`fieldValidation=Strict`)
//! instead of downloading schemas. Without these documents kubectl fails with "failed to
//! download openapi". So each group-version document lists, per kind, one item path whose
//! PATCH operation declares `dryRun`, `fieldManager`, `fieldValidation` and `force` — and
//! no schemas (`components.schemas` is empty; `kubectl explain` will not work). fakekube
//! accepts `fieldValidation` and does not reject unknown fields.

use serde_json::{Map, Value, json};

use crate::registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of group-version documents.
pub fn index() -> Value {
    let mut paths = Map::new();
    for (g, v) in registry::group_versions() {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=fakekube")}),
        );
    }
    json!({ "paths": paths })
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "description": name, "schema": {"type": "string", "uniqueItems": true}})
}

/// `/openapi/v3/{api/v1 | apis/GROUP/VERSION}`, if served.
pub fn document(path: &str) -> Option<Value> {
    let path = path.trim_matches('/');
    let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let mut paths = Map::new();
    for rt in registry::all()
        .iter()
        .filter(|rt| rt.group == group && rt.serves(version))
    {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let item = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{prefix}/{}/{{name}}", rt.plural)
        };
        let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .map(query_param)
            .into();
        let op = json!({
            "operationId": format!("patch{}", rt.kind),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rt.kind},
            "parameters": params,
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(item, json!({"patch": op}));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (fakekube)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_declare_field_validation() {
        let idx = index();
        assert!(idx["paths"]["apis/apps/v1"]["serverRelativeURL"].is_string());
        let doc = document("apis/apps/v1").unwrap_or_default();
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(names.contains(&"fieldValidation"));
        assert!(document("apis/apps/v9").is_none());
    }
}

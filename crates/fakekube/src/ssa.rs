//! The merge rules of server-side apply, over plain JSON with a small built-in schema.
//!
//! Owns: which lists are keyed (and by what), which are sets, which maps are atomic
//! ([`list_kind`], [`is_atomic_map`]); the field set a value contributes ([`value_set`]); the
//! difference between two objects as added/modified/removed field sets ([`compare`]). The
//! apply merge and the removal of fields a manager stopped applying are in [`crate::merge`].
//! Everything not listed in the schema is a granular map (objects) or an atomic list
//! (arrays) — the defaults of structured-merge-diff for CRDs without list annotations. The
//! manager bookkeeping built on these lives in [`crate::managed`].

use serde_json::{Map, Value};

use crate::fieldset::{FieldSet, Pe};

/// How a list merges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ListKind {
    /// Replaced as a whole; owned as one field.
    Atomic,
    /// `listType=set`: items are scalars, merged as a set, owned per value (`v:`).
    Set,
    /// `listType=map`: items merged by key fields, owned per item (`k:`); a key field may
    /// have a default (e.g. `protocol: TCP`) used when the item omits it.
    Map(&'static [(&'static str, Option<&'static str>)]),
}

const BY_NAME: &[(&str, Option<&str>)] = &[("name", None)];
const BY_TYPE: &[(&str, Option<&str>)] = &[("type", None)];
const BY_UID: &[(&str, Option<&str>)] = &[("uid", None)];
const BY_MOUNT_PATH: &[(&str, Option<&str>)] = &[("mountPath", None)];
const BY_DEVICE_PATH: &[(&str, Option<&str>)] = &[("devicePath", None)];
const CONTAINER_PORT: &[(&str, Option<&str>)] =
    &[("containerPort", None), ("protocol", Some("TCP"))];
const SERVICE_PORT: &[(&str, Option<&str>)] = &[("port", None), ("protocol", Some("TCP"))];

fn is_container_list(f: &str) -> bool {
    matches!(f, "containers" | "initContainers" | "ephemeralContainers")
}

/// The list kind at a path of field names (list levels add no name), e.g.
/// `["spec", "template", "spec", "containers", "ports"]`.
pub fn list_kind(path: &[String]) -> ListKind {
    let n = path.len();
    let last = path.last().map(String::as_str).unwrap_or("");
    let parent = if n >= 2 { path[n - 2].as_str() } else { "" };
    match last {
        _ if n == 2 && parent == "metadata" && last == "finalizers" => ListKind::Set,
        _ if n == 2 && parent == "metadata" && last == "ownerReferences" => ListKind::Map(BY_UID),
        "containers" | "initContainers" | "ephemeralContainers" => ListKind::Map(BY_NAME),
        "ports" if is_container_list(parent) => ListKind::Map(CONTAINER_PORT),
        "ports" if n == 2 && parent == "spec" => ListKind::Map(SERVICE_PORT),
        "env" if is_container_list(parent) => ListKind::Map(BY_NAME),
        "volumeMounts" if is_container_list(parent) => ListKind::Map(BY_MOUNT_PATH),
        "volumeDevices" if is_container_list(parent) => ListKind::Map(BY_DEVICE_PATH),
        "volumes" | "imagePullSecrets" if parent == "spec" => ListKind::Map(BY_NAME),
        "listeners" if n == 2 && matches!(parent, "spec" | "status") => ListKind::Map(BY_NAME),
        "conditions" => ListKind::Map(BY_TYPE),
        _ => ListKind::Atomic,
    }
}

/// Whether the object at `path` is an atomic map (`mapType=atomic` / `structType=atomic`):
/// label selectors (`spec.selector` of workloads and PDBs — `LabelSelector` is atomic — and
/// the Service's `spec.selector` map) and `nodeSelector`.
pub fn is_atomic_map(path: &[String]) -> bool {
    matches!(
        path.last().map(String::as_str),
        Some("selector" | "nodeSelector")
    )
}

/// The key of a keyed-list item as its `k:` JSON (key fields in schema order), or `None`
/// when a key field is missing and has no default.
pub fn item_key(item: &Value, keys: &[(&str, Option<&str>)]) -> Option<String> {
    let obj = item.as_object()?;
    let mut parts = Vec::with_capacity(keys.len());
    for (k, default) in keys {
        let v = match (obj.get(*k), default) {
            (Some(v), _) if !v.is_null() => v.clone(),
            (_, Some(d)) => Value::String((*d).to_string()),
            _ => return None,
        };
        parts.push(format!("{}:{}", Value::String((*k).to_string()), v));
    }
    Some(format!("{{{}}}", parts.join(",")))
}

/// The effective kind of a concrete list: a keyed list whose items lack keys, or have
/// duplicate keys, falls back to atomic (the real server would reject it; we stay lenient).
pub(crate) fn effective_kind(path: &[String], lists: &[&Vec<Value>]) -> ListKind {
    match list_kind(path) {
        ListKind::Map(keys) => {
            for list in lists {
                let mut seen = std::collections::HashSet::new();
                for item in list.iter() {
                    let Some(k) = item_key(item, keys) else {
                        return ListKind::Atomic;
                    };
                    if !seen.insert(k) {
                        return ListKind::Atomic;
                    }
                }
            }
            ListKind::Map(keys)
        }
        ListKind::Set => {
            if lists
                .iter()
                .all(|l| l.iter().all(|v| !v.is_object() && !v.is_array()))
            {
                ListKind::Set
            } else {
                ListKind::Atomic
            }
        }
        ListKind::Atomic => ListKind::Atomic,
    }
}

pub(crate) fn set_value_pe(v: &Value) -> Pe {
    Pe::Value(v.to_string())
}

/// Paths excluded from ownership (as the API server strips them): type meta and the
/// server-managed metadata fields.
pub fn strip_ignored(set: &mut FieldSet) {
    set.children.remove(&Pe::Field("apiVersion".into()));
    set.children.remove(&Pe::Field("kind".into()));
    if let Some(md) = set.children.get_mut(&Pe::Field("metadata".into())) {
        md.member = false;
        for f in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            md.children.remove(&Pe::Field(f.into()));
        }
    }
    set.children.retain(|_, c| !c.is_empty());
}

/// The field set a value contributes (what a manager owns after applying it).
pub fn value_set(obj: &Value) -> FieldSet {
    let mut root = FieldSet::new();
    if let Some(m) = obj.as_object() {
        walk_obj(m, &mut root, &mut Vec::new());
    }
    strip_ignored(&mut root);
    root
}

fn walk_obj(m: &Map<String, Value>, node: &mut FieldSet, ctx: &mut Vec<String>) {
    for (k, v) in m {
        ctx.push(k.clone());
        walk_val(v, node.child(Pe::Field(k.clone())), ctx);
        ctx.pop();
    }
}

fn walk_val(v: &Value, node: &mut FieldSet, ctx: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() && !is_atomic_map(ctx) => walk_obj(m, node, ctx),
        Value::Array(items) => match effective_kind(ctx, &[items]) {
            ListKind::Map(keys) => {
                for item in items {
                    let Some(key) = item_key(item, keys) else {
                        continue;
                    };
                    let c = node.child(Pe::Key(key));
                    c.member = true;
                    if let Value::Object(m) = item {
                        walk_obj(m, c, ctx);
                    }
                }
            }
            ListKind::Set => {
                for item in items {
                    node.child(set_value_pe(item)).member = true;
                }
            }
            ListKind::Atomic => node.member = true,
        },
        _ => node.member = true,
    }
}

/// What changed between two objects, as field sets.
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    /// Paths present only in the new object.
    pub added: FieldSet,
    /// Paths present in both with different values.
    pub modified: FieldSet,
    /// Paths present only in the old object.
    pub removed: FieldSet,
}

/// Compare two objects (either may be `Null` for "absent").
pub fn compare(old: &Value, new: &Value) -> Comparison {
    let mut c = Comparison::default();
    let mut ctx = Vec::new();
    let empty = Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    cmp_obj(
        o,
        n,
        &mut c.added,
        &mut c.modified,
        &mut c.removed,
        &mut ctx,
    );
    strip_ignored(&mut c.added);
    strip_ignored(&mut c.modified);
    strip_ignored(&mut c.removed);
    c
}

fn cmp_obj(
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    add: &mut FieldSet,
    modi: &mut FieldSet,
    rem: &mut FieldSet,
    ctx: &mut Vec<String>,
) {
    for (k, nv) in n {
        ctx.push(k.clone());
        let pe = Pe::Field(k.clone());
        match o.get(k) {
            Some(ov) => cmp_val(
                ov,
                nv,
                add.child(pe.clone()),
                modi.child(pe.clone()),
                rem.child(pe),
                ctx,
            ),
            None => walk_val(nv, add.child(pe), ctx),
        }
        ctx.pop();
    }
    for (k, ov) in o {
        if !n.contains_key(k) {
            ctx.push(k.clone());
            walk_val(ov, rem.child(Pe::Field(k.clone())), ctx);
            ctx.pop();
        }
    }
    add.children.retain(|_, c| !c.is_empty());
    modi.children.retain(|_, c| !c.is_empty());
    rem.children.retain(|_, c| !c.is_empty());
}

fn cmp_val(
    o: &Value,
    n: &Value,
    add: &mut FieldSet,
    modi: &mut FieldSet,
    rem: &mut FieldSet,
    ctx: &mut Vec<String>,
) {
    if o == n {
        return;
    }
    match (o, n) {
        (Value::Object(om), Value::Object(nm)) if !is_atomic_map(ctx) => {
            cmp_obj(om, nm, add, modi, rem, ctx)
        }
        (Value::Array(ol), Value::Array(nl)) => match effective_kind(ctx, &[ol, nl]) {
            ListKind::Map(keys) => {
                let keyed = |l: &Vec<Value>| -> Vec<(String, Value)> {
                    l.iter()
                        .filter_map(|i| item_key(i, keys).map(|k| (k, i.clone())))
                        .collect()
                };
                let (ok, nk) = (keyed(ol), keyed(nl));
                for (k, ni) in &nk {
                    let pe = Pe::Key(k.clone());
                    match ok.iter().find(|(x, _)| x == k) {
                        Some((_, oi)) => cmp_val(
                            oi,
                            ni,
                            add.child(pe.clone()),
                            modi.child(pe.clone()),
                            rem.child(pe),
                            ctx,
                        ),
                        None => {
                            let c = add.child(pe);
                            c.member = true;
                            walk_val(ni, c, ctx);
                        }
                    }
                }
                for (k, oi) in &ok {
                    if !nk.iter().any(|(x, _)| x == k) {
                        let c = rem.child(Pe::Key(k.clone()));
                        c.member = true;
                        walk_val(oi, c, ctx);
                    }
                }
                add.children.retain(|_, c| !c.is_empty());
                modi.children.retain(|_, c| !c.is_empty());
                rem.children.retain(|_, c| !c.is_empty());
            }
            ListKind::Set => {
                for v in nl.iter().filter(|v| !ol.contains(v)) {
                    add.child(set_value_pe(v)).member = true;
                }
                for v in ol.iter().filter(|v| !nl.contains(v)) {
                    rem.child(set_value_pe(v)).member = true;
                }
            }
            ListKind::Atomic => modi.member = true,
        },
        _ => {
            modi.member = true;
            if n.is_object() || n.is_array() {
                walk_val(n, add, ctx);
                add.member = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(image: &str, env: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [
                {"name": "web", "image": image, "ports": [{"containerPort": 8080}], "env": env}
            ]}}}})
    }

    #[test]
    fn value_set_uses_keys_and_atomic_selectors() {
        let s = value_set(&deployment("a", json!([{"name": "A", "value": "1"}])));
        let v1 = s.to_fields_v1();
        let c = &v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(
            c["f:ports"]["k:{\"containerPort\":8080,\"protocol\":\"TCP\"}"]["f:containerPort"],
            json!({})
        );
        assert_eq!(c["f:env"]["k:{\"name\":\"A\"}"]["f:value"], json!({}));
        assert_eq!(v1["f:spec"]["f:selector"], json!({}));
        assert!(v1["f:metadata"].get("f:name").is_none());
        assert!(v1.get("f:kind").is_none());
    }

    #[test]
    fn compare_reports_leaf_changes() {
        let a = deployment("a", json!([{"name": "A", "value": "1"}]));
        let b = deployment(
            "b",
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        );
        let c = compare(&a, &b);
        let paths: Vec<String> = c
            .modified
            .paths()
            .iter()
            .map(|p| crate::fieldset::display_path(p))
            .collect();
        assert_eq!(
            paths,
            vec![".spec.template.spec.containers[name=\"web\"].image"]
        );
        assert!(
            c.added
                .paths()
                .iter()
                .any(|p| crate::fieldset::display_path(p).ends_with("env[name=\"B\"]"))
        );
        assert!(c.removed.is_empty());
    }
}

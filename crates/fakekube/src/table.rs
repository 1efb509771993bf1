//! Alternative representations clients ask for in `Accept`: server-side printing
//! (`as=Table`, `meta.k8s.io/v1` `Table`, as `kubectl get` asks) and metadata-only objects
//! (`as=PartialObjectMetadata` / `as=PartialObjectMetadataList`, as kube-rs's `get_metadata`,
//! `list_metadata` and metadata watchers ask).
//!
//! Columns: `Name` and `Age` for every kind, plus `Ready`/`Up-to-date`/`Available` for
//! Deployments, `Status`/`Restarts` for Pods and `Hostnames` for HTTPRoutes. Rows carry the
//! object's metadata as `PartialObjectMetadata` (`includeObject=Metadata`, the default).

use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use crate::list::Page;
use crate::meta;
use crate::registry::ResourceType;

/// The representation a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repr {
    /// The object itself.
    #[default]
    Full,
    /// A `Table`.
    Table,
    /// `PartialObjectMetadata` (lists: `PartialObjectMetadataList`).
    Partial,
}

/// The representation the request's `Accept` header asks for (the first one named wins).
pub fn repr(headers: &HeaderMap) -> Repr {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match (
        accept.find("as=Table"),
        accept.find("as=PartialObjectMetadata"),
    ) {
        (Some(t), Some(p)) if p < t => Repr::Partial,
        (Some(_), _) => Repr::Table,
        (None, Some(_)) => Repr::Partial,
        (None, None) => Repr::Full,
    }
}

/// An object as `PartialObjectMetadata`.
pub fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// A list page as `PartialObjectMetadataList`.
pub fn partial_list(page: &Page) -> Value {
    let mut md = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.cont {
        md["continue"] = json!(c);
    }
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": md,
        "items": page.items.iter().map(|o| partial(o)).collect::<Vec<_>>(),
    })
}

fn column(name: &str, format: &str, description: &str) -> Value {
    json!({"name": name, "type": "string", "format": format, "description": description, "priority": 0})
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    let mut cols = vec![column(
        "Name",
        "name",
        "Name must be unique within a namespace.",
    )];
    match (rt.group, rt.plural) {
        ("apps", "deployments") => {
            cols.push(column("Ready", "", "Number of the pod with ready state"));
            cols.push(column("Up-to-date", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."));
            cols.push(column("Available", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."));
        }
        ("", "pods") => {
            cols.push(column(
                "Status",
                "",
                "The aggregate readiness state of this pod for accepting traffic.",
            ));
            cols.push(column(
                "Restarts",
                "",
                "The number of times the containers in this pod have been restarted.",
            ));
        }
        ("gateway.networking.k8s.io", "httproutes") => {
            cols.push(column("Hostnames", "", "The hostnames of the route."));
        }
        _ => {}
    }
    cols.push(column("Age", "", "CreationTimestamp is a timestamp representing the server time when this object was created."));
    cols
}

/// A short human age (`5s`, `3m`, `2h`, `4d`).
pub fn age(created: Option<&str>) -> String {
    let Some(t) = created.and_then(meta::parse_rfc3339) else {
        return "<unknown>".into();
    };
    let s = (meta::now_secs() - t).max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn int(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn cells(rt: &ResourceType, obj: &Value) -> Vec<Value> {
    let mut c = vec![json!(
        meta::str_at(obj, &["metadata", "name"]).unwrap_or("")
    )];
    match (rt.group, rt.plural) {
        ("apps", "deployments") => {
            let desired = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            c.push(json!(format!(
                "{}/{desired}",
                int(obj, "/status/readyReplicas")
            )));
            c.push(json!(int(obj, "/status/updatedReplicas")));
            c.push(json!(int(obj, "/status/availableReplicas")));
        }
        ("", "pods") => {
            let waiting = obj
                .pointer("/status/containerStatuses/0/state/waiting/reason")
                .and_then(Value::as_str);
            let phase = meta::str_at(obj, &["status", "phase"]).unwrap_or("Pending");
            c.push(json!(waiting.unwrap_or(phase)));
            c.push(json!(int(obj, "/status/containerStatuses/0/restartCount")));
        }
        ("gateway.networking.k8s.io", "httproutes") => {
            let hosts: Vec<String> = obj
                .pointer("/spec/hostnames")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|h| h.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            c.push(json!(format!("[{}]", hosts.join(","))));
        }
        _ => {}
    }
    c.push(json!(age(meta::str_at(
        obj,
        &["metadata", "creationTimestamp"]
    ))));
    c
}

/// One row (also used for watch events).
pub fn row(rt: &ResourceType, obj: &Value) -> Value {
    json!({
        "cells": cells(rt, obj),
        "object": partial(obj),
    })
}

/// A Table for a list page.
pub fn table(rt: &ResourceType, _version: &str, page: &Page) -> Value {
    let mut md = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.cont {
        md["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": md,
        "columnDefinitions": columns(rt),
        "rows": page.items.iter().map(|o| row(rt, o)).collect::<Vec<_>>(),
    })
}

/// A one-row Table for a single object (GET or a watch event).
pub fn single(rt: &ResourceType, obj: &Value, with_columns: bool) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": meta::str_at(obj, &["metadata", "resourceVersion"]).unwrap_or("")},
        "columnDefinitions": if with_columns { Value::Array(columns(rt)) } else { json!([]) },
        "rows": [row(rt, obj)],
    })
}

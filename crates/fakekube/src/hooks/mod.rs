//! Controller hooks: what the cluster's controllers (deployment and job controllers,
//! kubelet, scheduler, a Gateway implementation, cert-manager) would write, on demand.
//!
//! Each hook is a method on [`crate::FakeKube`] that writes through the store like a client
//! would — new resourceVersion, watch events, `Update` managedFields entries for the
//! controller's manager name on the `status` subresource — so clients observe exactly what
//! they would observe from a cluster. [`Auto`] makes some of them run after each spec change.
//! Workloads are in [`workload`], Jobs in [`jobs`], routes and gateways in [`routes`],
//! cert-manager (Certificate, CertificateRequest, Order, Challenge, the Secret) in [`certs`].

pub mod certs;
pub mod jobs;
pub mod routes;
pub mod workload;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::managed::{self, Writer};
use crate::meta;
use crate::registry::{self, ResourceType};
use crate::status::ApiError;
use crate::store::Inner;

/// Controllers that react to writes on their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auto {
    /// Deployments complete their rollout after every spec change (and on create).
    #[serde(default)]
    pub rollouts: bool,
    /// HTTPRoutes are accepted with resolved refs, Gateways and ListenerSets programmed (with
    /// address `127.0.0.1`), Certificates ready — after every spec change.
    #[serde(default)]
    pub routes: bool,
}

/// Manager names the hooks write as (the real controllers' names where there is one).
pub mod managers {
    /// Deployment, ReplicaSet and Job status.
    pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";
    /// Pod status.
    pub const KUBELET: &str = "kubelet";
    /// HTTPRoute, Gateway and ListenerSet status.
    pub const GATEWAY: &str = "fakekube-gateway";
    /// Certificate status (see [`super::certs::managers`] for each cert-manager controller).
    pub const CERT_MANAGER: &str = "cert-manager-certificates-readiness";
}

/// The `controllerName` written into HTTPRoute parent statuses.
pub const GATEWAY_CONTROLLER: &str = "fakekube.satusky.io/gateway-controller";

pub(crate) fn rt(
    group: &str,
    version: &str,
    plural: &str,
) -> Result<&'static ResourceType, ApiError> {
    registry::lookup(group, version, plural)
        .ok_or_else(|| ApiError::path_not_found(&format!("{group}/{version}/{plural}")))
}

pub(crate) fn get(
    g: &Inner,
    rt: &ResourceType,
    ns: &str,
    name: &str,
) -> Result<Arc<Value>, ApiError> {
    g.get(rt, ns, name)
        .ok_or_else(|| ApiError::not_found(rt, name))
}

/// Write `status` through the status subresource as `manager` (no write when unchanged).
pub(crate) fn write_status(
    g: &mut Inner,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    manager: &str,
    status: Value,
) -> Result<Arc<Value>, ApiError> {
    let live = get(g, rt, ns, name)?;
    let mut new = (*live).clone();
    new["status"] = status;
    store_update(g, rt, ns, name, Some(live), new, manager, Some("status"))
}

/// Store `new` as `manager` with an `Update` entry; creates when `live` is `None`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn store_update(
    g: &mut Inner,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    live: Option<Arc<Value>>,
    mut new: Value,
    manager: &str,
    subresource: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    let now = meta::now();
    let api_version = rt.api_version(rt.preferred_version());
    let w = Writer {
        manager,
        api_version: &api_version,
        subresource,
        now: &now,
    };
    let mut before = live.as_deref().cloned().unwrap_or(Value::Null);
    if !before.is_null() {
        meta::metadata_mut(&mut before).remove("managedFields");
    }
    if live.is_none() {
        new["apiVersion"] = json!(api_version);
        new["kind"] = json!(rt.kind);
        let md = meta::metadata_mut(&mut new);
        md.insert("name".into(), json!(name));
        if rt.namespaced {
            md.insert("namespace".into(), json!(ns));
        }
        md.insert("uid".into(), json!(meta::new_uid()));
        md.insert("creationTimestamp".into(), json!(now));
        if rt.generation {
            md.insert("generation".into(), json!(1));
        }
    }
    let prior = live.as_deref().map(managed::read).unwrap_or_default();
    let entries = managed::update(&before, &new, prior, &w);
    managed::write(&mut new, &entries);
    Ok(match live {
        Some(l) if *l == new => l,
        Some(l) => g.commit_update(rt, ns, name, new, l),
        None => g.commit(rt, ns, name, Some(new), None),
    })
}

/// A condition, keeping `lastTransitionTime` from `previous` when the status did not change.
pub(crate) fn condition(
    previous: Option<&Value>,
    ctype: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Value {
    let status_s = if status { "True" } else { "False" };
    let prev = previous
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ctype));
    let since = match prev {
        Some(p) if p["status"] == status_s => p["lastTransitionTime"].clone(),
        _ => json!(meta::now()),
    };
    let mut c = json!({
        "type": ctype,
        "status": status_s,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    });
    if let Some(observed_gen) = generation {
        c["observedGeneration"] = json!(observed_gen);
    }
    c
}

pub(crate) fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A controller ownerReference to `obj`.
pub(crate) fn owner_ref(api_version: &str, kind: &str, obj: &Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": meta::str_at(obj, &["metadata", "name"]).unwrap_or(""),
        "uid": meta::str_at(obj, &["metadata", "uid"]).unwrap_or(""),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Objects of a type in `ns` whose ownerReferences name `owner`'s uid.
pub(crate) fn owned_by(
    g: &Inner,
    plural: (&str, &str, &str),
    ns: &str,
    owner: &Value,
) -> Vec<Arc<Value>> {
    let uid = meta::str_at(owner, &["metadata", "uid"]).unwrap_or("");
    let Ok(t) = rt(plural.0, plural.1, plural.2) else {
        return Vec::new();
    };
    g.objects(t, Some(ns))
        .into_iter()
        .filter(|o| {
            o.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|rs| rs.iter().any(|r| r["uid"] == uid))
        })
        .collect()
}

/// Run the [`Auto`] controllers after a client write to `rt/ns/name`.
pub(crate) fn react(g: &mut Inner, rt: &'static ResourceType, ns: &str, name: &str) {
    let auto = g.auto;
    let Some(obj) = g.get(rt, ns, name) else {
        return;
    };
    if meta::is_deleting(&obj) {
        return;
    }
    let observed = |ptr: &str| obj.pointer(ptr).and_then(Value::as_i64);
    let current = Some(generation(&obj));
    let result = match (rt.group, rt.plural) {
        ("apps", "deployments")
            if auto.rollouts && observed("/status/observedGeneration") != current =>
        {
            workload::complete(g, ns, name).map(|_| ())
        }
        ("gateway.networking.k8s.io", "httproutes")
            if auto.routes
                && observed("/status/parents/0/conditions/0/observedGeneration") != current =>
        {
            routes::route(g, ns, name, &routes::RouteStatus::accepted()).map(|_| ())
        }
        ("gateway.networking.k8s.io", "gateways")
            if auto.routes && observed("/status/conditions/0/observedGeneration") != current =>
        {
            routes::gateway(
                g,
                ns,
                name,
                &routes::GatewayStatus::programmed(vec!["127.0.0.1".into()]),
            )
            .map(|_| ())
        }
        ("gateway.networking.k8s.io", "listenersets")
        | ("gateway.networking.x-k8s.io", "xlistenersets")
            if auto.routes && observed("/status/conditions/0/observedGeneration") != current =>
        {
            routes::listener_set(g, rt, ns, name, true, None).map(|_| ())
        }
        ("cert-manager.io", "certificates")
            if auto.routes && observed("/status/conditions/0/observedGeneration") != current =>
        {
            routes::certificate(g, ns, name, true, None).map(|_| ())
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "auto controller did not react");
    }
}

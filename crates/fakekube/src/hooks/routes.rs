//! Route-plane hooks: a Gateway API implementation (HTTPRoute parent status, Gateway and
//! ListenerSet `Accepted`/`Programmed` with addresses and per-listener status) and the
//! Certificate `Ready` shortcut (cert-manager's steps are in [`super::certs`]).
//!
//! Conditions carry `observedGeneration` = the object's current generation, as conformant
//! implementations write them, so readers can tell a stale status from a current one.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{GATEWAY_CONTROLLER, condition, generation, get, managers, rt, write_status};
use crate::FakeKube;
use crate::meta;
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::store::Inner;

/// The status to give every parent of an HTTPRoute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// `Accepted` condition status.
    pub accepted: bool,
    /// Its reason (default `Accepted` / `NotAllowedByListeners`).
    #[serde(default)]
    pub accepted_reason: Option<String>,
    /// `ResolvedRefs` condition status.
    #[serde(default = "yes")]
    pub resolved_refs: bool,
    /// Its reason (default `ResolvedRefs` / `BackendNotFound`).
    #[serde(default)]
    pub resolved_refs_reason: Option<String>,
    /// The conditions' message.
    #[serde(default)]
    pub message: Option<String>,
}

fn yes() -> bool {
    true
}

impl RouteStatus {
    /// Accepted with resolved refs.
    pub fn accepted() -> Self {
        RouteStatus {
            accepted: true,
            accepted_reason: None,
            resolved_refs: true,
            resolved_refs_reason: None,
            message: None,
        }
    }

    /// Not accepted, with `reason`.
    pub fn rejected(reason: &str) -> Self {
        RouteStatus {
            accepted: false,
            accepted_reason: Some(reason.into()),
            ..RouteStatus::accepted()
        }
    }
}

/// The status to give a Gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// `Programmed` (also on every listener).
    pub programmed: bool,
    /// Addresses (IP addresses or hostnames).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Reason when not programmed (default `Pending`).
    #[serde(default)]
    pub reason: Option<String>,
}

impl GatewayStatus {
    /// Programmed with these addresses.
    pub fn programmed(addresses: Vec<String>) -> Self {
        GatewayStatus {
            programmed: true,
            addresses,
            reason: None,
        }
    }
}

/// Write every parent's status of an HTTPRoute.
pub(crate) fn route(
    g: &mut Inner,
    ns: &str,
    name: &str,
    s: &RouteStatus,
) -> Result<Arc<Value>, ApiError> {
    let r_rt = rt("gateway.networking.k8s.io", "v1", "httproutes")?;
    let r = get(g, r_rt, ns, name)?;
    let observed_gen = generation(&r);
    let msg = s.message.clone().unwrap_or_default();
    let acc_reason = s.accepted_reason.clone().unwrap_or_else(|| {
        if s.accepted {
            "Accepted"
        } else {
            "NotAllowedByListeners"
        }
        .into()
    });
    let ref_reason = s.resolved_refs_reason.clone().unwrap_or_else(|| {
        if s.resolved_refs {
            "ResolvedRefs"
        } else {
            "BackendNotFound"
        }
        .into()
    });
    let parents: Vec<Value> = r
        .pointer("/spec/parentRefs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let prev = r
                .pointer("/status/parents")
                .and_then(Value::as_array)
                .and_then(|ps| ps.iter().find(|x| x["parentRef"] == p))
                .and_then(|x| x.get("conditions"));
            json!({
                "parentRef": p,
                "controllerName": GATEWAY_CONTROLLER,
                "conditions": [
                    condition(prev, "Accepted", s.accepted, &acc_reason, &msg, Some(observed_gen)),
                    condition(prev, "ResolvedRefs", s.resolved_refs, &ref_reason, &msg, Some(observed_gen)),
                ],
            })
        })
        .collect();
    write_status(
        g,
        r_rt,
        ns,
        name,
        managers::GATEWAY,
        json!({"parents": parents}),
    )
}

fn attached_routes(g: &Inner, ns: &str, gw: &str, listener: &str) -> usize {
    let Ok(r_rt) = rt("gateway.networking.k8s.io", "v1", "httproutes") else {
        return 0;
    };
    g.objects(r_rt, None)
        .iter()
        .filter(|r| {
            let r_ns = meta::str_at(r, &["metadata", "namespace"]).unwrap_or("");
            r.pointer("/spec/parentRefs")
                .and_then(Value::as_array)
                .is_some_and(|ps| {
                    ps.iter().any(|p| {
                        p["name"] == gw
                            && p["namespace"].as_str().unwrap_or(r_ns) == ns
                            && p["sectionName"].as_str().is_none_or(|s| s == listener)
                    })
                })
        })
        .count()
}

fn listener_statuses(
    g: &Inner,
    obj: &Value,
    ns: &str,
    gw: &str,
    programmed: bool,
    reason: &str,
) -> Vec<Value> {
    let observed_gen = generation(obj);
    obj.pointer("/spec/listeners")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|l| {
            let lname = l["name"].as_str().unwrap_or("");
            let prev = obj
                .pointer("/status/listeners")
                .and_then(Value::as_array)
                .and_then(|ls| ls.iter().find(|x| x["name"] == lname))
                .and_then(|x| x.get("conditions"));
            json!({
                "name": lname,
                "attachedRoutes": attached_routes(g, ns, gw, lname),
                "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                "conditions": [
                    condition(prev, "Accepted", true, "Accepted", "", Some(observed_gen)),
                    condition(prev, "Programmed", programmed, if programmed { "Programmed" } else { reason }, "", Some(observed_gen)),
                    condition(prev, "ResolvedRefs", true, "ResolvedRefs", "", Some(observed_gen)),
                ],
            })
        })
        .collect()
}

/// Write a Gateway's status: conditions, addresses and listener statuses.
pub(crate) fn gateway(
    g: &mut Inner,
    ns: &str,
    name: &str,
    s: &GatewayStatus,
) -> Result<Arc<Value>, ApiError> {
    let gw_rt = rt("gateway.networking.k8s.io", "v1", "gateways")?;
    let gw = get(g, gw_rt, ns, name)?;
    let observed_gen = generation(&gw);
    let reason = s.reason.clone().unwrap_or_else(|| "Pending".into());
    let prev = gw.pointer("/status/conditions");
    let addresses: Vec<Value> = s
        .addresses
        .iter()
        .map(|a| {
            let kind = if a.parse::<std::net::IpAddr>().is_ok() {
                "IPAddress"
            } else {
                "Hostname"
            };
            json!({"type": kind, "value": a})
        })
        .collect();
    let status = json!({
        "addresses": addresses,
        "conditions": [
            condition(prev, "Accepted", true, "Accepted", "", Some(observed_gen)),
            condition(prev, "Programmed", s.programmed, if s.programmed { "Programmed" } else { &reason }, "", Some(observed_gen)),
        ],
        "listeners": listener_statuses(g, &gw, ns, name, s.programmed, &reason),
    });
    write_status(g, gw_rt, ns, name, managers::GATEWAY, status)
}

/// Write a ListenerSet's (or XListenerSet's) status.
pub(crate) fn listener_set(
    g: &mut Inner,
    ls_rt: &'static ResourceType,
    ns: &str,
    name: &str,
    programmed: bool,
    reason: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    let ls = get(g, ls_rt, ns, name)?;
    let observed_gen = generation(&ls);
    let reason = reason.unwrap_or("Pending");
    let prev = ls.pointer("/status/conditions");
    let status = json!({
        "conditions": [
            condition(prev, "Accepted", true, "Accepted", "", Some(observed_gen)),
            condition(prev, "Programmed", programmed, if programmed { "Programmed" } else { reason }, "", Some(observed_gen)),
        ],
        "listeners": listener_statuses(g, &ls, ns, name, programmed, reason),
    });
    write_status(g, ls_rt, ns, name, managers::GATEWAY, status)
}

/// Write a Certificate's `Ready` condition: ready is cert-manager's whole issuance
/// ([`super::certs::Issuance::Issued`]: the Secret, the request, validity times); not ready is
/// `Ready=False` alone.
pub(crate) fn certificate(
    g: &mut Inner,
    ns: &str,
    name: &str,
    ready: bool,
    message: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    if ready {
        return super::certs::issue(g, ns, name, &super::certs::Issuance::Issued);
    }
    let c_rt = rt("cert-manager.io", "v1", "certificates")?;
    let cert = get(g, c_rt, ns, name)?;
    let observed_gen = generation(&cert);
    let prev = cert.pointer("/status/conditions");
    let mut status = cert.get("status").cloned().unwrap_or(json!({}));
    status["conditions"] = json!([condition(
        prev,
        "Ready",
        false,
        "DoesNotExist",
        message.unwrap_or("Issuing certificate as Secret does not exist"),
        Some(observed_gen)
    )]);
    write_status(g, c_rt, ns, name, managers::CERT_MANAGER, status)
}

impl FakeKube {
    /// Set every parent's status of an HTTPRoute.
    pub fn set_route_status(
        &self,
        ns: &str,
        name: &str,
        s: &RouteStatus,
    ) -> Result<Value, ApiError> {
        route(&mut self.store().lock(), ns, name, s).map(|o| (*o).clone())
    }

    /// Set a Gateway's status.
    pub fn set_gateway_status(
        &self,
        ns: &str,
        name: &str,
        s: &GatewayStatus,
    ) -> Result<Value, ApiError> {
        gateway(&mut self.store().lock(), ns, name, s).map(|o| (*o).clone())
    }

    /// Set a ListenerSet's status (`gateway.networking.k8s.io/v1` ListenerSet, or the
    /// experimental XListenerSet when `experimental`).
    pub fn set_listener_set_status(
        &self,
        ns: &str,
        name: &str,
        programmed: bool,
        experimental: bool,
    ) -> Result<Value, ApiError> {
        let ls_rt = if experimental {
            rt("gateway.networking.x-k8s.io", "v1alpha1", "xlistenersets")?
        } else {
            rt("gateway.networking.k8s.io", "v1", "listenersets")?
        };
        listener_set(&mut self.store().lock(), ls_rt, ns, name, programmed, None)
            .map(|o| (*o).clone())
    }

    /// Set a Certificate's `Ready` condition (ready: issued, with its Secret — see
    /// [`FakeKube::certificate_issuance`] for the steps before).
    pub fn set_certificate_ready(
        &self,
        ns: &str,
        name: &str,
        ready: bool,
        message: Option<&str>,
    ) -> Result<Value, ApiError> {
        certificate(&mut self.store().lock(), ns, name, ready, message).map(|o| (*o).clone())
    }
}

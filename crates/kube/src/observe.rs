//! Reading the truth back, as pure functions over what the API server returned: the workload
//! by kstatus rules, the route plane from an HTTPRoute's per-parent conditions and its parent
//! Gateway's listeners, and the edge (what DNS must point at) from the Gateway's addresses.
//! No client here: the runtime fetches, these functions decide.

use std::net::IpAddr;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use satusky_core::runtime::{EdgeInfo, WorkloadObservation};
use satusky_types::{Hostname, HostnameKind, Plane, PlaneState, Reason, ReplicaCounts};
use serde_json::Value;

/// The annotation carrying the release an object was rendered for.
pub const RELEASE_ANNOTATION: &str = "satusky.io/release";

/// Pod waiting reasons that fail the workload at once.
const FATAL_WAITING: &[(&str, Reason)] = &[
    ("CrashLoopBackOff", Reason::CrashLoopBackOff),
    ("ImagePullBackOff", Reason::ImagePullBackOff),
    ("ErrImagePull", Reason::ErrImagePull),
    ("InvalidImageName", Reason::ErrImagePull),
    ("CreateContainerConfigError", Reason::CrashLoopBackOff),
];

/// The workload of a Deployment rendered for some release (kstatus rules, SPEC §4).
///
/// The status counts only when `status.observedGeneration == metadata.generation`; before
/// that, `release` is `None` so the engine treats it as stale. Failures: the Progressing
/// condition with reason `ProgressDeadlineExceeded`, a pod waiting in CrashLoopBackOff /
/// ImagePullBackOff / ErrImagePull, or a pod the scheduler cannot place (`Unschedulable`) —
/// each with the pod's own reason and message.
pub fn workload(deploy: &Deployment, pods: &[Pod]) -> WorkloadObservation {
    let meta = &deploy.metadata;
    let generation = meta.generation.unwrap_or(0);
    let status = deploy.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(-1);
    let release = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(RELEASE_ANNOTATION))
        .and_then(|v| v.parse::<u64>().ok());
    let desired = deploy
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0);
    let count = |v: Option<i32>| u32::try_from(v.unwrap_or(0).max(0)).unwrap_or(0);
    let replicas = ReplicaCounts {
        desired: u32::try_from(desired).unwrap_or(0),
        updated: count(status.updated_replicas),
        ready: count(status.ready_replicas),
        available: count(status.available_replicas),
    };
    let current = observed >= generation;
    let mut failure = None;
    if current {
        let deadline = status.conditions.iter().flatten().find(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        if let Some(c) = deadline {
            failure = Some((
                Reason::ProgressDeadlineExceeded,
                c.message.clone().unwrap_or_else(|| {
                    "the rollout did not finish within the progress deadline".into()
                }),
            ));
        }
    }
    if failure.is_none() {
        failure = pod_failure(pods);
    }
    // Pods of older ReplicaSets still counted in `status.replicas` (running or terminating):
    // ready/available include them, so the rollout is not complete while any remain.
    let total = count(status.replicas);
    let old = total.saturating_sub(replicas.updated);
    WorkloadObservation {
        release: if current { release } else { None },
        replicas,
        failure,
        old,
        waiting: None,
        exited: None,
        recovering: 0,
        static_files: None,
    }
}

/// The first fatal condition among the pods, with the pod's reason and message.
pub fn pod_failure(pods: &[Pod]) -> Option<(Reason, String)> {
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(status) = &pod.status else { continue };
        for cs in status.container_statuses.iter().flatten() {
            let Some(waiting) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let why = waiting.reason.as_deref().unwrap_or_default();
            if let Some((_, reason)) = FATAL_WAITING.iter().find(|(r, _)| *r == why) {
                let msg = waiting.message.clone().unwrap_or_default();
                let last = cs
                    .last_state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .map(|t| {
                        format!(
                            "; last exit code {}{}",
                            t.exit_code,
                            t.message
                                .as_deref()
                                .map(|m| format!(": {m}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                return Some((*reason, format!("pod {name}: {why}: {msg}{last}")));
            }
        }
        let unschedulable = status.conditions.iter().flatten().find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        });
        if let Some(c) = unschedulable {
            return Some((
                Reason::Unschedulable,
                format!(
                    "pod {name}: {}",
                    c.message
                        .clone()
                        .unwrap_or_else(|| "no node can run it".into())
                ),
            ));
        }
    }
    None
}

/// Which Gateway a route attaches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    pub namespace: String,
    pub name: String,
}

fn conditions(v: &Value) -> Vec<&Value> {
    v.get("conditions")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn condition<'a>(conds: &[&'a Value], kind: &str) -> Option<&'a Value> {
    conds
        .iter()
        .copied()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn is_true(c: Option<&Value>) -> bool {
    c.and_then(|c| c.get("status")).and_then(Value::as_str) == Some("True")
}

fn text(c: Option<&Value>, field: &str) -> String {
    c.and_then(|c| c.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The route plane of each hostname (SPEC §4): the route serving it exists with exactly the
/// stored hostnames, every parent condition `Accepted` and `ResolvedRefs` is True at the
/// route's current generation, the parent Gateway's listener is `Programmed` and the Gateway
/// has an address. `routes` are the HTTPRoutes found for the app (main and redirects).
pub fn route_planes(
    hostnames: &[Hostname],
    routes: &[Value],
    gateway: Option<&Value>,
    parent: &ParentRef,
) -> Vec<Plane> {
    hostnames
        .iter()
        .map(|h| route_plane(h, hostnames, routes, gateway, parent))
        .collect()
}

fn route_hostnames(route: &Value) -> Vec<String> {
    route
        .pointer("/spec/hostnames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn route_plane(
    host: &Hostname,
    all: &[Hostname],
    routes: &[Value],
    gateway: Option<&Value>,
    parent: &ParentRef,
) -> Plane {
    let Some(route) = routes
        .iter()
        .find(|r| route_hostnames(r).contains(&host.hostname))
    else {
        return Plane::new(
            PlaneState::Failed,
            Reason::RouteMissing,
            format!("no HTTPRoute of the app serves {}", host.hostname),
        )
        .with_remediation(format!(
            "`1ctl app drift --check` finds the missing HTTPRoute for {} and applies it again; \
             if it stays missing, `1ctl deploy` again",
            host.hostname
        ));
    };
    let name = route
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Exactly the stored hostnames: the serving route holds the generated hostname and the
    // aliases; each redirect host has a route of its own.
    let mut expected: Vec<String> = if host.kind == HostnameKind::Redirect {
        vec![host.hostname.clone()]
    } else {
        all.iter()
            .filter(|h| h.kind != HostnameKind::Redirect)
            .map(|h| h.hostname.clone())
            .collect()
    };
    let mut served = route_hostnames(route);
    expected.sort();
    served.sort();
    if expected != served {
        return Plane::new(
            PlaneState::Failed,
            Reason::HostnamesMismatch,
            format!(
                "HTTPRoute {name} serves [{}], the store holds [{}]",
                served.join(", "),
                expected.join(", ")
            ),
        )
        .with_remediation(format!(
            "HTTPRoute {name} was changed outside Satusky: `1ctl app drift --check` applies the \
             stored hostnames again; if it stays, `1ctl deploy` again"
        ));
    }
    let generation = route
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let parents = route
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ours = parents.iter().find(|p| {
        p.pointer("/parentRef/name").and_then(Value::as_str) == Some(parent.name.as_str())
            && p.pointer("/parentRef/namespace")
                .and_then(Value::as_str)
                .unwrap_or(&parent.namespace)
                == parent.namespace
    });
    let Some(ours) = ours else {
        return Plane::new(
            PlaneState::InProgress,
            Reason::Waiting,
            format!(
                "HTTPRoute {name}: Gateway {}/{} has not reported on it yet",
                parent.namespace, parent.name
            ),
        );
    };
    let conds = conditions(ours);
    let accepted = condition(&conds, "Accepted");
    let resolved = condition(&conds, "ResolvedRefs");
    let stale = [accepted, resolved].iter().flatten().any(|c| {
        c.get("observedGeneration")
            .and_then(Value::as_i64)
            .is_some_and(|g| g < generation)
    });
    if stale || accepted.is_none() {
        return Plane::new(
            PlaneState::InProgress,
            Reason::Waiting,
            format!(
                "HTTPRoute {name}: the Gateway has not reported on generation {generation} yet"
            ),
        );
    }
    if !is_true(accepted) {
        return Plane::new(
            PlaneState::Failed,
            Reason::NotAccepted,
            format!(
                "HTTPRoute {name} not accepted by {}/{}: {} {}",
                parent.namespace,
                parent.name,
                text(accepted, "reason"),
                text(accepted, "message")
            ),
        )
        .with_remediation(format!(
            "Gateway {ns}/{gw} refuses the route for the reason above: its listeners must allow \
             HTTPRoutes from the app's namespace for these hostnames (`kubectl get gateway {gw} \
             -n {ns} -o yaml`, the platform operator's fix), then `1ctl deploy`",
            ns = parent.namespace,
            gw = parent.name
        ));
    }
    if resolved.is_some() && !is_true(resolved) {
        return Plane::new(
            PlaneState::Failed,
            Reason::RefsNotResolved,
            format!(
                "HTTPRoute {name}: {} {}",
                text(resolved, "reason"),
                text(resolved, "message")
            ),
        )
        .with_remediation(format!(
            "the backend Service of HTTPRoute {name} is missing or not allowed \
             (`kubectl describe httproute {name}` in the app's namespace shows which): \
             `1ctl deploy` applies the app's Service again"
        ));
    }
    match gateway {
        None => Plane::new(
            PlaneState::InProgress,
            Reason::GatewayNotProgrammed,
            format!("Gateway {}/{} not found", parent.namespace, parent.name),
        ),
        Some(gw) => {
            let gw_conds = conditions(gw.get("status").unwrap_or(&Value::Null));
            let listeners_programmed = gw
                .pointer("/status/listeners")
                .and_then(Value::as_array)
                .is_some_and(|ls| {
                    !ls.is_empty()
                        && ls
                            .iter()
                            .all(|l| is_true(condition(&conditions(l), "Programmed")))
                });
            if !is_true(condition(&gw_conds, "Programmed")) || !listeners_programmed {
                return Plane::new(
                    PlaneState::InProgress,
                    Reason::GatewayNotProgrammed,
                    format!(
                        "Gateway {}/{} is not Programmed yet",
                        parent.namespace, parent.name
                    ),
                );
            }
            if edge(gw).addresses.is_empty() && edge(gw).cname_target.is_none() {
                return Plane::new(
                    PlaneState::InProgress,
                    Reason::GatewayNoAddress,
                    format!(
                        "Gateway {}/{} has no address yet",
                        parent.namespace, parent.name
                    ),
                );
            }
            Plane::new(
                PlaneState::Ready,
                Reason::Accepted,
                format!(
                    "HTTPRoute {name} accepted by {}/{}",
                    parent.namespace, parent.name
                ),
            )
        }
    }
}

/// What DNS must point at, from the Gateway's `status.addresses`.
pub fn edge(gateway: &Value) -> EdgeInfo {
    let mut info = EdgeInfo::default();
    for a in gateway
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let value = a.get("value").and_then(Value::as_str).unwrap_or_default();
        match a.get("type").and_then(Value::as_str).unwrap_or("IPAddress") {
            "Hostname" => info.cname_target = Some(value.to_string()),
            _ => {
                if let Ok(ip) = value.parse::<IpAddr>() {
                    info.addresses.push(ip);
                }
            }
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(generation: i64, observed: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": generation, "annotations": {RELEASE_ANNOTATION: "4"}},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": status.as_object().cloned().map(|mut s| {
                s.insert("observedGeneration".into(), observed.into());
                serde_json::Value::Object(s)
            }).unwrap_or_default(),
        }))
        .unwrap()
    }

    #[test]
    fn mid_rollout_old_pods_are_counted_apart() {
        // 3 pods: 2 updated (one not ready yet) and 1 old, ready: ready=2 includes the old one.
        let d = deployment(
            5,
            5,
            serde_json::json!({"replicas": 3, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
        );
        let o = workload(&d, &[]);
        assert_eq!(o.release, Some(4));
        assert_eq!(o.old, 1);
        let done = deployment(
            5,
            5,
            serde_json::json!({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(workload(&done, &[]).old, 0);
    }

    #[test]
    fn a_status_of_an_older_generation_names_no_release() {
        let d = deployment(
            6,
            5,
            serde_json::json!({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
        );
        assert_eq!(workload(&d, &[]).release, None);
    }
}

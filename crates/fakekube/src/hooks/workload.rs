//! Workload hooks: the deployment controller (ReplicaSet per template, named by the
//! pod-template hash; rollout status and conditions), the ReplicaSet controller and kubelet
//! as far as a completed rollout goes (the current ReplicaSet's pods created and ready, older
//! ReplicaSets scaled to 0), and the kubelet and scheduler's pod failures (CrashLoopBackOff,
//! ImagePullBackOff / ErrImagePull, Unschedulable). Jobs are in [`super::jobs`].
//!
//! Volumes: a pod template mounting a `ReadWriteOnce` (or `ReadWriteOncePod`) claim cannot
//! run beside a pod of another ReplicaSet holding it, as on a cluster whose nodes cannot share
//! the volume (the attach fails with a Multi-Attach error). So a `RollingUpdate` that surges
//! (`maxSurge` above 0) stalls there: the new pod waits in `ContainerCreating`, the old pods
//! keep running, the rollout is `ReplicaSetUpdated` until its deadline. `Recreate` (and a
//! rolling update without surge) deletes the old pods first, then completes.
//!
//! Deployment status follows the real controller's shape: `observedGeneration`, `replicas`,
//! `updatedReplicas`, `readyReplicas`, `availableReplicas`, `unavailableReplicas` and the
//! `Available` / `Progressing` conditions with the real reasons (`NewReplicaSetAvailable`,
//! `ReplicaSetUpdated`, `ProgressDeadlineExceeded`, `MinimumReplicasAvailable`,
//! `MinimumReplicasUnavailable`).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    condition, generation, get, managers, owned_by, owner_ref, rt, store_update, write_status,
};
use crate::FakeKube;
use crate::meta;
use crate::status::ApiError;
use crate::store::{Inner, Propagation};

fn desired(d: &Value) -> i64 {
    d.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The pod-template-hash: FNV-1a of the template, in the API server's name alphabet.
fn template_hash(d: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let s = d
        .pointer("/spec/template")
        .map(Value::to_string)
        .unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// The ReplicaSet for the Deployment's current template, created if missing.
fn ensure_replicaset(g: &mut Inner, ns: &str, d: &Value) -> Result<Arc<Value>, ApiError> {
    let rs_rt = rt("apps", "v1", "replicasets")?;
    let dname = meta::str_at(d, &["metadata", "name"]).unwrap_or("");
    let hash = template_hash(d);
    let name = format!("{dname}-{hash}");
    if let Some(rs) = g.get(rs_rt, ns, &name) {
        return Ok(rs);
    }
    let mut template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let tl = meta::metadata_mut(&mut template)
        .entry("labels")
        .or_insert_with(|| json!({}));
    meta::ensure_object(tl).insert("pod-template-hash".into(), json!(hash));
    let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    let ml = meta::ensure_object(&mut selector)
        .entry("matchLabels")
        .or_insert_with(|| json!({}));
    meta::ensure_object(ml).insert("pod-template-hash".into(), json!(hash));
    let labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    let revision = owned_by(g, ("apps", "v1", "replicasets"), ns, d).len() + 1;
    // Like the real controller: the new ReplicaSet carries the Deployment's annotations
    // (kubectl's last-applied copy excepted) plus its revision.
    let mut annotations = d
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    annotations.insert(
        "deployment.kubernetes.io/revision".into(),
        json!(revision.to_string()),
    );
    let rs = json!({
        "metadata": {
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_ref("apps/v1", "Deployment", d)],
        },
        "spec": {"replicas": desired(d), "selector": selector, "template": template},
    });
    store_update(
        g,
        rs_rt,
        ns,
        &name,
        None,
        rs,
        managers::CONTROLLER_MANAGER,
        None,
    )
}

/// Write the Deployment's status.
fn deployment_status(
    g: &mut Inner,
    ns: &str,
    name: &str,
    ready: i64,
    progressing: (bool, &str),
) -> Result<Arc<Value>, ApiError> {
    let d_rt = rt("apps", "v1", "deployments")?;
    let d = get(g, d_rt, ns, name)?;
    let rs = ensure_replicaset(g, ns, &d)?;
    let rs_name = meta::str_at(&rs, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let want = desired(&d);
    let ready = ready.clamp(0, want);
    let prev = d.pointer("/status/conditions");
    let (prog_ok, prog_reason) = progressing;
    let prog_message = match prog_reason {
        "NewReplicaSetAvailable" => {
            format!("ReplicaSet \"{rs_name}\" has successfully progressed.")
        }
        "ProgressDeadlineExceeded" => {
            format!("ReplicaSet \"{rs_name}\" has timed out progressing.")
        }
        _ => format!("ReplicaSet \"{rs_name}\" is progressing."),
    };
    let available = ready >= want;
    let (avail_reason, avail_message) = if available {
        (
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let mut status = json!({
        "observedGeneration": generation(&d),
        "replicas": want,
        "updatedReplicas": want,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            condition(prev, "Available", available, avail_reason, avail_message, None),
            condition(prev, "Progressing", prog_ok, prog_reason, &prog_message, None),
        ],
    });
    if want > ready {
        status["unavailableReplicas"] = json!(want - ready);
    }
    let rs_rt = rt("apps", "v1", "replicasets")?;
    let rs_status = json!({"replicas": want, "readyReplicas": ready, "availableReplicas": ready,
        "fullyLabeledReplicas": want, "observedGeneration": generation(&rs)});
    write_status(
        g,
        rs_rt,
        ns,
        &rs_name,
        managers::CONTROLLER_MANAGER,
        rs_status,
    )?;
    write_status(g, d_rt, ns, name, managers::CONTROLLER_MANAGER, status)
}

/// Complete the rollout, as the deployment and ReplicaSet controllers and the kubelet would
/// leave it: the current template's ReplicaSet runs the Deployment's replicas as ready pods
/// (unready ones replaced, extra ones deleted), every older ReplicaSet is scaled to 0 with
/// its pods deleted, and the status says every replica is updated, ready and available.
///
/// Unless the new pods need a one-writer claim that pods of an older ReplicaSet hold and the
/// strategy surges: then the rollout stalls (see the module docs).
pub(crate) fn complete(g: &mut Inner, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
    let d_rt = rt("apps", "v1", "deployments")?;
    let d = get(g, d_rt, ns, name)?;
    let current = ensure_replicaset(g, ns, &d)?;
    let want = usize::try_from(desired(&d)).unwrap_or(0);
    let rs_rt = rt("apps", "v1", "replicasets")?;
    let mut replicasets = owned_by(g, ("apps", "v1", "replicasets"), ns, &d);
    if surges(&d)
        && let Some(claim) = claim_held_by_older(g, ns, &current, &replicasets)
    {
        return attach_stalled(g, ns, name, &current, &claim);
    }
    // Older ReplicaSets first: their pods are gone before the new ones start.
    replicasets.sort_by_key(|rs| uid(rs) == uid(&current));
    for rs in replicasets {
        let pods = owned_by(g, ("", "v1", "pods"), ns, &rs);
        if uid(&rs) == uid(&current) {
            let (ready, unready): (Vec<_>, Vec<_>) = pods.into_iter().partition(|p| is_ready(p));
            let extra = ready.iter().skip(want);
            delete_pods(g, ns, unready.iter().chain(extra))?;
            for _ in ready.len()..want {
                ready_pod(g, ns, &current)?;
            }
            scale(g, ns, &rs, desired(&d))?;
        } else {
            delete_pods(g, ns, pods.iter())?;
            let rs = scale(g, ns, &rs, 0)?;
            let status = json!({"replicas": 0, "observedGeneration": generation(&rs)});
            write_status(
                g,
                rs_rt,
                ns,
                name_of(&rs),
                managers::CONTROLLER_MANAGER,
                status,
            )?;
        }
    }
    deployment_status(g, ns, name, desired(&d), (true, "NewReplicaSetAvailable"))
}

/// Whether the Deployment's strategy starts new pods before old ones stop: `RollingUpdate`
/// (the default) with `maxSurge` above 0 (default 25%, which rounds up to at least 1).
fn surges(d: &Value) -> bool {
    let strategy = d.pointer("/spec/strategy");
    let kind = strategy
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate");
    if kind != "RollingUpdate" {
        return false;
    }
    match strategy.and_then(|s| s.pointer("/rollingUpdate/maxSurge")) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0) > 0,
        Some(Value::String(p)) => p.trim_end_matches('%').trim().parse::<i64>().unwrap_or(0) > 0,
        _ => true,
    }
}

/// Claims a pod template mounts.
fn claims_of(template_owner: &Value) -> Vec<String> {
    template_owner
        .pointer("/spec/template/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName"))
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The first one-writer claim the `current` ReplicaSet's pods need that a pod of another of
/// `replicasets` holds.
fn claim_held_by_older(
    g: &Inner,
    ns: &str,
    current: &Value,
    replicasets: &[Arc<Value>],
) -> Option<String> {
    let pvc_rt = rt("", "v1", "persistentvolumeclaims").ok()?;
    let one_writer = |claim: &str| {
        g.get(pvc_rt, ns, claim).is_some_and(|pvc| {
            pvc.pointer("/spec/accessModes")
                .and_then(Value::as_array)
                .is_some_and(|modes| {
                    modes
                        .iter()
                        .any(|m| m == "ReadWriteOnce" || m == "ReadWriteOncePod")
                })
        })
    };
    let needed: Vec<String> = claims_of(current)
        .into_iter()
        .filter(|c| one_writer(c))
        .collect();
    replicasets
        .iter()
        .filter(|rs| uid(rs) != uid(current))
        .filter(|rs| !owned_by(g, ("", "v1", "pods"), ns, rs).is_empty())
        .flat_map(|rs| claims_of(rs))
        .find(|c| needed.contains(c))
}

/// A surging rollout whose new pod cannot attach `claim`: one new pod waiting in
/// `ContainerCreating`, the old pods left running, the Deployment still progressing.
fn attach_stalled(
    g: &mut Inner,
    ns: &str,
    name: &str,
    current: &Arc<Value>,
    claim: &str,
) -> Result<Arc<Value>, ApiError> {
    let pods_rt = rt("", "v1", "pods")?;
    if owned_by(g, ("", "v1", "pods"), ns, current).is_empty() {
        let pod = ready_pod(g, ns, current)?;
        let pod_name = name_of(&pod).to_string();
        let containers = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let now = meta::now();
        let message = format!(
            "Multi-Attach error for volume of claim \"{claim}\": Volume is already used by a pod of another ReplicaSet"
        );
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                    "started": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating", "message": message}},
                    "lastState": {}})
            })
            .collect();
        let status = json!({"phase": "Pending", "qosClass": "BestEffort", "startTime": now,
            "hostIP": "10.0.0.2", "containerStatuses": statuses, "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                 "message": message, "lastTransitionTime": now}]});
        write_status(g, pods_rt, ns, &pod_name, managers::KUBELET, status)?;
    }
    deployment_status(g, ns, name, 0, (true, "ReplicaSetUpdated"))
}

fn uid(obj: &Value) -> &str {
    meta::str_at(obj, &["metadata", "uid"]).unwrap_or("")
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn delete_pods<'a>(
    g: &mut Inner,
    ns: &str,
    pods: impl Iterator<Item = &'a Arc<Value>>,
) -> Result<(), ApiError> {
    let pods_rt = rt("", "v1", "pods")?;
    for pod in pods {
        if let Some(n) = meta::str_at(pod, &["metadata", "name"]) {
            let n = n.to_string();
            g.delete(pods_rt, ns, &n, Propagation::Background);
        }
    }
    Ok(())
}

/// A pod of ReplicaSet `rs` from its template (labels, annotations, spec), created by the
/// ReplicaSet controller and reported running and ready by the kubelet.
fn ready_pod(g: &mut Inner, ns: &str, rs: &Value) -> Result<Arc<Value>, ApiError> {
    let pods_rt = rt("", "v1", "pods")?;
    let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let spec = template.get("spec").cloned().unwrap_or(json!({}));
    let rs_name = meta::str_at(rs, &["metadata", "name"]).unwrap_or("");
    let name = format!("{rs_name}-{}", meta::name_suffix());
    let mut metadata = template.get("metadata").cloned().unwrap_or(json!({}));
    meta::ensure_object(&mut metadata).insert(
        "ownerReferences".into(),
        json!([owner_ref("apps/v1", "ReplicaSet", rs)]),
    );
    let obj = json!({"metadata": metadata, "spec": spec});
    store_update(
        g,
        pods_rt,
        ns,
        &name,
        None,
        obj,
        managers::CONTROLLER_MANAGER,
        None,
    )?;
    let now = meta::now();
    let statuses: Vec<Value> = spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true,
                "started": true, "restartCount": 0, "state": {"running": {"startedAt": now}},
                "lastState": {}})
        })
        .collect();
    let conditions: Vec<Value> = ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "lastTransitionTime": now}))
        .collect();
    let status = json!({"phase": "Running", "conditions": conditions,
        "containerStatuses": statuses, "startTime": now, "hostIP": "10.0.0.1",
        "podIP": "10.244.0.11", "qosClass": "BestEffort"});
    write_status(g, pods_rt, ns, &name, managers::KUBELET, status)
}

/// Set the ReplicaSet's wanted replicas (no write when they are already that).
fn scale(g: &mut Inner, ns: &str, rs: &Arc<Value>, replicas: i64) -> Result<Arc<Value>, ApiError> {
    if rs.pointer("/spec/replicas").and_then(Value::as_i64) == Some(replicas) {
        return Ok(Arc::clone(rs));
    }
    let rs_rt = rt("apps", "v1", "replicasets")?;
    let mut scaled = (**rs).clone();
    scaled["spec"]["replicas"] = json!(replicas);
    let name = name_of(rs).to_string();
    store_update(
        g,
        rs_rt,
        ns,
        &name,
        Some(Arc::clone(rs)),
        scaled,
        managers::CONTROLLER_MANAGER,
        None,
    )
}

fn name_of(obj: &Value) -> &str {
    meta::str_at(obj, &["metadata", "name"]).unwrap_or("")
}

/// Which pod failure to play.
#[derive(Debug, Clone)]
pub enum PodFailure {
    /// The container keeps crashing: waiting `CrashLoopBackOff`.
    CrashLoop {
        /// The waiting message (default: the kubelet's back-off message).
        message: Option<String>,
    },
    /// The image cannot be pulled: waiting `ImagePullBackOff` or `ErrImagePull`.
    ImagePull {
        /// `ImagePullBackOff` or `ErrImagePull`.
        reason: String,
        /// The waiting message.
        message: Option<String>,
    },
    /// The scheduler finds no node: `PodScheduled=False`, reason `Unschedulable`.
    Unschedulable {
        /// The condition message.
        message: Option<String>,
    },
}

fn pod_status(spec: &Value, pod_name: &str, failure: &PodFailure) -> Value {
    let now = meta::now();
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let unready = format!("containers with unready status: [{}]", names.join(" "));
    let statuses = |state: &dyn Fn(&Value) -> (Value, Value, i64)| -> Vec<Value> {
        containers
            .iter()
            .map(|c| {
                let (st, last, restarts) = state(c);
                json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false, "started": false,
                    "restartCount": restarts, "state": st, "lastState": last})
            })
            .collect()
    };
    let running_conditions = json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "message": unready, "lastTransitionTime": now},
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": unready, "lastTransitionTime": now},
    ]);
    match failure {
        PodFailure::CrashLoop { message } => {
            let cs = statuses(&|c: &Value| {
                let cname = c["name"].as_str().unwrap_or("");
                let msg = message.clone().unwrap_or_else(|| {
                    format!("back-off 5m0s restarting failed container={cname} pod={pod_name}")
                });
                (
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": msg}}),
                    json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}}),
                    5,
                )
            });
            json!({"phase": "Running", "conditions": running_conditions, "containerStatuses": cs,
                "startTime": now, "hostIP": "10.0.0.1", "podIP": "10.244.0.10", "qosClass": "BestEffort"})
        }
        PodFailure::ImagePull { reason, message } => {
            let cs = statuses(&|c: &Value| {
                let image = c["image"].as_str().unwrap_or("");
                let msg = message
                    .clone()
                    .unwrap_or_else(|| format!("Back-off pulling image \"{image}\""));
                (
                    json!({"waiting": {"reason": reason, "message": msg}}),
                    json!({}),
                    0,
                )
            });
            json!({"phase": "Pending", "conditions": running_conditions, "containerStatuses": cs,
                "startTime": now, "hostIP": "10.0.0.1", "podIP": "10.244.0.10", "qosClass": "BestEffort"})
        }
        PodFailure::Unschedulable { message } => {
            let msg = message.clone().unwrap_or_else(|| {
                "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.".into()
            });
            json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg, "lastTransitionTime": now}
            ]})
        }
    }
}

/// Make the Deployment's current ReplicaSet have a failing pod, and report the rollout as
/// still progressing with no ready replicas.
pub(crate) fn fail_pod(
    g: &mut Inner,
    ns: &str,
    name: &str,
    failure: &PodFailure,
) -> Result<Arc<Value>, ApiError> {
    let d_rt = rt("apps", "v1", "deployments")?;
    let pods_rt = rt("", "v1", "pods")?;
    let d = get(g, d_rt, ns, name)?;
    let rs = ensure_replicaset(g, ns, &d)?;
    let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let spec = template.get("spec").cloned().unwrap_or(json!({}));
    let existing = owned_by(g, ("", "v1", "pods"), ns, &rs).into_iter().next();
    let pod = match existing {
        Some(p) => p,
        None => {
            let rs_name = meta::str_at(&rs, &["metadata", "name"]).unwrap_or("");
            let pod_name = format!("{rs_name}-{}", meta::name_suffix());
            let obj = json!({
                "metadata": {"labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                    "ownerReferences": [owner_ref("apps/v1", "ReplicaSet", &rs)]},
                "spec": spec,
            });
            store_update(
                g,
                pods_rt,
                ns,
                &pod_name,
                None,
                obj,
                managers::CONTROLLER_MANAGER,
                None,
            )?
        }
    };
    let pod_name = meta::str_at(&pod, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let status = pod_status(&spec, &pod_name, failure);
    let pod = write_status(g, pods_rt, ns, &pod_name, managers::KUBELET, status)?;
    deployment_status(g, ns, name, 0, (true, "ReplicaSetUpdated"))?;
    Ok(pod)
}

impl FakeKube {
    /// Rollout in progress: `ready` of the desired replicas ready (status at the current
    /// generation, `Progressing=True/ReplicaSetUpdated`).
    pub fn rollout_progress(
        &self,
        ns: &str,
        name: &str,
        ready: u32,
    ) -> Result<serde_json::Value, ApiError> {
        let mut g = self.store().lock();
        deployment_status(
            &mut g,
            ns,
            name,
            i64::from(ready),
            (true, "ReplicaSetUpdated"),
        )
        .map(|o| (*o).clone())
    }

    /// Rollout complete (`Progressing=True/NewReplicaSetAvailable`, all replicas available).
    pub fn complete_rollout(&self, ns: &str, name: &str) -> Result<serde_json::Value, ApiError> {
        let mut g = self.store().lock();
        complete(&mut g, ns, name).map(|o| (*o).clone())
    }

    /// Rollout stalled: `Progressing=False/ProgressDeadlineExceeded` at the current generation.
    pub fn stall_rollout(&self, ns: &str, name: &str) -> Result<serde_json::Value, ApiError> {
        let mut g = self.store().lock();
        deployment_status(&mut g, ns, name, 0, (false, "ProgressDeadlineExceeded"))
            .map(|o| (*o).clone())
    }

    /// A pod of the current ReplicaSet fails as described; returns the pod.
    pub fn fail_pod(
        &self,
        ns: &str,
        deployment: &str,
        failure: PodFailure,
    ) -> Result<serde_json::Value, ApiError> {
        let mut g = self.store().lock();
        fail_pod(&mut g, ns, deployment, &failure).map(|o| (*o).clone())
    }

    /// Shorthand: CrashLoopBackOff with `message` (or the kubelet's default).
    pub fn crash_loop(
        &self,
        ns: &str,
        deployment: &str,
        message: Option<&str>,
    ) -> Result<serde_json::Value, ApiError> {
        self.fail_pod(
            ns,
            deployment,
            PodFailure::CrashLoop {
                message: message.map(str::to_string),
            },
        )
    }
}

//! Job hooks: the job controller and kubelet for build Jobs — a pod per Job (labels and
//! ownerReference as the job controller sets them), logs on its main container, the main
//! container's termination message (Kaniko writes the image digest there), and the Job's
//! `Complete` / `Failed` conditions with the real reasons.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{condition, get, managers, owned_by, owner_ref, rt, store_update, write_status};
use crate::FakeKube;
use crate::meta;
use crate::status::ApiError;
use crate::store::Inner;

fn job_pod(g: &mut Inner, ns: &str, job: &Value) -> Result<Arc<Value>, ApiError> {
    if let Some(p) = owned_by(g, ("", "v1", "pods"), ns, job).into_iter().next() {
        return Ok(p);
    }
    let pods_rt = rt("", "v1", "pods")?;
    let jname = meta::str_at(job, &["metadata", "name"]).unwrap_or("");
    let uid = meta::str_at(job, &["metadata", "uid"]).unwrap_or("");
    let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", jname),
        ("controller-uid", uid),
        ("job-name", jname),
    ] {
        meta::ensure_object(&mut labels).insert(k.into(), json!(v));
    }
    let obj = json!({
        "metadata": {"labels": labels, "ownerReferences": [owner_ref("batch/v1", "Job", job)]},
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    });
    let name = format!("{jname}-{}", meta::name_suffix());
    store_update(
        g,
        pods_rt,
        ns,
        &name,
        None,
        obj,
        managers::CONTROLLER_MANAGER,
        None,
    )
}

fn container_name(pod: &Value, field: &str, i: usize) -> String {
    pod.pointer(&format!("/spec/{field}/{i}/name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// How a Job ends.
#[derive(Debug, Clone)]
pub struct JobEnd<'a> {
    /// Whether it succeeded.
    pub succeeded: bool,
    /// Log text appended to the main (first) container before it terminates.
    pub logs: &'a str,
    /// The main container's termination message (Kaniko writes the digest there).
    pub message: &'a str,
    /// The main container's exit code.
    pub exit_code: i64,
}

/// Start (if needed) and finish a Job's pod, then write the Job's status.
pub(crate) fn finish_job(
    g: &mut Inner,
    ns: &str,
    name: &str,
    end: &JobEnd<'_>,
) -> Result<Arc<Value>, ApiError> {
    let job_rt = rt("batch", "v1", "jobs")?;
    let pods_rt = rt("", "v1", "pods")?;
    let job = get(g, job_rt, ns, name)?;
    let pod = job_pod(g, ns, &job)?;
    let pod_name = meta::str_at(&pod, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let main = container_name(&pod, "containers", 0);
    if !end.logs.is_empty() {
        g.append_log(ns, &pod_name, &main, end.logs);
    }
    let now = meta::now();
    let started = pod
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or(json!(now));
    let terminated = |exit: i64, reason: &str, message: &str| {
        let mut t =
            json!({"exitCode": exit, "reason": reason, "startedAt": started, "finishedAt": now});
        if !message.is_empty() {
            t["message"] = json!(message);
        }
        json!({"terminated": t})
    };
    let (reason, phase) = if end.succeeded {
        ("Completed", "Succeeded")
    } else {
        ("Error", "Failed")
    };
    let inits: Vec<Value> = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false,
            "restartCount": 0, "state": terminated(0, "Completed", "")})
                })
                .collect()
        })
        .unwrap_or_default();
    let mains: Vec<Value> = pod.pointer("/spec/containers").and_then(Value::as_array).map(|cs| {
        cs.iter().enumerate().map(|(i, c)| {
            let st = if i == 0 { terminated(end.exit_code, reason, end.message) } else { terminated(0, "Completed", "") };
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false, "started": false,
                "restartCount": 0, "state": st})
        }).collect()
    }).unwrap_or_default();
    let pod_status = json!({"phase": phase, "startTime": started, "initContainerStatuses": inits,
        "containerStatuses": mains, "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}]});
    write_status(g, pods_rt, ns, &pod_name, managers::KUBELET, pod_status)?;
    let prev = job.pointer("/status/conditions");
    let job_started = job.pointer("/status/startTime").cloned().unwrap_or(started);
    let status = if end.succeeded {
        let msg = "Reached expected number of succeeded pods";
        json!({"startTime": job_started, "completionTime": now, "succeeded": 1, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {}, "conditions": [
                condition(prev, "SuccessCriteriaMet", true, "CompletionsReached", msg, None),
                condition(prev, "Complete", true, "CompletionsReached", msg, None)]})
    } else {
        let msg = "Job has reached the specified backoff limit";
        json!({"startTime": job_started, "failed": 1, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {}, "conditions": [
                condition(prev, "FailureTarget", true, "BackoffLimitExceeded", msg, None),
                condition(prev, "Failed", true, "BackoffLimitExceeded", msg, None)]})
    };
    write_status(g, job_rt, ns, name, managers::CONTROLLER_MANAGER, status)
}

/// Start a Job: its pod running, the Job active.
pub(crate) fn start_job(g: &mut Inner, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
    let job_rt = rt("batch", "v1", "jobs")?;
    let pods_rt = rt("", "v1", "pods")?;
    let job = get(g, job_rt, ns, name)?;
    let pod = job_pod(g, ns, &job)?;
    let pod_name = meta::str_at(&pod, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let now = meta::now();
    let running: Vec<Value> = pod.pointer("/spec/containers").and_then(Value::as_array).map(|cs| {
        cs.iter().map(|c| json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true, "started": true,
            "restartCount": 0, "state": {"running": {"startedAt": now}}})).collect()
    }).unwrap_or_default();
    let pod = write_status(
        g,
        pods_rt,
        ns,
        &pod_name,
        managers::KUBELET,
        json!({"phase": "Running", "startTime": now, "containerStatuses": running}),
    )?;
    write_status(
        g,
        job_rt,
        ns,
        name,
        managers::CONTROLLER_MANAGER,
        json!({"startTime": now, "active": 1, "ready": 1, "terminating": 0, "uncountedTerminatedPods": {}}),
    )?;
    Ok(pod)
}

impl FakeKube {
    /// Start a Job's pod (running); returns the pod, whose log can then be appended to.
    pub fn start_job(&self, ns: &str, name: &str) -> Result<serde_json::Value, ApiError> {
        let mut g = self.store().lock();
        start_job(&mut g, ns, name).map(|o| (*o).clone())
    }

    /// Finish a Job (starting its pod if needed) with logs and a termination message.
    pub fn finish_job(
        &self,
        ns: &str,
        name: &str,
        end: &JobEnd<'_>,
    ) -> Result<serde_json::Value, ApiError> {
        let mut g = self.store().lock();
        finish_job(&mut g, ns, name, end).map(|o| (*o).clone())
    }

    /// Append text to a container's log (followers see it at once).
    pub fn append_log(&self, ns: &str, pod: &str, container: &str, text: &str) {
        self.store().lock().append_log(ns, pod, container, text);
    }

    /// Append text to a container's log, each new line stamped `at` (epoch nanoseconds).
    pub fn append_log_at(&self, ns: &str, pod: &str, container: &str, text: &str, at: i128) {
        self.store()
            .lock()
            .append_log_at(ns, pod, container, text, at);
    }

    /// The kubelet restarted a container: its log so far becomes the `previous=true` log,
    /// the new run's starts empty, and the pod's status shows `restartCount` + 1 with the
    /// last run `terminated` (exit code 1, `Error`) and the new one `running`.
    pub fn restart_container(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let mut g = self.store().lock();
        let pods_rt = rt("", "v1", "pods")?;
        let live = get(&g, pods_rt, ns, pod)?;
        let mut status = live.get("status").cloned().unwrap_or_else(|| json!({}));
        if !status.is_object() {
            status = json!({});
        }
        let statuses = status
            .as_object_mut()
            .map(|m| m.entry("containerStatuses").or_insert_with(|| json!([])))
            .filter(|v| v.is_array())
            .ok_or_else(|| ApiError::bad_request("pod status is not an object"))?;
        let list = statuses
            .as_array_mut()
            .ok_or_else(|| ApiError::bad_request("containerStatuses is not a list"))?;
        let now = meta::now();
        let index = match list.iter().position(|c| c["name"] == container) {
            Some(i) => i,
            None => {
                list.push(json!({"name": container, "ready": false, "restartCount": 0,
                    "image": "", "imageID": "", "state": {"running": {"startedAt": now}}}));
                list.len() - 1
            }
        };
        let entry = &mut list[index];
        let restarts = entry["restartCount"].as_i64().unwrap_or(0) + 1;
        entry["restartCount"] = json!(restarts);
        entry["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error",
            "startedAt": now, "finishedAt": now}});
        entry["state"] = json!({"running": {"startedAt": now}});
        let pod_obj = write_status(&mut g, pods_rt, ns, pod, managers::KUBELET, status)?;
        g.restart_log(ns, pod, container);
        Ok((*pod_obj).clone())
    }
}

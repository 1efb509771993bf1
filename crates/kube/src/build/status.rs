//! Pure readings of what the API returned about a build: whether the Job has finished and
//! how, which build pod belongs to it, how far each container has got (for the log
//! follower), the digest Kaniko left in its termination message, and why a pod failed.
//! No client, no clock.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::job::{FETCH_CONTAINER, KANIKO_CONTAINER, parse_digest};

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    Complete,
    Failed { reason: String, message: String },
}

/// The Job's end, from its final `Complete` / `Failed` conditions (the interim
/// `SuccessCriteriaMet` / `FailureTarget` are not ends: the pod may still be terminating).
pub fn job_end(job: &Job) -> Option<JobEnd> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let is_true = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status == "True")
    };
    if is_true("Complete").is_some() {
        return Some(JobEnd::Complete);
    }
    is_true("Failed").map(|c| JobEnd::Failed {
        reason: c.reason.clone().unwrap_or_else(|| "Failed".to_owned()),
        message: c.message.clone().unwrap_or_default(),
    })
}

/// The newest pod controlled by the Job with uid `job_uid` (a pod left over from an earlier
/// Job of the same name has another owner).
pub fn build_pod<'a>(pods: &'a [Pod], job_uid: &str) -> Option<&'a Pod> {
    pods.iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .as_ref()
                .is_some_and(|refs| refs.iter().any(|r| r.uid == job_uid))
        })
        .max_by_key(|p| {
            (
                p.metadata.creation_timestamp.clone(),
                p.metadata.name.clone(),
            )
        })
}

/// How far a container of the build pod has got, for reading its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not started (its log does not exist yet).
    Waiting,
    /// Running: follow its log.
    Running,
    /// Done (or will never run): read what it logged, once.
    Finished,
}

fn status_of<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .flatten()
        .find(|c| c.name == name)
}

fn started(c: &ContainerStatus) -> (bool, bool) {
    let state = c.state.as_ref();
    (
        state.is_some_and(|s| s.running.is_some()),
        state.is_some_and(|s| s.terminated.is_some()),
    )
}

/// Whether the pod is done (`Succeeded` or `Failed`).
pub fn pod_finished(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed")
}

/// How far the container `name` has got. An init container is finished once any app
/// container has started, whether or not its own status says so; in a finished pod every
/// container is finished.
pub fn progress(pod: &Pod, name: &str) -> Progress {
    if let Some(c) = status_of(pod, name) {
        match started(c) {
            (_, true) => return Progress::Finished,
            (true, _) => return Progress::Running,
            _ => {}
        }
    }
    if pod_finished(pod) {
        return Progress::Finished;
    }
    if name == FETCH_CONTAINER
        && status_of(pod, KANIKO_CONTAINER).is_some_and(|c| started(c) != (false, false))
    {
        return Progress::Finished;
    }
    Progress::Waiting
}

/// Why a completed build has no digest to pin the release to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissingDigest {
    #[error("its termination message is {0:?}, not a digest")]
    NotADigest(String),
    #[error("the {KANIKO_CONTAINER} container left no termination message")]
    NoMessage,
    #[error("its pod is gone, and with it Kaniko's digest")]
    PodGone,
}

/// The digest Kaniko wrote to its termination message, or what was there instead.
pub fn digest(pod: &Pod) -> Result<String, MissingDigest> {
    let message = status_of(pod, KANIKO_CONTAINER)
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.message.as_deref());
    match message {
        Some(m) => parse_digest(m)
            .map(str::to_owned)
            .ok_or_else(|| MissingDigest::NotADigest(m.trim().to_owned())),
        None => Err(MissingDigest::NoMessage),
    }
}

/// What the build pod says went wrong: a container that exited non-zero, or one stuck
/// waiting (bad image, missing Secret) with the kubelet's reason and message.
pub fn pod_failure(pod: &Pod) -> Option<String> {
    for name in [FETCH_CONTAINER, KANIKO_CONTAINER] {
        let Some(state) = status_of(pod, name).and_then(|c| c.state.as_ref()) else {
            continue;
        };
        if let Some(t) = &state.terminated
            && t.exit_code != 0
        {
            let what = if name == FETCH_CONTAINER {
                "fetching the build context failed"
            } else {
                "Kaniko failed"
            };
            let reason = t.reason.as_deref().unwrap_or("Error");
            return Some(format!(
                "{what}: container {name} exited with code {} ({reason})",
                t.exit_code
            ));
        }
        if let Some(w) = &state.waiting
            && let Some(reason) = w.reason.as_deref()
            && reason != "PodInitializing"
        {
            let message = w.message.as_deref().unwrap_or_default();
            return Some(
                format!("container {name} is waiting: {reason} {message}")
                    .trim_end()
                    .to_owned(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn job(conditions: serde_json::Value) -> Job {
        serde_json::from_value(json!({"status": {"conditions": conditions}})).unwrap()
    }

    #[test]
    fn only_final_conditions_end_a_job() {
        assert_eq!(job_end(&job(json!([]))), None);
        let interim = json!([{"type": "FailureTarget", "status": "True", "reason": "X"}]);
        assert_eq!(job_end(&job(interim)), None);
        let done = json!([{"type": "SuccessCriteriaMet", "status": "True"},
            {"type": "Complete", "status": "True"}]);
        assert_eq!(job_end(&job(done)), Some(JobEnd::Complete));
        let failed = json!([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline"}]);
        assert_eq!(
            job_end(&job(failed)),
            Some(JobEnd::Failed {
                reason: "DeadlineExceeded".into(),
                message: "Job was active longer than specified deadline".into()
            })
        );
        let not_yet = json!([{"type": "Complete", "status": "False"}]);
        assert_eq!(job_end(&job(not_yet)), None);
    }

    #[test]
    fn the_build_pod_is_the_newest_one_the_job_owns() {
        let p = |name: &str, uid: &str, at: &str| {
            pod(json!({"metadata": {"name": name, "creationTimestamp": at,
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": uid}]}}))
        };
        let pods = vec![
            p("old", "u0", "2025-01-01T00:00:00Z"),
            p("a", "u1", "2025-01-01T00:00:01Z"),
            p("b", "u1", "2025-01-01T00:00:02Z"),
        ];
        let found = build_pod(&pods, "u1").and_then(|p| p.metadata.name.clone());
        assert_eq!(found.as_deref(), Some("b"));
        assert!(build_pod(&pods, "u9").is_none());
    }

    #[test]
    fn container_progress() {
        let pending = pod(json!({"status": {"phase": "Pending"}}));
        assert_eq!(progress(&pending, FETCH_CONTAINER), Progress::Waiting);
        assert_eq!(progress(&pending, KANIKO_CONTAINER), Progress::Waiting);
        let fetching = pod(json!({"status": {"phase": "Pending",
            "initContainerStatuses": [{"name": "fetch", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {}}}],
            "containerStatuses": [{"name": "kaniko", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}}));
        assert_eq!(progress(&fetching, FETCH_CONTAINER), Progress::Running);
        assert_eq!(progress(&fetching, KANIKO_CONTAINER), Progress::Waiting);
        assert_eq!(pod_failure(&fetching), None);
        // No init status reported, but Kaniko runs: the fetch is over.
        let building = pod(json!({"status": {"phase": "Running",
            "containerStatuses": [{"name": "kaniko", "image": "i", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"running": {}}}]}}));
        assert_eq!(progress(&building, FETCH_CONTAINER), Progress::Finished);
        assert_eq!(progress(&building, KANIKO_CONTAINER), Progress::Running);
        let failed = pod(json!({"status": {"phase": "Failed"}}));
        assert_eq!(progress(&failed, KANIKO_CONTAINER), Progress::Finished);
    }

    fn terminated(message: Option<&str>, exit: i32) -> Pod {
        pod(json!({"status": {"phase": "Succeeded",
            "containerStatuses": [{"name": "kaniko", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": exit, "reason": "Error", "message": message}}}]}}))
    }

    #[test]
    fn the_digest_comes_from_the_termination_message() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(digest(&terminated(Some(&format!("{d}\n")), 0)), Ok(d));
        assert!(
            digest(&terminated(Some("sha256:xyz"), 0))
                .unwrap_err()
                .to_string()
                .contains("not a digest")
        );
        assert!(
            digest(&terminated(None, 0))
                .unwrap_err()
                .to_string()
                .contains("no termination message")
        );
        assert!(digest(&pod(json!({}))).is_err());
    }

    #[test]
    fn pod_failures_name_the_container() {
        assert_eq!(
            pod_failure(&terminated(None, 1)).as_deref(),
            Some("Kaniko failed: container kaniko exited with code 1 (Error)")
        );
        let no_secret = pod(json!({"status": {"phase": "Pending",
            "initContainerStatuses": [{"name": "fetch", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "CreateContainerConfigError",
                "message": "secret \"x\" not found"}}}]}}));
        assert_eq!(
            pod_failure(&no_secret).as_deref(),
            Some("container fetch is waiting: CreateContainerConfigError secret \"x\" not found")
        );
    }
}

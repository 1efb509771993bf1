//! The build Job and its token Secret, rendered purely from one build's input (SPEC §3 step 2,
//! §8): no client, no clock, no randomness — the same input gives the same objects, so a
//! control plane that restarts mid-build re-applies exactly the Job it created before.
//!
//! The Job (`{app}-build-v{N}`, in the org's namespace) runs one pod, never restarted:
//!
//! - init container `fetch` downloads `{api}/v1/orgs/{org}/builds/{context}/context` with
//!   `Authorization: Bearer $BUILD_TOKEN` and unpacks it into the `workspace` emptyDir. The
//!   token reaches it only through `secretKeyRef` to the Secret `{job}-token`: it is never in
//!   the Job (not in args, not in env values, not in annotations). [`render_build_job`] does
//!   not even take the token; only [`render_build_secret`] does.
//! - container `kaniko` builds `/workspace` (the uploaded context is the `build.context`
//!   folder itself, so it is the root of the workspace) with the Dockerfile at
//!   `/workspace/{build.dockerfile}`, pushes `{registry}/{org}/{app}:v{N}` and writes the
//!   pushed digest to `/dev/termination-log` (`terminationMessagePolicy: File`: the digest
//!   must come from that file, never from the log). `[build.env]` is passed as
//!   `--build-arg`s; the app's `[env]` and secrets never reach a build.
//!
//! The pod template deliberately lacks the `satusky.io/app` label: the app's Service and
//! Deployment select pods by `satusky.io/org` + `satusky.io/app`, and a running build pod
//! must never receive the app's traffic nor be read as one of its replicas.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::BuildConfig;
use crate::render::labels::{self, MANAGED_BY, MANAGER, NAME, ORG, RELEASE};
use crate::render::names::{self, MAX_LABEL};
use crate::render::{Object, RenderError, check_object};

/// Label on build Jobs, their pods and token Secrets: `"true"`.
pub const BUILD_LABEL: &str = "satusky.io/build";
/// Job annotation: the context digest the Job builds (a Job of the same name for another
/// context is stale — e.g. an app deleted and created again — and is replaced, never reused).
pub const CONTEXT_ANNOTATION: &str = "satusky.io/build-context";
/// The init container that fetches the context.
pub const FETCH_CONTAINER: &str = "fetch";
/// The Kaniko container.
pub const KANIKO_CONTAINER: &str = "kaniko";
/// Key of the token in the token Secret.
pub const TOKEN_KEY: &str = "token";
/// The fetch container's environment variable holding the token.
pub const TOKEN_ENV: &str = "BUILD_TOKEN";
/// The default image of the fetch container (has `sh`, `curl` and busybox `tar`).
pub const DEFAULT_FETCH_IMAGE: &str = "curlimages/curl:8.11.1";
/// The default Kaniko executor image.
pub const DEFAULT_KANIKO_IMAGE: &str = "gcr.io/kaniko-project/executor:v1.23.2";
/// Where the context is unpacked (an emptyDir shared by both containers).
pub const WORKSPACE: &str = "/workspace";
/// Where Kaniko writes the pushed digest: the container's termination message file.
pub const TERMINATION_LOG: &str = "/dev/termination-log";
/// Seconds a finished Job (and its pod, with the log) stays for inspection before the TTL
/// controller removes it: a day is enough to read a failed build's log.
pub const TTL_AFTER_FINISHED_SECS: i64 = 24 * 60 * 60;

const WORKSPACE_VOLUME: &str = "workspace";
/// The unpacked context must fit (uploads are capped well below this).
const WORKSPACE_SIZE_LIMIT: &str = "2Gi";
const DOCKER_CONFIG_VOLUME: &str = "docker-config";
const DOCKER_CONFIG_DIR: &str = "/kaniko/.docker";
/// Modest resources: fetching is a download; Kaniko needs memory for layer snapshots.
const FETCH_CPU: &str = "50m";
const FETCH_MEMORY: &str = "64Mi";
const FETCH_MEMORY_LIMIT: &str = "256Mi";
const KANIKO_CPU: &str = "250m";
const KANIKO_MEMORY: &str = "512Mi";
const KANIKO_MEMORY_LIMIT: &str = "2Gi";
/// Hex digits of the app-name hash in a shortened Job name.
const SHORT_HASH_LEN: usize = 8;

/// What the fetch container runs (`sh -c`); every value comes from the environment, so
/// nothing in it can be injected. curl retries transient failures; the archive is checked
/// by the API at upload time.
const FETCH_SCRIPT: &str = r#"set -eu
echo "fetching build context $SATUSKY_CONTEXT"
curl --fail --silent --show-error --retry 5 --retry-all-errors --retry-delay 2 --max-time 600 \
  --header "Authorization: Bearer $BUILD_TOKEN" \
  --output /workspace/.satusky-context.tar.gz \
  "$SATUSKY_API/v1/orgs/$SATUSKY_ORG/builds/$SATUSKY_CONTEXT/context"
tar -xzf /workspace/.satusky-context.tar.gz -C /workspace
rm -f /workspace/.satusky-context.tar.gz
echo "build context unpacked"
"#;

/// One build's Job, as [`render_build_job`] needs it.
#[derive(Debug, Clone)]
pub struct BuildJobInput<'a> {
    pub org: &'a str,
    pub app: &'a str,
    /// The org's namespace.
    pub namespace: &'a str,
    pub release: u64,
    /// The uploaded context's digest, `sha256:HEX`.
    pub context: &'a str,
    /// `build.dockerfile`, relative to the context.
    pub dockerfile: &'a str,
    /// `[build.env]`: passed to Kaniko as `--build-arg KEY=VALUE` (the Dockerfile reads them
    /// with `ARG`). Never the app's `[env]` or secrets.
    pub build_env: &'a std::collections::BTreeMap<String, String>,
    pub config: &'a BuildConfig,
}

/// The build Job of `app` release `release`: `{app}-build-v{N}`, at most 63 characters (the
/// Job controller copies it into the pod's `job-name` label). Should that not fit, the app
/// name is cut and a hash of the whole name keeps it unique.
pub fn job_name(app: &str, release: u64) -> String {
    let suffix = format!("-build-v{release}");
    if app.len() + suffix.len() <= MAX_LABEL {
        return format!("{app}{suffix}");
    }
    let hash = &names::sha256_hex(app.as_bytes())[..SHORT_HASH_LEN];
    let room = MAX_LABEL.saturating_sub(suffix.len() + SHORT_HASH_LEN + 1);
    let cut = app
        .get(..room.min(app.len()))
        .unwrap_or_default()
        .trim_end_matches('-');
    if cut.is_empty() {
        format!("b{hash}{suffix}")
    } else {
        format!("{cut}-{hash}{suffix}")
    }
}

/// The Secret holding the build token of the Job `job`.
pub fn token_secret_name(job: &str) -> String {
    format!("{job}-token")
}

/// `{registry}/{org}/{app}`: the repository builds of the app are pushed to.
pub fn repository(registry: &str, org: &str, app: &str) -> String {
    format!("{}/{org}/{app}", registry.trim_end_matches('/'))
}

/// A Kaniko digest (`sha256:` and 64 lowercase hex digits), trimmed; `None` otherwise.
pub fn parse_digest(text: &str) -> Option<&str> {
    let text = text.trim();
    let hex = text.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(text)
}

fn check_input(input: &BuildJobInput<'_>) -> Result<String, RenderError> {
    satusky_core::validate_org_name(input.org).map_err(|m| RenderError::input("org", m))?;
    satusky_core::validate_app_name(input.app).map_err(|m| RenderError::input("app", m))?;
    if !names::is_dns1123_label(input.namespace) {
        return Err(RenderError::input(
            "namespace",
            format!("{:?} is not a valid namespace", input.namespace),
        ));
    }
    if parse_digest(input.context) != Some(input.context) {
        return Err(RenderError::input(
            "context",
            format!("{:?} is not a context digest (sha256:HEX)", input.context),
        ));
    }
    let api = input.config.api_url.as_str();
    if !(api.starts_with("http://") || api.starts_with("https://"))
        || api.contains(char::is_whitespace)
    {
        return Err(RenderError::input(
            "build.api_url",
            format!("{api:?} is not an http(s) URL build pods can reach the API at"),
        ));
    }
    let registry = input.config.registry.trim_end_matches('/');
    if registry.is_empty() || registry.contains("://") || registry.contains(char::is_whitespace) {
        return Err(RenderError::input(
            "build.registry",
            format!("{registry:?} is not a registry (host[:port][/path], no scheme)"),
        ));
    }
    satusky_core::paths::clean_in_context(input.dockerfile).ok_or_else(|| {
        RenderError::input(
            "build.dockerfile",
            format!(
                "{:?} must be a path inside the build context (relative, no '..')",
                input.dockerfile
            ),
        )
    })
}

fn build_labels(org: &str, app: &str) -> BTreeMap<String, String> {
    let mut l = labels::app_labels(org, app);
    l.insert(BUILD_LABEL.to_owned(), "true".to_owned());
    l
}

/// The build pod's labels: no `satusky.io/app` (see the module docs).
fn pod_labels(org: &str, app: &str) -> Value {
    json!({
        MANAGED_BY: MANAGER,
        NAME: app,
        ORG: org,
        BUILD_LABEL: "true",
    })
}

/// The build Job (batch/v1). Refuses an input that would not make a valid, safe Job.
pub fn render_build_job(input: &BuildJobInput<'_>) -> Result<Object, RenderError> {
    let dockerfile = check_input(input)?;
    let config = input.config;
    let name = job_name(input.app, input.release);
    let destination = format!(
        "{}:v{}",
        repository(&config.registry, input.org, input.app),
        input.release
    );
    let mut args = vec![
        format!("--context=dir://{WORKSPACE}"),
        format!("--dockerfile={WORKSPACE}/{dockerfile}"),
        format!("--destination={destination}"),
        format!("--digest-file={TERMINATION_LOG}"),
    ];
    if config.cache {
        args.push("--cache=true".to_owned());
    }
    for (k, v) in input.build_env {
        args.push(format!("--build-arg={k}={v}"));
    }
    let workspace_mount = json!({"name": WORKSPACE_VOLUME, "mountPath": WORKSPACE});
    let mut volumes = vec![json!({
        "name": WORKSPACE_VOLUME,
        "emptyDir": {"sizeLimit": WORKSPACE_SIZE_LIMIT},
    })];
    let mut kaniko_mounts = vec![workspace_mount.clone()];
    if let Some(secret) = &config.registry_secret {
        volumes.push(json!({
            "name": DOCKER_CONFIG_VOLUME,
            "secret": {
                "secretName": secret,
                "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
            },
        }));
        kaniko_mounts.push(json!({
            "name": DOCKER_CONFIG_VOLUME,
            "mountPath": DOCKER_CONFIG_DIR,
            "readOnly": true,
        }));
    }
    let fetch = json!({
        "name": FETCH_CONTAINER,
        "image": config.fetch_image,
        "command": ["sh", "-c", FETCH_SCRIPT],
        "env": [
            {"name": "SATUSKY_API", "value": config.api_url.trim_end_matches('/')},
            {"name": "SATUSKY_ORG", "value": input.org},
            {"name": "SATUSKY_CONTEXT", "value": input.context},
            {"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {
                "name": token_secret_name(&name),
                "key": TOKEN_KEY,
            }}},
        ],
        "volumeMounts": [workspace_mount],
        "resources": {
            "requests": {"cpu": FETCH_CPU, "memory": FETCH_MEMORY},
            "limits": {"memory": FETCH_MEMORY_LIMIT},
        },
        "securityContext": {"allowPrivilegeEscalation": false},
    });
    let kaniko = json!({
        "name": KANIKO_CONTAINER,
        "image": config.kaniko_image,
        "args": args,
        "volumeMounts": kaniko_mounts,
        "resources": {
            "requests": {"cpu": KANIKO_CPU, "memory": KANIKO_MEMORY},
            "limits": {"memory": KANIKO_MEMORY_LIMIT},
        },
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
    });
    let annotations = json!({
        RELEASE: input.release.to_string(),
        CONTEXT_ANNOTATION: input.context,
    });
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": input.namespace,
            "labels": build_labels(input.org, input.app),
            "annotations": annotations,
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": config.active_deadline.as_secs().max(1),
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_SECS,
            "template": {
                "metadata": {
                    "labels": pod_labels(input.org, input.app),
                    "annotations": annotations,
                },
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "volumes": volumes,
                    "initContainers": [fetch],
                    "containers": [kaniko],
                },
            },
        },
    });
    checked(Object::new("batch/v1", "Job", &job)?)
}

/// The Secret holding the build token, named [`token_secret_name`] of the Job.
pub fn render_build_secret(input: &BuildJobInput<'_>, token: &str) -> Result<Object, RenderError> {
    check_input(input)?;
    let job = job_name(input.app, input.release);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(token_secret_name(&job)),
            namespace: Some(input.namespace.to_owned()),
            labels: Some(build_labels(input.org, input.app)),
            annotations: Some(BTreeMap::from([(
                RELEASE.to_owned(),
                input.release.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([(
            TOKEN_KEY.to_owned(),
            ByteString(token.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    };
    checked(Object::new("v1", "Secret", &secret)?)
}

/// `object` once it passes the rules every rendered object passes ([`check_object`]).
fn checked(object: Object) -> Result<Object, RenderError> {
    check_object(&object)?;
    Ok(object)
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;

//! The workload: the Deployment `{app}` (one container named after the app) and, with
//! `[volume]`, the PersistentVolumeClaim `{app}-data` it mounts.
//!
//! - The claim is `ReadWriteOnce` (one writer), so an app with `[volume]` rolls with
//!   `Recreate`: the config makes it the default and refuses `rolling` with a volume, so the
//!   old pod has released the claim before the new one needs it. The claim is never pruned
//!   (see `crate::apply`).
//! - `replicas` is left out when `[hpa]` is set, so the HPA owns it and a re-apply never
//!   fights the autoscaler.
//! - The readiness probe is an HTTP GET of `checks.path` on the container port, with
//!   `timeoutSeconds` from `checks.timeout` (rounded up to whole seconds); `[app] expose =
//!   "tcp"`: a TCP connect to that port instead; `"none"`: no readiness probe. The spec has no
//!   liveness setting, so no liveness probe is rendered: a wrong one kills healthy pods.
//! - `PORT` is set to the container port, so an app written for the local runtime (which
//!   listens on `$PORT`) runs unchanged.
//! - The pod template carries `satusky.io/config-hash` (see [`super::config::config_hash`]),
//!   `satusky.io/restarted-at` once `1ctl app restart` asked for fresh pods, and no release
//!   label or annotation: a release that changes nothing in the pod must not roll it.
//! - Service links are off (an org namespace holds many apps: their `*_SERVICE_HOST`
//!   variables would leak into every pod), and so is the service-account token (apps do not
//!   talk to the Kubernetes API).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SecretEnvSource, TCPSocketAction, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use satusky_types::{Expose, Strategy, VolumeSpec};

use super::config::config_hash;
use super::labels::{self, CONFIG_HASH, RESTARTED_AT};
use super::{Ctx, Object, RenderError, SecretRef, names};

/// The container port's name; the Service and the probe refer to it by name.
pub const PORT_NAME: &str = "http";
/// The pod volume holding the PVC.
const VOLUME_NAME: &str = "data";
/// How often the readiness probe runs: often enough that a rollout notices readiness within
/// seconds, rarely enough to be negligible load.
const READINESS_PERIOD_SECONDS: i32 = 5;

/// `"25%"` stays a string; `"2"` becomes an integer, as Kubernetes expects.
pub fn int_or_percent(field: &str, value: &str) -> Result<IntOrString, RenderError> {
    let value = value.trim();
    if value.ends_with('%') {
        return Ok(IntOrString::String(value.to_owned()));
    }
    value.parse::<i32>().map(IntOrString::Int).map_err(|_| {
        RenderError::input(
            field,
            format!("{value:?} is neither an integer nor a percentage"),
        )
    })
}

fn to_i32(field: &str, value: u64) -> Result<i32, RenderError> {
    i32::try_from(value)
        .map_err(|_| RenderError::input(field, format!("{value} is out of range for Kubernetes")))
}

fn strategy(ctx: &Ctx<'_>) -> Result<DeploymentStrategy, RenderError> {
    let d = &ctx.spec.deploy;
    Ok(match d.strategy {
        Strategy::Recreate => DeploymentStrategy {
            type_: Some("Recreate".to_owned()),
            rolling_update: None,
        },
        Strategy::Rolling => DeploymentStrategy {
            type_: Some("RollingUpdate".to_owned()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(int_or_percent("deploy.max_surge", &d.max_surge)?),
                max_unavailable: Some(int_or_percent(
                    "deploy.max_unavailable",
                    &d.max_unavailable,
                )?),
            }),
        },
    })
}

fn resources(ctx: &Ctx<'_>) -> ResourceRequirements {
    let s = ctx.spec;
    let q = |v: &str| Quantity(v.to_owned());
    let requests = BTreeMap::from([
        ("cpu".to_owned(), q(&s.cpu)),
        ("memory".to_owned(), q(&s.memory)),
    ]);
    let mut limits = BTreeMap::from([(
        "memory".to_owned(),
        q(s.memory_limit.as_deref().unwrap_or(&s.memory)),
    )]);
    if let Some(cpu_limit) = &s.cpu_limit {
        limits.insert("cpu".to_owned(), q(cpu_limit));
    }
    ResourceRequirements {
        requests: Some(requests),
        limits: Some(limits),
        ..ResourceRequirements::default()
    }
}

/// The readiness probe by `[app] expose`: an HTTP GET of `checks.path` (`http`), a TCP
/// connect to the port (`tcp`), or none (`none`: ready once running).
fn readiness_probe(ctx: &Ctx<'_>) -> Option<Probe> {
    let checks = &ctx.spec.checks;
    let timeout = checks.timeout_ms.div_ceil(1000).max(1);
    let port = IntOrString::String(PORT_NAME.to_owned());
    let (http_get, tcp_socket) = match ctx.spec.expose {
        Expose::Http => (
            Some(HTTPGetAction {
                path: Some(checks.path.clone()),
                port,
                ..HTTPGetAction::default()
            }),
            None,
        ),
        Expose::Tcp => (
            None,
            Some(TCPSocketAction {
                port,
                ..TCPSocketAction::default()
            }),
        ),
        Expose::None => return None,
    };
    Some(Probe {
        http_get,
        tcp_socket,
        timeout_seconds: Some(i32::try_from(timeout).unwrap_or(i32::MAX)),
        period_seconds: Some(READINESS_PERIOD_SECONDS),
        ..Probe::default()
    })
}

fn container(ctx: &Ctx<'_>, image: &str, has_secrets: bool) -> Container {
    let s = ctx.spec;
    let mut env_from = vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: names::config_map(ctx.app),
            optional: None,
        }),
        ..EnvFromSource::default()
    }];
    if has_secrets {
        env_from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: names::secret(ctx.app),
                optional: None,
            }),
            ..EnvFromSource::default()
        });
    }
    let volume_mounts = s.volume.as_ref().map(|v| {
        vec![VolumeMount {
            name: VOLUME_NAME.to_owned(),
            mount_path: v.mount.clone(),
            ..VolumeMount::default()
        }]
    });
    Container {
        name: ctx.app.to_owned(),
        image: Some(image.to_owned()),
        command: s.command.clone(),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.to_owned()),
            container_port: i32::from(s.port),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        env: Some(vec![EnvVar {
            name: "PORT".to_owned(),
            value: Some(s.port.to_string()),
            value_from: None,
        }]),
        env_from: Some(env_from),
        resources: Some(resources(ctx)),
        readiness_probe: readiness_probe(ctx),
        volume_mounts,
        ..Container::default()
    }
}

/// The pod template's annotations: the config hash, and the last restart when there was one.
fn pod_annotations(ctx: &Ctx<'_>, secrets: &[SecretRef]) -> BTreeMap<String, String> {
    let mut annotations =
        BTreeMap::from([(CONFIG_HASH.to_owned(), config_hash(&ctx.spec.env, secrets))]);
    if let Some(at) = ctx.restarted_at_ms {
        annotations.insert(RESTARTED_AT.to_owned(), satusky_core::time::rfc3339_ms(at));
    }
    annotations
}

pub fn deployment(
    ctx: &Ctx<'_>,
    image: &str,
    secrets: &[SecretRef],
) -> Result<Object, RenderError> {
    let s = ctx.spec;
    let replicas = match s.hpa {
        Some(_) => None,
        None => Some(to_i32("app.replicas", u64::from(s.replicas))?),
    };
    let volumes = s.volume.as_ref().map(|_| {
        vec![Volume {
            name: VOLUME_NAME.to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: names::volume_claim(ctx.app),
                read_only: None,
            }),
            ..Volume::default()
        }]
    });
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels::app_labels(ctx.org, ctx.app)),
            annotations: Some(pod_annotations(ctx, secrets)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container(ctx, image, !secrets.is_empty())],
            volumes,
            enable_service_links: Some(false),
            automount_service_account_token: Some(false),
            ..PodSpec::default()
        }),
    };
    let deployment = Deployment {
        metadata: ctx.meta(ctx.app),
        spec: Some(DeploymentSpec {
            replicas,
            selector: labels::selector(ctx.org, ctx.app),
            strategy: Some(strategy(ctx)?),
            progress_deadline_seconds: Some(to_i32(
                "deploy.progress_deadline",
                s.deploy.progress_deadline_seconds,
            )?),
            template,
            ..DeploymentSpec::default()
        }),
        status: None,
    };
    Object::new("apps/v1", "Deployment", &deployment)
}

pub fn volume_claim(ctx: &Ctx<'_>, volume: &VolumeSpec) -> Result<Object, RenderError> {
    let pvc = PersistentVolumeClaim {
        metadata: ctx.meta(&names::volume_claim(ctx.app)),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(volume.size.clone()),
                )])),
                limits: None,
            }),
            storage_class_name: volume.storage_class.clone(),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    };
    Object::new("v1", "PersistentVolumeClaim", &pvc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_percent_values() {
        assert_eq!(
            int_or_percent("f", "25%").unwrap(),
            IntOrString::String("25%".into())
        );
        assert_eq!(int_or_percent("f", "0").unwrap(), IntOrString::Int(0));
        assert_eq!(int_or_percent("f", " 3 ").unwrap(), IntOrString::Int(3));
        assert!(int_or_percent("f", "x").is_err());
    }
}

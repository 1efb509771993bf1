//! Scaling and disruption: the HorizontalPodAutoscaler (`autoscaling/v2`), the
//! VerticalPodAutoscaler (`autoscaling.k8s.io/v1`, a CRD of the Kubernetes autoscaler project)
//! and the PodDisruptionBudget (`policy/v1`), each named `{app}` and rendered only when its
//! section is present — removing `[hpa]` removes the HPA from the set, and pruning deletes it.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use satusky_types::{HpaSpec, PdbSpec, VpaMode, VpaSpec};
use serde_json::{Map, Value, json};

use super::deployment::int_or_percent;
use super::labels;
use super::{Ctx, CustomObject, Object, RenderError};

/// The CPU utilisation target when `[hpa]` names none: what Kubernetes itself assumes for an
/// HPA without metrics, written out so the object says what it does.
pub const DEFAULT_HPA_CPU_TARGET: u32 = 80;

/// The HPA, VPA and PDB the spec asks for, in that order.
pub fn render(ctx: &Ctx<'_>) -> Result<Vec<Object>, RenderError> {
    let mut objects = Vec::new();
    if let Some(hpa) = &ctx.spec.hpa {
        objects.push(horizontal(ctx, hpa)?);
    }
    if let Some(vpa) = &ctx.spec.vpa {
        objects.push(vertical(ctx, vpa)?);
    }
    if let Some(pdb) = &ctx.spec.pdb {
        objects.push(disruption_budget(ctx, pdb)?);
    }
    Ok(objects)
}

fn utilization(resource: &str, percent: u32) -> Result<MetricSpec, RenderError> {
    let percent = i32::try_from(percent).map_err(|_| {
        RenderError::input("hpa", format!("{percent}% is not a utilisation target"))
    })?;
    Ok(MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: resource.to_owned(),
            target: MetricTarget {
                type_: "Utilization".to_owned(),
                average_utilization: Some(percent),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    })
}

fn horizontal(ctx: &Ctx<'_>, hpa: &HpaSpec) -> Result<Object, RenderError> {
    let replicas = |field: &str, n: u32| {
        i32::try_from(n).map_err(|_| RenderError::input(field, format!("{n} is out of range")))
    };
    let mut metrics = Vec::new();
    let cpu = match (hpa.cpu_target, hpa.memory_target) {
        (None, None) => Some(DEFAULT_HPA_CPU_TARGET),
        (cpu, _) => cpu,
    };
    if let Some(cpu) = cpu {
        metrics.push(utilization("cpu", cpu)?);
    }
    if let Some(memory) = hpa.memory_target {
        metrics.push(utilization("memory", memory)?);
    }
    let object = HorizontalPodAutoscaler {
        metadata: ctx.meta(ctx.app),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: ctx.app.to_owned(),
            },
            min_replicas: Some(replicas("hpa.min", hpa.min)?),
            max_replicas: replicas("hpa.max", hpa.max)?,
            metrics: Some(metrics),
            behavior: None,
        }),
        status: None,
    };
    Object::new("autoscaling/v2", "HorizontalPodAutoscaler", &object)
}

fn vertical(ctx: &Ctx<'_>, vpa: &VpaSpec) -> Result<Object, RenderError> {
    let mode = match vpa.mode {
        VpaMode::Off => "Off",
        VpaMode::Initial => "Initial",
        VpaMode::Auto => "Auto",
    };
    let bounds = |cpu: &Option<String>, memory: &Option<String>| {
        let mut m = Map::new();
        if let Some(cpu) = cpu {
            m.insert("cpu".to_owned(), Value::from(cpu.as_str()));
        }
        if let Some(memory) = memory {
            m.insert("memory".to_owned(), Value::from(memory.as_str()));
        }
        m
    };
    let min = bounds(&vpa.min_cpu, &vpa.min_memory);
    let max = bounds(&vpa.max_cpu, &vpa.max_memory);
    let mut spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": ctx.app},
        "updatePolicy": {"updateMode": mode},
    });
    if !min.is_empty() || !max.is_empty() {
        let mut policy = Map::new();
        policy.insert("containerName".to_owned(), Value::from(ctx.app));
        if !min.is_empty() {
            policy.insert("minAllowed".to_owned(), Value::Object(min));
        }
        if !max.is_empty() {
            policy.insert("maxAllowed".to_owned(), Value::Object(max));
        }
        spec["resourcePolicy"] = json!({"containerPolicies": [policy]});
    }
    let body = CustomObject {
        metadata: ctx.meta(ctx.app),
        spec,
    };
    Object::new("autoscaling.k8s.io/v1", "VerticalPodAutoscaler", &body)
}

fn disruption_budget(ctx: &Ctx<'_>, pdb: &PdbSpec) -> Result<Object, RenderError> {
    let min_available = pdb
        .min_available
        .as_deref()
        .map(|v| int_or_percent("pdb.min_available", v))
        .transpose()?;
    let max_unavailable = pdb
        .max_unavailable
        .as_deref()
        .map(|v| int_or_percent("pdb.max_unavailable", v))
        .transpose()?;
    let object = PodDisruptionBudget {
        metadata: ctx.meta(ctx.app),
        spec: Some(PodDisruptionBudgetSpec {
            min_available,
            max_unavailable,
            selector: Some(labels::selector(ctx.org, ctx.app)),
            // A crash-looping pod must not block a node drain.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_owned()),
        }),
        status: None,
    };
    Object::new("policy/v1", "PodDisruptionBudget", &object)
}

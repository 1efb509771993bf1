//! [`Object`], one rendered manifest as JSON with its maps in sorted key order, and the rules
//! every rendered object must pass before it is returned (a valid name for its kind, valid
//! label keys and values, valid annotation keys — [`check_object`], also used by the build
//! Job's renderer) and their apply order. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use super::{RenderError, names};

/// One rendered manifest: a JSON object with `apiVersion`, `kind` and `metadata`, its maps in
/// sorted key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Object(Value);

impl Object {
    /// Serializes `body` and stamps `apiVersion` and `kind` on it.
    pub(crate) fn new(
        api_version: &str,
        kind: &str,
        body: &impl Serialize,
    ) -> Result<Self, RenderError> {
        let mut value = serde_json::to_value(body).map_err(RenderError::Serialize)?;
        let Value::Object(map) = &mut value else {
            return Err(RenderError::InvalidObject {
                kind: kind.to_owned(),
                name: String::new(),
                message: "did not serialize to a JSON object".to_owned(),
            });
        };
        map.insert("apiVersion".to_owned(), Value::from(api_version));
        map.insert("kind".to_owned(), Value::from(kind));
        map.remove("status");
        Ok(Object(canonical(value)))
    }

    fn str_at(&self, pointer: &str) -> &str {
        self.0
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }

    pub fn kind(&self) -> &str {
        self.str_at("/kind")
    }

    pub fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }

    /// `None` for cluster-scoped objects (the Namespace).
    pub fn namespace(&self) -> Option<&str> {
        self.0
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }

    /// The labels, in key order.
    pub fn labels(&self) -> Vec<(&str, &str)> {
        self.string_map("/metadata/labels")
    }

    /// The annotations, in key order.
    pub fn annotations(&self) -> Vec<(&str, &str)> {
        self.string_map("/metadata/annotations")
    }

    fn string_map(&self, pointer: &str) -> Vec<(&str, &str)> {
        match self.0.pointer(pointer) {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn as_value(&self) -> &Value {
        &self.0
    }

    pub fn into_value(self) -> Value {
        self.0
    }
}

/// Rebuilds every map with its keys sorted, whatever serde_json's `preserve_order` feature
/// says, so output never depends on feature unification.
pub(crate) fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// A custom resource without Rust types of its own (VPA, cert-manager's Certificate).
#[derive(Serialize)]
pub(crate) struct CustomObject<S: Serialize> {
    pub metadata: ObjectMeta,
    pub spec: S,
}

/// Apply order: what others reference comes first.
pub(crate) fn kind_rank(kind: &str) -> usize {
    const ORDER: [&str; 11] = [
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "VerticalPodAutoscaler",
        "PodDisruptionBudget",
        "Certificate",
        "ListenerSet",
        "HTTPRoute",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

/// The rules every object Satusky renders must pass — the app's objects and the build Job and
/// its token Secret alike: a valid name for its kind, valid label keys and values, valid
/// annotation keys.
pub(crate) fn check_object(object: &Object) -> Result<(), RenderError> {
    let bad = |message: String| RenderError::InvalidObject {
        kind: object.kind().to_owned(),
        name: object.name().to_owned(),
        message,
    };
    let name = object.name();
    let name_ok = match object.kind() {
        // Service and Namespace names are DNS labels.
        "Service" | "Namespace" => names::is_dns1123_label(name),
        // cert-manager copies a Certificate's name into label values, and the Job controller
        // a Job's name into its pod's `job-name` label.
        "Certificate" | "Job" => names::is_dns1123_subdomain(name) && names::is_label_value(name),
        _ => names::is_dns1123_subdomain(name),
    };
    if !name_ok {
        return Err(bad(format!("{name:?} is not a valid name for this kind")));
    }
    for (key, value) in object.labels() {
        if !names::is_label_key(key) || !names::is_label_value(value) {
            return Err(bad(format!("label {key}={value:?} is invalid")));
        }
    }
    for (key, _) in object.annotations() {
        if !names::is_label_key(key) {
            return Err(bad(format!("annotation key {key:?} is invalid")));
        }
    }
    Ok(())
}

//! `metav1.Status` error bodies: the one error type every request path returns.
//!
//! Owns the wording and shape of API errors (`kind: Status`, `status: Failure`, `reason`,
//! `code`, `details` with `name`/`group`/`kind`/`causes`), matching what kube-apiserver sends
//! so that clients (kube-rs `ErrorResponse`, kubectl) read them the way they read the real ones.
//! It knows nothing about the store.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::registry::ResourceType;

/// An API error rendered as a `Status` body with the HTTP status code it carries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code (also `Status.code`).
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired`.
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details`, when the error concerns one object.
    pub details: Option<Value>,
}

/// One `details.causes` entry.
#[derive(Debug, Clone)]
pub struct Cause {
    /// e.g. `FieldValueInvalid`, `FieldValueRequired`, `FieldManagerConflict`.
    pub reason: &'static str,
    /// Human-readable message for this field.
    pub message: String,
    /// The field path, e.g. `metadata.name` or `.spec.replicas`.
    pub field: String,
}

/// `deployments.apps` / `configmaps`: how the API server names a resource in messages.
pub fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

/// `Deployment.apps` / `ConfigMap`: how the API server names a kind in `Invalid` messages.
pub fn qualified_kind(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.kind.to_string()
    } else {
        format!("{}.{}", rt.kind, rt.group)
    }
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = json!({ "name": name, "kind": kind });
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

fn causes_json(causes: &[Cause]) -> Value {
    Value::Array(
        causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect(),
    )
}

impl ApiError {
    /// A bare error with no details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 404 `NotFound` for one object: `deployments.apps "web" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", qualified(rt)),
            details: Some(details(name, rt.group, rt.plural)),
        }
    }

    /// 404 for a namespace that does not exist when creating content in it.
    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("namespaces \"{ns}\" not found"),
            details: Some(details(ns, "", "namespaces")),
        }
    }

    /// 404 for an unknown path (no such resource type or subresource).
    pub fn path_not_found(path: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 `AlreadyExists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", qualified(rt)),
            details: Some(details(name, rt.group, rt.plural)),
        }
    }

    /// 409 `Conflict` for a stale `resourceVersion` (or a failed precondition).
    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(rt)
            ),
            details: Some(details(name, rt.group, rt.plural)),
        }
    }

    /// The message kube-apiserver uses for a stale `resourceVersion`.
    pub const MODIFIED: &'static str = "the object has been modified; please apply your changes to the latest version and try again";

    /// 409 `Conflict` from server-side apply, one cause per conflicting field.
    pub fn apply_conflict(
        rt: &ResourceType,
        name: &str,
        message: String,
        causes: &[Cause],
    ) -> Self {
        let mut d = details(name, rt.group, rt.plural);
        d["causes"] = causes_json(causes);
        ApiError {
            code: 409,
            reason: "Conflict",
            message,
            details: Some(d),
        }
    }

    /// 422 `Invalid`: `Deployment.apps "x" is invalid: metadata.name: Invalid value: …`.
    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> Self {
        Self::invalid_kind(&qualified_kind(rt), rt.group, rt.kind, name, causes)
    }

    /// 422 `Invalid` for any kind (also options objects such as `PatchOptions.meta.k8s.io`).
    pub fn invalid_kind(
        qualified_kind: &str,
        group: &str,
        kind: &str,
        name: &str,
        causes: Vec<Cause>,
    ) -> Self {
        let list = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>();
        let joined = if list.len() == 1 {
            list.join("")
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut d = details(name, group, kind);
        d["causes"] = causes_json(&causes);
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{qualified_kind} \"{name}\" is invalid: {joined}"),
            details: Some(d),
        }
    }

    /// 410 `Expired`: a resourceVersion or continue token that is no longer available.
    pub fn expired(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    /// 403 `Forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        )
    }

    /// The reason kube-apiserver uses for a given code (for injected errors).
    pub fn reason_for_code(code: u16) -> &'static str {
        match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Expired",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "Unknown",
        }
    }

    /// The `Status` object as JSON.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::handlers::json_response(code, &self.to_status())
    }
}

/// A `Status` with `status: Success` (returned by DELETE when the object is gone at once).
pub fn success(rt: &ResourceType, name: &str, uid: &str) -> Value {
    let mut d = details(name, rt.group, rt.plural);
    d["uid"] = json!(uid);
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": d,
    })
}

//! Label and field selectors, parsed from query strings and matched against objects.
//!
//! Label selectors support the full string syntax of `labels.Parse`: `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`, `k` (exists) and `!k` (does not exist), comma-separated
//! (AND). Field selectors support `=`, `==` and `!=` on `metadata.name` and
//! `metadata.namespace` for every kind, plus a few per-kind fields the API server also
//! supports (see [`FieldSelector::parse`]); anything else is a 400 like the real server's
//! "field label not supported".

use serde_json::Value;

use crate::registry::ResourceType;
use crate::status::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector (empty matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn bad(sel: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: {why} (in selector {sel:?})"
    ))
}

fn check_key(sel: &str, k: &str) -> Result<String, ApiError> {
    if crate::meta::is_qualified_name(k) {
        Ok(k.to_string())
    } else {
        Err(bad(sel, &format!("invalid label key {k:?}")))
    }
}

fn parse_set(sel: &str, rest: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad(sel, "expected a parenthesised set of values"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parse the `labelSelector` query value.
    pub fn parse(sel: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(sel) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            if let Some(k) = part.strip_prefix('!') {
                reqs.push(Req::NotExists(check_key(sel, k.trim())?));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push(Req::NotEq(check_key(sel, k.trim())?, v.trim().to_string()));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push(Req::Eq(check_key(sel, k.trim())?, v.trim().to_string()));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push(Req::Eq(check_key(sel, k.trim())?, v.trim().to_string()));
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                reqs.push(Req::NotIn(check_key(sel, k.trim())?, parse_set(sel, rest)?));
            } else if let Some((k, rest)) = part.split_once(" in ") {
                reqs.push(Req::In(check_key(sel, k.trim())?, parse_set(sel, rest)?));
            } else if part.contains(' ') || part.contains('(') {
                return Err(bad(
                    sel,
                    &format!("found '{part}', expected: in, notin, =, ==, !="),
                ));
            } else {
                reqs.push(Req::Exists(check_key(sel, part)?));
            }
        }
        for r in &reqs {
            let vals: Vec<&String> = match r {
                Req::Eq(_, v) | Req::NotEq(_, v) => vec![v],
                Req::In(_, vs) | Req::NotIn(_, vs) => vs.iter().collect(),
                _ => vec![],
            };
            if let Some(v) = vals.iter().find(|v| !crate::meta::is_label_value(v)) {
                return Err(bad(sel, &format!("invalid label value: {v:?}")));
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether the selector is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `obj`'s labels satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector (empty matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// Fields the API server accepts in field selectors, per resource (beyond `metadata.name`
/// and `metadata.namespace`, which every resource accepts).
fn extra_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("batch", "jobs") => &["status.successful"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parse the `fieldSelector` query value for `rt`.
    pub fn parse(rt: &ResourceType, sel: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in sel.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{sel}'; can't understand '{part}'"
                )));
            };
            let k = k.trim();
            if !matches!(k, "metadata.name" | "metadata.namespace")
                && !extra_fields(rt).contains(&k)
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {k}"
                )));
            }
            reqs.push((k.to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the selector is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `obj` satisfies every requirement (missing fields compare as `""`).
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let mut cur = Some(obj);
            for seg in k.split('.') {
                cur = cur.and_then(|c| c.get(seg));
            }
            let actual = match cur {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *v) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "n", "labels": labels}})
    }

    #[test]
    fn label_selector_operators() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        let t = |s: &str| LabelSelector::parse(s).map(|sel| sel.matches(&o));
        assert_eq!(t("app=web").ok(), Some(true));
        assert_eq!(t("app==web,tier=front").ok(), Some(true));
        assert_eq!(t("app!=web").ok(), Some(false));
        assert_eq!(t("app in (api, web)").ok(), Some(true));
        assert_eq!(t("app notin (web)").ok(), Some(false));
        assert_eq!(t("missing notin (web)").ok(), Some(true));
        assert_eq!(t("tier").ok(), Some(true));
        assert_eq!(t("!tier").ok(), Some(false));
        assert_eq!(t("!other,app").ok(), Some(true));
        assert_eq!(t("").ok(), Some(true));
        assert!(t("app in web").is_err());
        assert!(t("bad key=x").is_err());
        assert!(t("k=bad value!").is_err());
    }

    #[test]
    fn field_selector() {
        let rt = crate::registry::lookup("apps", "v1", "deployments");
        let Some(rt) = rt else { panic!("registry") };
        let o = obj(json!({}));
        let sel = FieldSelector::parse(rt, "metadata.name=a,metadata.namespace!=x");
        assert!(sel.as_ref().is_ok_and(|s| s.matches(&o)));
        let sel = FieldSelector::parse(rt, "metadata.name=b");
        assert!(sel.is_ok_and(|s| !s.matches(&o)));
        let err = FieldSelector::parse(rt, "spec.replicas=1")
            .err()
            .map(|e| e.code);
        assert_eq!(err, Some(400));
    }
}

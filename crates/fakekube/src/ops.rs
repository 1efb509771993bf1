//! Write semantics of the API: create, replace (PUT), patch (merge, JSON, strategic),
//! server-side apply, delete and delete-collection, for the main resource and `/status`.
//!
//! Owns the rules a client can observe: body/URL agreement (400), name and label validation
//! (422), namespaces that must exist (404) and not be terminating (403), `AlreadyExists`,
//! optimistic concurrency on `metadata.resourceVersion` (409), server-owned metadata
//! (uid, creationTimestamp, resourceVersion, generation, deletionTimestamp, managedFields)
//! that clients cannot set, generation bumped only by spec changes, status writes through
//! `/status` only, no new finalizers on a deleting object, no write (and no new
//! resourceVersion) when nothing changed, and `dryRun=All`. Storage and events are
//! [`crate::store`]'s.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::managed::{self, Entry, Writer};
use crate::meta;
use crate::patch;
use crate::registry::ResourceType;
use crate::status::{ApiError, Cause};
use crate::store::{self, Inner, Propagation, Store};

/// Which endpoint a write came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// The resource itself.
    Main,
    /// `/status`.
    Status,
}

impl Sub {
    fn name(self) -> Option<&'static str> {
        match self {
            Sub::Main => None,
            Sub::Status => Some("status"),
        }
    }
}

/// Request context for one write.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    /// The resource type.
    pub rt: &'static ResourceType,
    /// The version in the URL.
    pub version: &'a str,
    /// The namespace in the URL (`""` for cluster-scoped).
    pub ns: &'a str,
    /// `fieldManager`, or the user agent's product name.
    pub manager: &'a str,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Main resource or `/status`.
    pub sub: Sub,
}

/// A patch body's type (from `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply {
        /// `force=true`.
        force: bool,
    },
}

/// Parse a request body: JSON, or YAML when `yaml` (apply bodies may be either).
pub fn parse_body(body: &[u8], yaml: bool) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(e) if !yaml => Err(ApiError::bad_request(format!(
            "error decoding JSON body: {e}"
        ))),
        Err(_) => serde_yaml_ng::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}"))),
    }
}

const SERVER_META: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Check a body against the URL and normalise its type meta and namespace.
fn check_body(c: &Ctx<'_>, body: &mut Value, url_name: Option<&str>) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    }
    let expected = c.rt.api_version(c.version);
    if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
        && av != expected
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({expected})"
        )));
    }
    if let Some(k) = body.get("kind").and_then(Value::as_str)
        && k != c.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            c.rt.kind
        )));
    }
    let stored_av = c.rt.api_version(c.rt.preferred_version());
    body["apiVersion"] = json!(stored_av);
    body["kind"] = json!(c.rt.kind);
    let md = meta::metadata_mut(body);
    if let Some(n) = url_name {
        match md.get("name").and_then(Value::as_str) {
            Some(bn) if bn != n => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({bn}) does not match the name on the URL ({n})"
                )));
            }
            Some(_) => {}
            None => {
                md.insert("name".into(), json!(n));
            }
        }
    }
    if c.rt.namespaced {
        match md.get("namespace").and_then(Value::as_str) {
            Some(bns) if !bns.is_empty() && bns != c.ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                md.insert("namespace".into(), json!(c.ns));
            }
        }
    } else {
        md.remove("namespace");
    }
    Ok(())
}

/// Copy server-owned metadata from `live` (or remove it when `live` is absent).
fn restore_server_meta(new: &mut Value, live: Option<&Value>) {
    let md = meta::metadata_mut(new);
    for f in SERVER_META {
        match live.and_then(|l| l.get("metadata")).and_then(|m| m.get(*f)) {
            Some(v) if *f != "managedFields" => {
                md.insert((*f).to_string(), v.clone());
            }
            _ => {
                md.remove(*f);
            }
        }
    }
}

/// For `/status` writes only `status` changes; for main writes of a type with a status
/// subresource, `status` stays as it was.
fn scope_to(sub: Sub, rt: &ResourceType, live: &Value, new: Value) -> Value {
    match sub {
        Sub::Status => {
            let mut out = live.clone();
            match new.get("status") {
                Some(s) => out["status"] = s.clone(),
                None => {
                    if let Some(m) = out.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            out
        }
        Sub::Main if rt.status_subresource => {
            let mut out = new;
            if let Some(m) = out.as_object_mut() {
                match live.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
            }
            out
        }
        Sub::Main => new,
    }
}

/// What an apply configuration may touch through this endpoint.
fn scope_apply_cfg(sub: Sub, rt: &ResourceType, cfg: &Value) -> Value {
    let mut out = cfg.clone();
    if let Some(m) = out.as_object_mut() {
        match sub {
            Sub::Status => m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "status")),
            Sub::Main if rt.status_subresource => {
                m.remove("status");
            }
            Sub::Main => {}
        }
    }
    out
}

fn writer<'a>(c: &'a Ctx<'a>, now: &'a str, api_version: &'a str) -> Writer<'a> {
    Writer {
        manager: c.manager,
        api_version,
        subresource: c.sub.name(),
        now,
    }
}

impl Store {
    /// POST: create an object.
    pub fn create(&self, c: &Ctx<'_>, mut body: Value) -> Result<Value, ApiError> {
        check_body(c, &mut body, None)?;
        let mut g = self.lock();
        let md = meta::metadata_mut(&mut body);
        if md
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && let Some(prefix) = md
                .get("generateName")
                .and_then(Value::as_str)
                .map(str::to_string)
        {
            md.insert(
                "name".into(),
                json!(format!("{prefix}{}", meta::name_suffix())),
            );
        }
        let name = meta::str_at(&body, &["metadata", "name"])
            .unwrap_or("")
            .to_string();
        let causes = meta::validate(c.rt, &body);
        if !causes.is_empty() {
            return Err(ApiError::invalid(c.rt, &name, causes));
        }
        if c.rt.namespaced {
            store::require_namespace(&g, c.ns)?;
        }
        if g.get(c.rt, c.ns, &name).is_some() {
            return Err(ApiError::already_exists(c.rt, &name));
        }
        let body = scope_to(Sub::Main, c.rt, &Value::Null, body);
        self.finish(&mut g, c, &name, None, body, Vec::new(), true)
    }

    /// PUT: replace an object (or its status).
    pub fn replace(&self, c: &Ctx<'_>, name: &str, mut body: Value) -> Result<Value, ApiError> {
        check_body(c, &mut body, Some(name))?;
        let mut g = self.lock();
        let live = g
            .get(c.rt, c.ns, name)
            .ok_or_else(|| ApiError::not_found(c.rt, name))?;
        check_precondition(c.rt, name, &body, &live)?;
        let new = scope_to(c.sub, c.rt, &live, body);
        self.finish(&mut g, c, name, Some(live), new, Vec::new(), true)
    }

    /// PATCH: any patch type, including server-side apply.
    pub fn patch(
        &self,
        c: &Ctx<'_>,
        name: &str,
        kind: PatchKind,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        if let PatchKind::Apply { force } = kind {
            return self.apply(c, name, body, force);
        }
        let p = parse_body(body, false)?;
        let mut g = self.lock();
        let live = g
            .get(c.rt, c.ns, name)
            .ok_or_else(|| ApiError::not_found(c.rt, name))?;
        let base = store::at_version(&live, c.rt, c.version);
        let mut patched = match kind {
            PatchKind::Merge => patch::merge_patch(&base, &p),
            PatchKind::Strategic => patch::strategic_merge_patch(&base, &p),
            PatchKind::Json => patch::json_patch(&base, &p).map_err(|e| {
                ApiError::invalid(
                    c.rt,
                    name,
                    vec![Cause {
                        reason: "FieldValueInvalid",
                        message: e,
                        field: "patch".into(),
                    }],
                )
            })?,
            // Returned early above; merge semantics would be the closest fallback.
            PatchKind::Apply { .. } => patch::merge_patch(&base, &p),
        };
        check_body(c, &mut patched, Some(name))?;
        check_precondition(c.rt, name, &patched, &live)?;
        let new = scope_to(c.sub, c.rt, &live, patched);
        self.finish(&mut g, c, name, Some(live), new, Vec::new(), true)
    }

    fn apply(&self, c: &Ctx<'_>, name: &str, body: &[u8], force: bool) -> Result<Value, ApiError> {
        let mut cfg = parse_body(body, true)?;
        if !cfg.is_object() {
            return Err(ApiError::bad_request(
                "the apply configuration must be an object",
            ));
        }
        for (field, what) in [("apiVersion", "apiVersion"), ("kind", "kind")] {
            if cfg
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::bad_request(format!(
                    "{what} must be set in an apply configuration"
                )));
            }
        }
        check_body(c, &mut cfg, Some(name))?;
        let mut g = self.lock();
        let live = g.get(c.rt, c.ns, name);
        let now = meta::now();
        let api_version = c.rt.api_version(c.version);
        let w = writer(c, &now, &api_version);
        let scoped = scope_apply_cfg(c.sub, c.rt, &cfg);
        match live {
            None => {
                if c.sub == Sub::Status {
                    return Err(ApiError::not_found(c.rt, name));
                }
                let causes = meta::validate(c.rt, &cfg);
                if !causes.is_empty() {
                    return Err(ApiError::invalid(c.rt, name, causes));
                }
                if c.rt.namespaced {
                    store::require_namespace(&g, c.ns)?;
                }
                let (mut obj, entries) =
                    managed::apply(&Value::Null, &scoped, Vec::new(), &w, force)
                        .map_err(|e| ApiError::apply_conflict(c.rt, name, e.message, &e.causes))?;
                obj["apiVersion"] = cfg["apiVersion"].clone();
                obj["kind"] = cfg["kind"].clone();
                if c.rt.namespaced {
                    meta::metadata_mut(&mut obj).insert("namespace".into(), json!(c.ns));
                }
                self.finish(&mut g, c, name, None, obj, entries, false)
            }
            Some(live) => {
                check_precondition(c.rt, name, &cfg, &live)?;
                let mut base = (*live).clone();
                meta::metadata_mut(&mut base).remove("managedFields");
                let entries = managed::read(&live);
                let (merged, entries) = managed::apply(&base, &scoped, entries, &w, force)
                    .map_err(|e| ApiError::apply_conflict(c.rt, name, e.message, &e.causes))?;
                self.finish(&mut g, c, name, Some(live), merged, entries, false)
            }
        }
    }

    /// Shared tail of every write. `track_update`: compute an `Update` managedFields entry
    /// (false when the caller computed apply entries).
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        g: &mut Inner,
        c: &Ctx<'_>,
        name: &str,
        live: Option<Arc<Value>>,
        mut new: Value,
        entries: Vec<Entry>,
        track_update: bool,
    ) -> Result<Value, ApiError> {
        let now = meta::now();
        restore_server_meta(&mut new, live.as_deref());
        if c.rt.group.is_empty() && c.rt.plural == "secrets" {
            meta::fold_string_data(&mut new);
            if let Some(message) = meta::secret_data_error(&new) {
                return Err(ApiError::bad_request(message));
            }
        }
        if let Some(l) = &live {
            let added: Vec<String> = meta::finalizers(&new)
                .into_iter()
                .filter(|f| !meta::finalizers(l).contains(f))
                .collect();
            if meta::is_deleting(l) && !added.is_empty() {
                return Err(ApiError::invalid(
                    c.rt,
                    name,
                    vec![Cause {
                        reason: "FieldValueForbidden",
                        message: format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                        field: "metadata.finalizers".into(),
                    }],
                ));
            }
        }
        let causes = meta::validate(c.rt, &new);
        if !causes.is_empty() {
            return Err(ApiError::invalid(c.rt, name, causes));
        }
        let md = meta::metadata_mut(&mut new);
        match &live {
            None => {
                md.insert("uid".into(), json!(meta::new_uid()));
                md.insert("creationTimestamp".into(), json!(now));
                if c.rt.generation {
                    md.insert("generation".into(), json!(1));
                }
                if c.rt.group.is_empty() && c.rt.plural == "namespaces" {
                    new["status"] = json!({"phase": "Active"});
                    let labels = meta::metadata_mut(&mut new)
                        .entry("labels")
                        .or_insert_with(|| json!({}));
                    meta::ensure_object(labels)
                        .insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
            Some(l) => {
                if c.rt.generation && meta::spec_part(l) != meta::spec_part(&new) {
                    let observed_gen = l
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    meta::metadata_mut(&mut new)
                        .insert("generation".into(), json!(observed_gen + 1));
                }
            }
        }
        let entries = if track_update {
            let api_version = c.rt.api_version(c.version);
            let w = writer(c, &now, &api_version);
            let mut before = live.as_deref().cloned().unwrap_or(Value::Null);
            if !before.is_null() {
                meta::metadata_mut(&mut before).remove("managedFields");
            }
            let prior = live.as_deref().map(managed::read).unwrap_or_default();
            managed::update(&before, &new, prior, &w)
        } else {
            entries
        };
        managed::write(&mut new, &entries);
        if let Some(l) = &live
            && **l == new
        {
            return Ok(store::at_version(l, c.rt, c.version));
        }
        if c.dry_run {
            return Ok(store::at_version(&new, c.rt, c.version));
        }
        let stored = match live {
            Some(l) => g.commit_update(c.rt, c.ns, name, new, l),
            None => g.commit(c.rt, c.ns, name, Some(new), None),
        };
        crate::hooks::react(g, c.rt, c.ns, name);
        Ok(store::at_version(&stored, c.rt, c.version))
    }

    /// DELETE one object. Returns the object and whether it is gone (vs. pending finalizers).
    pub fn remove(
        &self,
        c: &Ctx<'_>,
        name: &str,
        propagation: Propagation,
        preconditions: &Value,
    ) -> Result<(Value, bool), ApiError> {
        let mut g = self.lock();
        let live = g
            .get(c.rt, c.ns, name)
            .ok_or_else(|| ApiError::not_found(c.rt, name))?;
        if let Some(uid) = preconditions.get("uid").and_then(Value::as_str) {
            let actual = meta::str_at(&live, &["metadata", "uid"]).unwrap_or("");
            if uid != actual {
                return Err(ApiError::conflict(
                    c.rt,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                    ),
                ));
            }
        }
        if let Some(rv) = preconditions.get("resourceVersion").and_then(Value::as_str) {
            let actual = meta::str_at(&live, &["metadata", "resourceVersion"]).unwrap_or("");
            if rv != actual {
                return Err(ApiError::conflict(
                    c.rt,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                    ),
                ));
            }
        }
        if c.dry_run {
            let gone = meta::finalizers(&live).is_empty();
            return Ok((store::at_version(&live, c.rt, c.version), gone));
        }
        let (obj, gone) = g
            .delete(c.rt, c.ns, name, propagation)
            .ok_or_else(|| ApiError::not_found(c.rt, name))?;
        Ok((store::at_version(&obj, c.rt, c.version), gone))
    }
}

fn check_precondition(
    rt: &ResourceType,
    name: &str,
    body: &Value,
    live: &Value,
) -> Result<(), ApiError> {
    let want = meta::str_at(body, &["metadata", "resourceVersion"]).unwrap_or("");
    let have = meta::str_at(live, &["metadata", "resourceVersion"]).unwrap_or("");
    if !want.is_empty() && want != have {
        return Err(ApiError::conflict(rt, name, ApiError::MODIFIED));
    }
    Ok(())
}

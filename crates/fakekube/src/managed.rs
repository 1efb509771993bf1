//! `metadata.managedFields`: reading and writing the entries, and the ownership algorithms
//! of server-side apply (`Apply`) and of every other write (`Update`).
//!
//! Mirrors structured-merge-diff's `Updater`: an entry is identified by (manager, operation,
//! subresource); an apply merges the configuration, prunes what the manager applied before
//! but no longer does (unless someone else owns it), and fails with the conflicting paths
//! when another entry owns a field whose value would change — unless forced, in which case
//! ownership moves. An update gives the writer every added or modified field and takes them
//! from everyone else. Timestamps change only when an entry gains fields (updates) or the
//! object changes (applies), so a repeated identical apply is a no-op.

use serde_json::{Map, Value, json};

use crate::fieldset::{FieldSet, Path, display_path};
use crate::ssa;
use crate::status::Cause;

/// `Apply` or `Update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Apply => "Apply",
            Op::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// The operation.
    pub operation: Op,
    /// The API version the manager used.
    pub api_version: String,
    /// When the entry last changed.
    pub time: String,
    /// `status` for writes through the status subresource.
    pub subresource: Option<String>,
    /// The owned fields.
    pub set: FieldSet,
}

impl Entry {
    fn same_identity(&self, manager: &str, op: Op, sub: Option<&str>) -> bool {
        self.manager == manager && self.operation == op && self.subresource.as_deref() == sub
    }

    /// How conflict messages name this manager (`"m" using apps/v1`, plus ` at TIME` for
    /// updates, and the subresource when there is one).
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s = format!("{s} with subresource {sub:?}");
        }
        match self.operation {
            Op::Update => format!("{s} using {} at {}", self.api_version, self.time),
            Op::Apply => format!("{s} using {}", self.api_version),
        }
    }
}

/// Read the entries of an object.
pub fn read(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let operation = match e.get("operation")?.as_str()? {
                "Apply" => Op::Apply,
                _ => Op::Update,
            };
            Some(Entry {
                manager: e
                    .get("manager")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                operation,
                api_version: e
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                time: e
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                set: e
                    .get("fieldsV1")
                    .map(FieldSet::from_fields_v1)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Write entries into `metadata.managedFields` (removed when there are none).
pub fn write(obj: &mut Value, entries: &[Entry]) {
    let md = crate::meta::metadata_mut(obj);
    if entries.is_empty() {
        md.remove("managedFields");
        return;
    }
    let list = entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("manager".into(), json!(e.manager));
            m.insert("operation".into(), json!(e.operation.as_str()));
            m.insert("apiVersion".into(), json!(e.api_version));
            m.insert("time".into(), json!(e.time));
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), e.set.to_fields_v1());
            if let Some(s) = &e.subresource {
                m.insert("subresource".into(), json!(s));
            }
            Value::Object(m)
        })
        .collect();
    md.insert("managedFields".into(), Value::Array(list));
}

/// Who is writing.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// The API version of the request.
    pub api_version: &'a str,
    /// `Some("status")` for the status subresource.
    pub subresource: Option<&'a str>,
    /// The time to stamp.
    pub now: &'a str,
}

/// A failed apply: the conflicting fields, with the message and causes of the 409.
#[derive(Debug, Clone)]
pub struct Conflicts {
    /// `Apply failed with N conflict(s): …`
    pub message: String,
    /// One cause per (manager, path).
    pub causes: Vec<Cause>,
}

fn conflicts_error(found: &[(Entry, Vec<Path>)]) -> Conflicts {
    let total: usize = found.iter().map(|(_, p)| p.len()).sum();
    let mut causes = Vec::new();
    for (e, paths) in found {
        for p in paths {
            causes.push(Cause {
                reason: "FieldManagerConflict",
                message: format!("conflict with {}", e.describe()),
                field: display_path(p),
            });
        }
    }
    let message = if total == 1 {
        format!(
            "Apply failed with 1 conflict: {}: {}",
            causes[0].message, causes[0].field
        )
    } else {
        let mut sorted: Vec<&(Entry, Vec<Path>)> = found.iter().collect();
        sorted.sort_by_key(|(e, _)| e.describe());
        let mut lines = Vec::new();
        for (e, paths) in sorted {
            lines.push(format!("conflicts with {}:", e.describe()));
            lines.extend(paths.iter().map(|p| format!("- {}", display_path(p))));
        }
        format!("Apply failed with {total} conflicts: {}", lines.join("\n"))
    };
    Conflicts { message, causes }
}

/// Server-side apply of `cfg` (already limited to the fields this endpoint may change) onto
/// `live` (`Null` when the object does not exist yet). Returns the new object (without
/// `managedFields`) and the new entries.
pub fn apply(
    live: &Value,
    cfg: &Value,
    entries: Vec<Entry>,
    w: &Writer<'_>,
    force: bool,
) -> Result<(Value, Vec<Entry>), Conflicts> {
    let mut entries = entries;
    let new_set = ssa::value_set(cfg);
    let base = if live.is_null() {
        json!({})
    } else {
        live.clone()
    };
    let mut merged = crate::merge::merge(&base, cfg);
    let mine = entries
        .iter()
        .position(|e| e.same_identity(w.manager, Op::Apply, w.subresource));
    let last_set = mine.map(|i| entries[i].set.clone()).unwrap_or_default();
    let mut others = FieldSet::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) != mine {
            others.union_with(&e.set);
        }
    }
    let mut keep = others.clone();
    keep.union_with(&new_set);
    let remove = last_set.difference(&keep);
    if !remove.is_empty() {
        crate::merge::prune(&mut merged, &remove, &keep);
    }
    let cmp = ssa::compare(&base, &merged);
    let mut changed = cmp.modified.clone();
    changed.union_with(&cmp.added);
    let mut found = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == mine {
            continue;
        }
        let c = e.set.intersection(&changed);
        if !c.is_empty() {
            found.push((i, c));
        }
    }
    if !found.is_empty() && !force {
        let report: Vec<(Entry, Vec<Path>)> = found
            .iter()
            .map(|(i, c)| (entries[*i].clone(), c.paths()))
            .collect();
        return Err(conflicts_error(&report));
    }
    for (i, c) in &found {
        entries[*i].set = entries[*i].set.difference(c);
    }
    let object_changed = merged != base || live.is_null();
    match mine {
        Some(i) => {
            let e = &mut entries[i];
            if object_changed || e.set != new_set {
                e.time = w.now.to_string();
            }
            e.set = new_set;
            e.api_version = w.api_version.to_string();
        }
        None => entries.push(Entry {
            manager: w.manager.to_string(),
            operation: Op::Apply,
            api_version: w.api_version.to_string(),
            time: w.now.to_string(),
            subresource: w.subresource.map(str::to_string),
            set: new_set,
        }),
    }
    entries.retain(|e| !e.set.is_empty());
    Ok((merged, entries))
}

/// The ownership change of a non-apply write from `live` (`Null` on create) to `new`.
pub fn update(live: &Value, new: &Value, entries: Vec<Entry>, w: &Writer<'_>) -> Vec<Entry> {
    let mut entries = entries;
    let cmp = ssa::compare(live, new);
    let mut changed = cmp.modified;
    changed.union_with(&cmp.added);
    if changed.is_empty() {
        return entries;
    }
    for e in entries.iter_mut() {
        if !e.same_identity(w.manager, Op::Update, w.subresource) {
            e.set = e.set.difference(&changed);
        }
    }
    match entries
        .iter_mut()
        .find(|e| e.same_identity(w.manager, Op::Update, w.subresource))
    {
        Some(e) => {
            e.set.union_with(&changed);
            e.time = w.now.to_string();
            e.api_version = w.api_version.to_string();
        }
        None => entries.push(Entry {
            manager: w.manager.to_string(),
            operation: Op::Update,
            api_version: w.api_version.to_string(),
            time: w.now.to_string(),
            subresource: w.subresource.map(str::to_string),
            set: changed,
        }),
    }
    entries.retain(|e| !e.set.is_empty());
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w<'a>(m: &'a str) -> Writer<'a> {
        Writer {
            manager: m,
            api_version: "v1",
            subresource: None,
            now: "2025-01-01T00:00:00Z",
        }
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
    }

    #[test]
    fn apply_conflicts_then_force_moves_ownership() {
        let r = apply(
            &Value::Null,
            &cm(json!({"a": "1", "b": "1"})),
            vec![],
            &w("one"),
            false,
        );
        let Ok((obj, entries)) = r else {
            panic!("first apply")
        };
        // Same value: shared ownership, no conflict.
        let r = apply(
            &obj,
            &cm(json!({"a": "1"})),
            entries.clone(),
            &w("two"),
            false,
        );
        assert!(r.is_ok());
        // Different value: conflict naming the other manager and the path.
        let Err(c) = apply(
            &obj,
            &cm(json!({"a": "2"})),
            entries.clone(),
            &w("two"),
            false,
        ) else {
            panic!("expected a conflict")
        };
        assert_eq!(
            c.message,
            "Apply failed with 1 conflict: conflict with \"one\" using v1: .data.a"
        );
        assert_eq!(c.causes[0].field, ".data.a");
        let Ok((obj, entries)) = apply(&obj, &cm(json!({"a": "2"})), entries, &w("two"), true)
        else {
            panic!("forced apply")
        };
        assert_eq!(obj["data"]["a"], "2");
        let one = entries
            .iter()
            .find(|e| e.manager == "one")
            .map(|e| e.set.to_fields_v1());
        assert_eq!(one, Some(json!({"f:data": {"f:b": {}}})));
    }

    #[test]
    fn apply_prunes_fields_no_longer_applied() {
        let Ok((obj, entries)) = apply(
            &Value::Null,
            &cm(json!({"a": "1", "b": "1"})),
            vec![],
            &w("one"),
            false,
        ) else {
            panic!()
        };
        let Ok((obj, _)) = apply(&obj, &cm(json!({"a": "1"})), entries, &w("one"), false) else {
            panic!()
        };
        assert_eq!(obj["data"], json!({"a": "1"}));
    }

    #[test]
    fn update_takes_changed_fields() {
        let Ok((obj, entries)) = apply(
            &Value::Null,
            &cm(json!({"a": "1"})),
            vec![],
            &w("one"),
            false,
        ) else {
            panic!()
        };
        let new = cm(json!({"a": "2", "c": "3"}));
        let entries = update(&obj, &new, entries, &w("editor"));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "editor");
        assert_eq!(
            entries[0].set.to_fields_v1(),
            json!({"f:data": {"f:a": {}, "f:c": {}}})
        );
    }
}

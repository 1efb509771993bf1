//! Non-apply patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a subset of
//! strategic merge patch.
//!
//! Strategic merge patch here is a merge patch whose keyed lists (the ones
//! [`crate::ssa::list_kind`] knows: containers, env, ports, volumes, conditions, …) merge by
//! key instead of being replaced, with `$patch: delete` on a list item deleting it and
//! `$patch: replace` on a list item replacing the list; other directives
//! (`$setElementOrder`, `$retainKeys`, `$deleteFromPrimitiveList`) are dropped. Pure
//! functions over JSON; errors are plain strings the handler turns into 422/400.

use serde_json::{Map, Value};

use crate::ssa::{ListKind, item_key, list_kind};

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            for (k, pv) in p {
                if pv.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), pv);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Strategic merge patch (the subset described in the module docs).
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Value {
    smp(target, patch, &mut Vec::new())
}

fn is_directive(k: &str) -> bool {
    k.starts_with("$setElementOrder/")
        || k.starts_with("$retainKeys")
        || k.starts_with("$deleteFromPrimitiveList/")
        || k == "$patch"
}

fn smp(target: &Value, patch: &Value, ctx: &mut Vec<String>) -> Value {
    match patch {
        Value::Object(p) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                let mut p = p.clone();
                p.remove("$patch");
                return Value::Object(p);
            }
            let mut out = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            for (k, pv) in p {
                if is_directive(k) {
                    continue;
                }
                ctx.push(k.clone());
                if pv.is_null() {
                    out.remove(k);
                } else {
                    let merged = smp(out.get(k).unwrap_or(&Value::Null), pv, ctx);
                    out.insert(k.clone(), merged);
                }
                ctx.pop();
            }
            Value::Object(out)
        }
        Value::Array(items) => match (list_kind(ctx), target) {
            (ListKind::Map(keys), Value::Array(live)) => {
                if items
                    .iter()
                    .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
                {
                    return Value::Array(
                        items
                            .iter()
                            .filter(|i| i.get("$patch").is_none())
                            .cloned()
                            .collect(),
                    );
                }
                let mut out = live.clone();
                for pi in items {
                    let Some(pk) = item_key(pi, keys) else {
                        return patch.clone();
                    };
                    let pos = out
                        .iter()
                        .position(|li| item_key(li, keys).as_deref() == Some(&pk));
                    let delete = pi.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(i), true) => {
                            out.remove(i);
                        }
                        (Some(i), false) => out[i] = smp(&out[i], pi, ctx),
                        (None, true) => {}
                        (None, false) => out.push(smp(&Value::Null, pi, ctx)),
                    }
                }
                Value::Array(out)
            }
            _ => patch.clone(),
        },
        other => other.clone(),
    }
}

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, toks: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("path segment {t:?} not found"))?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| format!("bad array index {t:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("cannot descend into a scalar at {t:?}")),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    let toks = tokens(path)?;
    let Some((last, parent)) = toks.split_last() else {
        *doc = v;
        return Ok(());
    };
    match parent_mut(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("bad array index {last:?}"))?;
            if i > a.len() {
                return Err(format!("array index {i} out of range"));
            }
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!("cannot add to a scalar at {path:?}")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let toks = tokens(path)?;
    let Some((last, parent)) = toks.split_last() else {
        return Err("cannot remove the document root".into());
    };
    match parent_mut(doc, parent)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| format!("{path:?} not found")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("bad array index {last:?}"))?;
            if i >= a.len() {
                return Err(format!("array index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("cannot remove from a scalar at {path:?}")),
    }
}

fn get(doc: &Value, path: &str) -> Result<Value, String> {
    if path.is_empty() {
        return Ok(doc.clone());
    }
    doc.pointer(path)
        .cloned()
        .ok_or_else(|| format!("{path:?} not found"))
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    let mut doc = target.clone();
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation without \"op\"")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation without \"path\"")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("{kind} without \"value\""))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{kind} without \"from\""))
        };
        match kind {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let v = remove(&mut doc, from()?)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let v = get(&doc, from()?)?;
                add(&mut doc, path, v)?;
            }
            "test" => {
                if get(&doc, path)? != value()? {
                    return Err(format!("test failed at {path:?}"));
                }
            }
            other => return Err(format!("unknown JSON patch operation {other:?}")),
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        let p = json!({"a": "z", "c": {"f": null}});
        assert_eq!(merge_patch(&t, &p), json!({"a": "z", "c": {"d": "e"}}));
        assert_eq!(
            merge_patch(&json!({"l": [1, 2]}), &json!({"l": [3]})),
            json!({"l": [3]})
        );
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}});
        let p = json!({"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}],
            "$setElementOrder/containers": [{"name": "b"}]}});
        assert_eq!(
            strategic_merge_patch(&t, &p),
            json!({"spec": {"containers": [{"name": "b", "image": "2"}]}})
        );
    }

    #[test]
    fn json_patch_ops() {
        let t = json!({"metadata": {"finalizers": ["a", "b"]}, "x": 1});
        let p = json!([
            {"op": "test", "path": "/x", "value": 1},
            {"op": "remove", "path": "/metadata/finalizers/0"},
            {"op": "add", "path": "/metadata/labels", "value": {"k~1v": "1"}},
            {"op": "replace", "path": "/x", "value": 2}
        ]);
        let r = json_patch(&t, &p);
        assert_eq!(
            r.ok(),
            Some(json!({"metadata": {"finalizers": ["b"], "labels": {"k~1v": "1"}}, "x": 2}))
        );
        assert!(json_patch(&t, &json!([{"op": "test", "path": "/x", "value": 5}])).is_err());
    }
}

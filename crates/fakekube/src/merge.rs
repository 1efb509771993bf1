//! The apply merge and pruning, over plain JSON with the schema rules of [`crate::ssa`].
//!
//! [`merge`] folds an applied configuration into the live object: objects recursively,
//! keyed lists by key (live order kept, new items appended), set lists as a union, every
//! other value replaced, and an explicit `null` removes the field. [`prune`] removes the
//! fields a manager applied before and no longer applies, keeping whatever another manager
//! still owns. No ownership bookkeeping here: that is [`crate::managed`].

use serde_json::Value;

use crate::fieldset::{FieldSet, Pe};
use crate::ssa::{ListKind, effective_kind, is_atomic_map, item_key, list_kind, set_value_pe};

/// Merge an applied configuration into the live object: objects recursively, keyed lists
/// by key (live order kept, new items appended), set lists as a union, everything else
/// replaced. An explicit `null` in the configuration removes the field.
pub fn merge(live: &Value, cfg: &Value) -> Value {
    merge_at(live, cfg, &mut Vec::new())
}

fn merge_at(live: &Value, cfg: &Value, ctx: &mut Vec<String>) -> Value {
    match (live, cfg) {
        (Value::Object(l), Value::Object(c)) if !is_atomic_map(ctx) => {
            let mut out = l.clone();
            for (k, cv) in c {
                ctx.push(k.clone());
                if cv.is_null() {
                    out.remove(k);
                } else {
                    let merged = match l.get(k) {
                        Some(lv) => merge_at(lv, cv, ctx),
                        None => cv.clone(),
                    };
                    out.insert(k.clone(), merged);
                }
                ctx.pop();
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match effective_kind(ctx, &[l, c]) {
            ListKind::Map(keys) => {
                let mut out = Vec::with_capacity(l.len() + c.len());
                for li in l {
                    let lk = item_key(li, keys);
                    match c.iter().find(|ci| item_key(ci, keys) == lk) {
                        Some(ci) => out.push(merge_at(li, ci, ctx)),
                        None => out.push(li.clone()),
                    }
                }
                for ci in c {
                    let ck = item_key(ci, keys);
                    if !l.iter().any(|li| item_key(li, keys) == ck) {
                        out.push(ci.clone());
                    }
                }
                Value::Array(out)
            }
            ListKind::Set => {
                let mut out = l.clone();
                out.extend(c.iter().filter(|v| !l.contains(v)).cloned());
                Value::Array(out)
            }
            ListKind::Atomic => cfg.clone(),
        },
        _ => cfg.clone(),
    }
}

/// Remove the members of `remove` from `v`, except what `keep` (the fields still owned by
/// anyone) needs; containers left empty by a removal are dropped unless kept.
pub fn prune(v: &mut Value, remove: &FieldSet, keep: &FieldSet) {
    prune_at(v, remove, Some(keep), &mut Vec::new());
}

fn prune_at(v: &mut Value, remove: &FieldSet, keep: Option<&FieldSet>, ctx: &mut Vec<String>) {
    for (pe, rc) in &remove.children {
        let kc = keep.and_then(|k| k.children.get(pe));
        let kept_below = kc.is_some_and(|k| !k.is_empty());
        let kept_self = kc.is_some_and(|k| k.member);
        match (pe, &mut *v) {
            (Pe::Field(f), Value::Object(m)) => {
                ctx.push(f.clone());
                let mut drop = false;
                if let Some(child) = m.get_mut(f) {
                    if rc.member && !kept_below {
                        drop = true;
                    } else {
                        prune_at(child, rc, kc, ctx);
                        drop = is_empty_container(child) && !kept_self;
                    }
                }
                if drop {
                    m.remove(f);
                }
                ctx.pop();
            }
            (Pe::Key(k), Value::Array(items)) => {
                if let ListKind::Map(keys) = list_kind(ctx) {
                    let pos = items
                        .iter()
                        .position(|i| item_key(i, keys).as_deref() == Some(k));
                    if let Some(pos) = pos {
                        if rc.member && !kept_below {
                            items.remove(pos);
                        } else {
                            prune_at(&mut items[pos], rc, kc, ctx);
                        }
                    }
                }
            }
            (Pe::Value(_), Value::Array(items)) if rc.member && !kept_self => {
                items.retain(|i| set_value_pe(i) != *pe);
            }
            _ => {}
        }
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(image: &str, env: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [
                {"name": "web", "image": image, "ports": [{"containerPort": 8080}], "env": env}
            ]}}}})
    }

    #[test]
    fn merge_keyed_lists_by_key() {
        let live = deployment(
            "a",
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        );
        let cfg = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "b", "env": [{"name": "A", "value": "9"}]},
            {"name": "side", "image": "s"}]}}}});
        let m = merge(&live, &cfg);
        let cs = &m["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs[0]["image"], "b");
        assert_eq!(
            cs[0]["env"],
            json!([{"name": "A", "value": "9"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(cs[1]["name"], "side");
        assert_eq!(m["spec"]["replicas"], 2);
    }

    #[test]
    fn prune_removes_unowned_and_empty_parents() {
        let mut v = json!({"metadata": {"labels": {"a": "1"}}, "data": {"x": "1", "y": "2"}});
        let mut remove = FieldSet::new();
        remove.insert(&[
            Pe::Field("metadata".into()),
            Pe::Field("labels".into()),
            Pe::Field("a".into()),
        ]);
        remove.insert(&[Pe::Field("data".into()), Pe::Field("x".into())]);
        prune(&mut v, &remove, &FieldSet::new());
        assert_eq!(v, json!({"data": {"y": "2"}}));
    }
}

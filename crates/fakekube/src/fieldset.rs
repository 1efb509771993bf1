//! Field sets: the sets of field paths a manager owns, and their `FieldsV1` encoding.
//!
//! A set is a tree of path elements — `f:name` (a field), `k:{"name":"web"}` (an item of a
//! keyed list), `v:"x"` (an item of a set list) — whose nodes are *members* when the path
//! itself is owned; a member with children serialises with the `".": {}` marker, exactly as
//! in `metadata.managedFields[].fieldsV1`. Owns only the data structure and its algebra
//! (union, difference, intersection); which paths a value contributes is decided in
//! [`crate::ssa`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One path element.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pe {
    /// A field of an object: `f:name`.
    Field(String),
    /// An item of an associative list, identified by its key fields (compact JSON object with
    /// the keys in schema order): `k:{"name":"web"}`.
    Key(String),
    /// An item of a set list, identified by its value (compact JSON): `v:"x"`.
    Value(String),
}

impl Pe {
    fn encode(&self) -> String {
        match self {
            Pe::Field(f) => format!("f:{f}"),
            Pe::Key(k) => format!("k:{k}"),
            Pe::Value(v) => format!("v:{v}"),
        }
    }

    fn decode(s: &str) -> Option<Pe> {
        if let Some(f) = s.strip_prefix("f:") {
            Some(Pe::Field(f.to_string()))
        } else if let Some(k) = s.strip_prefix("k:") {
            Some(Pe::Key(k.to_string()))
        } else {
            s.strip_prefix("v:").map(|v| Pe::Value(v.to_string()))
        }
    }

    /// The element as it appears in conflict messages: `.name`, `[name="web"]`, `[="x"]`.
    pub fn display(&self) -> String {
        match self {
            Pe::Field(f) => format!(".{f}"),
            Pe::Key(k) => {
                let parsed: Option<Map<String, Value>> = serde_json::from_str(k).ok();
                match parsed {
                    Some(m) => {
                        let parts: Vec<String> =
                            m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        format!("[{}]", parts.join(","))
                    }
                    None => format!("[{k}]"),
                }
            }
            Pe::Value(v) => format!("[={v}]"),
        }
    }
}

/// A path: a sequence of elements from the object root.
pub type Path = Vec<Pe>;

/// Render a path for messages, e.g. `.spec.template.spec.containers[name="web"].image`.
pub fn display_path(p: &[Pe]) -> String {
    p.iter().map(Pe::display).collect()
}

/// A node of a field set; the root node is the set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    /// Whether the path to this node is itself in the set.
    pub member: bool,
    /// Child paths.
    pub children: BTreeMap<Pe, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        FieldSet::default()
    }

    /// Whether the set has no members.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// The child node for `pe`, created if missing.
    pub fn child(&mut self, pe: Pe) -> &mut FieldSet {
        self.children.entry(pe).or_default()
    }

    /// Insert a path.
    pub fn insert(&mut self, path: &[Pe]) {
        let mut cur = self;
        for pe in path {
            cur = cur.child(pe.clone());
        }
        cur.member = true;
    }

    /// Whether a path is a member.
    pub fn contains(&self, path: &[Pe]) -> bool {
        let mut cur = self;
        for pe in path {
            match cur.children.get(pe) {
                Some(c) => cur = c,
                None => return false,
            }
        }
        cur.member
    }

    /// Add every member of `other`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.child(k.clone()).union_with(c);
        }
    }

    /// Members of `self` that are not members of `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(oc) => c.difference(oc),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    /// Members of both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(oc) = other.children.get(k) {
                let i = c.intersection(oc);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// Every member path, depth first.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` JSON encoding.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            if !c.is_empty() {
                m.insert(k.encode(), c.to_fields_v1());
            }
        }
        Value::Object(m)
    }

    /// Decode `FieldsV1` JSON (unknown entries are skipped).
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut out = FieldSet::new();
        if let Some(m) = v.as_object() {
            for (k, c) in m {
                if k == "." {
                    continue;
                }
                if let Some(pe) = Pe::decode(k) {
                    let mut child = FieldSet::from_fields_v1(c);
                    let cm = c.as_object();
                    child.member = cm.is_none_or(|cm| cm.is_empty() || cm.contains_key("."));
                    out.children.insert(pe, child);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(s: &str) -> Pe {
        Pe::Field(s.into())
    }

    #[test]
    fn fields_v1_round_trip() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}
        });
        let s = FieldSet::from_fields_v1(&v);
        assert!(s.contains(&[f("spec"), f("replicas")]));
        assert!(s.contains(&[f("metadata"), f("labels")]));
        assert!(!s.contains(&[f("spec")]));
        assert_eq!(s.to_fields_v1(), v);
    }

    #[test]
    fn algebra() {
        let mut a = FieldSet::new();
        a.insert(&[f("a"), f("b")]);
        a.insert(&[f("a"), f("c")]);
        let mut b = FieldSet::new();
        b.insert(&[f("a"), f("c")]);
        b.insert(&[f("d")]);
        assert_eq!(a.intersection(&b).paths(), vec![vec![f("a"), f("c")]]);
        assert_eq!(a.difference(&b).paths(), vec![vec![f("a"), f("b")]]);
        a.union_with(&b);
        assert_eq!(a.paths().len(), 3);
        let key = Pe::Key("{\"containerPort\":80,\"protocol\":\"TCP\"}".into());
        assert_eq!(
            display_path(&[f("ports"), key, f("name")]),
            ".ports[containerPort=80,protocol=\"TCP\"].name"
        );
    }
}

//! The in-memory object store: objects, the global resourceVersion counter, the bounded
//! event history that watches read from, list snapshots for `continue` tokens, and pod logs.
//!
//! Every write goes through [`Inner::commit`], which stamps the next resourceVersion, records
//! the event and wakes watchers; deleting an object whose finalizers are gone, cascading to
//! dependents (ownerReferences) and finishing a terminating namespace happen here too. The
//! request semantics (validation, apply, patches) live in [`crate::ops`]; this module only
//! keeps state consistent. One `std::sync::Mutex` guards everything; it is never held across
//! an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::meta;
use crate::registry::{self, ResourceType};
use crate::status::ApiError;

/// Default number of events kept for watches to resume from (older → 410 Expired).
pub const DEFAULT_HISTORY: usize = 10_000;
/// List snapshots kept for `continue` tokens (older tokens → 410 Expired).
const SNAPSHOTS: usize = 256;

/// `ADDED`, `MODIFIED` or `DELETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

/// One recorded change.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion of this change.
    pub rv: u64,
    /// The resource type.
    pub rt: &'static ResourceType,
    /// Namespace (`""` for cluster-scoped).
    pub ns: String,
    /// What happened.
    pub kind: EventKind,
    /// The object after the change (for deletions: the last state, with the deletion's rv).
    pub object: Arc<Value>,
    /// The object before the change.
    pub prev: Option<Arc<Value>>,
}

/// Objects of one type, keyed by (namespace, name) in list order.
pub type Table = BTreeMap<(String, String), Arc<Value>>;

/// The guarded state.
#[derive(Debug)]
pub struct Inner {
    /// The last resourceVersion handed out.
    pub rv: u64,
    objects: HashMap<(&'static str, &'static str), Table>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Events with rv ≤ this have been dropped from the history.
    pub compacted: u64,
    snapshots: VecDeque<(u64, Arc<Vec<Arc<Value>>>)>,
    next_snapshot: u64,
    logs: HashMap<(String, String, String), ContainerLog>,
    changed: watch::Sender<u64>,
    /// Which controllers react to writes on their own (see [`crate::hooks::Auto`]).
    pub auto: crate::hooks::Auto,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
}

fn key(rt: &ResourceType) -> (&'static str, &'static str) {
    (rt.group, rt.plural)
}

impl Store {
    /// An empty store with the namespaces every cluster has.
    pub fn new(history_limit: usize) -> Self {
        let (changed, _) = watch::channel(0u64);
        let inner = Inner {
            rv: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 0,
            snapshots: VecDeque::new(),
            next_snapshot: 1,
            logs: HashMap::new(),
            changed: changed.clone(),
            auto: crate::hooks::Auto::default(),
        };
        let store = Store {
            inner: Mutex::new(inner),
            changed,
        };
        {
            let mut g = store.lock();
            if let Some(ns_rt) = registry::lookup("", "v1", "namespaces") {
                for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                    let obj = json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns, "uid": meta::new_uid(), "creationTimestamp": meta::now(),
                            "labels": {"kubernetes.io/metadata.name": ns}},
                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
                    g.commit(ns_rt, "", ns, Some(obj), None);
                }
            }
        }
        store
    }

    /// Lock the state (poisoning is ignored: the state is plain data).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver that changes on every commit and log append.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// How a deletion cascades to dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete dependents too (Foreground is treated the same, without the blocking finalizer).
    Background,
    /// Leave dependents.
    Orphan,
}

impl Inner {
    /// The table of one type.
    pub fn table(&self, rt: &ResourceType) -> Option<&Table> {
        self.objects.get(&key(rt))
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.table(rt)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Whether a namespace exists, and whether it is terminating.
    pub fn namespace_state(&self, ns: &str) -> Option<bool> {
        let rt = registry::lookup("", "v1", "namespaces")?;
        self.get(rt, "", ns).map(|o| meta::is_deleting(&o))
    }

    /// Objects of a type, optionally in one namespace, in key order.
    pub fn objects(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Arc<Value>> {
        let Some(t) = self.table(rt) else {
            return Vec::new();
        };
        match ns {
            Some(ns) => t
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
            None => t.values().cloned().collect(),
        }
    }

    /// Record a change: `Some(obj)` stores it (stamping the next resourceVersion), `None`
    /// removes the object. Returns the stored (or last) object.
    pub fn commit(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        new: Option<Value>,
        prev: Option<Arc<Value>>,
    ) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        let k = (ns.to_string(), name.to_string());
        let (kind, object) = match new {
            Some(mut obj) => {
                meta::metadata_mut(&mut obj)
                    .insert("resourceVersion".into(), json!(rv.to_string()));
                let obj = Arc::new(obj);
                self.objects
                    .entry(key(rt))
                    .or_default()
                    .insert(k, obj.clone());
                let kind = if prev.is_some() {
                    EventKind::Modified
                } else {
                    EventKind::Added
                };
                (kind, obj)
            }
            None => {
                if let Some(t) = self.objects.get_mut(&key(rt)) {
                    t.remove(&k);
                }
                let mut last = prev.as_deref().cloned().unwrap_or(Value::Null);
                meta::metadata_mut(&mut last)
                    .insert("resourceVersion".into(), json!(rv.to_string()));
                (EventKind::Deleted, Arc::new(last))
            }
        };
        self.history.push_back(Arc::new(Event {
            rv,
            rt,
            ns: ns.to_string(),
            kind,
            object: object.clone(),
            prev,
        }));
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
        self.changed.send_replace(rv);
        object
    }

    /// Store an updated object, or finish its deletion when it is being deleted and has no
    /// finalizers left.
    pub fn commit_update(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        new: Value,
        prev: Arc<Value>,
    ) -> Arc<Value> {
        if meta::is_deleting(&new) && meta::finalizers(&new).is_empty() {
            let mut last = new;
            if let Some(rvs) = prev.pointer("/metadata/resourceVersion").cloned() {
                meta::metadata_mut(&mut last).insert("resourceVersion".into(), rvs);
            }
            let out = self.commit(rt, ns, name, None, Some(Arc::new(last)));
            self.after_removal(rt, ns, &out, Propagation::Background);
            return out;
        }
        self.commit(rt, ns, name, Some(new), Some(prev))
    }

    /// Delete an object: mark it when finalizers remain, remove it otherwise. Returns the
    /// object and whether it is gone.
    pub fn delete(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        propagation: Propagation,
    ) -> Option<(Arc<Value>, bool)> {
        let live = self.get(rt, ns, name)?;
        if rt.group.is_empty() && rt.plural == "namespaces" {
            return Some(self.delete_namespace(rt, name, live));
        }
        if !meta::finalizers(&live).is_empty() {
            if meta::is_deleting(&live) {
                return Some((live, false));
            }
            let mut obj = (*live).clone();
            let md = meta::metadata_mut(&mut obj);
            md.insert("deletionTimestamp".into(), json!(meta::now()));
            md.insert("deletionGracePeriodSeconds".into(), json!(0));
            if rt.generation {
                let g = md.get("generation").and_then(Value::as_i64).unwrap_or(0);
                md.insert("generation".into(), json!(g + 1));
            }
            let out = self.commit(rt, ns, name, Some(obj), Some(live));
            return Some((out, false));
        }
        let out = self.commit(rt, ns, name, None, Some(live));
        self.after_removal(rt, ns, &out, propagation);
        Some((out, true))
    }

    fn delete_namespace(
        &mut self,
        rt: &'static ResourceType,
        name: &str,
        live: Arc<Value>,
    ) -> (Arc<Value>, bool) {
        let marked = if meta::is_deleting(&live) {
            live
        } else {
            let mut obj = (*live).clone();
            meta::metadata_mut(&mut obj).insert("deletionTimestamp".into(), json!(meta::now()));
            obj["status"] = json!({"phase": "Terminating"});
            self.commit(rt, "", name, Some(obj), Some(live))
        };
        for t in registry::all().iter().filter(|t| t.namespaced) {
            for obj in self.objects(t, Some(name)) {
                if let Some(n) = meta::str_at(&obj, &["metadata", "name"]) {
                    let n = n.to_string();
                    self.delete(t, name, &n, Propagation::Background);
                }
            }
        }
        let gone = self.finish_namespace(name);
        let out = if gone {
            marked
        } else {
            self.get(rt, "", name).unwrap_or(marked)
        };
        (out, gone)
    }

    /// Remove a terminating namespace once it is empty. Returns whether it is gone.
    fn finish_namespace(&mut self, ns: &str) -> bool {
        let Some(rt) = registry::lookup("", "v1", "namespaces") else {
            return false;
        };
        let Some(live) = self.get(rt, "", ns) else {
            return true;
        };
        if !meta::is_deleting(&live) {
            return false;
        }
        let empty = registry::all()
            .iter()
            .filter(|t| t.namespaced)
            .all(|t| self.objects(t, Some(ns)).is_empty());
        if empty {
            self.commit(rt, "", ns, None, Some(live));
        }
        empty
    }

    /// After an object is gone: delete its dependents (by ownerReference uid) and finish its
    /// namespace if that is terminating.
    fn after_removal(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        gone: &Value,
        propagation: Propagation,
    ) {
        if propagation == Propagation::Background
            && let Some(uid) = meta::str_at(gone, &["metadata", "uid"])
        {
            let uid = uid.to_string();
            let mut dependents = Vec::new();
            for t in registry::all() {
                // A namespaced owner only has dependents in its namespace; a cluster-scoped
                // owner may have them anywhere.
                let scope = match (rt.namespaced, t.namespaced) {
                    (true, true) => Some(ns),
                    (true, false) => continue,
                    (false, _) => None,
                };
                for obj in self.objects(t, scope) {
                    let owned = obj
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            refs.iter()
                                .any(|r| r.get("uid").and_then(Value::as_str) == Some(&uid))
                        });
                    if owned {
                        let n = meta::str_at(&obj, &["metadata", "name"])
                            .unwrap_or("")
                            .to_string();
                        let o_ns = meta::str_at(&obj, &["metadata", "namespace"])
                            .unwrap_or("")
                            .to_string();
                        dependents.push((t, o_ns, n));
                    }
                }
            }
            for (t, o_ns, n) in dependents {
                self.delete(t, &o_ns, &n, Propagation::Background);
            }
        }
        if !ns.is_empty() {
            self.finish_namespace(ns);
        }
    }

    /// Events after `rv` (exclusive), or `Err(compacted)` when some of them are gone.
    pub fn events_after(&self, rv: u64) -> Result<Vec<Arc<Event>>, u64> {
        if rv < self.compacted {
            return Err(self.compacted);
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.range(start..).cloned().collect())
    }

    /// Keep the rest of a list for a `continue` token; returns the snapshot id.
    pub fn save_snapshot(&mut self, items: Arc<Vec<Arc<Value>>>) -> u64 {
        let id = self.next_snapshot;
        self.next_snapshot += 1;
        self.snapshots.push_back((id, items));
        while self.snapshots.len() > SNAPSHOTS {
            self.snapshots.pop_front();
        }
        id
    }

    /// A saved snapshot.
    pub fn snapshot(&self, id: u64) -> Option<Arc<Vec<Arc<Value>>>> {
        self.snapshots
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| s.clone())
    }

    /// Append to a container's log, stamped now.
    pub fn append_log(&mut self, ns: &str, pod: &str, container: &str, text: &str) {
        self.append_log_at(ns, pod, container, text, meta::now_nanos());
    }

    /// Append to a container's log with the time the kubelet would stamp on each new line
    /// (nanoseconds since the epoch). Text continuing an unfinished line keeps that line's
    /// stamp.
    pub fn append_log_at(&mut self, ns: &str, pod: &str, container: &str, text: &str, at: i128) {
        let log = self
            .logs
            .entry((ns.to_string(), pod.to_string(), container.to_string()))
            .or_default();
        for piece in text.split_inclusive('\n') {
            match log.current.last_mut() {
                Some(last) if !last.text.ends_with('\n') => last.text.push_str(piece),
                _ => log.current.push(LogEntry {
                    at,
                    text: piece.to_string(),
                }),
            }
        }
        self.changed.send_modify(|_| {});
    }

    /// A container's (current) log so far.
    pub fn log(&self, ns: &str, pod: &str, container: &str) -> String {
        self.log_entries(ns, pod, container, false)
            .unwrap_or_default()
            .iter()
            .map(|e| e.text.as_str())
            .collect()
    }

    /// A container's log lines with their stamps: the current run's, or with `previous` the
    /// run before the last restart (`None` when it never restarted).
    pub fn log_entries(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Option<Vec<LogEntry>> {
        let log = self
            .logs
            .get(&(ns.to_string(), pod.to_string(), container.to_string()));
        if previous {
            log.and_then(|l| l.previous.clone())
        } else {
            Some(log.map(|l| l.current.clone()).unwrap_or_default())
        }
    }

    /// The container restarted: its current log becomes the previous one (the one before
    /// is gone, as on a kubelet), the new run starts empty.
    pub fn restart_log(&mut self, ns: &str, pod: &str, container: &str) {
        let log = self
            .logs
            .entry((ns.to_string(), pod.to_string(), container.to_string()))
            .or_default();
        log.previous = Some(std::mem::take(&mut log.current));
        self.changed.send_modify(|_| {});
    }
}

/// One container's logs: the current run's lines and the previous run's.
#[derive(Debug, Clone, Default)]
pub struct ContainerLog {
    pub current: Vec<LogEntry>,
    pub previous: Option<Vec<LogEntry>>,
}

/// One log line (with its newline, unless it is still being written) and when it was
/// written, in nanoseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub at: i128,
    pub text: String,
}

/// The object as served at `version` (only `apiVersion` differs between versions).
pub fn at_version(obj: &Value, rt: &ResourceType, version: &str) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.insert("apiVersion".into(), json!(rt.api_version(version)));
        m.insert("kind".into(), json!(rt.kind));
    }
    o
}

/// Require a namespace for content: 404 when missing, 403 when terminating.
pub fn require_namespace(inner: &Inner, ns: &str) -> Result<(), ApiError> {
    match inner.namespace_state(ns) {
        None => Err(ApiError::namespace_not_found(ns)),
        Some(true) => Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        ))),
        Some(false) => Ok(()),
    }
}

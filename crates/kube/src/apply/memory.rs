//! What the applier remembers per app between applies in this process, for pruning: which
//! kinds may hold the app's objects (so prune lists only those), and the rendered set
//! (`Kind`, name) of the last apply that ended with a successful prune, with nothing else
//! touching the app meanwhile ("settled").
//!
//! A settled app whose next render has the same set, with every object unchanged, cannot have
//! left anything of ours behind, so that apply skips the prune LISTs. Anything that could have
//! left something unsettles it until the next full apply + prune succeeds:
//! - an apply starting (the memory is taken at the start, given back only on success), so one
//!   that fails part-way, or is dropped, leaves the app unsettled;
//! - two applies of the app overlapping (either may write after the other's prune LISTs):
//!   neither settles it, whichever finishes first;
//! - [`Memory::forget`] (heal; a Deployment that vanished; `remove`), also for an apply in
//!   flight at the time.
//!
//! Kinds only grow while applies fail or overlap: the kinds of every object an apply is about
//! to send are added before it sends anything, so a failed apply's objects are pruned by the
//! next one. A successful, unoverlapped apply + prune sets them to exactly what it rendered.
//! Nothing here survives a restart: the first apply of an app in a process lists every kind.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

/// `(Kind, name)` of every object of an app's render.
pub(crate) type Rendered = HashSet<(&'static str, String)>;

/// org, namespace, app.
type AppKey = (String, String, String);

#[derive(Debug, Default)]
struct AppMemo {
    /// Kinds that may hold the app's objects; `None`: unknown (look at every managed kind).
    kinds: Option<HashSet<&'static str>>,
    /// The rendered set of the last settled apply; `None` while unsettled.
    settled: Option<Rendered>,
    /// Applies in flight.
    running: u32,
    /// Set when an apply starts, or a forget comes, while another apply is in flight: none
    /// of the applies in flight then may settle the app. Cleared when none is left.
    disturbed: bool,
}

/// Per-process prune memory of the applier.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    apps: Mutex<HashMap<AppKey, AppMemo>>,
}

/// One apply in flight, from [`Memory::begin`]. Dropped without [`Ticket::succeed`] (an error,
/// a cancelled future), it leaves the app unsettled.
pub(crate) struct Ticket<'a> {
    memory: &'a Memory,
    key: AppKey,
    rendered: Rendered,
    /// The app was settled with exactly this rendered set when the apply began.
    pub(crate) was_settled: bool,
    /// Kinds prune must look at (`None`: all).
    pub(crate) prune_kinds: Option<HashSet<&'static str>>,
    ok: bool,
}

impl Memory {
    /// Start an apply of `rendered` for the app.
    pub(crate) fn begin(
        &self,
        org: &str,
        namespace: &str,
        app: &str,
        rendered: Rendered,
    ) -> Ticket<'_> {
        let key = (org.to_string(), namespace.to_string(), app.to_string());
        let mut apps = self.lock();
        let memo = apps.entry(key.clone()).or_default();
        if memo.running > 0 {
            memo.disturbed = true;
        }
        memo.running += 1;
        let was_settled = memo.settled.take().is_some_and(|s| s == rendered);
        let prune_kinds = memo.kinds.clone();
        if let Some(kinds) = &mut memo.kinds {
            kinds.extend(rendered.iter().map(|(k, _)| *k));
        }
        Ticket {
            memory: self,
            key,
            rendered,
            was_settled,
            prune_kinds,
            ok: false,
        }
    }

    /// The next apply of the app does the full work again (prune included). Keeps the kinds.
    pub(crate) fn forget(&self, namespace: &str, app: &str) {
        for ((_, ns, a), memo) in self.lock().iter_mut() {
            if ns == namespace && a == app {
                memo.settled = None;
                if memo.running > 0 {
                    memo.disturbed = true;
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<AppKey, AppMemo>> {
        self.apps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Ticket<'_> {
    /// The apply sent everything and its prune (or the justified skip of it) succeeded.
    pub(crate) fn succeed(mut self) {
        self.ok = true;
    }

    pub(crate) fn rendered(&self) -> &Rendered {
        &self.rendered
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut apps = self.memory.lock();
        let Some(memo) = apps.get_mut(&self.key) else {
            return;
        };
        memo.running = memo.running.saturating_sub(1);
        if self.ok && !memo.disturbed {
            memo.kinds = Some(self.rendered.iter().map(|(k, _)| *k).collect());
            memo.settled = Some(std::mem::take(&mut self.rendered));
        }
        if memo.running == 0 {
            memo.disturbed = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[(&'static str, &str)]) -> Rendered {
        items.iter().map(|(k, n)| (*k, n.to_string())).collect()
    }

    fn begin<'a>(m: &'a Memory, r: &Rendered) -> Ticket<'a> {
        m.begin("acme", "satusky-acme", "web", r.clone())
    }

    #[test]
    fn settles_only_after_success_with_the_same_set() {
        let m = Memory::default();
        let r1 = set(&[("Deployment", "web"), ("Service", "web")]);
        let t = begin(&m, &r1);
        assert!(!t.was_settled);
        assert_eq!(
            t.prune_kinds, None,
            "first apply in a process looks everywhere"
        );
        t.succeed();
        let t = begin(&m, &r1);
        assert!(t.was_settled);
        assert_eq!(
            t.prune_kinds,
            Some(["Deployment", "Service"].into_iter().collect())
        );
        t.succeed();
        let r2 = set(&[("Deployment", "web")]);
        let t = begin(&m, &r2);
        assert!(!t.was_settled, "another set is not settled");
        t.succeed();
        assert!(begin(&m, &r2).was_settled);
    }

    #[test]
    fn a_failed_apply_unsettles_and_keeps_its_kinds() {
        let m = Memory::default();
        let r1 = set(&[("Deployment", "web")]);
        begin(&m, &r1).succeed();
        let r2 = set(&[("Deployment", "web"), ("HorizontalPodAutoscaler", "web")]);
        drop(begin(&m, &r2)); // failed part-way
        let t = begin(&m, &r1);
        assert!(!t.was_settled);
        assert_eq!(
            t.prune_kinds,
            Some(
                ["Deployment", "HorizontalPodAutoscaler"]
                    .into_iter()
                    .collect()
            ),
            "the failed apply's kinds are pruned"
        );
    }

    #[test]
    fn forget_and_overlap_unsettle() {
        let m = Memory::default();
        let r = set(&[("Deployment", "web")]);
        begin(&m, &r).succeed();
        m.forget("satusky-acme", "web");
        let t = begin(&m, &r);
        assert!(!t.was_settled);
        assert!(t.prune_kinds.is_some(), "forget keeps the kinds");
        t.succeed();

        // A forget while an apply runs: that apply does not settle.
        let t = begin(&m, &r);
        m.forget("satusky-acme", "web");
        t.succeed();
        assert!(!begin(&m, &r).was_settled);

        // Two overlapping applies: neither settles, whichever finishes first.
        for first_ends_first in [true, false] {
            begin(&m, &r).succeed();
            let a = begin(&m, &r);
            let b = begin(&m, &r);
            if first_ends_first {
                a.succeed();
                b.succeed();
            } else {
                b.succeed();
                a.succeed();
            }
            assert!(!begin(&m, &r).was_settled);
        }
        // Once idle again, an apply alone settles it.
        begin(&m, &r).succeed();
        assert!(begin(&m, &r).was_settled);
    }
}

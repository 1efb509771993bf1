//! [`WorkloadChanges`]: the apps whose workload may have changed since someone last looked —
//! how a runtime tells the control plane "observe this app again" without anyone polling.
//! A runtime marks an app when one of its replicas exits, restarts or changes readiness (the
//! local supervisor), or when a watch event arrives for its objects (Kubernetes); one
//! consumer awaits [`WorkloadChanges::next_batch`] and observes each app once.
//!
//! Marks coalesce: an app marked a thousand times before the consumer looks is observed once,
//! so the set never holds more than one entry per app. Plain `std` (a mutex and a waker), so
//! it crosses the core seam without tying core to an async runtime.

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::sync::Mutex;
use std::task::{Poll, Waker};

/// A coalescing set of `(org, app)` with one async consumer.
#[derive(Debug, Default)]
pub struct WorkloadChanges {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    apps: BTreeSet<(String, String)>,
    waker: Option<Waker>,
}

impl WorkloadChanges {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `org/app` may have changed: its consumer observes it (once, however often it is
    /// marked before then).
    pub fn mark(&self, org: &str, app: &str) {
        let waker = {
            let mut st = self.state();
            if !st.apps.contains(&(org.to_string(), app.to_string())) {
                st.apps.insert((org.to_string(), app.to_string()));
            }
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// How many apps wait to be observed.
    pub fn len(&self) -> usize {
        self.state().apps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every app marked since the last batch, in order; waits while there is none. Meant for
    /// one consumer (a second one would take the other's wake-up).
    pub async fn next_batch(&self) -> Vec<(String, String)> {
        poll_fn(|cx| {
            let mut st = self.state();
            if st.apps.is_empty() {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(std::mem::take(&mut st.apps).into_iter().collect())
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn marks_coalesce_and_wake_the_waiting_consumer_once() {
        let changes = WorkloadChanges::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut batch = Box::pin(changes.next_batch());
        assert!(
            batch.as_mut().poll(&mut cx).is_pending(),
            "nothing marked yet"
        );
        for _ in 0..1000 {
            changes.mark("o", "b");
        }
        changes.mark("o", "a");
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "one wake-up for many marks"
        );
        assert_eq!(changes.len(), 2, "one entry per app");
        match batch.as_mut().poll(&mut cx) {
            Poll::Ready(apps) => assert_eq!(
                apps,
                vec![("o".into(), "a".into()), ("o".into(), "b".into())]
            ),
            Poll::Pending => panic!("marked apps must be handed over"),
        }
        assert!(changes.is_empty());
    }
}

//! Apps at rest stay observed on Kubernetes through watches, not polling: one watch on the
//! Deployments Satusky manages and one on their Pods, across namespaces (kube-rs `watcher`,
//! which lists once, then follows, re-listing only when the watch cannot resume). Every event
//! marks its app (its `satusky.io/org` and `satusky.io/app` labels) in the runtime's
//! [`WorkloadChanges`]; the control plane then reads that app's workload once. ReplicaSet
//! changes reach the Deployment's status, so they are seen there.

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use satusky_core::changes::WorkloadChanges;

use crate::render::labels::{APP, MANAGED_BY, MANAGER, ORG};

/// Follow the Deployments and Pods of every app until the process ends, marking each app an
/// event is about. Errors (the API server away, a watch expired) are retried with kube-rs'
/// default backoff.
pub async fn follow(client: Client, changes: Arc<WorkloadChanges>) {
    let managed = format!("{MANAGED_BY}={MANAGER}");
    let deployments = marks(
        watcher::watcher(
            Api::<Deployment>::all(client.clone()),
            watcher::Config::default().labels(&managed),
        )
        .default_backoff(),
    );
    let of_apps = format!("{ORG},{APP}");
    let pods = marks(
        watcher::watcher(
            Api::<Pod>::all(client),
            watcher::Config::default().labels(&of_apps),
        )
        .default_backoff(),
    );
    let mut both = std::pin::pin!(futures_util::stream::select(deployments, pods));
    while let Some(app) = both.next().await {
        if let Some((org, app)) = app {
            changes.mark(&org, &app);
        }
    }
}

/// The app each event is about (`None` for events about no object, and for objects without
/// the labels); errors are logged and skipped.
fn marks<K: Resource>(
    events: impl Stream<Item = watcher::Result<Event<K>>> + Send,
) -> impl Stream<Item = Option<(String, String)>> + Send {
    events.map(|ev| match ev {
        Ok(Event::Apply(o) | Event::Delete(o) | Event::InitApply(o)) => app_of(&o),
        Ok(Event::Init | Event::InitDone) => None,
        Err(e) => {
            tracing::warn!(error = %satusky_core::ForeignError::new(&e), "workload watch: retrying");
            None
        }
    })
}

fn app_of<K: Resource>(o: &K) -> Option<(String, String)> {
    let labels = o.meta().labels.as_ref()?;
    Some((labels.get(ORG)?.clone(), labels.get(APP)?.clone()))
}

//! WATCH: a real `kube::runtime::watcher` following changes, streaming lists, resuming from a
//! resourceVersion, `timeoutSeconds`, bookmarks, 410 for a compacted resourceVersion, and
//! selectors turning label changes into ADDED/DELETED.

mod common;

use std::time::Duration;

use common::fake;
use fakekube::{FakeKube, Options};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event, watcher};
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"v": "1"}}),
    )
    .expect("cm")
}

async fn next<S, T>(s: &mut S) -> T
where
    S: futures_util::Stream<Item = T> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("an event within 5s")
        .expect("stream open")
}

fn name(c: &ConfigMap) -> String {
    c.metadata.name.clone().unwrap_or_default()
}

#[tokio::test]
async fn runtime_watcher_follows_create_modify_delete() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("before", json!({})))
        .await
        .expect("create");
    let mut w = watcher(api.clone(), watcher::Config::default()).boxed();
    assert!(matches!(next(&mut w).await, Ok(Event::Init)));
    match next(&mut w).await {
        Ok(Event::InitApply(c)) => assert_eq!(name(&c), "before"),
        other => panic!("expected InitApply, got {other:?}"),
    }
    assert!(matches!(next(&mut w).await, Ok(Event::InitDone)));

    api.create(&PostParams::default(), &cm("live", json!({})))
        .await
        .expect("create");
    match next(&mut w).await {
        Ok(Event::Apply(c)) => assert_eq!(name(&c), "live"),
        other => panic!("expected Apply, got {other:?}"),
    }
    api.patch(
        "live",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .expect("patch");
    match next(&mut w).await {
        Ok(Event::Apply(c)) => assert_eq!(
            c.data.and_then(|d| d.get("v").cloned()).as_deref(),
            Some("2")
        ),
        other => panic!("expected Apply, got {other:?}"),
    }
    api.delete("live", &DeleteParams::default())
        .await
        .expect("delete");
    match next(&mut w).await {
        Ok(Event::Delete(c)) => assert_eq!(name(&c), "live"),
        other => panic!("expected Delete, got {other:?}"),
    }
}

#[tokio::test]
async fn streaming_list_ends_initial_events_with_a_bookmark() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .expect("create");
    let mut w = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    // Streaming lists go straight to the initial events (no Init).
    assert!(matches!(next(&mut w).await, Ok(Event::InitApply(c)) if name(&c) == "a"));
    assert!(matches!(next(&mut w).await, Ok(Event::InitDone)));
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .expect("create");
    assert!(matches!(next(&mut w).await, Ok(Event::Apply(c)) if name(&c) == "b"));
}

#[tokio::test]
async fn watch_resumes_after_a_resource_version() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let a = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .expect("a");
    api.create(&PostParams::default(), &cm("b", json!({})))
        .await
        .expect("b");
    let rv = a.metadata.resource_version.expect("rv");
    let mut s = api
        .watch(&WatchParams::default().timeout(2), &rv)
        .await
        .expect("watch")
        .boxed();
    match next(&mut s).await.expect("event") {
        WatchEvent::Added(c) => assert_eq!(
            name(&c),
            "b",
            "only what happened after the resourceVersion"
        ),
        other => panic!("expected Added, got {other:?}"),
    }
}

#[tokio::test]
async fn timeout_seconds_closes_the_stream_with_a_bookmark() {
    let (fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .expect("a");
    let start = std::time::Instant::now();
    let events: Vec<WatchEvent<ConfigMap>> = tokio::time::timeout(
        Duration::from_secs(10),
        api.watch(&WatchParams::default().timeout(1), "0")
            .await
            .expect("watch")
            .try_collect(),
    )
    .await
    .expect("the stream ends by itself")
    .expect("events");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "closed at the timeout, not before"
    );
    assert!(
        matches!(&events[0], WatchEvent::Added(c) if name(c) == "a"),
        "resourceVersion 0 starts with the current state"
    );
    match events.last() {
        Some(WatchEvent::Bookmark(b)) => assert_eq!(
            b.metadata.resource_version,
            fake.resource_version().to_string()
        ),
        other => panic!("expected a closing bookmark, got {other:?}"),
    }
    // Without bookmarks there is none.
    let events: Vec<WatchEvent<ConfigMap>> = api
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
        .await
        .expect("watch")
        .try_collect()
        .await
        .expect("events");
    assert!(events.iter().all(|e| !matches!(e, WatchEvent::Bookmark(_))));
}

#[tokio::test]
async fn a_compacted_resource_version_is_an_expired_error_event() {
    let fake = FakeKube::with_options(Options {
        history: 3,
        ..Options::default()
    });
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    let first = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .expect("a");
    for i in 0..5 {
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": i.to_string()}})),
        )
        .await
        .expect("patch");
    }
    let rv = first.metadata.resource_version.expect("rv");
    let mut s = api
        .watch(&WatchParams::default(), &rv)
        .await
        .expect("a 200 stream")
        .boxed();
    match next(&mut s).await.expect("event") {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(2), s.next())
            .await
            .expect("closed")
            .is_none(),
        "the stream ends after the error"
    );
    // A recent resourceVersion still works.
    let current = fake.resource_version().to_string();
    let _open = api
        .watch(&WatchParams::default().timeout(1), &current)
        .await
        .expect("watch from now");
}

#[tokio::test]
async fn selectors_turn_label_changes_into_added_and_deleted() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut s = api
        .watch(&WatchParams::default().labels("app=web").timeout(5), "0")
        .await
        .expect("watch")
        .boxed();
    api.create(&PostParams::default(), &cm("other", json!({"app": "api"})))
        .await
        .expect("other");
    api.create(&PostParams::default(), &cm("x", json!({"app": "web"})))
        .await
        .expect("x");
    assert!(
        matches!(next(&mut s).await.expect("ev"), WatchEvent::Added(c) if name(&c) == "x"),
        "non-matching objects are not sent"
    );
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "api"}}})),
    )
    .await
    .expect("relabel");
    assert!(matches!(next(&mut s).await.expect("ev"), WatchEvent::Deleted(c) if name(&c) == "x"));
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await
    .expect("relabel back");
    assert!(matches!(next(&mut s).await.expect("ev"), WatchEvent::Added(c) if name(&c) == "x"));
}

#[tokio::test]
async fn nothing_is_lost_between_snapshot_and_stream() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let writer = {
        let api = api.clone();
        tokio::spawn(async move {
            for i in 0..50 {
                api.create(&PostParams::default(), &cm(&format!("c{i}"), json!({})))
                    .await
                    .expect("create");
            }
        })
    };
    let mut w = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 50 {
        match next(&mut w).await {
            Ok(Event::InitApply(c) | Event::Apply(c)) => {
                seen.insert(name(&c));
            }
            Ok(_) => {}
            Err(e) => panic!("watcher error: {e}"),
        }
    }
    writer.await.expect("writer");
    assert_eq!(seen.len(), 50);
}

#[tokio::test]
async fn metadata_watcher_follows_changes() {
    let (_fake, client) = fake();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let meta: Api<kube::core::PartialObjectMeta<ConfigMap>> = Api::namespaced(client, "default");
    let mut w = watcher(meta, watcher::Config::default()).boxed();
    assert!(matches!(next(&mut w).await, Ok(Event::Init)));
    assert!(matches!(next(&mut w).await, Ok(Event::InitDone)));
    api.create(&PostParams::default(), &cm("m", json!({"app": "web"})))
        .await
        .expect("create");
    match next(&mut w).await {
        Ok(Event::Apply(m)) => {
            assert_eq!(m.metadata.name.as_deref(), Some("m"));
            assert_eq!(
                m.types.map(|t| t.kind).as_deref(),
                Some("PartialObjectMetadata")
            );
        }
        other => panic!("expected Apply, got {other:?}"),
    }
}

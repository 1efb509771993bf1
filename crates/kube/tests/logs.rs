//! `KubeRuntime::logs` against fakekube, in-process: fakekube plays the kubelet (container
//! logs with their stamps, a restarted container's previous run). Two pods' lines merge in
//! time order with pod names as replicas; a follower's next read (`after_seq` of the last
//! line) returns only newer lines, a pod a rollout created in between included; a crashed
//! container's last lines are read from its previous run; `release`, `replica` and `tail`
//! filter; build pods are never read.

use fakekube::FakeKube;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::PostParams;
use satusky_core::runtime::{LogQuery, Runtime};
use satusky_kube::runtime::{KubeConfig, KubeRuntime};
use satusky_types::{LogLine, LogStream};
use serde_json::{Value, json};

const ORG: &str = "acme";
const APP: &str = "hello";
const NS: &str = "satusky-acme";
const SECOND: i128 = 1_000_000_000;

fn runtime(fake: &FakeKube) -> KubeRuntime {
    KubeRuntime::new(
        fake.client(),
        KubeConfig {
            zone: "satusky.localhost".parse().unwrap(),
            gateway: Default::default(),
            issuer: Default::default(),
            probe_addr: None,
        },
        None,
    )
}

/// A minute ago, in epoch nanoseconds: lines are stamped from here on.
fn base() -> i128 {
    fakekube::meta::now_nanos() - 60 * SECOND
}

async fn create<K>(fake: &FakeKube, obj: Value) -> K
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(fake.client(), NS);
    let obj: K = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create")
}

/// The namespace and two ReplicaSets as the deployment controller leaves them: the
/// Deployment's `satusky.io/release` annotation copied at release 1 and 2.
async fn setup() -> FakeKube {
    let fake = FakeKube::new();
    let namespaces: Api<Namespace> = Api::all(fake.client());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    for (rs, release) in [("hello-aaa", "1"), ("hello-bbb", "2")] {
        let _: ReplicaSet = create(
            &fake,
            json!({"metadata": {"name": rs,
                "labels": {"satusky.io/org": ORG, "satusky.io/app": APP},
                "annotations": {"satusky.io/release": release}},
              "spec": {"selector": {"matchLabels": {"satusky.io/org": ORG, "satusky.io/app": APP}},
                "template": {"metadata": {"labels": {"satusky.io/org": ORG, "satusky.io/app": APP}},
                    "spec": {"containers": [{"name": APP, "image": "i"}]}}}}),
        )
        .await;
    }
    fake
}

/// A pod of ReplicaSet `rs`, as the ReplicaSet controller creates it.
async fn pod(fake: &FakeKube, name: &str, rs: &str) {
    let rs_api: Api<ReplicaSet> = Api::namespaced(fake.client(), NS);
    let uid = rs_api.get(rs).await.expect("rs").metadata.uid.expect("uid");
    let _: Pod = create(
        fake,
        json!({"metadata": {"name": name,
            "labels": {"satusky.io/org": ORG, "satusky.io/app": APP},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                "uid": uid, "controller": true}]},
          "spec": {"containers": [{"name": APP, "image": "i"}]}}),
    )
    .await;
}

fn say(fake: &FakeKube, pod: &str, at: i128, line: &str) {
    fake.append_log_at(NS, pod, APP, &format!("{line}\n"), at);
}

async fn logs(rt: &KubeRuntime, query: LogQuery) -> Vec<LogLine> {
    rt.logs(ORG.into(), APP.into(), query).await.expect("logs")
}

fn lines(got: &[LogLine]) -> Vec<(&str, &str)> {
    got.iter()
        .map(|l| (l.replica.as_str(), l.line.as_str()))
        .collect()
}

#[tokio::test]
async fn two_pods_merge_in_time_order_with_pod_names_as_replicas() {
    let fake = setup().await;
    pod(&fake, "hello-aaa-1", "hello-aaa").await;
    pod(&fake, "hello-aaa-2", "hello-aaa").await;
    // A build pod of the same org: no app label, never read.
    let _: Pod = create(
        &fake,
        json!({"metadata": {"name": "hello-build-v1-x", "labels": {"satusky.io/org": ORG}},
          "spec": {"containers": [{"name": "kaniko", "image": "k"}]}}),
    )
    .await;
    fake.append_log_at(NS, "hello-build-v1-x", "kaniko", "step 1\n", base());
    let t = base();
    say(&fake, "hello-aaa-1", t, "GET / 1");
    say(&fake, "hello-aaa-2", t + SECOND, "GET / 2");
    say(&fake, "hello-aaa-1", t + 2 * SECOND, "GET / 3");
    say(
        &fake,
        "hello-aaa-2",
        t + 2 * SECOND,
        "GET / 4 (same microsecond)",
    );
    let rt = runtime(&fake);
    let got = logs(&rt, LogQuery::default()).await;
    assert_eq!(
        lines(&got),
        vec![
            ("hello-aaa-1", "GET / 1"),
            ("hello-aaa-2", "GET / 2"),
            ("hello-aaa-1", "GET / 3"),
            ("hello-aaa-2", "GET / 4 (same microsecond)"),
        ]
    );
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "{got:?}");
    assert_eq!(got[3].seq, got[2].seq + 1, "a tie is broken by index");
    let us = (t / 1000) as u64;
    assert_eq!(got[0].seq, us * 1000);
    assert!(
        got.iter()
            .all(|l| l.release == 1 && l.stream == LogStream::Stdout)
    );
    assert_eq!(
        got[0].at,
        satusky_core::time::rfc3339_ms((t / 1_000_000) as i64)
    );
}

#[tokio::test]
async fn a_follower_resumes_after_its_last_line_and_sees_a_rollout_s_new_pod() {
    let fake = setup().await;
    pod(&fake, "hello-aaa-1", "hello-aaa").await;
    let t = base();
    say(&fake, "hello-aaa-1", t, "old 1");
    say(&fake, "hello-aaa-1", t + SECOND, "old 2");
    let rt = runtime(&fake);
    let first = logs(
        &rt,
        LogQuery {
            tail: Some(10),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(lines(&first).len(), 2);
    let last = first.last().expect("a line").seq;

    // A rollout: release 2's pod starts and logs; the old pod says one more thing.
    pod(&fake, "hello-bbb-1", "hello-bbb").await;
    say(&fake, "hello-bbb-1", t + 3 * SECOND, "v2 listening");
    say(&fake, "hello-aaa-1", t + 4 * SECOND, "old draining");
    let next = logs(
        &rt,
        LogQuery {
            after_seq: Some(last),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(
        lines(&next),
        vec![
            ("hello-bbb-1", "v2 listening"),
            ("hello-aaa-1", "old draining")
        ]
    );
    assert_eq!(next[0].release, 2);
    assert_eq!(next[1].release, 1);
    // Nothing new: nothing returned.
    let again = logs(
        &rt,
        LogQuery {
            after_seq: Some(next[1].seq),
            ..LogQuery::default()
        },
    )
    .await;
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_crashed_container_s_last_lines_come_from_its_previous_run() {
    let fake = setup().await;
    pod(&fake, "hello-aaa-1", "hello-aaa").await;
    let t = base();
    say(&fake, "hello-aaa-1", t, "starting");
    say(&fake, "hello-aaa-1", t + SECOND, "panic: out of cheese");
    fake.restart_container(NS, "hello-aaa-1", APP)
        .expect("restart");
    say(&fake, "hello-aaa-1", t + 5 * SECOND, "starting again");
    let rt = runtime(&fake);
    let got = logs(&rt, LogQuery::default()).await;
    assert_eq!(
        lines(&got),
        vec![
            ("hello-aaa-1", "starting"),
            ("hello-aaa-1", "panic: out of cheese"),
            ("hello-aaa-1", "starting again"),
        ]
    );
}

#[tokio::test]
async fn release_replica_and_tail_filter() {
    let fake = setup().await;
    pod(&fake, "hello-aaa-1", "hello-aaa").await;
    pod(&fake, "hello-bbb-1", "hello-bbb").await;
    let t = base();
    for i in 0..5 {
        say(&fake, "hello-aaa-1", t + i * SECOND, &format!("v1 {i}"));
        say(
            &fake,
            "hello-bbb-1",
            t + i * SECOND + 1000,
            &format!("v2 {i}"),
        );
    }
    let rt = runtime(&fake);
    let v2 = logs(
        &rt,
        LogQuery {
            release: Some(2),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(v2.len(), 5);
    assert!(
        v2.iter()
            .all(|l| l.replica == "hello-bbb-1" && l.release == 2)
    );
    let one = logs(
        &rt,
        LogQuery {
            replica: Some("hello-aaa-1".into()),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(one.len(), 5);
    assert!(one.iter().all(|l| l.replica == "hello-aaa-1"));
    let tail = logs(
        &rt,
        LogQuery {
            tail: Some(3),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(
        lines(&tail),
        vec![
            ("hello-bbb-1", "v2 3"),
            ("hello-aaa-1", "v1 4"),
            ("hello-bbb-1", "v2 4")
        ]
    );
    let huge = logs(
        &rt,
        LogQuery {
            tail: Some(u32::MAX),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(huge.len(), 10);
    // since: only the last two seconds' lines of the five.
    let since_ms = ((t + 3 * SECOND) / 1_000_000) as i64;
    let since = logs(
        &rt,
        LogQuery {
            since_ms: Some(since_ms),
            ..LogQuery::default()
        },
    )
    .await;
    assert_eq!(since.len(), 4, "{since:?}");
    let none = logs(
        &rt,
        LogQuery {
            release: Some(7),
            ..LogQuery::default()
        },
    )
    .await;
    assert!(none.is_empty());
}

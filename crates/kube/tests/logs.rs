//! `KubeRuntime::logs` against fakekube, in-process: fakekube plays the kubelet (container
//! logs with their stamps, a restarted container's previous run). Two pods' lines merge in
//! time order with pod names as replicas; a follower's next read (`after_seq` of the last
//! line) returns only newer lines, a pod a rollout created in between included — also the
//! pods fakekube's deployment controller rolls when the runtime applies a new release; a
//! crashed container's last lines are read from its previous run; `release`, `replica` and
//! `tail` filter; build pods are never read.

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

/// Release `release` of the app with `image`, as the engine hands it to the runtime.
fn desired(release: u64, image: &str) -> satusky_core::runtime::DesiredWorkload {
    let toml = format!("[app]\nname = \"{APP}\"\nimage = \"{image}\"\nreplicas = 2\n");
    let path = std::path::Path::new("satusky.toml");
    let spec = satusky_core::parse_str(&toml, path, &Default::default()).unwrap();
    let hostnames = satusky_core::AppHostnames::of_app(ORG, "satusky.localhost", &spec).unwrap();
    satusky_core::runtime::DesiredWorkload {
        org: ORG.into(),
        app: APP.into(),
        release,
        spec,
        artifact: None,
        hostnames,
        secrets: Default::default(),
        restarted_at_ms: None,
    }
}

/// The app's pods by name, each with its ReplicaSet.
async fn app_pods(fake: &FakeKube) -> Vec<(String, String)> {
    let api: Api<Pod> = Api::namespaced(fake.client(), NS);
    let selector = format!("satusky.io/org={ORG},satusky.io/app={APP}");
    let params = kube::api::ListParams::default().labels(&selector);
    let mut pods: Vec<(String, String)> = api
        .list(&params)
        .await
        .expect("pods")
        .items
        .into_iter()
        .map(|p| {
            let owner = p.metadata.owner_references.unwrap_or_default();
            (p.metadata.name.unwrap_or_default(), owner[0].name.clone())
        })
        .collect();
    pods.sort();
    pods
}

/// A follower (`after_seq` of the last line it saw, as `1ctl logs -f` reads) picks up the
/// pods a rollout creates: the runtime applies release 2 (a new pod template), fakekube's
/// deployment controller rolls a new ReplicaSet's pods in place of the old ones, and their
/// lines — and only those — arrive on the next read, each once.
#[tokio::test]
async fn a_follower_picks_up_the_pods_a_rollout_creates() {
    let fake = FakeKube::new();
    fake.set_auto(fakekube::Auto {
        rollouts: true,
        routes: false,
    });
    let rt = runtime(&fake);
    rt.apply(desired(1, "nginx:1.27")).await.expect("apply v1");
    let v1 = app_pods(&fake).await;
    assert_eq!(v1.len(), 2, "the controller ran release 1's pods: {v1:?}");
    let t = base();
    for (i, (pod, _)) in v1.iter().enumerate() {
        say(&fake, pod, t + i as i128 * SECOND, &format!("v1 line {i}"));
    }
    let first = logs(&rt, LogQuery::default()).await;
    assert_eq!(
        first.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
        ["v1 line 0", "v1 line 1"]
    );
    assert!(first.iter().all(|l| l.release == 1), "{first:?}");
    let seen = first.last().expect("a line").seq;

    rt.apply(desired(2, "nginx:1.28")).await.expect("apply v2");
    let v2 = app_pods(&fake).await;
    assert_eq!(v2.len(), 2, "{v2:?}");
    assert!(
        v2.iter()
            .all(|(pod, rs)| !v1.iter().any(|(p, _)| p == pod) && !v1.iter().any(|(_, r)| r == rs)),
        "new pods of a new ReplicaSet: {v2:?} after {v1:?}"
    );
    for (i, (pod, _)) in v2.iter().enumerate() {
        let at = t + (10 + i as i128) * SECOND;
        say(&fake, pod, at, &format!("v2 line {i}"));
        say(&fake, pod, at + SECOND / 2, &format!("v2 line {i} again"));
    }
    let follow = |after| LogQuery {
        after_seq: Some(after),
        ..LogQuery::default()
    };
    let next = logs(&rt, follow(seen)).await;
    let want: Vec<(&str, &str)> = vec![
        (&v2[0].0, "v2 line 0"),
        (&v2[0].0, "v2 line 0 again"),
        (&v2[1].0, "v2 line 1"),
        (&v2[1].0, "v2 line 1 again"),
    ];
    assert_eq!(lines(&next), want);
    assert!(next.iter().all(|l| l.release == 2), "{next:?}");
    assert!(next.iter().all(|l| l.seq > seen));
    // Following on from there: nothing is repeated.
    let last = next.last().expect("a line").seq;
    assert!(logs(&rt, follow(last)).await.is_empty());
    let v2_more = &v2[1].0;
    say(&fake, v2_more, t + 20 * SECOND, "v2 later");
    assert_eq!(
        lines(&logs(&rt, follow(last)).await),
        [(v2_more.as_str(), "v2 later")]
    );
}

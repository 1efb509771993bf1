//! The pod `log` subresource as the kubelet serves it: `timestamps` (RFC 3339 nanosecond
//! prefix), `sinceSeconds`/`sinceTime`, `tailLines`, `limitBytes` (a follow included) and
//! `previous` (the run before a restart, kept when a test restarts a container over the
//! control endpoint, which also bumps `restartCount`).

mod common;

use axum::http::{Method, StatusCode};
use common::{api_error, fake, raw};
use futures_util::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{LogParams, PostParams};
use serde_json::json;

const T0: &str = "2026-12-07T13:45:01.123456789Z";
const T0_NS: i128 = 1_796_651_101_123_456_789;

async fn pod(client: &kube::Client, name: &str) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "web", "image": "i"}]}}))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create");
    pods
}

#[tokio::test]
async fn timestamps_prefix_each_line_with_its_nanosecond_stamp() {
    let (fake, client) = fake();
    let pods = pod(&client, "p").await;
    assert_eq!(fakekube::meta::rfc3339_nanos(T0_NS), T0);
    fake.append_log_at("default", "p", "web", "one\ntw", T0_NS);
    // The rest of an unfinished line keeps its stamp; a new line gets its own.
    fake.append_log_at("default", "p", "web", "o\nthree\n", T0_NS + 1_000);
    let stamped = LogParams {
        timestamps: true,
        ..LogParams::default()
    };
    assert_eq!(
        pods.logs("p", &stamped).await.expect("logs"),
        format!("{T0} one\n{T0} two\n2026-12-07T13:45:01.123457789Z three\n")
    );
    assert_eq!(
        pods.logs("p", &LogParams::default()).await.expect("logs"),
        "one\ntwo\nthree\n"
    );
    let tail = LogParams {
        timestamps: true,
        tail_lines: Some(1),
        limit_bytes: Some(34),
        ..LogParams::default()
    };
    assert_eq!(
        pods.logs("p", &tail).await.expect("logs"),
        "2026-12-07T13:45:01.123457789Z thr"
    );
}

#[tokio::test]
async fn since_seconds_and_since_time_leave_out_older_lines() {
    let (fake, client) = fake();
    let pods = pod(&client, "p").await;
    let now = fakekube::meta::now_nanos();
    fake.append_log_at("default", "p", "web", "old\n", now - 3_600_000_000_000);
    fake.append_log_at("default", "p", "web", "new\n", now - 1_000_000_000);
    let since = LogParams {
        since_seconds: Some(60),
        ..LogParams::default()
    };
    assert_eq!(pods.logs("p", &since).await.expect("logs"), "new\n");
    let (code, body) = raw(
        &fake,
        Method::GET,
        &format!(
            "/api/v1/namespaces/default/pods/p/log?sinceTime={}",
            fakekube::meta::rfc3339(((now - 3_600_000_000_000) / 1_000_000_000) as i64 - 1)
        ),
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body, "old\nnew\n");
}

#[tokio::test]
async fn previous_is_the_run_before_the_last_restart() {
    let (fake, client) = fake();
    let pods = pod(&client, "p").await;
    let previous = LogParams {
        previous: true,
        ..LogParams::default()
    };
    let err = api_error(pods.logs("p", &previous).await);
    assert_eq!(err.code, 400);
    assert!(
        err.message.contains("previous terminated container"),
        "{}",
        err.message
    );

    fake.append_log_at("default", "p", "web", "panic: boom\n", T0_NS);
    let (code, pod) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/pods/default/p/restart?container=web",
        None,
        "",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 1);
    assert_eq!(
        pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
        1
    );
    let (code, _) = raw(
        &fake,
        Method::POST,
        "/fakekube/v1/pods/default/p/log?container=web&at=2026-12-07T13:46:00Z",
        None,
        "starting again\n",
    )
    .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    assert_eq!(
        pods.logs("p", &previous).await.expect("logs"),
        "panic: boom\n"
    );
    assert_eq!(
        pods.logs(
            "p",
            &LogParams {
                timestamps: true,
                ..LogParams::default()
            }
        )
        .await
        .expect("logs"),
        "2026-12-07T13:46:00.000000000Z starting again\n"
    );
    // A second restart keeps only the run before it.
    fake.restart_container("default", "p", "web")
        .expect("restart");
    assert_eq!(
        pods.logs("p", &previous).await.expect("logs"),
        "starting again\n"
    );
    let live = pods.get("p").await.expect("pod");
    let statuses = live
        .status
        .and_then(|s| s.container_statuses)
        .unwrap_or_default();
    assert_eq!(statuses[0].restart_count, 2);
}

#[tokio::test]
async fn a_follow_stops_at_limit_bytes() {
    let (fake, client) = fake();
    let pods = pod(&client, "p").await;
    fake.append_log("default", "p", "web", "12345\n");
    let params = LogParams {
        follow: true,
        limit_bytes: Some(11),
        ..LogParams::default()
    };
    let mut lines = pods.log_stream("p", &params).await.expect("stream").lines();
    use futures_util::StreamExt;
    assert_eq!(lines.next().await.expect("line").expect("ok"), "12345");
    fake.append_log("default", "p", "web", "6789\nmore\n");
    assert_eq!(lines.next().await.expect("line").expect("ok"), "6789");
    // The budget is spent: the stream ends.
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), lines.next())
        .await
        .expect("the follow ends");
    assert!(end.is_none(), "{end:?}");
}

//! Serving over TCP: a kube-rs client built from the kubeconfig fakekube writes (the path
//! `satusky serve --runtime kubernetes --kubeconfig FILE` takes) talks to `FakeKube::serve`,
//! including a watch over a real socket; dropping the handle stops the server.

use std::time::Duration;

use fakekube::FakeKube;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;

#[tokio::test]
async fn a_kubeconfig_client_talks_to_the_served_fake() {
    let fake = FakeKube::new();
    let (addr, server) = fake.serve(([127, 0, 0, 1], 0).into()).await.expect("serve");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    fakekube::kubeconfig::write(&path, addr).expect("kubeconfig");

    let kc = Kubeconfig::read_from(&path).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config).expect("client");

    let names: Vec<String> = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()));

    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut events = cms
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .expect("watch")
        .boxed();
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "v"}})).expect("cm");
    let created = cms
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    // kube-rs sends no User-Agent and no fieldManager on create: the entry's manager is the
    // (empty) user-agent product, as kube-apiserver records it.
    let entries = created.metadata.managed_fields.unwrap_or_default();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (
            entries[0].manager.as_deref(),
            entries[0].operation.as_deref()
        ),
        (Some(""), Some("Update"))
    );
    let ev = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("event");
    assert!(
        matches!(ev, Some(Ok(WatchEvent::Added(c))) if c.metadata.name.as_deref() == Some("c"))
    );

    drop(server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = Client::try_from(
        Config::from_custom_kubeconfig(
            Kubeconfig::read_from(&path).expect("kc"),
            &KubeConfigOptions::default(),
        )
        .await
        .expect("config"),
    )
    .expect("client");
    assert!(
        Api::<Namespace>::all(fresh)
            .list(&ListParams::default())
            .await
            .is_err(),
        "the server is gone once its handle is dropped"
    );
}

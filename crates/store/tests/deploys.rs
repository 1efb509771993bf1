//! Deploys, hostnames, deletion and concurrency, on every backend the harness offers.

mod common;

use std::collections::BTreeSet;

use common::{Ctx, alias, generated, on_each_backend, redirect, spec};
use satusky_store::{DeletedApp, DeployRecord, Store, StoreError};
use satusky_types::{OwnershipState, Phase, ReleaseStatus, Role};
use sqlx::Row;

const T0: i64 = 1_795_000_000_000;

#[tokio::test]
async fn redeploying_bumps_generation_and_adds_a_release() {
    on_each_backend(|Ctx { store, .. }| async move {
        let missing = store
            .record_deploy("nobody", &spec("web"), &[], "deploy", T0)
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );

        store.ensure_org("acme").await.unwrap();
        let hosts = [generated("web-acme.test"), alias("www.example.com")];
        let first = store
            .record_deploy("acme", &spec("web"), &hosts, "deploy", T0)
            .await
            .unwrap();
        assert_eq!(
            first,
            DeployRecord {
                generation: 1,
                release: 1,
                created: true,
                unpinned: None,
                kept: Vec::new(),
                kept_env: Vec::new(),
                staged_applied: Vec::new(),
                scale: Default::default(),
            }
        );

        let mut v2 = spec("web");
        v2.replicas = 3;
        v2.image = None;
        let second = store
            .record_deploy("acme", &v2, &hosts, "rollback(from=v1)", T0 + 1000)
            .await
            .unwrap();
        assert_eq!(
            second,
            DeployRecord {
                generation: 2,
                release: 2,
                created: false,
                unpinned: None,
                kept: Vec::new(),
                kept_env: Vec::new(),
                staged_applied: Vec::new(),
                scale: Default::default(),
            }
        );

        let app = store.get_app("acme", "web").await.unwrap().expect("app");
        assert_eq!((app.org.as_str(), app.name.as_str()), ("acme", "web"));
        assert_eq!(app.generation, 2);
        assert_eq!(app.spec, v2);
        assert_eq!(app.phase, Phase::Accepted);
        assert_eq!((app.active_release, app.target_release), (None, Some(2)));
        assert_eq!(app.hostnames, hosts);
        assert_eq!((app.created_at_ms, app.updated_at_ms), (T0, T0 + 1000));

        let releases = store.list_releases("acme", "web").await.unwrap();
        let versions: Vec<u64> = releases.iter().map(|r| r.version).collect();
        assert_eq!(versions, [2, 1]);
        // The newer deploy overtook the pending v1 (SPEC §3).
        assert_eq!(releases[0].status, ReleaseStatus::Pending);
        assert_eq!(releases[1].status, ReleaseStatus::Superseded);
        assert_eq!(releases[0].image, None);
        assert_eq!(releases[0].source, "rollback(from=v1)");
        assert_eq!(releases[0].generation, 2);
        assert_eq!(releases[1].image.as_deref(), Some("registry.example/web:1"));
        assert_eq!(releases[1].spec, spec("web"));
        assert_eq!(releases[1].hostnames, hosts);

        let v1 = store
            .get_release("acme", "web", 1)
            .await
            .unwrap()
            .expect("v1");
        assert_eq!(v1, releases[1]);
        let info = v1.info();
        assert_eq!(
            (info.version, info.generation, info.status),
            (1, 1, ReleaseStatus::Superseded)
        );
        assert_eq!(info.created_at, "2026-11-18T11:06:40.000Z");
        assert_eq!(store.get_release("acme", "web", 3).await.unwrap(), None);
        assert_eq!(
            store.get_release("acme", "web", u64::MAX).await.unwrap(),
            None
        );
        assert_eq!(store.get_app("acme", "nope").await.unwrap(), None);
        assert_eq!(store.get_app("other", "web").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn apps_are_listed_by_name_with_their_hostnames() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        store.ensure_org("other").await.unwrap();
        let web_hosts = [
            redirect("old.example.com", "https://www.example.com"),
            alias("www.example.com"),
            generated("web-acme.test"),
        ];
        store
            .record_deploy("acme", &spec("web"), &web_hosts, "deploy", T0)
            .await
            .unwrap();
        store
            .record_deploy("acme", &spec("api"), &[], "deploy", T0)
            .await
            .unwrap();
        store
            .record_deploy("other", &spec("zzz"), &[], "deploy", T0)
            .await
            .unwrap();

        let apps = store.list_apps("acme").await.unwrap();
        let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["api", "web"]);
        assert!(apps[0].hostnames.is_empty());
        // Generated first, then aliases, then redirects.
        let hosts: Vec<&str> = apps[1]
            .hostnames
            .iter()
            .map(|h| h.hostname.as_str())
            .collect();
        assert_eq!(
            hosts,
            ["web-acme.test", "www.example.com", "old.example.com"]
        );
        assert_eq!(apps[1].hostnames[2], web_hosts[0]);
        assert!(store.list_apps("empty").await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_hostname_is_routed_for_one_org_claimed_once_per_org_and_conflicts_change_nothing() {
    on_each_backend(|Ctx { store, .. }| async move {
        for org in ["a", "b"] {
            store.ensure_org(org).await.unwrap();
        }
        let web = [generated("web-a.test"), alias("www.example.com")];
        store
            .record_deploy("a", &spec("web"), &web, "deploy", T0)
            .await
            .unwrap();
        // Claimed, not routed until proven.
        assert_eq!(store.hostname_owner("www.example.com").await.unwrap(), None);
        let proven = store
            .ownership_proven("a", "www.example.com", "TXT seen", T0)
            .await
            .unwrap()
            .expect("a pending claim");
        assert_eq!((proven.app.as_str(), proven.ended.len()), ("web", 0));
        let owner = store.hostname_owner("www.example.com").await.unwrap();
        assert_eq!(owner, Some(("a".to_string(), "web".to_string())));

        // Another org may claim it: pending, never routed, a's claim untouched.
        let taken = [generated("api-b.test"), alias("www.example.com")];
        store
            .record_deploy("b", &spec("api"), &taken, "deploy", T0)
            .await
            .unwrap();
        let b = store.app_domains("b", "api").await.unwrap();
        let claim = b.iter().find(|d| d.hostname == "www.example.com").unwrap();
        assert_eq!(claim.ownership.state, OwnershipState::Pending);
        assert!(!claim.routed);
        assert_eq!(
            claim.ownership.txt_value.as_deref(),
            Some(satusky_core::ownership::txt_value("b", "www.example.com").as_str())
        );
        assert_eq!(
            store.hostname_owner("www.example.com").await.unwrap(),
            owner
        );
        assert_eq!(
            store.rival_orgs("www.example.com", "b").await.unwrap(),
            ["a"]
        );

        // Another app of the same org trying to take it keeps its previous state.
        store
            .record_deploy("a", &spec("api"), &[generated("api-a.test")], "deploy", T0)
            .await
            .unwrap();
        let grab = [
            generated("api-a.test"),
            alias("new.example.com"),
            alias("www.example.com"),
        ];
        let err = store
            .record_deploy("a", &spec("api"), &grab, "deploy", T0 + 1)
            .await
            .unwrap_err();
        match err {
            StoreError::HostnameTaken {
                hostname,
                owner_org,
                owner_app,
            } => assert_eq!(
                (hostname.as_str(), owner_org.as_str(), owner_app.as_str()),
                ("www.example.com", "a", "web")
            ),
            other => panic!("expected HostnameTaken, got {other:?}"),
        }
        let api = store.get_app("a", "api").await.unwrap().expect("api");
        assert_eq!((api.generation, api.target_release), (1, Some(1)));
        assert_eq!(api.hostnames, [generated("api-a.test")]);
        assert_eq!(store.list_releases("a", "api").await.unwrap().len(), 1);
        assert_eq!(
            store.events_after("a", "api", 0, 10).await.unwrap().len(),
            2
        );

        // The owner redeploys with the same hostnames (the proof stays), then drops one,
        // which frees it; b's claim then proves with nothing to end.
        store
            .record_deploy("a", &spec("web"), &web, "deploy", T0 + 2)
            .await
            .unwrap();
        let again = store.get_app("a", "web").await.unwrap().expect("web");
        assert_eq!(
            (again.generation, again.hostnames.clone()),
            (2, web.to_vec())
        );
        assert_eq!(
            store.hostname_owner("www.example.com").await.unwrap(),
            owner
        );
        let kept = [
            generated("web-a.test"),
            redirect("www.example.com", "https://web-a.test"),
        ];
        store
            .record_deploy("a", &spec("web"), &kept, "deploy", T0 + 3)
            .await
            .unwrap();
        let now = store.get_app("a", "web").await.unwrap().expect("web");
        assert_eq!(now.hostnames, kept);
        store
            .record_deploy(
                "a",
                &spec("web"),
                &[generated("web-a.test")],
                "deploy",
                T0 + 4,
            )
            .await
            .unwrap();
        assert_eq!(store.hostname_owner("www.example.com").await.unwrap(), None);
        let proven = store
            .ownership_proven("b", "www.example.com", "TXT seen", T0 + 5)
            .await
            .unwrap()
            .unwrap();
        assert!(proven.ended.is_empty());
        let owner = store.hostname_owner("www.example.com").await.unwrap();
        assert_eq!(owner, Some(("b".to_string(), "api".to_string())));
    })
    .await;
}

#[tokio::test]
async fn delete_removes_everything_and_frees_hostnames() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let hosts = [
            generated("web-acme.test"),
            alias("b.example.com"),
            alias("a.example.com"),
        ];
        store
            .record_deploy("acme", &spec("web"), &hosts, "deploy", T0)
            .await
            .unwrap();
        store
            .record_deploy("acme", &spec("web"), &hosts, "deploy", T0)
            .await
            .unwrap();
        store
            .record_deploy(
                "acme",
                &spec("other"),
                &[generated("other.test")],
                "deploy",
                T0,
            )
            .await
            .unwrap();

        let deleted = store.delete_app("acme", "web").await.unwrap();
        let expected = DeletedApp {
            releases_removed: 2,
            hostnames: vec![
                "a.example.com".into(),
                "b.example.com".into(),
                "web-acme.test".into(),
            ],
            bindings: vec![],
        };
        assert_eq!(deleted, Some(expected));
        assert_eq!(store.get_app("acme", "web").await.unwrap(), None);
        assert!(store.list_releases("acme", "web").await.unwrap().is_empty());
        assert!(
            store
                .events_after("acme", "web", 0, 100)
                .await
                .unwrap()
                .is_empty()
        );
        for h in &hosts {
            assert_eq!(store.hostname_owner(&h.hostname).await.unwrap(), None);
        }
        assert_eq!(store.delete_app("acme", "web").await.unwrap(), None);

        // The neighbour is untouched; the freed hostnames can be claimed again.
        assert!(store.get_app("acme", "other").await.unwrap().is_some());
        assert_eq!(store.list_releases("acme", "other").await.unwrap().len(), 1);
        let rec = store
            .record_deploy("acme", &spec("new"), &hosts, "deploy", T0)
            .await
            .unwrap();
        assert_eq!(
            rec,
            DeployRecord {
                generation: 1,
                release: 1,
                created: true,
                unpinned: None,
                kept: Vec::new(),
                kept_env: Vec::new(),
                staged_applied: Vec::new(),
                scale: Default::default(),
            }
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deploys_get_distinct_consecutive_numbers() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let hosts = [generated("web-acme.test")];
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                let hosts = hosts.clone();
                tokio::spawn(async move {
                    store
                        .record_deploy("acme", &spec("web"), &hosts, "deploy", T0 + i)
                        .await
                })
            })
            .collect();
        let mut records = Vec::new();
        for task in tasks {
            records.push(task.await.unwrap().unwrap());
        }
        let releases: BTreeSet<u64> = records.iter().map(|r| r.release).collect();
        let generations: BTreeSet<u64> = records.iter().map(|r| r.generation).collect();
        assert_eq!(releases, (1..=10).collect());
        assert_eq!(generations, (1..=10).collect());
        assert_eq!(records.iter().filter(|r| r.created).count(), 1);

        let versions: Vec<u64> = store
            .list_releases("acme", "web")
            .await
            .unwrap()
            .iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(versions, (1..=10).rev().collect::<Vec<_>>());
        let seqs: Vec<u64> = store
            .events_after("acme", "web", 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        // Two events per deploy plus one `superseded` event for each overtaken release.
        assert_eq!(seqs, (1..=29).collect::<Vec<_>>());
        let statuses: Vec<ReleaseStatus> = store
            .list_releases("acme", "web")
            .await
            .unwrap()
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses[0], ReleaseStatus::Pending);
        assert!(
            statuses[1..]
                .iter()
                .all(|s| *s == ReleaseStatus::Superseded)
        );
        let app = store.get_app("acme", "web").await.unwrap().expect("app");
        assert_eq!((app.generation, app.target_release), (10, Some(10)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_store_instances_share_one_database() {
    on_each_backend(|ctx: Ctx| async move {
        // Like the running server and `satusky token create` on the same SQLite file.
        let server = ctx.store.clone();
        let cli = Store::open(&ctx.url).await.unwrap();
        cli.migrate().await.unwrap();
        server.ensure_org("acme").await.unwrap();

        let deploys = {
            let server = server.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    let hosts = [generated(&format!("app{i}-acme.test"))];
                    let app = spec(&format!("app{i}"));
                    server
                        .record_deploy("acme", &app, &hosts, "deploy", T0)
                        .await?;
                    server
                        .record_deploy("acme", &app, &hosts, "deploy", T0 + 1)
                        .await?;
                }
                Ok::<_, StoreError>(())
            })
        };
        let tokens = {
            let cli = cli.clone();
            tokio::spawn(async move {
                let mut minted = Vec::new();
                for _ in 0..20 {
                    minted.push(cli.create_token("acme", Role::Admin).await?);
                }
                Ok::<_, StoreError>(minted)
            })
        };
        deploys.await.unwrap().unwrap();
        let minted = tokens.await.unwrap().unwrap();

        for token in &minted {
            let who = server
                .authenticate(token)
                .await
                .unwrap()
                .expect("token visible");
            assert_eq!(who.org, "acme");
        }
        assert_eq!(cli.list_apps("acme").await.unwrap().len(), 20);
        assert_eq!(cli.list_releases("acme", "app7").await.unwrap().len(), 2);
        if ctx.url.starts_with("sqlite") {
            let mut raw = ctx.raw().await;
            let mode: String = sqlx::query("PRAGMA journal_mode")
                .fetch_one(&mut raw)
                .await
                .unwrap()
                .get(0);
            assert_eq!(mode, "wal");
        }
        cli.close().await;
    })
    .await;
}

//! App-level domains on every backend: a deploy keeps CLI-added domains and says which, a
//! rollback keeps the current set, a proof ends other orgs' claims (with events), misses back
//! off, a lost claim is claimed again on request, and a grace period that ends stops routing.

mod common;

use common::{Ctx, alias, generated, on_each_backend, spec};
use satusky_types::{DomainSource, EventType, OwnershipState, Phase, ReleaseStatus};

const T0: i64 = 1_795_000_000_000;

#[tokio::test]
async fn a_deploy_keeps_cli_domains_and_removes_only_the_files_own() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let file = [generated("web-acme.test"), alias("a.example.com")];
        store
            .record_deploy("acme", &spec("web"), &file, "deploy", T0)
            .await
            .unwrap();
        let all = store
            .add_domains("acme", "web", &[alias("cli.example.com")], T0 + 1)
            .await
            .unwrap();
        let cli = all
            .iter()
            .find(|d| d.hostname == "cli.example.com")
            .unwrap();
        assert_eq!(cli.source, DomainSource::Cli);
        assert_eq!(cli.ownership.state, OwnershipState::Pending);

        // The file no longer lists a.example.com and never listed cli.example.com.
        let rec = store
            .record_deploy("acme", &spec("web"), &file[..1], "deploy", T0 + 2)
            .await
            .unwrap();
        assert_eq!(rec.kept, ["cli.example.com"]);
        let names: Vec<_> = store
            .app_domains("acme", "web")
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.hostname)
            .collect();
        assert_eq!(names, ["web-acme.test", "cli.example.com"]);
        let release = store.get_release("acme", "web", 2).await.unwrap().unwrap();
        assert_eq!(
            release.hostnames.len(),
            2,
            "the snapshot records the app's set"
        );
        let events = store.events_after("acme", "web", 0, 100).await.unwrap();
        let kept = events
            .iter()
            .find(|e| e.kind == EventType::Domain && e.data["change"] == "kept")
            .expect("a kept event");
        assert!(
            kept.data["message"]
                .as_str()
                .unwrap()
                .contains("add it to satusky.toml, or 1ctl domains remove cli.example.com"),
            "{}",
            kept.data
        );

        // The file takes a CLI domain over once it lists it; then leaving the file removes it.
        store
            .record_deploy(
                "acme",
                &spec("web"),
                &[generated("web-acme.test"), alias("cli.example.com")],
                "deploy",
                T0 + 3,
            )
            .await
            .unwrap();
        let d = store.app_domains("acme", "web").await.unwrap();
        assert_eq!(d[1].source, DomainSource::File);
        let rec = store
            .record_deploy("acme", &spec("web"), &file[..1], "deploy", T0 + 4)
            .await
            .unwrap();
        assert!(rec.kept.is_empty());
        assert_eq!(store.app_domains("acme", "web").await.unwrap().len(), 1);

        // Removal is explicit and the generated hostname cannot be removed.
        store
            .add_domains("acme", "web", &[alias("x.example.com")], T0 + 5)
            .await
            .unwrap();
        assert!(
            store
                .remove_domain("acme", "web", "x.example.com", T0 + 6)
                .await
                .unwrap()
        );
        assert!(
            !store
                .remove_domain("acme", "web", "x.example.com", T0 + 6)
                .await
                .unwrap()
        );
        assert!(
            !store
                .remove_domain("acme", "web", "web-acme.test", T0 + 6)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn a_rollback_keeps_the_current_domains() {
    on_each_backend(|Ctx { store, .. }| async move {
        store.ensure_org("acme").await.unwrap();
        let mut s = spec("web");
        s.image = Some("registry.example/web:1".into());
        store
            .record_deploy("acme", &s, &[generated("web-acme.test")], "deploy", T0)
            .await
            .unwrap();
        store
            .transition_releases(
                "acme",
                "web",
                &[(1, ReleaseStatus::Active)],
                Some(1),
                None,
                T0,
            )
            .await
            .unwrap();
        store
            .record_deploy(
                "acme",
                &s,
                &[generated("web-acme.test"), alias("new.example.com")],
                "deploy",
                T0 + 1,
            )
            .await
            .unwrap();
        store
            .record_rollback("acme", "web", 1, false, T0 + 2)
            .await
            .unwrap();
        let names: Vec<_> = store
            .app_domains("acme", "web")
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.hostname)
            .collect();
        assert_eq!(names, ["web-acme.test", "new.example.com"]);
        let app = store.get_app("acme", "web").await.unwrap().unwrap();
        assert_eq!(app.phase, Phase::Accepted);
    })
    .await;
}

#[tokio::test]
async fn a_proof_ends_other_claims_misses_back_off_and_grace_ends() {
    on_each_backend(|ctx: Ctx| async move {
        let store = ctx.store.clone();
        for org in ["a", "b"] {
            store.ensure_org(org).await.unwrap();
        }
        let host = "shop.example.com";
        store
            .record_deploy(
                "a",
                &spec("web"),
                &[generated("web-a.test"), alias(host)],
                "deploy",
                T0,
            )
            .await
            .unwrap();
        store
            .record_deploy(
                "b",
                &spec("api"),
                &[generated("api-b.test"), alias(host)],
                "deploy",
                T0,
            )
            .await
            .unwrap();
        // Both due at once, oldest first.
        let due = store.due_ownership_checks(T0, 10).await.unwrap();
        assert_eq!(due.len(), 2, "{due:?}");
        store
            .ownership_missed("b", host, "no TXT record yet", T0 + 5_000, T0)
            .await
            .unwrap();
        let due = store.due_ownership_checks(T0 + 1, 10).await.unwrap();
        assert_eq!(
            due.iter().map(|c| c.org.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        let b = store.due_ownership_checks(T0 + 5_000, 10).await.unwrap();
        assert_eq!(b.iter().find(|c| c.org == "b").unwrap().misses, 1);

        store
            .ownership_proven("a", host, "TXT seen", T0 + 10)
            .await
            .unwrap()
            .unwrap();
        let proven = store
            .ownership_proven("b", host, "TXT seen", T0 + 20)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(proven.ended, [("a".to_string(), "web".to_string())]);
        let a = store.app_domains("a", "web").await.unwrap();
        let lost = a.iter().find(|d| d.hostname == host).unwrap();
        assert_eq!(
            (lost.ownership.state, lost.routed),
            (OwnershipState::Lost, false)
        );
        let events = store.events_after("a", "web", 0, 100).await.unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.kind == EventType::Domain && e.data["change"] == "lost")
        );
        assert_eq!(
            store.hostname_owner(host).await.unwrap(),
            Some(("b".to_string(), "api".to_string()))
        );
        // a asks again: pending and due, b's routing untouched until a proves it.
        assert!(
            store
                .recheck_ownership("a", "web", host, T0 + 30)
                .await
                .unwrap()
        );
        let a = store.app_domains("a", "web").await.unwrap();
        assert_eq!(
            a.iter()
                .find(|d| d.hostname == host)
                .unwrap()
                .ownership
                .state,
            OwnershipState::Pending
        );
        assert_eq!(store.rival_orgs(host, "a").await.unwrap(), ["b"]);

        // Grace: a claim kept through the upgrade is routed until it ends.
        store.ensure_org("c").await.unwrap();
        let old = "old.example.com";
        store
            .record_deploy(
                "c",
                &spec("site"),
                &[generated("site-c.test"), alias(old)],
                "deploy",
                T0,
            )
            .await
            .unwrap();
        let mut conn = ctx.raw().await;
        sqlx::query(
            "UPDATE domains SET ownership = 'grace', grace_from = $1, grace_until = $1 \
             WHERE hostname = $2",
        )
        .bind(T0)
        .bind(old)
        .execute(&mut conn)
        .await
        .unwrap();
        drop(conn);
        assert_eq!(store.set_grace_period(60_000).await.unwrap(), 1);
        let d = store.app_domains("c", "site").await.unwrap();
        let g = d.iter().find(|d| d.hostname == old).unwrap();
        assert!(g.routed && g.ownership.serving_until.is_some(), "{g:?}");
        assert!(
            store
                .end_expired_grace(T0 + 59_999)
                .await
                .unwrap()
                .is_empty()
        );
        let ended = store.end_expired_grace(T0 + 60_000).await.unwrap();
        assert_eq!(
            ended,
            [("c".to_string(), "site".to_string(), old.to_string())]
        );
        let d = store.app_domains("c", "site").await.unwrap();
        let g = d.iter().find(|d| d.hostname == old).unwrap();
        assert_eq!(
            (g.ownership.state, g.routed),
            (OwnershipState::Pending, false)
        );
    })
    .await;
}

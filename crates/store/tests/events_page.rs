//! Event replay in pages bounded by bytes (issue 10): a page holds what fits in the budget,
//! an event bigger than the budget comes alone, and reading page after page from the last seq
//! returns every event once, in order. On every backend the harness offers.

mod common;

use common::{Ctx, on_each_backend, spec};
use satusky_store::{EVENTS_PAGE_MAX, EventPage};
use satusky_types::EventType;
use serde_json::json;

const T0: i64 = 1_795_000_000_000;

/// Appends an event whose `data` is about `size` bytes of JSON; returns its seq.
async fn append(ctx: &Ctx, size: usize) -> u64 {
    let data = json!({ "line": "x".repeat(size.saturating_sub(11)) });
    ctx.store
        .append_event("acme", "web", EventType::BuildLog, &data, T0)
        .await
        .unwrap()
        .seq
}

fn seqs(page: &EventPage) -> Vec<u64> {
    page.events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn pages_are_bounded_by_bytes_and_lose_nothing() {
    on_each_backend(|ctx| async move {
        ctx.store.ensure_org("acme").await.unwrap();
        ctx.store
            .record_deploy("acme", &spec("web"), &[], "deploy", T0)
            .await
            .unwrap();
        // The deploy wrote seqs 1 and 2 (small); then 1 KiB, 1 KiB, 1 KiB, 10 KiB, 1 KiB.
        for size in [1024, 1024, 1024, 10 * 1024, 1024] {
            append(&ctx, size).await;
        }
        let store = &ctx.store;

        let page = store.events_page("acme", "web", 2, 2500).await.unwrap();
        assert_eq!(
            seqs(&page),
            [3, 4],
            "two 1 KiB events fit in 2500 bytes, not three"
        );
        assert!(page.more);
        assert_eq!(
            page.events[0].data["line"].as_str().unwrap().len(),
            1024 - 11
        );

        let page = store.events_page("acme", "web", 5, 2500).await.unwrap();
        assert_eq!(seqs(&page), [6], "bigger than the budget: alone");
        assert!(page.more);

        let page = store.events_page("acme", "web", 6, 2500).await.unwrap();
        assert_eq!(seqs(&page), [7]);
        assert!(!page.more, "nothing after the last event");

        for after in [7, 100, u64::MAX] {
            let page = store.events_page("acme", "web", after, 2500).await.unwrap();
            assert_eq!(
                page,
                EventPage {
                    events: Vec::new(),
                    more: false
                }
            );
        }
        let none = store.events_page("acme", "nope", 0, 2500).await.unwrap();
        assert!(none.events.is_empty());

        // Page by page from 0: every event once, in order, each page within the budget
        // unless it holds a single event.
        let mut after = 0;
        let mut seen = Vec::new();
        loop {
            let page = store.events_page("acme", "web", after, 2500).await.unwrap();
            let bytes: usize = page.events.iter().map(|e| e.data.to_string().len()).sum();
            assert!(
                bytes <= 2500 || page.events.len() == 1,
                "{bytes} bytes in {:?}",
                seqs(&page)
            );
            seen.extend(seqs(&page));
            match page.events.last() {
                Some(last) => after = last.seq,
                None => break,
            }
            if !page.more {
                break;
            }
        }
        assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test]
async fn a_page_of_tiny_events_stops_at_the_count_cap() {
    on_each_backend(|ctx| async move {
        ctx.store.ensure_org("acme").await.unwrap();
        ctx.store
            .record_deploy("acme", &spec("web"), &[], "deploy", T0)
            .await
            .unwrap();
        let total = EVENTS_PAGE_MAX as usize + 20;
        for _ in 2..total {
            append(&ctx, 20).await;
        }
        let page = ctx
            .store
            .events_page("acme", "web", 0, 1 << 30)
            .await
            .unwrap();
        assert_eq!(page.events.len(), EVENTS_PAGE_MAX as usize);
        assert!(page.more);
        let rest = ctx
            .store
            .events_page("acme", "web", 500, 1 << 30)
            .await
            .unwrap();
        assert_eq!(rest.events.len(), 20);
        assert!(!rest.more);
    })
    .await;
}

#[tokio::test]
async fn the_last_seq_is_where_a_replay_ends() {
    on_each_backend(|ctx| async move {
        ctx.store.ensure_org("acme").await.unwrap();
        let store = &ctx.store;
        assert_eq!(store.last_event_seq("acme", "web").await.unwrap(), None);
        store
            .record_deploy("acme", &spec("web"), &[], "deploy", T0)
            .await
            .unwrap();
        let after_deploy = store.last_event_seq("acme", "web").await.unwrap();
        let written = store.events_after("acme", "web", 0, 100).await.unwrap();
        assert_eq!(after_deploy, written.last().map(|e| e.seq));
        let seq = append(&ctx, 10).await;
        assert_eq!(
            store.last_event_seq("acme", "web").await.unwrap(),
            Some(seq)
        );
        assert_eq!(store.last_event_seq("acme", "nope").await.unwrap(), None);
    })
    .await;
}

//! The request log against real databases: SQLite (temp file) and PostgreSQL (a fresh database).

use sluice_store::testing::{TestBackend, TestDatabase};
use sluice_store::{RequestLogCursor, RequestLogFilter, RequestLogRecord, Store};

/// Runs each test body once per backend, as `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_backends {
    ($(async fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            use super::*;
            async fn run($db: TestDatabase) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(TestDatabase::sqlite()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = TestDatabase::new(TestBackend::Postgres).await {
                    run(db).await
                }
            }
        }
    )*};
}

fn log(id: &str, at_ms: i64, vk: &str, provider: &str, status: u16) -> RequestLogRecord {
    RequestLogRecord {
        request_id: id.into(),
        occurred_at_ms: at_ms,
        route: "chat_completions".into(),
        virtual_key_id: Some(vk.into()),
        team_id: Some("eng".into()),
        customer_id: None,
        provider: Some(provider.into()),
        model: Some("gpt-4o-mini".into()),
        key_name: Some("k1".into()),
        status,
        error_code: (status >= 400).then(|| "rate_limit_exceeded".into()),
        attempts: 1,
        latency_ms: 10 * u64::try_from(at_ms % 100).unwrap(),
        ttft_ms: None,
        stream: false,
        prompt_tokens: 5,
        completion_tokens: 7,
        cost_micros: 100,
        cache: "miss".into(),
        content: None,
    }
}

/// Five records: three of vk-a (200 openai, 429, 200 anthropic), two of vk-b (200, 502).
async fn seeded(store: &Store) {
    let batch = [
        log("r1", 1_000_001, "vk-a", "openai", 200),
        log("r2", 1_000_002, "vk-a", "openai", 429),
        log("r3", 1_000_003, "vk-b", "openai", 200),
        log("r4", 1_000_004, "vk-a", "anthropic", 200),
        log("r5", 1_000_005, "vk-b", "openai", 502),
    ];
    assert_eq!(store.record_request_logs(&batch).await.unwrap(), 5);
}

fn ids(page: &[sluice_store::StoredRequestLog]) -> Vec<&str> {
    page.iter().map(|l| l.record.request_id.as_str()).collect()
}

on_both_backends! {
    async fn records_come_back_newest_first_with_every_field(db) {
        let store = db.store().await;
        let mut streamed = log("s1", 2_000_000, "vk-a", "openai", 200);
        streamed.stream = true;
        streamed.ttft_ms = Some(42);
        streamed.content = Some(r#"{"request":[],"response":"hi"}"#.into());
        store.record_request_logs(&[log("r0", 1_000_000, "vk-a", "openai", 200), streamed.clone()])
            .await
            .unwrap();
        let page = store.request_logs(&RequestLogFilter::default(), None, 10).await.unwrap();
        assert_eq!(ids(&page), ["s1", "r0"]);
        assert_eq!(page[0].record, streamed);
        assert!(page[0].id > page[1].id);
    }

    async fn filters_narrow_by_key_provider_model_status_and_time(db) {
        let store = db.store().await;
        seeded(&store).await;
        let get = |f: RequestLogFilter| {
            let store = store.clone();
            async move { store.request_logs(&f, None, 100).await.unwrap() }
        };
        let by_key = get(RequestLogFilter { virtual_key_id: Some("vk-a".into()), ..Default::default() }).await;
        assert_eq!(ids(&by_key), ["r4", "r2", "r1"]);
        let by_provider = get(RequestLogFilter { provider: Some("anthropic".into()), ..Default::default() }).await;
        assert_eq!(ids(&by_provider), ["r4"]);
        let by_model = get(RequestLogFilter { model: Some("other".into()), ..Default::default() }).await;
        assert!(by_model.is_empty());
        let errors = get(RequestLogFilter { status: Some((400, 599)), ..Default::default() }).await;
        assert_eq!(ids(&errors), ["r5", "r2"]);
        let exact = get(RequestLogFilter { status: Some((429, 429)), virtual_key_id: Some("vk-a".into()), ..Default::default() }).await;
        assert_eq!(ids(&exact), ["r2"]);
        let range = get(RequestLogFilter { from_ms: Some(1_000_002), to_ms: Some(1_000_004), ..Default::default() }).await;
        assert_eq!(ids(&range), ["r3", "r2"]);
    }

    async fn pages_follow_the_cursor_without_gaps_or_repeats(db) {
        let store = db.store().await;
        seeded(&store).await;
        // Two records at the same millisecond: the id breaks the tie.
        store.record_request_logs(&[log("r6", 1_000_005, "vk-b", "openai", 200)]).await.unwrap();
        let all = RequestLogFilter::default();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.request_logs(&all, cursor, 2).await.unwrap();
            seen.extend(page.iter().map(|l| l.record.request_id.clone()));
            let Some(last) = page.last().filter(|_| page.len() == 2) else { break };
            cursor = Some(RequestLogCursor { occurred_at_ms: last.record.occurred_at_ms, id: last.id });
        }
        assert_eq!(seen, ["r6", "r5", "r4", "r3", "r2", "r1"]);
    }

    async fn stats_add_up_over_the_filter(db) {
        let store = db.store().await;
        seeded(&store).await;
        let all = store.request_log_stats(&RequestLogFilter::default()).await.unwrap();
        assert_eq!((all.requests, all.errors), (5, 2));
        assert_eq!((all.status_2xx, all.status_4xx, all.status_5xx), (3, 1, 1));
        assert_eq!((all.prompt_tokens, all.completion_tokens, all.cost_micros), (25, 35, 500));
        assert_eq!((all.avg_latency_ms, all.max_latency_ms), (30, 50));
        let vk_b = store
            .request_log_stats(&RequestLogFilter { virtual_key_id: Some("vk-b".into()), ..Default::default() })
            .await
            .unwrap();
        assert_eq!((vk_b.requests, vk_b.errors, vk_b.status_5xx), (2, 1, 1));
        let none = store
            .request_log_stats(&RequestLogFilter { provider: Some("nobody".into()), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(none, Default::default());
    }

    async fn retention_deletes_only_records_older_than_the_cutoff(db) {
        let store = db.store().await;
        seeded(&store).await;
        assert_eq!(store.delete_request_logs_before(1_000_003).await.unwrap(), 2);
        let left = store.request_logs(&RequestLogFilter::default(), None, 100).await.unwrap();
        assert_eq!(ids(&left), ["r5", "r4", "r3"]);
        assert_eq!(store.delete_request_logs_before(1_000_003).await.unwrap(), 0);
    }
}

//! The request log end to end: `sluice serve` with traffic (answers, a stream, a refusal, an
//! error) → one record each in `GET /api/logs`, with the right fields; filters and stats work.

use std::time::Duration;

use serde_json::{Value, json};
use sluice_core::hash_credential;

use crate::harness::{HttpClient, Proc, chat, start_gateway, within};

fn config() -> String {
    format!(
        r#"
[logs]
retention_days = 3

[governance.virtual_keys.vk-logged]
value_hash = "{}"
log_content = true
rate_limit = {{ request_max_limit = 2, request_reset_duration = "1h" }}

[governance.virtual_keys.vk-quiet]
value_hash = "{}"
"#,
        hash_credential("vk-logged"),
        hash_credential("vk-quiet"),
    )
}

async fn ask(c: &HttpClient, gw: &Proc, key: &str, body: &Value) -> u16 {
    let auth = format!("Bearer {key}");
    let r = c
        .post_json(
            &gw.url("/v1/chat/completions"),
            body,
            &[("authorization", auth.as_str())],
        )
        .await;
    r.status.as_u16()
}

async fn logs(c: &HttpClient, gw: &Proc, query: &str) -> Value {
    let r = c.get(&gw.url(&format!("/api/logs{query}"))).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn statuses(page: &Value) -> Vec<u64> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_with_its_outcome_and_the_log_can_be_filtered() {
    let gw = start_gateway(&config(), &[]).await;
    let c = HttpClient::new();
    let mut streamed = chat("mock/gpt-4o-mini", "stream me");
    streamed["stream"] = json!(true);
    // Oldest to newest: answered, streamed, refused by the limit, no such key, bad provider.
    assert_eq!(
        ask(&c, &gw, "vk-logged", &chat("mock/gpt-4o-mini", "hello log")).await,
        200
    );
    assert_eq!(ask(&c, &gw, "vk-logged", &streamed).await, 200);
    assert_eq!(
        ask(
            &c,
            &gw,
            "vk-logged",
            &chat("mock/gpt-4o-mini", "one too many")
        )
        .await,
        429
    );
    assert_eq!(
        ask(&c, &gw, "vk-unknown", &chat("mock/gpt-4o-mini", "who")).await,
        401
    );
    assert_eq!(
        ask(&c, &gw, "vk-quiet", &chat("nope/gpt-4o-mini", "where")).await,
        400
    );

    within(
        Duration::from_secs(20),
        "five records in /api/logs",
        || async { logs(&c, &gw, "").await["data"].as_array().unwrap().len() == 5 },
    )
    .await;
    let all = logs(&c, &gw, "").await;
    assert_eq!(statuses(&all), [400, 401, 429, 200, 200]);
    let data = all["data"].as_array().unwrap();

    let answered = &data[4];
    assert_eq!(answered["virtual_key_id"], "vk-logged");
    assert_eq!(answered["provider"], "mock");
    assert_eq!(answered["model"], "gpt-4o-mini");
    assert_eq!(answered["route"], "/v1/chat/completions");
    assert_eq!(answered["cache"], "miss");
    assert_eq!(answered["stream"], false);
    assert!(answered["key_name"].is_string(), "{answered}");
    assert!(answered["attempts"].as_u64().unwrap() >= 1);
    assert!(
        answered["prompt_tokens"].as_u64().unwrap() > 0,
        "{answered}"
    );
    assert!(answered["request_id"].as_str().unwrap().starts_with("req_"));
    assert!(answered["error_code"].is_null());
    let content = answered["content"].to_string();
    assert!(content.contains("hello log"), "{content}");

    let stream = &data[3];
    assert_eq!(stream["stream"], true);
    assert!(stream["ttft_ms"].is_u64(), "{stream}");

    assert_eq!(data[2]["error_code"], "rate_limit_exceeded");
    assert_eq!(data[2]["virtual_key_id"], "vk-logged");
    assert_eq!(data[1]["error_code"], "invalid_api_key");
    assert!(data[1]["virtual_key_id"].is_null());
    assert_eq!(data[0]["error_code"], "unknown_provider");
    // Content only for keys that asked for it.
    assert!(data[0]["content"].is_null());

    // Filters.
    assert_eq!(statuses(&logs(&c, &gw, "?status=429").await), [429]);
    assert_eq!(
        statuses(&logs(&c, &gw, "?status=4xx").await),
        [400, 401, 429]
    );
    assert_eq!(
        statuses(&logs(&c, &gw, "?virtual_key_id=vk-logged").await),
        [429, 200, 200]
    );
    assert_eq!(
        statuses(&logs(&c, &gw, "?provider=mock&model=gpt-4o-mini").await),
        [200, 200]
    );
    assert_eq!(
        statuses(
            &logs(
                &c,
                &gw,
                "?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z"
            )
            .await
        ),
        Vec::<u64>::new()
    );
    // Pages of two, newest first, joined by the cursor.
    let first = logs(&c, &gw, "?limit=2").await;
    assert_eq!(statuses(&first), [400, 401]);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(
        statuses(&logs(&c, &gw, &format!("?limit=2&cursor={cursor}")).await),
        [429, 200]
    );
    let bad = c.get(&gw.url("/api/logs?limit=5000")).await.unwrap();
    assert_eq!(bad.status, 400);

    let stats = c
        .get(&gw.url("/api/logs/stats?virtual_key_id=vk-logged"))
        .await
        .unwrap()
        .json();
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["errors"], 1);
    assert_eq!(stats["by_status_class"]["2xx"], 2);
    assert_eq!(stats["by_status_class"]["4xx"], 1);
}

//! Rate-limit resilience against `sluice mock`: keys share the load by weight, a 429's
//! `retry-after` is honoured, all-keys-limited fails over to another provider, caller errors
//! are not retried.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{HttpClient, Proc, chat, start_gateway, start_mock};

async fn mock_config(mock: &Proc, cfg: serde_json::Value) {
    let r = HttpClient::new()
        .post_json(&mock.url("/mock/config"), &cfg, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn mock_stats(mock: &Proc) -> serde_json::Value {
    HttpClient::new()
        .get(&mock.url("/mock/stats"))
        .await
        .unwrap()
        .json()
}

fn total(stats: &serde_json::Value, field: &str) -> u64 {
    stats["totals"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("totals.{field} in {stats}"))
}

fn one_key_provider(mock: &Proc, name: &str, kind: &str, base: &str, extra: &str) -> String {
    format!(
        r#"
[providers.{name}]
base_provider_type = "{kind}"
keys = [{{ name = "{name}-k1", value = "sk-{name}-k1" }}]
[providers.{name}.network_config]
base_url = "{}"
retry_backoff_initial_ms = 1
retry_backoff_max_ms = 20
{extra}
"#,
        mock.url(base)
    )
}

#[tokio::test]
async fn caller_error_from_upstream_is_returned_at_once_with_one_attempt() {
    let mock = start_mock(&[]).await;
    mock_config(&mock, json!({"always_status": 400})).await;
    let cfg = format!(
        "[mock]\nenabled = false\n{}",
        one_key_provider(&mock, "up", "openai", "/v1", "max_retries = 5")
    );
    let gw = start_gateway(&cfg, &[]).await;
    let mut body = chat("up/gpt-4o-mini", "hi");
    body["fallbacks"] = json!(["up/gpt-4o"]);
    let r = HttpClient::new()
        .post_json(&gw.url("/v1/chat/completions"), &body, &[])
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("x-sluice-attempts"), Some("1"));
    assert_eq!(total(&mock_stats(&mock).await, "requests"), 1);
}

#[tokio::test]
async fn key_that_said_retry_after_is_not_called_again_before_it() {
    let mock = start_mock(&[]).await;
    mock_config(
        &mock,
        json!({"always_status": 429, "always_retry_after_s": 2}),
    )
    .await;
    let cfg = format!(
        "[mock]\nenabled = false\n{}",
        one_key_provider(&mock, "up", "openai", "/v1", "max_retries = 0")
    );
    let gw = start_gateway(&cfg, &[]).await;
    let c = HttpClient::new();
    let url = gw.url("/v1/chat/completions");
    let first_at = Instant::now();
    let r = c.post_json(&url, &chat("up/gpt-4o-mini", "hi"), &[]).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("2"));
    // Within the 2 s the key is cooling: the gateway refuses without calling the upstream.
    for _ in 0..5 {
        let r = c.post_json(&url, &chat("up/gpt-4o-mini", "hi"), &[]).await;
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "all_keys_cooling");
    }
    assert!(
        first_at.elapsed() < Duration::from_secs(2),
        "test ran too slowly to judge"
    );
    assert_eq!(total(&mock_stats(&mock).await, "requests"), 1);
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(first_at.elapsed())).await;
    mock_config(&mock, json!({"always_status": null})).await;
    let r = c.post_json(&url, &chat("up/gpt-4o-mini", "hi"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(total(&mock_stats(&mock).await, "requests"), 2);
}

#[tokio::test]
async fn openai_limited_on_every_key_fails_over_to_anthropic() {
    let openai = start_mock(&[]).await;
    let anthropic = start_mock(&[]).await;
    mock_config(
        &openai,
        json!({"always_status": 429, "always_retry_after_s": 30}),
    )
    .await;
    let cfg = format!(
        r#"
[mock]
enabled = false

[providers.openai]
keys = [
  {{ name = "o1", value = "sk-o1" }},
  {{ name = "o2", value = "sk-o2" }},
]
[providers.openai.network_config]
base_url = "{}"
max_retries = 2
retry_backoff_initial_ms = 1
retry_backoff_max_ms = 10
{}
"#,
        openai.url("/v1"),
        one_key_provider(&anthropic, "anthropic", "anthropic", "", "")
    );
    let gw = start_gateway(&cfg, &[]).await;
    let c = HttpClient::new();
    let mut body = chat("openai/gpt-4o-mini", "hi");
    body["fallbacks"] = json!(["anthropic/claude-3-5-haiku-latest"]);
    for i in 0..10 {
        let r = c
            .post_json(&gw.url("/v1/chat/completions"), &body, &[])
            .await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.header("x-sluice-provider"), Some("anthropic"));
    }
    // Each OpenAI key was tried once, then cooled for 30 s and skipped.
    assert_eq!(total(&mock_stats(&openai).await, "requests"), 2);
    assert_eq!(total(&mock_stats(&anthropic).await, "ok"), 10);
}

/// Three keys limited to R requests per minute each, weights 1:1:1, offered 2.5·R per minute
/// for a full minute: every request succeeds, each key serves its share within 10 %, and the
/// upstream sees far fewer 429s than requests.
#[tokio::test]
async fn spike_over_one_keys_limit_is_absorbed_by_the_other_keys() {
    const R: u64 = 600;
    const SECONDS: u64 = 60;
    let mock = start_mock(&[]).await;
    mock_config(&mock, json!({"requests_per_minute": R})).await;
    let cfg = format!(
        r#"
[mock]
enabled = false

[providers.up]
base_provider_type = "openai"
keys = [
  {{ name = "k1", value = "sk-spike-k1", weight = 1.0 }},
  {{ name = "k2", value = "sk-spike-k2", weight = 1.0 }},
  {{ name = "k3", value = "sk-spike-k3", weight = 1.0 }},
]
[providers.up.network_config]
base_url = "{}"
max_retries = 3
retry_backoff_initial_ms = 5
retry_backoff_max_ms = 200
"#,
        mock.url("/v1")
    );
    let gw = start_gateway(&cfg, &[]).await;
    let total_requests = R * 5 / 2 * SECONDS / 60;
    let interval = Duration::from_secs(SECONDS).div_f64(total_requests as f64);
    let url = gw.url("/v1/chat/completions");
    let c = HttpClient::new();
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total_requests {
        tokio::time::sleep_until(start + interval.mul_f64(i as f64)).await;
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let r = c
                .post_json(&url, &chat("up/gpt-4o-mini", "spike"), &[])
                .await;
            (
                r.status.as_u16(),
                r.header("x-sluice-key").map(str::to_string),
            )
        }));
    }
    let mut per_key = std::collections::HashMap::<String, u64>::new();
    let mut failed = Vec::new();
    for t in tasks {
        let (status, key) = t.await.unwrap();
        if status != 200 {
            failed.push(status);
        }
        *per_key.entry(key.unwrap_or_default()).or_default() += 1;
    }
    assert!(failed.is_empty(), "client errors: {failed:?}");
    let share = total_requests as f64 / 3.0;
    for k in ["k1", "k2", "k3"] {
        let n = per_key.get(k).copied().unwrap_or(0) as f64;
        assert!(
            (n - share).abs() <= share * 0.10,
            "{k} served {n}, expected {share} ±10%: {per_key:?}"
        );
    }
    let stats = mock_stats(&mock).await;
    let limited = total(&stats, "rate_limited");
    assert!(
        limited * 10 < total_requests,
        "{limited} upstream 429s for {total_requests} requests"
    );
}

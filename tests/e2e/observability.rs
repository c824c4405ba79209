//! `/metrics` after real traffic, including a rate-limited key.

use serde_json::json;

use crate::harness::{HttpClient, chat, start_gateway, start_mock};

/// The value of the first sample of `name` whose labels contain every `label`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            let rest = &l[name.len()..];
            rest.starts_with('{') || rest.starts_with(' ')
        })
        .find(|l| labels.iter().all(|lab| l.contains(lab)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_attempts_cooldowns_and_tokens() {
    let mock = start_mock(&[]).await;
    let cfg = format!(
        r#"
[mock]
enabled = false
[providers.up]
base_provider_type = "openai"
keys = [{{ name = "k1", value = "sk-m1" }}, {{ name = "k2", value = "sk-m2" }}]
[providers.up.network_config]
base_url = "{}"
retry_backoff_initial_ms = 1
retry_backoff_max_ms = 5
"#,
        mock.url("/v1")
    );
    let gw = start_gateway(&cfg, &[]).await;
    let c = HttpClient::new();
    let url = gw.url("/v1/chat/completions");
    for _ in 0..3 {
        let r = c.post_json(&url, &chat("up/gpt-4o-mini", "hi"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // k1 answers 429 from now on: traffic moves to k2 and k1 cools down.
    let r = c
        .post_json(
            &mock.url("/mock/config"),
            &json!({"keys": {"sk-m1": {"always_status": 429}}}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..6 {
        let r = c.post_json(&url, &chat("up/gpt-4o-mini", "hi"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let bad = c.post_json(&url, &chat("nosuch/x", "hi"), &[]).await;
    assert_eq!(bad.status, 400);

    let text = c.get(&gw.url("/metrics")).await.unwrap().text();
    let ok = sample(
        &text,
        "sluice_requests_total",
        &[
            "route=\"/v1/chat/completions\"",
            "status=\"200\"",
            "provider=\"up\"",
        ],
    );
    assert_eq!(ok, Some(9.0), "{text}");
    assert_eq!(
        sample(&text, "sluice_requests_total", &["status=\"400\""]),
        Some(1.0)
    );
    let limited = sample(
        &text,
        "sluice_upstream_attempts_total",
        &["key=\"k1\"", "outcome=\"rate_limited\""],
    )
    .unwrap_or(0.0);
    assert!(limited >= 1.0, "{text}");
    assert!(sample(&text, "sluice_key_cooldowns_total", &["key=\"k1\""]).unwrap_or(0.0) >= 1.0);
    assert_eq!(
        sample(&text, "sluice_key_available", &["key=\"k1\""]),
        Some(0.0),
        "{text}"
    );
    assert!(sample(&text, "sluice_tokens_total", &["direction=\"output\""]).unwrap() > 0.0);
    assert!(
        text.contains("sluice_gateway_overhead_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("sluice_upstream_duration_seconds_bucket"));
}

#[tokio::test]
async fn rate_limit_usage_and_max_gauges_make_the_80_percent_alert_computable() {
    let cfg = format!(
        r#"
[governance.virtual_keys.vk-gauge]
value_hash = "{}"
provider_configs = [{{ provider = "mock" }}]
rate_limit = {{ request_max_limit = 10, request_reset_duration = "1h" }}
budget = {{ max_limit = 5.0, reset_duration = "1M" }}
"#,
        sluice_core::hash_credential("vk-gauge")
    );
    let gw = start_gateway(&cfg, &[]).await;
    let c = HttpClient::new();
    for _ in 0..9 {
        let r = c
            .post_json(
                &gw.url("/v1/chat/completions"),
                &chat("gpt-4o-mini", "hi"),
                &[("authorization", "Bearer vk-gauge")],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let text = c.get(&gw.url("/metrics")).await.unwrap().text();
    let labels = [
        "scope=\"virtual_key\"",
        "id=\"vk-gauge\"",
        "kind=\"requests\"",
    ];
    let used = sample(&text, "sluice_rate_limit_usage", &labels).expect("usage gauge");
    let max = sample(&text, "sluice_rate_limit_max", &labels).expect("max gauge");
    assert_eq!((used, max), (9.0, 10.0), "{text}");
    assert!(used / max > 0.8);
    let budget = ["id=\"vk-gauge\"", "kind=\"budget_usd\""];
    assert_eq!(sample(&text, "sluice_rate_limit_max", &budget), Some(5.0));
    assert!(sample(&text, "sluice_rate_limit_usage", &budget).unwrap() > 0.0);
}

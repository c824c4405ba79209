//! Governance limits end to end: request and token limits, budgets up the hierarchy,
//! provider-config limits steering traffic, and concurrency against a token limit.

use std::time::{Duration, Instant};

use serde_json::json;
use sluice_core::hash_credential;

use crate::harness::{HttpClient, chat, start_gateway, start_mock};

fn auth(key: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {key}"))
}

/// PUTs through the admin API, then waits until the data plane serves that config version.
async fn put(c: &HttpClient, gw: &crate::harness::Proc, path: &str, body: serde_json::Value) {
    let url = gw.url(path);
    let r = c
        .send(
            http::Method::PUT,
            &url,
            bytes::Bytes::from(body.to_string()),
            &[],
        )
        .await
        .unwrap();
    assert!(
        r.status.is_success(),
        "PUT {url}: {} {}",
        r.status,
        r.text()
    );
    let version: u64 = r
        .header("x-sluice-config-version")
        .expect("writes answer with the config version")
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = c.get(&gw.url("/ready")).await.unwrap().json();
        if ready["config_version"].as_u64().unwrap_or(0) >= version {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "config {version} not installed: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn sixth_request_in_a_minute_is_refused_then_served_after_the_window_slides() {
    let gw = start_gateway("", &[]).await;
    let c = HttpClient::new();
    put(
        &c,
        &gw,
        "/api/governance/virtual-keys/vk-five",
        json!({
            "provider_configs": [{"provider": "mock", "weight": 1.0}],
            "rate_limit": {"request_max_limit": 5, "request_reset_duration": "1m"}
        }),
    )
    .await;
    let url = gw.url("/v1/chat/completions");
    let (h, v) = auth("vk-five");
    let first = Instant::now();
    for i in 0..5 {
        let r = c
            .post_json(&url, &chat("gpt-4o-mini", "hi"), &[(h, &v)])
            .await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("5"));
        assert_eq!(
            r.header("x-ratelimit-remaining-requests"),
            Some((4 - i).to_string().as_str())
        );
    }
    let r = c
        .post_json(&url, &chat("gpt-4o-mini", "hi"), &[(h, &v)])
        .await;
    assert_eq!(r.status, 429, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vk-five"),
        "{body}"
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=61).contains(&retry), "retry-after {retry}");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    // Served again once the window has slid past the first requests.
    let wait = Duration::from_secs(retry)
        .saturating_sub(first.elapsed().saturating_sub(Duration::from_secs(1)));
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    let mut served = false;
    for _ in 0..20 {
        let r = c
            .post_json(&url, &chat("gpt-4o-mini", "hi"), &[(h, &v)])
            .await;
        if r.status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        served,
        "still refused {:?} after the window",
        first.elapsed()
    );
}

fn governed(extra: &str) -> String {
    format!(
        r#"
[governance.customers.acme]
name = "Acme"

[governance.teams.eng]
name = "Engineering"
customer_id = "acme"
budget = {{ max_limit = 0.0001, reset_duration = "1M" }}

[governance.virtual_keys.vk-a]
value_hash = "{}"
team_id = "eng"
provider_configs = [{{ provider = "mock" }}]

[governance.virtual_keys.vk-b]
value_hash = "{}"
team_id = "eng"
provider_configs = [{{ provider = "mock" }}]

[governance.virtual_keys.vk-tokens]
value_hash = "{}"
provider_configs = [{{ provider = "mock" }}]
rate_limit = {{ token_max_limit = 3000, token_reset_duration = "1h" }}
{extra}
"#,
        hash_credential("vk-a"),
        hash_credential("vk-b"),
        hash_credential("vk-tokens"),
    )
}

#[tokio::test]
async fn team_budget_spent_by_one_key_blocks_its_sibling() {
    let gw = start_gateway(&governed(""), &[]).await;
    let c = HttpClient::new();
    let url = gw.url("/v1/chat/completions");
    // The mock costs $1/M input and $2/M output; each request reserves its prompt plus 16
    // output tokens and settles at real usage. $0.0001 allows a few dozen.
    let mut body = chat("gpt-4o-mini", "spend");
    body["max_tokens"] = json!(16);
    let (h, a) = auth("vk-a");
    let mut refused = None;
    for i in 0..500 {
        let r = c.post_json(&url, &body, &[(h, &a)]).await;
        if r.status != 200 {
            refused = Some((i, r));
            break;
        }
    }
    let (n, r) = refused.expect("the team budget never ran out");
    assert!(n > 3, "refused after only {n} requests");
    assert_eq!(r.status, 402, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "budget_exceeded");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team 'eng'")
    );
    let (h, b) = auth("vk-b");
    let r = c.post_json(&url, &body, &[(h, &b)]).await;
    assert_eq!(r.status, 402, "sibling key: {}", r.text());
}

#[tokio::test]
async fn token_limit_refuses_a_fat_prompt_up_front() {
    let gw = start_gateway(&governed(""), &[]).await;
    let c = HttpClient::new();
    let fat = "lorem ipsum dolor sit amet ".repeat(800);
    let mut body = chat("gpt-4o-mini", &fat);
    body["max_tokens"] = json!(16);
    let (h, v) = auth("vk-tokens");
    let r = c
        .post_json(&gw.url("/v1/chat/completions"), &body, &[(h, &v)])
        .await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens")
    );
    // A small prompt still fits: nothing of the refused one was charged.
    let mut small = chat("gpt-4o-mini", "hi");
    small["max_tokens"] = json!(16);
    let r = c
        .post_json(&gw.url("/v1/chat/completions"), &small, &[(h, &v)])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn provider_config_at_its_limit_sends_traffic_to_the_other_provider() {
    let other = start_mock(&[]).await;
    let cfg = format!(
        r#"
[providers.other]
base_provider_type = "openai"
models = ["gpt-4o-mini"]
keys = [{{ name = "o1", value = "sk-other" }}]
[providers.other.network_config]
base_url = "{}"

[governance.virtual_keys.vk-split]
value_hash = "{}"
provider_configs = [
  {{ provider = "mock", weight = 1000.0, rate_limit = {{ request_max_limit = 3, request_reset_duration = "1h" }} }},
  {{ provider = "other", weight = 0.001 }},
]
"#,
        other.url("/v1"),
        hash_credential("vk-split")
    );
    let gw = start_gateway(&cfg, &[]).await;
    let c = HttpClient::new();
    let (h, v) = auth("vk-split");
    let mut by = std::collections::HashMap::<String, u32>::new();
    for _ in 0..10 {
        let r = c
            .post_json(
                &gw.url("/v1/chat/completions"),
                &chat("gpt-4o-mini", "hi"),
                &[(h, &v)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        *by.entry(r.header("x-sluice-provider").unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(by.get("mock"), Some(&3), "{by:?}");
    assert_eq!(by.get("other"), Some(&7), "{by:?}");
}

#[tokio::test]
async fn concurrent_requests_do_not_overshoot_a_token_limit_beyond_the_bound() {
    const LIMIT: u64 = 3000;
    let gw = start_gateway(&governed(""), &[]).await;
    let c = HttpClient::new();
    let url = gw.url("/v1/chat/completions");
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut body = chat("gpt-4o-mini", &format!("concurrent request number {i}"));
            body["max_tokens"] = json!(64);
            let r = c
                .post_json(&url, &body, &[("authorization", "Bearer vk-tokens")])
                .await;
            let used = if r.status == 200 {
                r.json()["usage"]["total_tokens"].as_u64().unwrap()
            } else {
                assert_eq!(r.status, 429, "{}", r.text());
                0
            };
            (r.status.as_u16(), used)
        }));
    }
    let mut admitted = 0;
    let mut used = 0;
    for t in tasks {
        let (status, u) = t.await.unwrap();
        if status == 200 {
            admitted += 1;
            used += u;
        }
    }
    assert!(admitted > 0 && admitted < 64, "admitted {admitted}");
    // Each request reserves its prompt estimate + 64; the mock never answers more than
    // max_tokens, so actual usage stays within what was reserved: no overshoot at all.
    assert!(
        used <= LIMIT,
        "admitted usage {used} over the limit {LIMIT}"
    );
}

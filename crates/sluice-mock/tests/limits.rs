//! Per-key limits over real HTTP: 429s shaped like each provider's, and the quota headers a
//! gateway learns headroom from.

mod common;

use std::collections::BTreeMap;

use common::*;
use http::StatusCode;
use sluice_mock::{KeyOverrides, MockConfig};

fn rpm(n: u64) -> MockConfig {
    MockConfig {
        requests_per_minute: Some(n),
        ..MockConfig::default()
    }
}

#[tokio::test]
async fn the_request_after_the_limit_is_a_429_with_openai_headers_and_body() {
    let mock = start(rpm(3)).await;
    for remaining in ["2", "1", "0"] {
        let ok = chat(&mock, "sk-a", HELLO).await;
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(ok.header("x-ratelimit-limit-requests"), "3");
        assert_eq!(ok.header("x-ratelimit-remaining-requests"), remaining);
        assert!(ok.header("x-ratelimit-reset-requests").ends_with('s'));
    }
    let limited = chat(&mock, "sk-a", HELLO).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    let retry_after_ms: u64 = limited.header("retry-after-ms").parse().unwrap();
    assert!(retry_after_ms > 0 && retry_after_ms <= 60_000);
    assert_eq!(limited.header("x-ratelimit-limit-requests"), "3");
    assert_eq!(limited.header("x-ratelimit-remaining-requests"), "0");
    let reset = limited.header("x-ratelimit-reset-requests");
    assert!(reset.ends_with('s') && reset != "0s", "{reset}");
    let json = limited.json();
    assert_eq!(json["error"]["type"], "requests");
    assert_eq!(json["error"]["code"], "rate_limit_exceeded");
    assert_eq!(json["error"]["param"], serde_json::Value::Null);
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Rate limit reached for requests"),
        "{message}"
    );
}

#[tokio::test]
async fn limits_are_per_key() {
    let mock = start(rpm(1)).await;
    assert_eq!(chat(&mock, "sk-a", HELLO).await.status, StatusCode::OK);
    assert_eq!(
        chat(&mock, "sk-a", HELLO).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(chat(&mock, "sk-b", HELLO).await.status, StatusCode::OK);
}

#[tokio::test]
async fn token_limit_counts_prompt_and_completion_tokens() {
    // HELLO costs 4 prompt + 8 completion = 12 tokens.
    let config = MockConfig {
        tokens_per_minute: Some(30),
        ..MockConfig::default()
    };
    let mock = start(config).await;
    let first = chat(&mock, "k", HELLO).await;
    assert_eq!(first.header("x-ratelimit-limit-tokens"), "30");
    assert_eq!(first.header("x-ratelimit-remaining-tokens"), "18");
    assert!(first.headers.get("x-ratelimit-limit-requests").is_none());
    assert_eq!(chat(&mock, "k", HELLO).await.status, StatusCode::OK);
    let limited = chat(&mock, "k", HELLO).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json()["error"]["type"], "tokens");
    assert_eq!(limited.header("x-ratelimit-remaining-tokens"), "6");
}

#[tokio::test]
async fn anthropic_429_has_rate_limit_error_and_anthropic_headers() {
    let mock = start(rpm(1)).await;
    let ok = messages(&mock, "sk-ant", CLAUDE).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("anthropic-ratelimit-requests-limit"), "1");
    assert_eq!(ok.header("anthropic-ratelimit-requests-remaining"), "0");
    let limited = messages(&mock, "sk-ant", CLAUDE).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").parse::<u64>().unwrap() >= 1);
    let reset = limited.header("anthropic-ratelimit-requests-reset");
    assert!(reset.ends_with('Z') && reset.contains('T'), "{reset}");
    let json = limited.json();
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn per_key_overrides_replace_the_global_limit() {
    let mut keys = BTreeMap::new();
    keys.insert(
        "sk-vip".to_owned(),
        KeyOverrides {
            requests_per_minute: Some(0),
            ..KeyOverrides::default()
        },
    );
    keys.insert(
        "sk-tight".to_owned(),
        KeyOverrides {
            requests_per_minute: Some(1),
            ..KeyOverrides::default()
        },
    );
    let config = MockConfig { keys, ..rpm(2) };
    let mock = start(config).await;
    for _ in 0..5 {
        assert_eq!(chat(&mock, "sk-vip", HELLO).await.status, StatusCode::OK);
    }
    assert_eq!(chat(&mock, "sk-tight", HELLO).await.status, StatusCode::OK);
    assert_eq!(
        chat(&mock, "sk-tight", HELLO).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn always_status_429_limits_every_key_with_retry_after() {
    let config = MockConfig {
        always_status: Some(429),
        always_retry_after_s: 7,
        ..MockConfig::default()
    };
    let mock = start(config).await;
    for key in ["a", "b"] {
        let answer = chat(&mock, key, HELLO).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.header("retry-after"), "7");
        assert_eq!(answer.header("retry-after-ms"), "7000");
        assert_eq!(answer.header("x-ratelimit-remaining-requests"), "0");
        assert_eq!(answer.json()["error"]["code"], "rate_limit_exceeded");
    }
    assert_eq!(stats(&mock).await["totals"]["rate_limited"], 2);
}

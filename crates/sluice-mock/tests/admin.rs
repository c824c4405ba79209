//! The mock's own endpoints: stats, reset, run-time config, health.

mod common;

use common::*;
use http::{Method, StatusCode};
use sluice_mock::MockConfig;

#[tokio::test]
async fn health_is_ok() {
    let mock = start(MockConfig::default()).await;
    let answer = call(&mock, Method::GET, "/health", &[], "").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["status"], "ok");
}

#[tokio::test]
async fn stats_count_requests_outcomes_and_tokens_per_key_and_route() {
    let mock = start(MockConfig {
        requests_per_minute: Some(2),
        ..MockConfig::default()
    })
    .await;
    chat(&mock, "sk-a", HELLO).await;
    chat(&mock, "sk-a", HELLO).await;
    chat(&mock, "sk-a", HELLO).await; // 429
    chat(&mock, "sk-b", "{oops").await; // 400
    messages(&mock, "sk-c", CLAUDE).await;
    call(&mock, Method::POST, "/v1/chat/completions", &[], HELLO).await; // 401

    let stats = stats(&mock).await;
    assert_eq!(stats, mock.stats());
    let a = &stats["keys"]["sk-a"];
    assert_eq!(a["requests"], 3);
    assert_eq!(a["ok"], 2);
    assert_eq!(a["rate_limited"], 1);
    assert_eq!(a["errors"], 0);
    assert_eq!(a["prompt_tokens"], 8);
    assert_eq!(a["completion_tokens"], 16);
    assert_eq!(stats["keys"]["sk-b"]["errors"], 1);
    assert_eq!(stats["keys"]["sk-c"]["ok"], 1);
    let totals = &stats["totals"];
    assert_eq!(totals["requests"], 6);
    assert_eq!(totals["ok"], 3);
    assert_eq!(totals["errors"], 2);
    assert_eq!(stats["routes"]["/v1/chat/completions"], 5);
    assert_eq!(stats["routes"]["/v1/messages"], 1);
}

#[tokio::test]
async fn reset_zeroes_stats_and_limit_windows() {
    let mock = start(MockConfig {
        requests_per_minute: Some(1),
        ..MockConfig::default()
    })
    .await;
    chat(&mock, "k", HELLO).await;
    assert_eq!(
        chat(&mock, "k", HELLO).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let after = call(&mock, Method::POST, "/mock/reset", &[], "").await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.json()["totals"]["requests"], 0);
    assert_eq!(stats(&mock).await["keys"], serde_json::json!({}));
    assert_eq!(chat(&mock, "k", HELLO).await.status, StatusCode::OK);
}

#[tokio::test]
async fn config_patch_changes_only_the_given_fields_at_run_time() {
    let mock = start(MockConfig {
        output_tokens: 3,
        ..MockConfig::default()
    })
    .await;
    assert_eq!(chat(&mock, "k", HELLO).await.status, StatusCode::OK);

    let answer = post_config(&mock, r#"{"requests_per_minute": 1}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["requests_per_minute"], 1);
    assert_eq!(answer.json()["output_tokens"], 3);

    // The request before the change was not counted (no limit then), so one more fits.
    assert_eq!(chat(&mock, "k", HELLO).await.status, StatusCode::OK);
    assert_eq!(
        chat(&mock, "k", HELLO).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    post_config(&mock, r#"{"requests_per_minute": null}"#).await;
    assert_eq!(chat(&mock, "k", HELLO).await.status, StatusCode::OK);
    let config = call(&mock, Method::GET, "/mock/config", &[], "")
        .await
        .json();
    assert_eq!(config["requests_per_minute"], serde_json::Value::Null);
    assert_eq!(config["output_tokens"], 3);
}

#[tokio::test]
async fn invalid_config_patches_are_400s_and_change_nothing() {
    let mock = start(MockConfig::default()).await;
    for patch in [
        "{nope",
        r#"{"error_rate": 2}"#,
        r#"{"unknown_knob": 1}"#,
        "[]",
    ] {
        let answer = post_config(&mock, patch).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{patch}");
        assert!(answer.json()["error"]["message"].is_string());
    }
    assert_eq!(mock.config(), MockConfig::default());
}

#[tokio::test]
async fn set_config_replaces_the_config_in_place() {
    let mock = start(MockConfig::default()).await;
    mock.set_config(MockConfig {
        always_status: Some(503),
        ..MockConfig::default()
    });
    let answer = chat(&mock, "k", HELLO).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json()["error"]["type"], "server_error");
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let mock = start(MockConfig::default()).await;
    let addr = mock.local_addr();
    assert_eq!(chat(&mock, "k", HELLO).await.status, StatusCode::OK);
    mock.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

//! Injected faults over real HTTP: error rate, fixed statuses, dropped streams, latency.

mod common;

use common::*;
use http::StatusCode;
use sluice_mock::MockConfig;

#[tokio::test]
async fn error_rate_one_fails_every_request_with_error_status() {
    let mock = start(MockConfig {
        error_rate: 1.0,
        ..MockConfig::default()
    })
    .await;
    let answer = chat(&mock, "k", HELLO).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    let json = answer.json();
    assert_eq!(json["error"]["type"], "server_error");
    assert!(answer.headers.get("retry-after").is_none());
    let stats = stats(&mock).await;
    assert_eq!(stats["keys"]["k"]["errors"], 1);
    assert_eq!(stats["keys"]["k"]["completion_tokens"], 0);
}

#[tokio::test]
async fn error_rate_fails_a_repeatable_share_of_requests() {
    let mock = start(MockConfig {
        error_rate: 0.5,
        error_status: 503,
        ..MockConfig::default()
    })
    .await;
    let mut first = Vec::new();
    for _ in 0..40 {
        first.push(chat(&mock, "k", HELLO).await.status);
    }
    let failed = first
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!((8..=32).contains(&failed), "{failed} of 40 failed");
    mock.reset();
    let mut again = Vec::new();
    for _ in 0..40 {
        again.push(chat(&mock, "k", HELLO).await.status);
    }
    assert_eq!(first, again, "the same sequence after a reset");
}

#[tokio::test]
async fn per_key_fault_overrides_hit_only_that_key() {
    let mock = start(MockConfig::default()).await;
    post_config(&mock, r#"{"keys": {"sk-broken": {"always_status": 500}}}"#).await;
    assert_eq!(
        chat(&mock, "sk-broken", HELLO).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(chat(&mock, "sk-fine", HELLO).await.status, StatusCode::OK);
}

#[tokio::test]
async fn dropped_openai_stream_closes_without_done() {
    let mock = start(MockConfig {
        drop_stream_after_chunks: Some(3),
        ..MockConfig::default()
    })
    .await;
    let answer = chat(&mock, "k", HELLO_STREAM).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.cut, "the body must end in an error");
    let data = answer.sse_data();
    assert_eq!(data.len(), 3);
    assert!(!answer.text().contains("[DONE]"));
    assert_eq!(stats(&mock).await["keys"]["k"]["streams_dropped"], 1);
}

#[tokio::test]
async fn dropped_anthropic_stream_closes_without_message_stop() {
    let mock = start(MockConfig {
        drop_stream_after_chunks: Some(4),
        ttft_ms: 1,
        tokens_per_second: 2000.0,
        ..MockConfig::default()
    })
    .await;
    let answer = messages(&mock, "k", CLAUDE_STREAM).await;
    assert!(answer.cut);
    assert_eq!(
        answer.sse_events(),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta"
        ]
    );
}

#[tokio::test]
async fn non_streaming_requests_are_not_dropped() {
    let mock = start(MockConfig {
        drop_stream_after_chunks: Some(1),
        ..MockConfig::default()
    })
    .await;
    let answer = chat(&mock, "k", HELLO).await;
    assert!(!answer.cut);
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn latency_still_answers_normally() {
    let mock = start(MockConfig {
        latency_ms: 20,
        ..MockConfig::default()
    })
    .await;
    assert_eq!(chat(&mock, "k", HELLO).await.status, StatusCode::OK);
    assert_eq!(
        messages(&mock, "k", CLAUDE_STREAM).await.sse_events().len(),
        14
    );
}

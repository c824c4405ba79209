//! The Anthropic route over real HTTP: message shape, event sequence, headers it insists on.

mod common;

use common::*;
use http::{Method, StatusCode};
use sluice_mock::MockConfig;

#[tokio::test]
async fn message_has_content_blocks_and_anthropic_usage() {
    let mock = start(MockConfig::default()).await;
    let answer = messages(&mock, "sk-ant-test", CLAUDE).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.header("request-id").starts_with("req_mock"));
    let json = answer.json();
    assert_eq!(json["type"], "message");
    assert_eq!(json["role"], "assistant");
    assert_eq!(json["model"], "claude-3-5-haiku-latest");
    assert_eq!(json["content"][0]["type"], "text");
    assert_eq!(
        json["content"][0]["text"],
        "Hello from Sluice mock (model claude-3-5-haiku-latest, key sk-ant-t)."
    );
    assert_eq!(json["stop_reason"], "end_turn");
    assert_eq!(json["usage"]["input_tokens"], 2);
    assert_eq!(json["usage"]["output_tokens"], 8);
    assert_eq!(json["usage"]["cache_read_input_tokens"], 0);
}

#[tokio::test]
async fn stream_is_the_exact_anthropic_event_sequence() {
    let mock = start(MockConfig::default()).await;
    let answer = messages(&mock, "k", CLAUDE_STREAM).await;
    assert!(
        answer
            .header("content-type")
            .starts_with("text/event-stream")
    );
    let events = answer.sse_events();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 8]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(events, expected);
    let data = answer.sse_data();
    let delta: serde_json::Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 8);
    let text: String = data
        .iter()
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
        .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert!(text.starts_with("Hello from Sluice mock"));
}

#[tokio::test]
async fn weather_with_tools_streams_a_tool_use_block() {
    let mock = start(MockConfig::default()).await;
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,
        "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}],
        "messages":[{"role":"user","content":"What's the weather like in Paris?"}]}"#;
    let answer = messages(&mock, "k", body).await;
    let data: Vec<serde_json::Value> = answer
        .sse_data()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(data[1]["content_block"]["type"], "tool_use");
    let json: String = data
        .iter()
        .filter_map(|e| e["delta"]["partial_json"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(json, r#"{"location":"San Francisco, CA"}"#);
    let message_delta = &data[data.len() - 2];
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn missing_api_key_is_a_401_authentication_error() {
    let mock = start(MockConfig::default()).await;
    let answer = call(
        &mock,
        Method::POST,
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        CLAUDE,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let json = answer.json();
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn missing_anthropic_version_is_a_400() {
    let mock = start(MockConfig::default()).await;
    let answer = call(
        &mock,
        Method::POST,
        "/v1/messages",
        &[("x-api-key", "k")],
        CLAUDE,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let json = answer.json();
    assert_eq!(json["error"]["type"], "invalid_request_error");
    assert_eq!(
        json["error"]["message"],
        "anthropic-version: header is required"
    );
}

#[tokio::test]
async fn bad_json_is_a_400_in_anthropic_format() {
    let mock = start(MockConfig::default()).await;
    let answer = messages(&mock, "k", "{\"model\":").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let json = answer.json();
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn missing_max_tokens_is_refused_like_the_real_api() {
    let mock = start(MockConfig::default()).await;
    let body = r#"{"model":"c","messages":[{"role":"user","content":"hi"}]}"#;
    let answer = messages(&mock, "k", body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json()["error"]["message"],
        "max_tokens: Field required"
    );
}

#[tokio::test]
async fn status_529_gives_an_overloaded_error() {
    let config = MockConfig {
        error_rate: 1.0,
        error_status: 529,
        always_retry_after_s: 3,
        ..MockConfig::default()
    };
    let mock = start(config).await;
    let answer = messages(&mock, "k", CLAUDE).await;
    assert_eq!(answer.status.as_u16(), 529);
    assert_eq!(answer.header("retry-after"), "3");
    let json = answer.json();
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "overloaded_error");
}

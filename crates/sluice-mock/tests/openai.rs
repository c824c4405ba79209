//! OpenAI routes over real HTTP: shapes, streaming framing, auth and bad input.

mod common;

use common::*;
use http::{Method, StatusCode};
use sluice_mock::MockConfig;

#[tokio::test]
async fn chat_completion_answers_with_the_model_key_label_and_usage() {
    let mock = start(MockConfig::default()).await;
    let answer = chat(&mock, "sk-test-alpha-123", HELLO).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), "application/json");
    assert!(answer.header("x-request-id").starts_with("req_mock"));
    let json = answer.json();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["model"], "gpt-4o-mini");
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "Hello from Sluice mock (model gpt-4o-mini, key sk-test-)."
    );
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    assert_eq!(json["usage"]["prompt_tokens"], 4);
    assert_eq!(json["usage"]["completion_tokens"], 8);
    assert_eq!(json["usage"]["total_tokens"], 12);
    // No limits configured: no rate-limit headers.
    assert!(answer.headers.get("x-ratelimit-limit-requests").is_none());
}

#[tokio::test]
async fn chat_stream_is_sse_chunks_ending_with_done() {
    let mock = start(MockConfig::default()).await;
    let answer = chat(&mock, "sk-test", HELLO_STREAM).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .header("content-type")
            .starts_with("text/event-stream")
    );
    assert!(!answer.cut);
    assert!(answer.text().ends_with("data: [DONE]\n\n"));
    let data = answer.sse_data();
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<serde_json::Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        content,
        "Hello from Sluice mock (model gpt-4o-mini, key sk-test)."
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 8);
}

#[tokio::test]
async fn chat_stream_without_include_usage_has_no_usage_chunk() {
    let mock = start(MockConfig::default()).await;
    let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}"#;
    let answer = chat(&mock, "k", body).await;
    assert!(!answer.text().contains("\"usage\""));
    assert!(answer.text().ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn paced_stream_still_delivers_every_chunk() {
    let config = MockConfig {
        ttft_ms: 5,
        tokens_per_second: 1000.0,
        ..MockConfig::default()
    };
    let mock = start(config).await;
    let answer = chat(&mock, "k", HELLO_STREAM).await;
    // role + 8 words + finish + usage + [DONE]
    assert_eq!(answer.sse_data().len(), 12);
}

#[tokio::test]
async fn weather_with_tools_gets_a_tool_call_then_the_tool_result_gets_text() {
    let mock = start(MockConfig::default()).await;
    let ask = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"What is the weather in Paris?"}],
        "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]}"#;
    let json = chat(&mock, "k", ask).await.json();
    assert_eq!(json["choices"][0]["finish_reason"], "tool_calls");
    let call = &json["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let call_id = call["id"].as_str().unwrap();

    let follow_up = format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"What is the weather in Paris?"}},
        {{"role":"assistant","content":null,"tool_calls":[{call}]}},
        {{"role":"tool","tool_call_id":"{call_id}","content":"{{\"temp_c\": 21}}"}}],
        "tools":[{{"type":"function","function":{{"name":"get_weather"}}}}]}}"#
    );
    let json = chat(&mock, "k", &follow_up).await.json();
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        json["choices"][0]["message"]["content"],
        r#"The tool returned: {"temp_c": 21}"#
    );
}

#[tokio::test]
async fn max_tokens_caps_the_answer_with_finish_reason_length() {
    let mock = start(MockConfig::default()).await;
    let body = r#"{"model":"m","max_tokens":3,"messages":[{"role":"user","content":"x"}]}"#;
    let json = chat(&mock, "k", body).await.json();
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "Hello from Sluice"
    );
    assert_eq!(json["choices"][0]["finish_reason"], "length");
    assert_eq!(json["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn legacy_completions_answer_and_stream() {
    let mock = start(MockConfig::default()).await;
    let auth = [("authorization", "Bearer k")];
    let body = r#"{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"}"#;
    let answer = call(&mock, Method::POST, "/v1/completions", &auth, body).await;
    let json = answer.json();
    assert_eq!(json["object"], "text_completion");
    assert!(
        json["choices"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Hello")
    );
    assert_eq!(json["usage"]["prompt_tokens"], 2);

    let body = r#"{"model":"m","prompt":["a","b"],"stream":true}"#;
    let answer = call(&mock, Method::POST, "/v1/completions", &auth, body).await;
    let data = answer.sse_data();
    assert_eq!(data.last().unwrap(), "[DONE]");
    let first: serde_json::Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(first["object"], "text_completion");
    assert_eq!(first["choices"][0]["text"], "Hello");
}

#[tokio::test]
async fn embeddings_are_deterministic_per_input_in_float_and_base64() {
    let mock = start(MockConfig::default()).await;
    let auth = [("authorization", "Bearer k")];
    let body = r#"{"model":"text-embedding-3-small","input":["cat","dog","cat"]}"#;
    let json = call(&mock, Method::POST, "/v1/embeddings", &auth, body)
        .await
        .json();
    assert_eq!(json["object"], "list");
    let data = json["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(json["usage"]["prompt_tokens"], 3);

    let body = r#"{"model":"m","input":"cat","dimensions":4,"encoding_format":"base64"}"#;
    let json = call(&mock, Method::POST, "/v1/embeddings", &auth, body)
        .await
        .json();
    let b64 = json["data"][0]["embedding"].as_str().unwrap();
    // 4 floats = 16 bytes = 24 base64 characters with padding.
    assert_eq!(b64.len(), 24);
}

#[tokio::test]
async fn models_lists_the_configured_models() {
    let config = MockConfig {
        models: vec!["a-model".into(), "b-model".into()],
        ..MockConfig::default()
    };
    let mock = start(config).await;
    let answer = call(
        &mock,
        Method::GET,
        "/v1/models",
        &[("authorization", "Bearer k")],
        "",
    )
    .await;
    let json = answer.json();
    assert_eq!(json["object"], "list");
    assert_eq!(json["data"][1]["id"], "b-model");
    assert_eq!(json["data"][0]["object"], "model");
}

#[tokio::test]
async fn missing_key_is_a_401_in_openai_format() {
    let mock = start(MockConfig::default()).await;
    let answer = call(&mock, Method::POST, "/v1/chat/completions", &[], HELLO).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let json = answer.json();
    assert_eq!(json["error"]["type"], "invalid_request_error");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("didn't provide an API key")
    );
}

#[tokio::test]
async fn keys_outside_allowed_keys_get_invalid_api_key() {
    let config = MockConfig {
        allowed_keys: vec!["sk-good".into()],
        ..MockConfig::default()
    };
    let mock = start(config).await;
    assert_eq!(chat(&mock, "sk-good", HELLO).await.status, StatusCode::OK);
    let answer = chat(&mock, "sk-other", HELLO).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn without_required_auth_requests_are_served_as_the_empty_key() {
    let config = MockConfig {
        require_auth: false,
        ..MockConfig::default()
    };
    let mock = start(config).await;
    let answer = call(&mock, Method::POST, "/v1/chat/completions", &[], HELLO).await;
    assert_eq!(answer.status, StatusCode::OK);
    let content = answer.json()["choices"][0]["message"]["content"].clone();
    assert!(content.as_str().unwrap().contains("key anonymous"));
    assert_eq!(stats(&mock).await["keys"][""]["ok"], 1);
}

#[tokio::test]
async fn bad_json_is_a_400_in_openai_format() {
    let mock = start(MockConfig::default()).await;
    for path in ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"] {
        let answer = call(
            &mock,
            Method::POST,
            path,
            &[("authorization", "Bearer k")],
            "{not json",
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        let json = answer.json();
        assert_eq!(json["error"]["type"], "invalid_request_error");
        assert_eq!(json["error"]["param"], serde_json::Value::Null);
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("could not parse the JSON body")
        );
    }
}

#[tokio::test]
async fn missing_messages_names_the_parameter() {
    let mock = start(MockConfig::default()).await;
    let answer = chat(&mock, "k", r#"{"model":"m"}"#).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let json = answer.json();
    assert_eq!(json["error"]["param"], "messages");
    assert_eq!(json["error"]["code"], "missing_required_parameter");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_refused() {
    let mock = start(MockConfig::default()).await;
    let answer = call(&mock, Method::GET, "/v1/nope", &[], "").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.json()["error"]["message"],
        "Invalid URL (GET /v1/nope)"
    );
    let answer = call(&mock, Method::GET, "/v1/chat/completions", &[], "").await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

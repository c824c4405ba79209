//! The happy paths: every route, both ingress formats, both upstream formats, streaming.

use serde_json::json;

use crate::harness::{HttpClient, chat, start_gateway, start_mock};

#[tokio::test]
async fn builtin_mock_answers_with_zero_config() {
    let gw = start_gateway("", &[]).await;
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("mock/gpt-4o-mini", "Hello, Sluice!"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len()
            > 1
    );
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(r.header("x-sluice-provider"), Some("mock"));
    assert_eq!(r.header("x-sluice-key"), Some("mock-key"));
    assert_eq!(r.header("x-sluice-attempts"), Some("1"));
    assert_eq!(r.header("x-sluice-cache"), Some("miss"));
}

#[tokio::test]
async fn mock_switch_off_removes_the_mock_provider() {
    let gw = start_gateway("[mock]\nenabled = false\n", &[]).await;
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("mock/gpt-4o-mini", "hi"),
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "unknown_provider");
}

#[tokio::test]
async fn openai_api_key_and_base_url_env_make_a_working_gateway() {
    let mock = start_mock(&[]).await;
    let base = mock.url("/v1");
    let gw = start_gateway(
        "",
        &[
            ("OPENAI_API_KEY", "sk-test-zero"),
            ("OPENAI_BASE_URL", &base),
        ],
    )
    .await;
    let c = HttpClient::new();
    let r = c
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("openai/gpt-4o-mini", "Hello"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("openai"));
    assert_eq!(r.json()["model"], "gpt-4o-mini");
    let stats = c.get(&mock.url("/mock/stats")).await.unwrap().json();
    assert!(
        stats.to_string().contains("sk-test-zero") || stats.to_string().contains("sk-test-"),
        "the mock saw the key from OPENAI_API_KEY: {stats}"
    );
}

#[tokio::test]
async fn chat_stream_is_sse_ending_in_done() {
    let gw = start_gateway("", &[]).await;
    let mut body = chat("mock/gpt-4o-mini", "stream please");
    body["stream"] = json!(true);
    let r = HttpClient::new()
        .post_json(&gw.url("/v1/chat/completions"), &body, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let data = r.sse_data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
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
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.is_empty());
    // The client did not ask for usage, so the gateway's own usage chunk is not forwarded.
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none() || c["usage"].is_null())
    );
}

#[tokio::test]
async fn stream_usage_is_forwarded_when_asked() {
    let gw = start_gateway("", &[]).await;
    let mut body = chat("mock/gpt-4o-mini", "count me");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = HttpClient::new()
        .post_json(&gw.url("/v1/chat/completions"), &body, &[])
        .await;
    let data = r.sse_data();
    let usage_chunk: serde_json::Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert!(
        usage_chunk["usage"]["total_tokens"].as_u64().unwrap() > 0,
        "{data:?}"
    );
}

fn anthropic_env(mock: &crate::harness::Proc) -> [(&'static str, String); 2] {
    [
        ("ANTHROPIC_API_KEY", "sk-ant-test".to_string()),
        ("ANTHROPIC_BASE_URL", mock.url("")),
    ]
}

#[tokio::test]
async fn openai_client_reaches_anthropic_upstream() {
    let mock = start_mock(&[]).await;
    let env = anthropic_env(&mock);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gw = start_gateway("[mock]\nenabled = false\n", &env).await;
    let c = HttpClient::new();
    let mut body = chat("anthropic/claude-3-5-haiku-latest", "Hello Claude");
    body["messages"] = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello Claude"}
    ]);
    let r = c
        .post_json(&gw.url("/v1/chat/completions"), &body, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    body["stream"] = json!(true);
    let r = c
        .post_json(&gw.url("/v1/chat/completions"), &body, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.sse_data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
}

#[tokio::test]
async fn anthropic_client_reaches_openai_upstream() {
    let gw = start_gateway("", &[]).await;
    let c = HttpClient::new();
    let body = json!({
        "model": "mock/gpt-4o-mini",
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello"}]
    });
    let r = c
        .post_json(
            &gw.url("/anthropic/v1/messages"),
            &body,
            &[("x-api-key", "anything")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let mut body = body;
    body["stream"] = json!(true);
    let r = c
        .post_json(&gw.url("/anthropic/v1/messages"), &body, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.sse_events();
    assert_eq!(
        events.first().map(String::as_str),
        Some("message_start"),
        "{events:?}"
    );
    assert!(events.contains(&"content_block_delta".to_string()));
    assert_eq!(
        events.last().map(String::as_str),
        Some("message_stop"),
        "{events:?}"
    );
}

#[tokio::test]
async fn tool_calls_round_trip_through_anthropic_upstream() {
    let mock = start_mock(&[]).await;
    let env = anthropic_env(&mock);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gw = start_gateway("", &env).await;
    let body = json!({
        "model": "anthropic/claude-3-5-haiku-latest",
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
        }}]
    });
    let r = HttpClient::new()
        .post_json(&gw.url("/v1/chat/completions"), &body, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: serde_json::Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args.is_object());
}

#[tokio::test]
async fn completions_embeddings_and_models_are_served() {
    let gw = start_gateway("", &[]).await;
    let c = HttpClient::new();
    let r = c
        .post_json(
            &gw.url("/v1/completions"),
            &json!({"model": "mock/gpt-4o-mini", "prompt": "Say hi", "max_tokens": 5}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["object"], "text_completion");

    let r = c
        .post_json(
            &gw.url("/v1/embeddings"),
            &json!({"model": "mock/text-embedding-3-small", "input": ["a", "b"]}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);

    let r = c.get(&gw.url("/v1/models")).await.unwrap();
    assert_eq!(r.status, 200);
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&"mock/gpt-4o-mini".to_string()), "{ids:?}");

    let r = c.get(&gw.url("/ready")).await.unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn configured_custom_provider_with_weighted_keys_is_used() {
    let mock = start_mock(&[]).await;
    let config = format!(
        r#"
[mock]
enabled = false

[providers.local]
base_provider_type = "openai"
keys = [
  {{ name = "alpha", value = "sk-alpha", weight = 1.0 }},
  {{ name = "beta", value = "sk-beta", weight = 1.0 }},
]
[providers.local.network_config]
base_url = "{}"
extra_headers = {{ "x-team" = "search" }}
"#,
        mock.url("/v1")
    );
    let gw = start_gateway(&config, &[]).await;
    let c = HttpClient::new();
    let mut names = std::collections::HashSet::new();
    for _ in 0..40 {
        let r = c
            .post_json(
                &gw.url("/v1/chat/completions"),
                &chat("local/gpt-4o-mini", "hi"),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        names.insert(r.header("x-sluice-key").unwrap().to_string());
    }
    assert_eq!(names.len(), 2, "both keys served: {names:?}");
}

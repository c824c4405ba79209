use super::*;
use crate::MockConfig;
use crate::config::Knobs;
use crate::stream::Pacing;
use http_body_util::BodyExt;

fn knobs(output_tokens: u32) -> Knobs {
    MockConfig {
        output_tokens,
        ..MockConfig::default()
    }
    .knobs("sk-test-key")
}

fn exchange(body: &str, output_tokens: u32) -> Exchange {
    let knobs = knobs(output_tokens);
    let ctx = ParseCtx {
        key_label: "sk-test-",
        knobs: &knobs,
    };
    parse(body.as_bytes(), &ctx).unwrap()
}

const RENDER: Render = Render {
    seq: 7,
    created: 1_700_000_000,
    pacing: Pacing {
        ttft: std::time::Duration::ZERO,
        per_token: std::time::Duration::ZERO,
        drop_after: None,
    },
};

async fn bytes(body: MockBody) -> String {
    let collected = body.collect().await.unwrap().to_bytes();
    String::from_utf8(collected.to_vec()).unwrap()
}

#[tokio::test]
async fn a_chat_completion_has_the_exact_openai_shape() {
    let ex = exchange(
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, Sluice!"}]}"#,
        8,
    );
    assert_eq!(
        bytes(render(&ex, &RENDER)).await,
        r#"{"id":"chatcmpl-mock0000000007","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","system_fingerprint":"fp_sluice_mock","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from Sluice mock (model gpt-4o-mini, key sk-test-).","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":8,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default"}"#
    );
}

#[tokio::test]
async fn a_chat_stream_sends_role_content_finish_usage_and_done() {
    let ex = exchange(
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}"#,
        2,
    );
    let head = r#"{"id":"chatcmpl-mock0000000007","object":"chat.completion.chunk","created":1700000000,"model":"m","system_fingerprint":"fp_sluice_mock","choices":["#;
    let expected = [
        format!(
            r#"data: {head}{{"index":0,"delta":{{"role":"assistant","content":"","refusal":null}},"logprobs":null,"finish_reason":null}}]}}"#
        ),
        format!(
            r#"data: {head}{{"index":0,"delta":{{"content":"Hello"}},"logprobs":null,"finish_reason":null}}]}}"#
        ),
        format!(
            r#"data: {head}{{"index":0,"delta":{{"content":" from"}},"logprobs":null,"finish_reason":null}}]}}"#
        ),
        format!(
            r#"data: {head}{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]}}"#
        ),
        format!(
            r#"data: {head}],"usage":{{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}}}"#
        ),
        "data: [DONE]".to_owned(),
    ];
    let expected: String = expected.iter().map(|e| format!("{e}\n\n")).collect();
    assert_eq!(bytes(render(&ex, &RENDER)).await, expected);
}

#[tokio::test]
async fn weather_with_tools_answers_with_a_tool_call() {
    let ex = exchange(
        r#"{"model":"m","messages":[{"role":"user","content":"What's the weather in SF?"}],
            "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}]}"#,
        8,
    );
    let json: serde_json::Value = serde_json::from_str(&bytes(render(&ex, &RENDER)).await).unwrap();
    let choice = &json["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], serde_json::Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_mock0000000007");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        call["function"]["arguments"],
        r#"{"location":"San Francisco, CA"}"#
    );
}

#[tokio::test]
async fn a_streamed_tool_call_sends_its_arguments_in_pieces() {
    let ex = exchange(
        r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}],
            "tool_choice":{"type":"function","function":{"name":"lookup"}},
            "tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"query":{"type":"string"}}}}}]}"#,
        8,
    );
    let text = bytes(render(&ex, &RENDER)).await;
    let events: Vec<serde_json::Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let first = &events[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    assert_eq!(first["tool_calls"][0]["function"]["name"], "lookup");
    let arguments: String = events[1..]
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"query":"mock"}"#);
    assert_eq!(
        events.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[test]
fn a_tool_message_last_is_answered_with_text_quoting_it() {
    let ex = exchange(
        r#"{"model":"m","messages":[{"role":"user","content":"weather?"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"18 C and sunny"}],
            "tools":[{"type":"function","function":{"name":"get_weather"}}]}"#,
        8,
    );
    assert_eq!(
        ex.reply.output,
        Output::Text("The tool returned: 18 C and sunny".into())
    );
    assert_eq!(ex.reply.finish, crate::reply::Finish::Stop);
}

#[test]
fn max_tokens_cuts_the_answer_with_finish_reason_length() {
    let ex = exchange(
        r#"{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}"#,
        8,
    );
    assert_eq!(ex.reply.completion_tokens, 2);
    assert_eq!(finish_reason(ex.reply.finish), "length");
}

#[test]
fn missing_fields_and_bad_json_are_refused() {
    let knobs = knobs(8);
    let ctx = ParseCtx {
        key_label: "k",
        knobs: &knobs,
    };
    let err = |body: &str| parse(body.as_bytes(), &ctx).unwrap_err();
    assert!(matches!(err("{"), ApiError::BadJson(_)));
    assert!(matches!(err(r#"{"messages":[]}"#), ApiError::MissingModel));
    assert!(matches!(
        err(r#"{"model":"m"}"#),
        ApiError::MissingParam("messages")
    ));
    assert!(matches!(
        err(r#"{"model":"m","messages":[]}"#),
        ApiError::InvalidRequest { .. }
    ));
    assert!(matches!(
        err(r#"{"model":"m","messages":"hi"}"#),
        ApiError::InvalidRequest { .. }
    ));
}

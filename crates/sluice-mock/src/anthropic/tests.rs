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
    .knobs("sk-ant")
}

fn exchange(body: &str, output_tokens: u32) -> Exchange {
    let knobs = knobs(output_tokens);
    let ctx = ParseCtx {
        key_label: "sk-ant",
        knobs: &knobs,
    };
    parse(body.as_bytes(), &ctx).unwrap()
}

const RENDER: Render = Render {
    seq: 3,
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
async fn a_message_has_the_exact_anthropic_shape() {
    let ex = exchange(
        r#"{"model":"claude-3-5-haiku-latest","max_tokens":100,"system":"Be brief.","messages":[{"role":"user","content":"Hello"}]}"#,
        8,
    );
    assert_eq!(
        bytes(render(&ex, &RENDER)).await,
        r#"{"id":"msg_mock0000000000000003","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[{"type":"text","text":"Hello from Sluice mock (model claude-3-5-haiku-latest, key sk-ant)."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":4,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":8,"service_tier":"standard"}}"#
    );
}

#[tokio::test]
async fn a_message_stream_is_the_exact_anthropic_event_sequence() {
    let ex = exchange(
        r#"{"model":"c","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#,
        2,
    );
    let expected = [
        (
            "message_start",
            r#"{"type":"message_start","message":{"id":"msg_mock0000000000000003","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}"#,
        ),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        ("ping", r#"{"type":"ping"}"#),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" from"}}"#,
        ),
        (
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ];
    let expected: String = expected
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect();
    assert_eq!(bytes(render(&ex, &RENDER)).await, expected);
}

#[tokio::test]
async fn weather_with_tools_streams_a_tool_use_block_with_input_json_deltas() {
    let ex = exchange(
        r#"{"model":"c","max_tokens":100,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"weather in Paris?"}]}],
            "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]}"#,
        8,
    );
    let text = bytes(render(&ex, &RENDER)).await;
    let events: Vec<(String, serde_json::Value)> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_owned();
            (
                name,
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect();
    let block = &events[1].1["content_block"];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["id"], "toolu_mock00000000000003");
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], serde_json::json!({}));
    let json: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, d)| {
            assert_eq!(d["delta"]["type"], "input_json_delta");
            d["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(json, r#"{"city":"San Francisco, CA"}"#);
    let (name, delta) = &events[events.len() - 2];
    assert_eq!(name, "message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn a_non_streamed_tool_use_carries_its_input_as_an_object() {
    let ex = exchange(
        r#"{"model":"c","max_tokens":100,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"hi"}],
            "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}]}"#,
        8,
    );
    let json: serde_json::Value = serde_json::from_str(&bytes(render(&ex, &RENDER)).await).unwrap();
    assert_eq!(json["stop_reason"], "tool_use");
    assert_eq!(
        json["content"][0]["input"],
        serde_json::json!({"location": "San Francisco, CA"})
    );
}

#[test]
fn a_tool_result_block_last_is_answered_with_text_quoting_it() {
    let ex = exchange(
        r#"{"model":"c","max_tokens":100,"messages":[
            {"role":"user","content":"weather?"},
            {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"rainy"}]}],
            "tools":[{"name":"get_weather","input_schema":{"type":"object"}}]}"#,
        8,
    );
    assert_eq!(
        ex.reply.output,
        Output::Text("The tool returned: rainy".into())
    );
}

#[test]
fn max_tokens_is_required_and_caps_the_answer() {
    let knobs = knobs(8);
    let ctx = ParseCtx {
        key_label: "k",
        knobs: &knobs,
    };
    let err = parse(
        br#"{"model":"c","messages":[{"role":"user","content":"hi"}]}"#,
        &ctx,
    );
    assert!(matches!(err, Err(ApiError::MissingParam("max_tokens"))));
    let ex = exchange(
        r#"{"model":"c","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}"#,
        8,
    );
    assert_eq!(stop_reason(ex.reply.finish), "max_tokens");
    assert_eq!(ex.reply.completion_tokens, 3);
}

#[test]
fn errors_use_the_anthropic_error_shape() {
    let body = error_body(&ApiError::MissingKey);
    assert_eq!(
        &body[..],
        br#"{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"}}"#
    );
    let overloaded = error_body(&ApiError::Fault(crate::faults::Fault {
        status: 529,
        retry_after_s: None,
    }));
    assert_eq!(
        &overloaded[..],
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
    );
}

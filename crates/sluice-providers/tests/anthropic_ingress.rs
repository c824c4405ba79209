//! Anthropic ingress: Messages request → canonical, canonical response and chunks → Anthropic.

mod common;

use common::{assert_bytes, assert_json, decode, fixture, fixture_json, json_of, target};
use http::HeaderMap;
use serde_json::{Value, json};
use sluice_core::ProviderKind;
use sluice_core::wire::{ChatCompletion, ChatCompletionChunk};
use sluice_providers::ingress::anthropic::{EventEncoder, parse_request, render_response};
use sluice_providers::sse::SseParser;
use sluice_providers::{EncodeError, StreamItem, chat_stream_decoder, encode_chat};

fn parse_error_param(body: Value) -> Option<String> {
    match parse_request(body.to_string().as_bytes()) {
        Err(EncodeError::Invalid { param, .. }) => param,
        other => panic!("expected an invalid-request error, got {other:?}"),
    }
}

#[test]
fn messages_request_becomes_the_canonical_request() {
    let req = parse_request(&fixture("ingress_anthropic/request.json")).expect("parses");
    assert_json(
        "ingress_anthropic/request.canonical.json",
        &serde_json::to_value(&req).expect("json"),
    );
}

#[test]
fn messages_request_round_trips_to_an_anthropic_upstream() {
    let req = parse_request(&fixture("ingress_anthropic/request.json")).expect("parses");
    let extra = HeaderMap::new();
    let t = target(
        ProviderKind::Anthropic,
        "https://api.anthropic.com",
        Some("k"),
        &extra,
        &req.model,
    );
    let http = encode_chat(&t, &req).expect("encodes");
    // Only what the canonical form cannot hold is lost: thinking history, cache_control.
    assert_json(
        "ingress_anthropic/request.roundtrip.json",
        &json_of(http.body()),
    );
}

#[test]
fn string_system_and_string_content_are_accepted() {
    let req = parse_request(
        br#"{"model":"m","max_tokens":5,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}"#,
    )
    .expect("parses");
    assert_eq!(
        serde_json::to_value(&req).expect("json"),
        json!({"model": "m", "max_tokens": 5, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"}
        ]})
    );
}

#[test]
fn tool_choice_types_map_to_openai() {
    let cases = [
        (json!({"type": "auto"}), json!("auto")),
        (json!({"type": "any"}), json!("required")),
        (json!({"type": "none"}), json!("none")),
        (
            json!({"type": "tool", "name": "f"}),
            json!({"type": "function", "function": {"name": "f"}}),
        ),
    ];
    for (anthropic, openai) in cases {
        let body = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tool_choice": anthropic});
        let req = parse_request(body.to_string().as_bytes()).expect("parses");
        assert_eq!(req.tool_choice, Some(openai));
        assert_eq!(req.parallel_tool_calls, None);
    }
}

#[test]
fn several_tool_results_become_tool_messages_before_the_user_text() {
    let req = parse_request(
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "1"},
            {"type": "tool_result", "tool_use_id": "b"},
            {"type": "text", "text": "go on"}
        ]}]})
        .to_string()
        .as_bytes(),
    )
    .expect("parses");
    assert_eq!(
        serde_json::to_value(&req.messages).expect("json"),
        json!([
            {"role": "tool", "content": "1", "tool_call_id": "a"},
            {"role": "tool", "content": "", "tool_call_id": "b"},
            {"role": "user", "content": "go on"}
        ])
    );
}

#[test]
fn missing_max_tokens_is_rejected_naming_it() {
    let param =
        parse_error_param(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(param.as_deref(), Some("max_tokens"));
}

#[test]
fn invalid_fields_are_named_in_the_error() {
    let user = |content: Value| json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}]});
    let cases = [
        (json!({"max_tokens": 5, "messages": []}), "model"),
        (
            json!({"model": "m", "max_tokens": 0, "messages": []}),
            "max_tokens",
        ),
        (json!({"model": "m", "max_tokens": 5}), "messages"),
        (
            json!({"model": "m", "max_tokens": 5, "messages": []}),
            "messages",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]}),
            "messages[1].role",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user"}]}),
            "messages[0].content",
        ),
        (
            user(json!([{"type": "text", "text": "a"}, {"type": "video"}])),
            "messages[0].content[1].type",
        ),
        (
            user(json!([{"type": "text"}])),
            "messages[0].content[0].text",
        ),
        (
            user(json!([{"type": "image", "source": {"type": "file", "file_id": "f"}}])),
            "messages[0].content[0].source.type",
        ),
        (
            user(json!([{"type": "image", "source": {"type": "base64", "data": "x"}}])),
            "messages[0].content[0].source.media_type",
        ),
        (
            user(json!([{"type": "tool_use", "id": "t", "name": "f", "input": {}}])),
            "messages[0].content[0].type",
        ),
        (
            user(json!([{"type": "tool_result", "content": "r"}])),
            "messages[0].content[0].tool_use_id",
        ),
        (
            user(
                json!([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "audio"}]}]),
            ),
            "messages[0].content[0].content[0].type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "system": [{"type": "image"}], "messages": [{"role": "user", "content": "x"}]}),
            "system[0].type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [{"name": "f"}]}),
            "tools[0].input_schema",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "sometimes"}}),
            "tool_choice.type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "tool"}}),
            "tool_choice.name",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            "stream",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "stop_sequences": [1]}),
            "stop_sequences[0]",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "metadata": {"user_id": 7}}),
            "metadata.user_id",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            parse_error_param(body.clone()).as_deref(),
            Some(expected),
            "{body}"
        );
    }
}

#[test]
fn body_that_is_not_a_json_object_is_rejected() {
    for body in [&b"not json"[..], b"[1,2]"] {
        assert!(matches!(
            parse_request(body),
            Err(EncodeError::Invalid { param: None, .. })
        ));
    }
}

#[test]
fn chat_completion_renders_as_an_anthropic_message() {
    let completion: ChatCompletion =
        serde_json::from_slice(&fixture("ingress_anthropic/chat_completion.json"))
            .expect("completion");
    assert_bytes(
        "ingress_anthropic/message.json",
        &render_response(&completion),
    );
}

#[test]
fn anthropic_upstream_message_round_trips_through_the_ingress() {
    let decoded = sluice_providers::decode_chat(
        ProviderKind::Anthropic,
        &fixture("anthropic/message_tool_use.json"),
    )
    .expect("decodes");
    let completion: ChatCompletion = serde_json::from_slice(&decoded.body).expect("completion");
    let rendered = json_of(&render_response(&completion));
    let original = fixture_json("anthropic/message_tool_use.json");
    assert_eq!(rendered["id"], original["id"]);
    assert_eq!(rendered["stop_reason"], "tool_use");
    assert_eq!(
        rendered["usage"],
        json!({"input_tokens": 50, "cache_creation_input_tokens": 248, "cache_read_input_tokens": 1800, "output_tokens": 71})
    );
    assert_eq!(
        rendered["content"],
        json!([
            {"type": "text", "text": "I'll check the weather in Paris."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "Paris, France", "unit": "celsius"}}
        ])
    );
}

#[test]
fn finish_reasons_map_back_to_stop_reasons() {
    let cases = [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
    ];
    for (finish, stop) in cases {
        let completion: ChatCompletion = serde_json::from_value(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": finish}]
        }))
        .expect("completion");
        assert_eq!(json_of(&render_response(&completion))["stop_reason"], stop);
    }
}

/// Runs an upstream stream through its decoder and the Anthropic event encoder, as the data
/// plane does for an Anthropic client.
fn anthropic_client_bytes(kind: ProviderKind, upstream: &[u8]) -> Vec<u8> {
    let items = decode(|| chat_stream_decoder(kind, "fallback-model"), upstream);
    let mut encoder = EventEncoder::new("fallback-model");
    let mut out = Vec::new();
    for item in &items {
        match item {
            StreamItem::Chunk(chunk) => encoder.push(chunk, &mut out),
            StreamItem::Done => encoder.finish(&mut out),
            StreamItem::Error(e) => encoder.error("api_error", &e.message, &mut out),
        }
    }
    out
}

/// Every event's name equals its `type`, and the sequence follows Anthropic's grammar:
/// `message_start (content_block_start content_block_delta* content_block_stop)* message_delta
/// message_stop`, or an `error` ending it early. Returns the event names.
fn assert_anthropic_grammar(bytes: &[u8]) -> Vec<String> {
    let mut events = Vec::new();
    SseParser::new().push(bytes, &mut events);
    let mut names = Vec::new();
    let mut open: Option<u64> = None;
    for (n, event) in events.iter().enumerate() {
        let name = event.event.clone().expect("every event is named");
        let data: Value = serde_json::from_str(&event.data).expect("data is JSON");
        assert_eq!(data["type"], name.as_str(), "event name matches type");
        match name.as_str() {
            "message_start" => assert_eq!(n, 0, "message_start comes first"),
            "content_block_start" => {
                assert_eq!(open, None, "blocks do not nest");
                open = data["index"].as_u64();
            }
            "content_block_delta" => {
                assert_eq!(data["index"].as_u64(), open, "delta of the open block")
            }
            "content_block_stop" => {
                assert_eq!(data["index"].as_u64(), open);
                open = None;
            }
            "message_delta" => assert_eq!(open, None, "blocks are closed before message_delta"),
            "message_stop" => assert_eq!(n, events.len() - 1, "message_stop comes last"),
            "error" => assert_eq!(n, events.len() - 1, "error ends the stream"),
            other => panic!("unexpected event {other}"),
        }
        names.push(name);
    }
    names
}

#[test]
fn openai_text_stream_becomes_anthropic_events() {
    let out = anthropic_client_bytes(ProviderKind::Openai, &fixture("openai/stream_text.sse"));
    assert_anthropic_grammar(&out);
    assert_bytes("ingress_anthropic/stream_text.out.sse", &out);
}

#[test]
fn openai_tool_call_stream_becomes_tool_use_blocks() {
    let out = anthropic_client_bytes(
        ProviderKind::Openai,
        &fixture("openai/stream_tool_calls.sse"),
    );
    let names = assert_anthropic_grammar(&out);
    assert_eq!(
        names.iter().filter(|n| *n == "content_block_start").count(),
        2
    );
    assert_bytes("ingress_anthropic/stream_tool_calls.out.sse", &out);
}

#[test]
fn anthropic_upstream_stream_round_trips_through_the_ingress() {
    let out = anthropic_client_bytes(
        ProviderKind::Anthropic,
        &fixture("anthropic/stream_tool_use.sse"),
    );
    let names = assert_anthropic_grammar(&out);
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_bytes("ingress_anthropic/stream_tool_use.roundtrip.sse", &out);
}

#[test]
fn upstream_failure_mid_stream_ends_with_an_error_event_and_no_message_stop() {
    let out = anthropic_client_bytes(
        ProviderKind::Anthropic,
        &fixture("anthropic/stream_overloaded.sse"),
    );
    let names = assert_anthropic_grammar(&out);
    assert_eq!(names.last().map(String::as_str), Some("error"));
    assert!(!names.iter().any(|n| n == "message_stop"));
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.ends_with(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Overloaded\"}}\n\n"
    ));
}

#[test]
fn empty_stream_still_has_start_delta_and_stop() {
    let mut encoder = EventEncoder::new("claude-x");
    let mut out = Vec::new();
    encoder.finish(&mut out);
    let names = assert_anthropic_grammar(&out);
    assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
    let mut again = Vec::new();
    encoder.finish(&mut again);
    encoder.error("api_error", "late", &mut again);
    assert!(again.is_empty(), "nothing after the end");
}

#[test]
fn refusal_and_length_finish_map_to_anthropic_stop_reasons() {
    let chunk: ChatCompletionChunk = serde_json::from_value(json!({
        "id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"refusal": "I can't help with that."}, "finish_reason": "content_filter"}]
    }))
    .expect("chunk");
    let mut encoder = EventEncoder::new("gpt-4o");
    let mut out = Vec::new();
    encoder.push(&chunk, &mut out);
    encoder.finish(&mut out);
    assert_anthropic_grammar(&out);
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains(r#""delta":{"type":"text_delta","text":"I can't help with that."}"#));
    assert!(text.contains(r#""stop_reason":"refusal""#));
}

fn tool_chunk(
    index: u32,
    id: Option<&str>,
    name: Option<&str>,
    arguments: &str,
) -> ChatCompletionChunk {
    serde_json::from_value(json!({
        "id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"tool_calls": [{
            "index": index, "id": id, "type": "function",
            "function": {"name": name, "arguments": arguments}
        }]}, "finish_reason": null}]
    }))
    .expect("chunk")
}

fn tool_use_ids(out: &[u8]) -> Vec<String> {
    let mut events = Vec::new();
    SseParser::new().push(out, &mut events);
    events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_start"))
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).expect("json");
            data["content_block"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn tool_call_id_repeated_on_every_fragment_stays_one_block() {
    let mut encoder = EventEncoder::new("m");
    let mut out = Vec::new();
    encoder.push(
        &tool_chunk(0, Some("call_1"), Some("f"), "{\"a\":"),
        &mut out,
    );
    encoder.push(&tool_chunk(0, Some("call_1"), None, "1}"), &mut out);
    encoder.finish(&mut out);
    assert_anthropic_grammar(&out);
    assert_eq!(tool_use_ids(&out), ["call_1"]);
}

#[test]
fn tool_calls_all_numbered_zero_but_with_new_ids_are_separate_blocks() {
    let mut encoder = EventEncoder::new("m");
    let mut out = Vec::new();
    encoder.push(&tool_chunk(0, Some("call_1"), Some("f"), "{}"), &mut out);
    encoder.push(&tool_chunk(0, Some("call_2"), Some("g"), "{}"), &mut out);
    encoder.finish(&mut out);
    assert_anthropic_grammar(&out);
    assert_eq!(tool_use_ids(&out), ["call_1", "call_2"]);
}

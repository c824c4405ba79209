//! Anthropic upstream: canonical request → Messages request, message → `chat.completion`.

mod common;

use common::{assert_json, fixture, fixture_json, json_of, target};
use http::HeaderMap;
use serde_json::{Value, json};
use sluice_core::ProviderKind;
use sluice_core::wire::{ChatCompletionRequest, CompletionRequest, EmbeddingRequest};
use sluice_providers::anthropic::decode_chat_with_created;
use sluice_providers::{
    DecodeError, EncodeError, decode_chat, decode_completion, decode_embeddings, encode_chat,
    encode_completion, encode_embeddings,
};

const ANTHROPIC: ProviderKind = ProviderKind::Anthropic;

fn encode(base_url: &str, request: Value) -> Result<http::Request<bytes::Bytes>, EncodeError> {
    let extra = HeaderMap::new();
    let t = target(
        ANTHROPIC,
        base_url,
        Some("sk-ant-test"),
        &extra,
        "claude-sonnet-4-5",
    );
    let req: ChatCompletionRequest = serde_json::from_value(request).expect("canonical request");
    encode_chat(&t, &req)
}

fn encode_body(request: Value) -> Value {
    json_of(
        encode("https://api.anthropic.com", request)
            .expect("encodes")
            .body(),
    )
}

fn invalid_param(request: Value) -> Option<String> {
    match encode("https://api.anthropic.com", request) {
        Err(EncodeError::Invalid { param, .. }) => param,
        other => panic!("expected an invalid-request error, got {other:?}"),
    }
}

#[test]
fn chat_is_posted_to_v1_messages_with_api_key_and_version() {
    let http = encode(
        "https://api.anthropic.com",
        json!({"model": "x", "messages": []}),
    )
    .expect("encodes");
    assert_eq!(http.uri(), "https://api.anthropic.com/v1/messages");
    assert_eq!(http.headers()["x-api-key"], "sk-ant-test");
    assert!(http.headers()["x-api-key"].is_sensitive());
    assert_eq!(http.headers()["anthropic-version"], "2023-06-01");
    assert_eq!(http.headers()["content-type"], "application/json");
    assert!(!http.headers().contains_key("authorization"));
}

#[test]
fn base_url_ending_in_v1_is_not_doubled() {
    for base in [
        "https://proxy.example/anthropic/v1",
        "https://proxy.example/anthropic/v1/",
    ] {
        let http = encode(base, json!({"model": "x", "messages": []})).expect("encodes");
        assert_eq!(http.uri(), "https://proxy.example/anthropic/v1/messages");
    }
    let http = encode(
        "https://api.anthropic.com/",
        json!({"model": "x", "messages": []}),
    )
    .expect("encodes");
    assert_eq!(http.uri(), "https://api.anthropic.com/v1/messages");
}

#[test]
fn extra_headers_can_add_beta_flags_and_override_the_version() {
    let mut extra = HeaderMap::new();
    extra.insert(
        "anthropic-beta",
        "prompt-caching-2024-07-31".parse().expect("header"),
    );
    extra.insert("anthropic-version", "2024-01-01".parse().expect("header"));
    let t = target(
        ANTHROPIC,
        "https://api.anthropic.com",
        Some("k"),
        &extra,
        "m",
    );
    let req: ChatCompletionRequest =
        serde_json::from_value(json!({"model": "x", "messages": []})).expect("request");
    let http = encode_chat(&t, &req).expect("encodes");
    assert_eq!(
        http.headers()["anthropic-beta"],
        "prompt-caching-2024-07-31"
    );
    assert_eq!(http.headers()["anthropic-version"], "2024-01-01");
}

#[test]
fn full_conversation_with_system_images_tools_and_results_is_translated() {
    let body = encode_body(fixture_json("anthropic/chat_request.json"));
    assert_json("anthropic/chat_request.upstream.json", &body);
}

#[test]
fn max_tokens_defaults_to_4096_and_prefers_max_completion_tokens() {
    let body = encode_body(json!({"model": "x", "messages": [{"role": "user", "content": "Hi"}]}));
    assert_eq!(
        body,
        json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4096})
    );
    let body = encode_body(
        json!({"model": "x", "messages": [], "max_tokens": 10, "max_completion_tokens": 20}),
    );
    assert_eq!(body["max_tokens"], 20);
    let body = encode_body(json!({"model": "x", "messages": [], "max_tokens": 10}));
    assert_eq!(body["max_tokens"], 10);
}

#[test]
fn consecutive_assistant_messages_are_merged() {
    let body = encode_body(json!({"model": "x", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "assistant", "content": "again"}
    ]}));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "again"}]}
        ])
    );
}

#[test]
fn empty_messages_are_dropped_rather_than_sent_empty() {
    let body = encode_body(json!({"model": "x", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Still there?"}
    ]}));
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "Still there?"}]}])
    );
}

#[test]
fn tool_choice_maps_to_anthropic_shapes() {
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let cases = [
        (json!("auto"), json!({"type": "auto"})),
        (json!("required"), json!({"type": "any"})),
        (json!("none"), json!({"type": "none"})),
        (
            json!({"type": "function", "function": {"name": "f"}}),
            json!({"type": "tool", "name": "f"}),
        ),
    ];
    for (openai, anthropic) in cases {
        let body = encode_body(
            json!({"model": "x", "messages": [], "tools": tools, "tool_choice": openai}),
        );
        assert_eq!(body["tool_choice"], anthropic);
    }
}

#[test]
fn parallel_tool_calls_false_without_tool_choice_disables_parallel_use() {
    let body = encode_body(json!({
        "model": "x", "messages": [], "parallel_tool_calls": false,
        "tools": [{"type": "function", "function": {"name": "f"}}]
    }));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
}

#[test]
fn single_stop_string_becomes_stop_sequences() {
    let body = encode_body(json!({"model": "x", "messages": [], "stop": "END"}));
    assert_eq!(body["stop_sequences"], json!(["END"]));
}

#[test]
fn openai_only_fields_are_not_forwarded() {
    let body = encode_body(json!({
        "model": "x", "messages": [], "seed": 1, "logit_bias": {"1": 2}, "presence_penalty": 0.5,
        "stream_options": {"include_usage": true}, "thinking": {"type": "enabled", "budget_tokens": 2048}
    }));
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5", "messages": [], "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 2048}
        })
    );
}

#[test]
fn pdf_file_part_becomes_a_document_block() {
    let body = encode_body(
        json!({"model": "x", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}}
        ]}]}),
    );
    assert_eq!(
        body["messages"][0]["content"],
        json!([{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}])
    );
}

#[test]
fn tool_result_with_image_parts_keeps_blocks() {
    let body = encode_body(json!({"model": "x", "messages": [
        {"role": "tool", "tool_call_id": "t1", "content": [
            {"type": "text", "text": "chart:"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}
        ]}
    ]}));
    assert_eq!(
        body["messages"][0],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "chart:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}}
        ]}]})
    );
}

#[test]
fn invalid_tool_arguments_name_the_field() {
    let param = invalid_param(json!({"model": "x", "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}
    ]}));
    assert_eq!(
        param.as_deref(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
}

#[test]
fn unsupported_inputs_name_the_field() {
    let cases = [
        (
            json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]}]}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"model": "x", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]}),
            "messages[0].content[0]",
        ),
        (
            json!({"model": "x", "messages": [{"role": "tool", "content": "r"}]}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"model": "x", "messages": [{"role": "function", "name": "f", "content": "r"}]}),
            "messages[0].role",
        ),
        (json!({"model": "x", "messages": [], "n": 2}), "n"),
        (
            json!({"model": "x", "messages": [], "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (
            json!({"model": "x", "messages": [], "tools": [{"type": "code_interpreter", "function": {"name": "c"}}]}),
            "tools[0].type",
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(
            invalid_param(request.clone()).as_deref(),
            Some(expected),
            "{request}"
        );
    }
}

#[test]
fn completion_prompt_becomes_one_user_message() {
    let extra = HeaderMap::new();
    let t = target(
        ANTHROPIC,
        "https://api.anthropic.com",
        Some("k"),
        &extra,
        "claude-3-5-haiku-latest",
    );
    let req: CompletionRequest = serde_json::from_value(json!({
        "model": "anthropic/claude-3-5-haiku-latest", "prompt": ["Once upon a time"], "max_tokens": 30,
        "temperature": 0.1, "stop": "\n"
    }))
    .expect("request");
    let http = encode_completion(&t, &req).expect("encodes");
    assert_eq!(http.uri(), "https://api.anthropic.com/v1/messages");
    assert_eq!(
        json_of(http.body()),
        json!({
            "model": "claude-3-5-haiku-latest", "max_tokens": 30, "temperature": 0.1,
            "stop_sequences": ["\n"],
            "messages": [{"role": "user", "content": "Once upon a time"}]
        })
    );
}

#[test]
fn completion_with_several_prompts_is_rejected() {
    let extra = HeaderMap::new();
    let t = target(
        ANTHROPIC,
        "https://api.anthropic.com",
        Some("k"),
        &extra,
        "m",
    );
    let req: CompletionRequest =
        serde_json::from_value(json!({"model": "m", "prompt": ["a", "b"]})).expect("request");
    assert!(matches!(
        encode_completion(&t, &req),
        Err(EncodeError::Invalid { param: Some(p), .. }) if p == "prompt"
    ));
}

#[test]
fn embeddings_are_unsupported() {
    let extra = HeaderMap::new();
    let t = target(
        ANTHROPIC,
        "https://api.anthropic.com",
        Some("k"),
        &extra,
        "m",
    );
    let req: EmbeddingRequest =
        serde_json::from_value(json!({"model": "m", "input": "a"})).expect("request");
    assert_eq!(
        encode_embeddings(&t, &req).err(),
        Some(EncodeError::Unsupported {
            provider: "anthropic",
            operation: "embeddings"
        })
    );
    assert!(decode_embeddings(ANTHROPIC, b"{}").is_err());
}

#[test]
fn text_message_decodes_to_chat_completion() {
    let decoded = decode_chat(ANTHROPIC, &fixture("anthropic/message_text.json")).expect("decodes");
    assert_json(
        "anthropic/message_text.chat_completion.json",
        &json_of(&decoded.body),
    );
    let usage = decoded.usage.expect("usage");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (2095, 503));
}

#[test]
fn tool_use_message_with_cache_usage_decodes_and_skips_thinking() {
    let decoded =
        decode_chat_with_created(&fixture("anthropic/message_tool_use.json"), 1_741_570_283)
            .expect("decodes");
    assert_json(
        "anthropic/message_tool_use.chat_completion.json",
        &json_of(&decoded.body),
    );
    let usage = decoded.usage.expect("usage");
    // 50 uncached + 1800 read from cache + 248 written to cache.
    assert_eq!(usage.prompt_tokens, 2098);
    assert_eq!(usage.cached_tokens(), 1800);
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    let cases = [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ];
    for (stop_reason, finish_reason) in cases {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason,
            "usage": {"input_tokens": 1, "output_tokens": 1}
        });
        let decoded = decode_chat(ANTHROPIC, body.to_string().as_bytes()).expect("decodes");
        assert_eq!(
            json_of(&decoded.body)["choices"][0]["finish_reason"],
            finish_reason
        );
    }
}

#[test]
fn tool_only_reply_has_null_content() {
    let body = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}
    });
    let decoded = decode_chat(ANTHROPIC, body.to_string().as_bytes()).expect("decodes");
    let message = &json_of(&decoded.body)["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["tool_calls"][0]["function"]["arguments"], "{}");
}

#[test]
fn completion_decodes_to_text_completion() {
    let decoded =
        decode_completion(ANTHROPIC, &fixture("anthropic/message_text.json")).expect("decodes");
    assert_eq!(
        json_of(&decoded.body),
        json!({
            "id": "cmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF", "object": "text_completion", "created": 0,
            "model": "claude-sonnet-4-5-20250929",
            "choices": [{"index": 0, "text": "Hi! My name is Claude.", "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 2095, "completion_tokens": 503, "total_tokens": 2598}
        })
    );
}

#[test]
fn invalid_message_body_is_a_decode_error() {
    assert!(matches!(
        decode_chat(ANTHROPIC, b"not json"),
        Err(DecodeError::Invalid(_))
    ));
    assert!(matches!(
        decode_chat(ANTHROPIC, br#"{"type":"message"}"#),
        Err(DecodeError::Invalid(_))
    ));
}

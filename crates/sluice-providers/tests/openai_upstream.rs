//! OpenAI-compatible upstream: request encoding, passthrough decoding, stream decoding.

mod common;

use common::{
    assert_bytes, assert_json, decode, errors, fixture, json_of, openai_client_bytes, target,
};
use http::HeaderMap;
use serde_json::json;
use sluice_core::wire::{ChatCompletionRequest, CompletionRequest, EmbeddingRequest, Usage};
use sluice_core::{FailureClass, ProviderKind};
use sluice_providers::{
    DecodeError, EncodeError, StreamItem, chat_stream_decoder, decode_chat, decode_embeddings,
    encode_chat, encode_completion, encode_embeddings,
};

const OPENAI: ProviderKind = ProviderKind::Openai;

fn chat_request(value: serde_json::Value) -> ChatCompletionRequest {
    serde_json::from_value(value).expect("canonical request")
}

#[test]
fn chat_is_posted_to_chat_completions_with_bearer_key() {
    let extra = HeaderMap::new();
    let t = target(
        OPENAI,
        "https://api.openai.com/v1",
        Some("sk-test"),
        &extra,
        "gpt-4o-mini",
    );
    let req = chat_request(
        json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
    );
    let http = encode_chat(&t, &req).expect("encodes");
    assert_eq!(http.method(), http::Method::POST);
    assert_eq!(http.uri(), "https://api.openai.com/v1/chat/completions");
    assert_eq!(http.headers()["authorization"], "Bearer sk-test");
    assert!(http.headers()["authorization"].is_sensitive());
    assert_eq!(http.headers()["content-type"], "application/json");
}

#[test]
fn trailing_slash_in_base_url_is_not_doubled() {
    let extra = HeaderMap::new();
    let t = target(OPENAI, "http://localhost:11434/v1/", None, &extra, "llama3");
    let req = chat_request(json!({"model": "llama3", "messages": []}));
    let http = encode_chat(&t, &req).expect("encodes");
    assert_eq!(http.uri(), "http://localhost:11434/v1/chat/completions");
}

#[test]
fn keyless_upstream_gets_no_authorization_header() {
    let extra = HeaderMap::new();
    let t = target(OPENAI, "http://localhost:8000/v1", None, &extra, "m");
    let req = chat_request(json!({"model": "m", "messages": []}));
    let http = encode_chat(&t, &req).expect("encodes");
    assert!(!http.headers().contains_key("authorization"));
}

#[test]
fn extra_headers_are_added_and_override_ours() {
    let mut extra = HeaderMap::new();
    extra.insert("openai-organization", "org-1".parse().expect("header"));
    extra.insert(
        "authorization",
        "Bearer from-config".parse().expect("header"),
    );
    let t = target(
        OPENAI,
        "https://api.openai.com/v1",
        Some("sk-test"),
        &extra,
        "m",
    );
    let req = chat_request(json!({"model": "m", "messages": []}));
    let http = encode_chat(&t, &req).expect("encodes");
    assert_eq!(http.headers()["openai-organization"], "org-1");
    assert_eq!(http.headers().get_all("authorization").iter().count(), 1);
    assert_eq!(http.headers()["authorization"], "Bearer from-config");
}

#[test]
fn api_key_with_a_newline_is_an_encode_error_not_a_panic() {
    let extra = HeaderMap::new();
    let t = target(
        OPENAI,
        "https://api.openai.com/v1",
        Some("sk\nbad"),
        &extra,
        "m",
    );
    let req = chat_request(json!({"model": "m", "messages": []}));
    assert!(matches!(
        encode_chat(&t, &req),
        Err(EncodeError::Invalid { .. })
    ));
}

#[test]
fn invalid_base_url_is_an_encode_error() {
    let extra = HeaderMap::new();
    let t = target(OPENAI, "not a url", None, &extra, "m");
    let req = chat_request(json!({"model": "m", "messages": []}));
    assert!(matches!(
        encode_chat(&t, &req),
        Err(EncodeError::Invalid { .. })
    ));
}

#[test]
fn chat_body_swaps_model_drops_fallbacks_keeps_unknown_fields_and_asks_for_usage() {
    let extra = HeaderMap::new();
    let t = target(
        OPENAI,
        "https://api.openai.com/v1",
        Some("k"),
        &extra,
        "gpt-4o-mini",
    );
    let req =
        chat_request(serde_json::from_slice(&fixture("openai/chat_request.json")).expect("json"));
    let http = encode_chat(&t, &req).expect("encodes");
    assert_json("openai/chat_request.upstream.json", &json_of(http.body()));
}

#[test]
fn non_streaming_chat_does_not_get_stream_options() {
    let extra = HeaderMap::new();
    let t = target(
        OPENAI,
        "https://api.openai.com/v1",
        Some("k"),
        &extra,
        "gpt-4o-mini",
    );
    let req = chat_request(json!({"model": "x", "messages": [], "stream": false}));
    let body = json_of(encode_chat(&t, &req).expect("encodes").body());
    assert_eq!(
        body,
        json!({"model": "gpt-4o-mini", "messages": [], "stream": false})
    );
}

#[test]
fn streaming_chat_without_stream_options_gets_include_usage() {
    let extra = HeaderMap::new();
    let t = target(
        OPENAI,
        "https://api.openai.com/v1",
        Some("k"),
        &extra,
        "gpt-4o-mini",
    );
    let req = chat_request(json!({"model": "x", "messages": [], "stream": true}));
    let body = json_of(encode_chat(&t, &req).expect("encodes").body());
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[test]
fn streaming_chat_that_refused_usage_is_overridden() {
    let extra = HeaderMap::new();
    let t = target(OPENAI, "https://api.openai.com/v1", Some("k"), &extra, "m");
    let req = chat_request(
        json!({"model": "x", "messages": [], "stream": true, "stream_options": {"include_usage": false}}),
    );
    let body = json_of(encode_chat(&t, &req).expect("encodes").body());
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[test]
fn completion_is_posted_to_completions_with_usage_for_streams() {
    let extra = HeaderMap::new();
    let t = target(
        OPENAI,
        "https://api.openai.com/v1",
        Some("k"),
        &extra,
        "gpt-3.5-turbo-instruct",
    );
    let req: CompletionRequest = serde_json::from_value(json!({
        "model": "openai/gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5,
        "stream": true, "stream_options": {"foo": 1}, "echo": false, "fallbacks": ["a/b"]
    }))
    .expect("request");
    let http = encode_completion(&t, &req).expect("encodes");
    assert_eq!(http.uri(), "https://api.openai.com/v1/completions");
    assert_eq!(
        json_of(http.body()),
        json!({
            "model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5, "stream": true,
            "stream_options": {"foo": 1, "include_usage": true}, "echo": false
        })
    );
}

#[test]
fn embeddings_are_posted_to_embeddings_without_fallbacks() {
    let extra = HeaderMap::new();
    let t = target(
        OPENAI,
        "https://api.openai.com/v1",
        Some("k"),
        &extra,
        "text-embedding-3-small",
    );
    let req: EmbeddingRequest = serde_json::from_value(json!({
        "model": "openai/text-embedding-3-small", "input": ["a", "b"], "dimensions": 256,
        "encoding_format": "float", "fallbacks": ["x/y"]
    }))
    .expect("request");
    let http = encode_embeddings(&t, &req).expect("encodes");
    assert_eq!(http.uri(), "https://api.openai.com/v1/embeddings");
    assert_eq!(http.headers()["authorization"], "Bearer k");
    assert_eq!(
        json_of(http.body()),
        json!({"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float", "dimensions": 256})
    );
}

#[test]
fn chat_response_passes_through_unchanged_with_usage_read() {
    let body = fixture("openai/chat_completion.json");
    let decoded = decode_chat(OPENAI, &body).expect("decodes");
    assert_eq!(&decoded.body[..], &body[..]);
    let usage = decoded.usage.expect("usage");
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (1117, 46, 1163)
    );
    assert_eq!(usage.cached_tokens(), 1024);
}

#[test]
fn usage_with_null_fields_is_read_leniently() {
    let body = br#"{"id":"x","usage":{"prompt_tokens":3,"completion_tokens":null,"prompt_tokens_details":{"cached_tokens":null}}}"#;
    let decoded = decode_chat(OPENAI, body).expect("decodes");
    let usage = decoded.usage.expect("usage");
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (3, 0, 3)
    );
    assert_eq!(usage.cached_tokens(), 0);
}

#[test]
fn response_without_usage_has_none() {
    let decoded = decode_embeddings(OPENAI, br#"{"object":"list","data":[]}"#).expect("decodes");
    assert_eq!(decoded.usage, None::<Usage>);
}

#[test]
fn invalid_json_response_is_a_decode_error() {
    assert!(matches!(
        decode_chat(OPENAI, b"{\"id\": "),
        Err(DecodeError::Invalid(_))
    ));
    assert!(matches!(
        decode_chat(OPENAI, b"<html>"),
        Err(DecodeError::Invalid(_))
    ));
}

fn openai_decoder() -> Box<dyn sluice_providers::ChunkDecoder + Send> {
    chat_stream_decoder(OPENAI, "unused")
}

#[test]
fn text_stream_decodes_to_the_same_chunks_and_done() {
    let items = decode(openai_decoder, &fixture("openai/stream_text.sse"));
    assert_eq!(items.last(), Some(&StreamItem::Done));
    assert!(errors(&items).is_empty());
    let usage = match &items[items.len() - 2] {
        StreamItem::Chunk(c) => c.usage.expect("final usage chunk"),
        other => panic!("expected the usage chunk, got {other:?}"),
    };
    assert_eq!(usage.total_tokens, 29);
    assert_bytes("openai/stream_text.out.sse", &openai_client_bytes(&items));
}

#[test]
fn tool_call_stream_decodes_argument_fragments() {
    let items = decode(openai_decoder, &fixture("openai/stream_tool_calls.sse"));
    assert_eq!(items.len(), 8);
    assert_eq!(items.last(), Some(&StreamItem::Done));
    assert_bytes(
        "openai/stream_tool_calls.out.sse",
        &openai_client_bytes(&items),
    );
}

#[test]
fn keepalive_comments_and_crlf_are_tolerated() {
    let items = decode(openai_decoder, &fixture("openai/stream_keepalive_crlf.sse"));
    assert_eq!(items.len(), 3);
    assert_eq!(items[2], StreamItem::Done);
}

#[test]
fn error_data_line_is_a_classified_stream_error() {
    let items = decode(openai_decoder, &fixture("openai/stream_error.sse"));
    assert!(matches!(items[0], StreamItem::Chunk(_)));
    let errs = errors(&items);
    assert_eq!(errs.len(), 1, "one error, and no second one from finish");
    assert_eq!(errs[0].class, FailureClass::Transient);
    assert_eq!(errs[0].status, None);
    assert_eq!(errs[0].error_type.as_deref(), Some("server_error"));
    assert!(errs[0].message.starts_with("The server had an error"));
    assert_eq!(items.len(), 2);
}

#[test]
fn stream_ended_before_done_is_a_transient_error() {
    let mut bytes = fixture("openai/stream_text.sse");
    let cut = bytes
        .windows(6)
        .position(|w| w == b"[DONE]")
        .expect("has DONE")
        - 6;
    bytes.truncate(cut);
    let items = decode(openai_decoder, &bytes);
    let errs = errors(&items);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].message, "upstream stream ended before [DONE]");
    assert_eq!(errs[0].class, FailureClass::Transient);
    assert!(matches!(items.last(), Some(StreamItem::Error(_))));
}

#[test]
fn stream_cut_mid_chunk_is_an_error_not_a_clean_end() {
    let bytes = fixture("openai/stream_text.sse");
    let items = decode(openai_decoder, &bytes[..bytes.len() / 2]);
    assert!(
        matches!(items.last(), Some(StreamItem::Error(e)) if e.class == FailureClass::Transient)
    );
    assert!(!items.contains(&StreamItem::Done));
}

#[test]
fn unparsable_chunk_is_a_stream_error() {
    let items = decode(openai_decoder, b"data: {not json}\n\ndata: [DONE]\n\n");
    assert_eq!(items.len(), 1);
    assert!(matches!(&items[0], StreamItem::Error(e) if e.message.contains("unparsable")));
}

#[test]
fn done_without_final_blank_line_still_ends_cleanly() {
    let items = decode(openai_decoder, b"data: [DONE]\n");
    assert_eq!(items, vec![StreamItem::Done]);
}

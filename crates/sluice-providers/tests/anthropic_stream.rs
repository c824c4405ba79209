//! Anthropic stream events in → OpenAI `chat.completion.chunk`s out.

mod common;

use common::{assert_bytes, decode, errors, fixture, openai_client_bytes};
use sluice_core::wire::Role;
use sluice_core::{FailureClass, ProviderKind};
use sluice_providers::anthropic::ChatStreamDecoder;
use sluice_providers::{ChunkDecoder, StreamItem, chat_stream_decoder};

fn decoder() -> Box<dyn ChunkDecoder + Send> {
    Box::new(ChatStreamDecoder::with_created(
        "claude-default",
        1_741_569_952,
    ))
}

fn chunks(items: &[StreamItem]) -> Vec<&sluice_core::wire::ChatCompletionChunk> {
    items
        .iter()
        .filter_map(|i| match i {
            StreamItem::Chunk(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn text_stream_becomes_role_content_finish_and_usage_chunks() {
    let items = decode(decoder, &fixture("anthropic/stream_text.sse"));
    assert!(errors(&items).is_empty());
    assert_eq!(items.last(), Some(&StreamItem::Done));
    let chunks = chunks(&items);
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert!(
        chunks[1..]
            .iter()
            .all(|c| c.choices.iter().all(|ch| ch.delta.role.is_none()))
    );
    assert!(
        chunks
            .iter()
            .all(|c| c.id == "chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY")
    );
    let usage = chunks.last().and_then(|c| c.usage).expect("usage chunk");
    // 25 uncached + 1024 read from cache.
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (1049, 15));
    assert_eq!(usage.cached_tokens(), 1024);
    assert_bytes(
        "anthropic/stream_text.out.sse",
        &openai_client_bytes(&items),
    );
}

#[test]
fn tool_use_stream_numbers_tool_calls_and_skips_thinking() {
    let items = decode(decoder, &fixture("anthropic/stream_tool_use.sse"));
    assert!(errors(&items).is_empty());
    let calls: Vec<_> = chunks(&items)
        .iter()
        .filter_map(|c| c.choices.first()?.delta.tool_calls.clone())
        .flatten()
        .collect();
    // Anthropic block indices 2 and 3 become OpenAI tool call indices 0 and 1.
    assert_eq!(
        calls.iter().map(|c| c.index).collect::<Vec<_>>(),
        [0, 0, 0, 0, 1, 1]
    );
    let args: String = calls
        .iter()
        .filter(|c| c.index == 0)
        .filter_map(|c| c.function.as_ref()?.arguments.clone())
        .collect();
    assert_eq!(args, r#"{"location": "San Francisco, CA"}"#);
    assert_bytes(
        "anthropic/stream_tool_use.out.sse",
        &openai_client_bytes(&items),
    );
}

#[test]
fn anthropic_overloaded_error_event_is_rate_limited() {
    let items = decode(decoder, &fixture("anthropic/stream_overloaded.sse"));
    let errs = errors(&items);
    assert_eq!(errs.len(), 1, "the error, and no second one from finish");
    assert_eq!(errs[0].class, FailureClass::RateLimited);
    assert_eq!(errs[0].status, None);
    assert_eq!(errs[0].provider, ProviderKind::Anthropic);
    assert_eq!(errs[0].error_type.as_deref(), Some("overloaded_error"));
    assert_eq!(errs[0].message, "Overloaded");
    assert!(matches!(items.last(), Some(StreamItem::Error(_))));
    assert!(!items.contains(&StreamItem::Done));
    assert_eq!(chunks(&items).len(), 1, "the text before the error");
}

#[test]
fn error_right_after_message_start_is_the_first_item_so_the_request_can_fail_over() {
    let items = decode(
        decoder,
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n\
          event: ping\ndata: {\"type\": \"ping\"}\n\n\
          event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    assert_eq!(items.len(), 1);
    assert!(matches!(&items[0], StreamItem::Error(e) if e.class == FailureClass::RateLimited));
}

#[test]
fn api_error_event_is_transient() {
    let items = decode(
        decoder,
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}\n\n",
    );
    assert_eq!(errors(&items)[0].class, FailureClass::Transient);
}

#[test]
fn stream_truncated_before_message_stop_ends_with_an_error() {
    let bytes = fixture("anthropic/stream_text.sse");
    let end = String::from_utf8_lossy(&bytes)
        .find("event: message_delta")
        .expect("has message_delta");
    let items = decode(decoder, &bytes[..end]);
    let errs = errors(&items);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].class, FailureClass::Transient);
    assert_eq!(errs[0].message, "upstream stream ended before message_stop");
    assert!(!items.contains(&StreamItem::Done));
}

#[test]
fn unparsable_event_is_a_stream_error() {
    let items = decode(decoder, b"event: content_block_delta\ndata: {\"type\":\n\n");
    assert_eq!(items.len(), 1);
    assert!(matches!(&items[0], StreamItem::Error(e) if e.message.contains("unparsable")));
}

#[test]
fn events_without_event_lines_are_recognised_by_type() {
    let bytes = String::from_utf8(fixture("anthropic/stream_text.sse"))
        .expect("utf-8")
        .lines()
        .filter(|l| !l.starts_with("event:"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let with_names = decode(decoder, &fixture("anthropic/stream_text.sse"));
    assert_eq!(decode(decoder, bytes.as_bytes()), with_names);
}

#[test]
fn unknown_event_types_are_ignored() {
    let items = decode(
        decoder,
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n\
          event: future_event\ndata: {\"type\":\"future_event\"}\n\n\
          event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    assert!(errors(&items).is_empty());
    assert_eq!(items.last(), Some(&StreamItem::Done));
}

#[test]
fn model_passed_in_is_used_when_the_upstream_names_none() {
    let mut d = chat_stream_decoder(ProviderKind::Anthropic, "claude-fallback-name");
    let mut out = Vec::new();
    d.push(
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":1}}}\n\n\
          event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        &mut out,
    );
    assert_eq!(out.len(), 1);
    match &out[0] {
        StreamItem::Chunk(c) => {
            assert_eq!(c.model, "claude-fallback-name");
            assert_eq!(c.created, 0);
        }
        other => panic!("expected a chunk, got {other:?}"),
    }
}

#[test]
fn server_tool_use_blocks_are_not_reported_as_tool_calls() {
    let items = decode(
        decoder,
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":3}}}\n\n\
          event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n\
          event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"query\\\": \\\"rust\\\"}\"}}\n\n\
          event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
          event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
          event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Found it.\"}}\n\n\
          event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    assert!(errors(&items).is_empty());
    let chunks = chunks(&items);
    assert!(
        chunks
            .iter()
            .all(|c| c.choices.iter().all(|ch| ch.delta.tool_calls.is_none()))
    );
    assert_eq!(
        chunks[0].choices[0].delta.content.as_deref(),
        Some("Found it.")
    );
    assert_eq!(items.last(), Some(&StreamItem::Done));
}

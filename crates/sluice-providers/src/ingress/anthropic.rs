//! Anthropic ingress (`POST /anthropic/v1/messages`): an Anthropic Messages request in, the
//! canonical request out; canonical responses and chunks back into Anthropic's shapes.

use bytes::Bytes;
use sluice_core::wire::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};

use crate::EncodeError;

/// Parses an Anthropic Messages request body into the canonical request (system prompt,
/// content blocks, images, tools, tool_use/tool_result, stop_sequences, stream, metadata).
/// Errors name the field (`messages[2].content[0].type`).
pub fn parse_request(body: &[u8]) -> Result<ChatCompletionRequest, EncodeError> {
    let _ = body;
    todo!()
}

/// Renders a `chat.completion` as an Anthropic `message`.
pub fn render_response(c: &ChatCompletion) -> Bytes {
    let _ = c;
    todo!()
}

/// Anthropic error body: `{"type": "error", "error": {"type", "message"}}`. `error_type` is
/// Anthropic's (`invalid_request_error`, `authentication_error`, `permission_error`,
/// `not_found_error`, `request_too_large`, `rate_limit_error`, `api_error`, `overloaded_error`).
pub fn error_body(error_type: &str, message: &str) -> Bytes {
    let _ = (error_type, message);
    todo!()
}

/// The Anthropic error type for an HTTP status the gateway answers with.
pub fn error_type_for_status(status: u16) -> &'static str {
    let _ = status;
    todo!()
}

/// Turns canonical chunks into Anthropic stream events (`message_start`, `content_block_start`,
/// `content_block_delta` (text_delta / input_json_delta), `content_block_stop`, `message_delta`
/// with stop_reason and usage, `message_stop`), framed as SSE (`event: x\ndata: {...}\n\n`).
pub struct EventEncoder {
    // private state: message started, open block index/kind, usage seen, model, id ...
}

impl EventEncoder {
    pub fn new(model: &str) -> Self {
        let _ = model;
        todo!()
    }

    /// Appends the SSE bytes for one chunk to `out`.
    pub fn push(&mut self, chunk: &ChatCompletionChunk, out: &mut Vec<u8>) {
        let _ = (chunk, out);
        todo!()
    }

    /// Clean end: closes open blocks, `message_delta` (stop_reason, usage), `message_stop`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }

    /// Mid-stream failure: an `event: error` with the Anthropic error body; no `message_stop`.
    pub fn error(&mut self, error_type: &str, message: &str, out: &mut Vec<u8>) {
        let _ = (error_type, message, out);
        todo!()
    }
}

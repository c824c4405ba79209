//! Anthropic Messages API upstream: canonical request → `POST {base_url}/v1/messages`
//! (`x-api-key`, `anthropic-version: 2023-06-01`), message → `chat.completion`, stream events
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`, `ping`, `error`) →
//! `chat.completion.chunk`s.

mod decode;
mod encode;
mod stream_decoder;
pub(crate) mod wire;

pub use decode::{decode_chat, decode_chat_with_created, decode_completion};
pub use encode::{encode_chat, encode_completion};
pub use stream_decoder::ChatStreamDecoder;

/// The API version Sluice speaks; an operator can override it with `extra_headers`.
const API_VERSION: &str = "2023-06-01";

/// `max_tokens` is required by Anthropic; used when the client set no ceiling.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn
        _ => "stop",
    }
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`.
pub(crate) fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// The canonical id of an Anthropic message: `chatcmpl-msg_...`.
pub(crate) fn chat_id(message_id: &str) -> String {
    format!("chatcmpl-{message_id}")
}

//! Anthropic ingress (`POST /anthropic/v1/messages`): an Anthropic Messages request in, the
//! canonical request out; canonical responses and chunks back into Anthropic's shapes.

mod events;
mod parse;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use sluice_core::wire::ChatCompletion;

use crate::anthropic::stop_reason;
use crate::anthropic::wire::{Block, ErrorBody, ErrorDetail, MessageUsage};
use crate::json;

pub use events::EventEncoder;
pub use parse::parse_request;

/// Renders a `chat.completion` as an Anthropic `message`.
pub fn render_response(c: &ChatCompletion) -> Bytes {
    let mut content = Vec::new();
    let mut finish_reason = None;
    // Anthropic has one answer per request; a canonical response has one choice unless the
    // client asked for `n`, which the Anthropic API cannot express.
    if let Some(choice) = c.choices.first() {
        let message = &choice.message;
        let text = message
            .content
            .as_deref()
            .filter(|t| !t.is_empty())
            .or(message.refusal.as_deref().filter(|t| !t.is_empty()));
        if let Some(text) = text {
            content.push(Block::Text { text: text.into() });
        }
        for call in message.tool_calls.iter().flatten() {
            content.push(Block::ToolUse {
                id: &call.id,
                name: &call.function.name,
                input: tool_input(&call.function.arguments),
            });
        }
        finish_reason = choice.finish_reason.as_deref();
    }
    let message = MessageOut {
        id: message_id(&c.id),
        kind: "message",
        role: "assistant",
        model: &c.model,
        content,
        stop_reason: finish_reason.map(stop_reason),
        stop_sequence: None,
        usage: c
            .usage
            .as_ref()
            .map(MessageUsage::from_canonical)
            .unwrap_or_else(zero_usage),
    };
    json::to_bytes(&message)
}

/// Anthropic error body: `{"type": "error", "error": {"type", "message"}}`. `error_type` is
/// Anthropic's (`invalid_request_error`, `authentication_error`, `permission_error`,
/// `not_found_error`, `request_too_large`, `rate_limit_error`, `api_error`, `overloaded_error`).
pub fn error_body(error_type: &str, message: &str) -> Bytes {
    json::to_bytes(&ErrorBody {
        kind: "error",
        error: ErrorDetail {
            kind: error_type,
            message,
        },
    })
}

/// The Anthropic error type for an HTTP status the gateway answers with.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// `msg_...` for a canonical id: an Anthropic upstream's `chatcmpl-msg_X` becomes `msg_X`
/// again; any other `chatcmpl-X` becomes `msg_X`.
fn message_id(id: &str) -> String {
    let bare = id.strip_prefix("chatcmpl-").unwrap_or(id);
    if bare.starts_with("msg_") {
        bare.to_string()
    } else {
        format!("msg_{bare}")
    }
}

/// Tool arguments are a JSON string in OpenAI's shape and an object in Anthropic's. A model
/// can emit arguments that are not JSON; they are kept under `_raw` rather than dropped.
fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| json!({ "_raw": arguments }))
}

fn zero_usage() -> MessageUsage {
    MessageUsage::from_canonical(&Default::default())
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    usage: MessageUsage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_follow_anthropic_for_each_status() {
        let table = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (402, "billing_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "api_error"),
            (504, "api_error"),
            (529, "overloaded_error"),
        ];
        for (status, expected) in table {
            assert_eq!(error_type_for_status(status), expected, "{status}");
        }
    }

    #[test]
    fn error_body_is_anthropic_envelope() {
        assert_eq!(
            &error_body("rate_limit_error", "slow down")[..],
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
        );
    }

    #[test]
    fn message_ids_are_mapped_back_to_msg_prefix() {
        assert_eq!(message_id("chatcmpl-msg_01ABC"), "msg_01ABC");
        assert_eq!(message_id("chatcmpl-B9xyz"), "msg_B9xyz");
        assert_eq!(message_id("msg_1"), "msg_1");
    }

    #[test]
    fn unparsable_tool_arguments_are_kept_raw() {
        assert_eq!(tool_input("{\"a\":1"), json!({"_raw": "{\"a\":1"}));
        assert_eq!(tool_input(""), json!({}));
        assert_eq!(tool_input("{\"a\":1}"), json!({"a": 1}));
    }
}

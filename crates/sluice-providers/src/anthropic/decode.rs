//! Anthropic `message` → `chat.completion` / `text_completion`.

use serde_json::Map;
use sluice_core::wire::{
    ChatCompletion, Choice, Completion, CompletionChoice, FunctionCall, ResponseMessage, Role,
    ToolCall,
};

use super::wire::{MessageResponse, ResponseBlock};
use super::{chat_id, finish_reason};
use crate::json::to_bytes;
use crate::{DecodeError, Decoded};

pub fn decode_chat(body: &[u8]) -> Result<Decoded, DecodeError> {
    decode_chat_with_created(body, 0)
}

/// [`decode_chat`] with the `created` timestamp (Unix seconds) to report: Anthropic's message
/// carries none, and this crate has no clock.
pub fn decode_chat_with_created(body: &[u8], created_unix: u64) -> Result<Decoded, DecodeError> {
    let message = parse(body)?;
    let usage = message.usage.to_canonical();
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in message.content {
        match block {
            ResponseBlock::Text { text: t } => text.push_str(&t),
            ResponseBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                kind: "function".to_string(),
                function: FunctionCall {
                    name,
                    arguments: input.to_string(),
                },
            }),
            ResponseBlock::Other => {}
        }
    }
    let completion = ChatCompletion {
        id: chat_id(&message.id),
        object: "chat.completion".to_string(),
        created: created_unix,
        model: message.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: Role::Assistant,
                // OpenAI sends `content: null` for a reply that is only tool calls.
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
            },
            finish_reason: message
                .stop_reason
                .as_deref()
                .map(finish_reason)
                .map(str::to_string),
            logprobs: None,
        }],
        usage: Some(usage),
        system_fingerprint: None,
        extra: Map::new(),
    };
    Ok(Decoded {
        body: to_bytes(&completion),
        usage: Some(usage),
    })
}

pub fn decode_completion(body: &[u8]) -> Result<Decoded, DecodeError> {
    let message = parse(body)?;
    let usage = message.usage.to_canonical();
    let text = message
        .content
        .into_iter()
        .filter_map(|block| match block {
            ResponseBlock::Text { text } => Some(text),
            _ => None,
        })
        .collect::<String>();
    let completion = Completion {
        id: format!("cmpl-{}", message.id),
        object: "text_completion".to_string(),
        created: 0,
        model: message.model,
        choices: vec![CompletionChoice {
            index: 0,
            text,
            finish_reason: message
                .stop_reason
                .as_deref()
                .map(finish_reason)
                .map(str::to_string),
            logprobs: None,
        }],
        usage: Some(usage),
    };
    Ok(Decoded {
        body: to_bytes(&completion),
        usage: Some(usage),
    })
}

fn parse(body: &[u8]) -> Result<MessageResponse, DecodeError> {
    serde_json::from_slice(body)
        .map_err(|e| DecodeError::Invalid(format!("not an anthropic message: {e}")))
}

//! Canonical chunks → Anthropic stream events, in the order Anthropic sends them:
//! `message_start`, then per content block `content_block_start`, `content_block_delta`s,
//! `content_block_stop`, then `message_delta` (stop reason, usage) and `message_stop`.
//!
//! OpenAI reports usage only in the final chunk, so `message_start` carries zero usage and the
//! real counts arrive in `message_delta` (which Anthropic's SDKs read as the final usage).

use serde::Serialize;
use serde_json::json;
use sluice_core::wire::{ChatCompletionChunk, ToolCallDelta, Usage};

use super::message_id;
use crate::anthropic::stop_reason;
use crate::anthropic::wire::{Block, ErrorDetail, MessageUsage};
use crate::json;

/// The content block being streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OpenBlock {
    Text,
    /// A tool_use block for OpenAI's tool call number `call`, with its id.
    Tool {
        call: u32,
        id: String,
    },
}

/// Turns canonical chunks into Anthropic stream events (`message_start`, `content_block_start`,
/// `content_block_delta` (text_delta / input_json_delta), `content_block_stop`, `message_delta`
/// with stop_reason and usage, `message_stop`), framed as SSE (`event: x\ndata: {...}\n\n`).
#[derive(Debug)]
pub struct EventEncoder {
    /// Reported when the chunks carry no model name.
    model: String,
    started: bool,
    /// The open block and its Anthropic index.
    open: Option<(u32, OpenBlock)>,
    next_index: u32,
    stop_reason: Option<&'static str>,
    usage: Option<Usage>,
    ended: bool,
}

impl EventEncoder {
    pub fn new(model: &str) -> Self {
        EventEncoder {
            model: model.to_string(),
            started: false,
            open: None,
            next_index: 0,
            stop_reason: None,
            usage: None,
            ended: false,
        }
    }

    /// Appends the SSE bytes for one chunk to `out`.
    pub fn push(&mut self, chunk: &ChatCompletionChunk, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        if !self.started {
            self.started = true;
            let model = if chunk.model.is_empty() {
                &self.model
            } else {
                &chunk.model
            };
            message_start(&message_id(&chunk.id), model, self.usage.as_ref(), out);
        }
        // Choices other than the first cannot be expressed (Anthropic has no `n`).
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else {
            return;
        };
        let delta = &choice.delta;
        for text in [&delta.content, &delta.refusal].into_iter().flatten() {
            if !text.is_empty() {
                self.text(text, out);
            }
        }
        for call in delta.tool_calls.iter().flatten() {
            self.tool_call(call, out);
        }
        if let Some(reason) = &choice.finish_reason {
            self.stop_reason = Some(stop_reason(reason));
        }
    }

    /// Clean end: closes open blocks, `message_delta` (stop_reason, usage), `message_stop`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if !self.started {
            self.started = true;
            message_start("msg_sluice", &self.model, self.usage.as_ref(), out);
        }
        self.close_block(out);
        let usage = match &self.usage {
            Some(usage) => MessageUsage::from_canonical(usage),
            None => MessageUsage {
                output_tokens: Some(0),
                ..MessageUsage::default()
            },
        };
        let delta = MessageDeltaBody {
            stop_reason: Some(self.stop_reason.unwrap_or("end_turn")),
            stop_sequence: None,
        };
        emit(out, &Event::MessageDelta { delta, usage });
        emit(out, &Event::MessageStop);
        self.ended = true;
    }

    /// Mid-stream failure: an `event: error` with the Anthropic error body; no `message_stop`.
    pub fn error(&mut self, error_type: &str, message: &str, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        let error = ErrorDetail {
            kind: error_type,
            message,
        };
        emit(out, &Event::Error { error });
        self.ended = true;
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        let index = match &self.open {
            Some((index, OpenBlock::Text)) => *index,
            _ => {
                let content_block = Block::Text { text: "".into() };
                self.open_block(OpenBlock::Text, content_block, out)
            }
        };
        let delta = BlockDelta::TextDelta { text };
        emit(out, &Event::ContentBlockDelta { index, delta });
    }

    /// OpenAI streams a tool call as a first delta with `id` and `name`, then argument
    /// fragments under the same `index`; each call becomes one `tool_use` block. Some
    /// OpenAI-compatible servers repeat the id on every fragment, and some number every call
    /// 0, so a call continues while both its index and (when sent) its id are unchanged.
    fn tool_call(&mut self, call: &ToolCallDelta, out: &mut Vec<u8>) {
        let function = call.function.as_ref();
        let index = match &self.open {
            Some((index, OpenBlock::Tool { call: open, id }))
                if *open == call.index && call.id.as_ref().is_none_or(|new| new == id) =>
            {
                *index
            }
            _ => {
                let generated;
                let id = match &call.id {
                    Some(id) => id.as_str(),
                    None => {
                        generated = format!("toolu_sluice_{}", call.index);
                        generated.as_str()
                    }
                };
                let name = function.and_then(|f| f.name.as_deref()).unwrap_or_default();
                let kind = OpenBlock::Tool {
                    call: call.index,
                    id: id.to_string(),
                };
                let content_block = Block::ToolUse {
                    id,
                    name,
                    input: json!({}),
                };
                self.open_block(kind, content_block, out)
            }
        };
        if let Some(partial_json) = function
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
        {
            let delta = BlockDelta::InputJsonDelta { partial_json };
            emit(out, &Event::ContentBlockDelta { index, delta });
        }
    }

    fn open_block(&mut self, kind: OpenBlock, content_block: Block<'_>, out: &mut Vec<u8>) -> u32 {
        self.close_block(out);
        let index = self.next_index;
        self.next_index = index.saturating_add(1);
        self.open = Some((index, kind));
        emit(
            out,
            &Event::ContentBlockStart {
                index,
                content_block,
            },
        );
        index
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            emit(out, &Event::ContentBlockStop { index });
        }
    }
}

fn message_start(id: &str, model: &str, usage: Option<&Usage>, out: &mut Vec<u8>) {
    let message = StartMessage {
        id,
        kind: "message",
        role: "assistant",
        model,
        content: Vec::new(),
        stop_reason: None,
        stop_sequence: None,
        usage: MessageUsage::from_canonical(&usage.copied().unwrap_or_default()),
    };
    emit(out, &Event::MessageStart { message });
}

/// `event: NAME\ndata: JSON\n\n`.
fn emit(out: &mut Vec<u8>, event: &Event<'_>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.name().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    json::write(out, event);
    out.extend_from_slice(b"\n\n");
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: StartMessage<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: MessageUsage,
    },
    MessageStop,
    Error {
        error: ErrorDetail<'a>,
    },
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
            Event::Error { .. } => "error",
        }
    }
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: MessageUsage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct MessageDeltaBody {
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
}

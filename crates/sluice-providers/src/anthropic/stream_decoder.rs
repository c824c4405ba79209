//! Anthropic stream events → `chat.completion.chunk`s.
//!
//! `message_start` gives the id, model and input usage; the first chunk after it carries
//! `role: assistant` (held back until there is content, so that an `error` event right after
//! `message_start` is the first item and the request can still fail over);
//! text and tool-use blocks become content and `tool_calls` deltas (tool calls numbered in
//! order, as OpenAI does); `message_delta` gives the finish reason and output usage;
//! `message_stop` ends with a usage chunk (empty `choices`) and `Done`.

use serde::Deserialize;
use serde_json::Value;
use sluice_core::ProviderKind;
use sluice_core::wire::{
    ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, Role, ToolCallDelta, Usage,
};

use super::wire::MessageUsage;
use super::{chat_id, finish_reason};
use crate::UpstreamError;
use crate::error::in_stream_error;
use crate::sse::{SseEvent, SseParser};
use crate::stream::{ChunkDecoder, StreamItem};

pub struct ChatStreamDecoder {
    sse: SseParser,
    events: Vec<SseEvent>,
    id: String,
    model: String,
    created: u64,
    usage: MessageUsage,
    /// Tool-call index (OpenAI's numbering) of each open Anthropic tool_use block, by the
    /// block's own index.
    tool_blocks: Vec<(u32, u32)>,
    next_tool_call: u32,
    /// No chunk has been emitted yet: the next one carries `role: assistant`.
    role_pending: bool,
    ended: bool,
}

impl ChatStreamDecoder {
    /// Chunks report `created: 0`; see [`ChatStreamDecoder::with_created`].
    pub fn new(model: &str) -> Self {
        Self::with_created(model, 0)
    }

    /// `created` (Unix seconds) for every chunk: Anthropic's events carry no timestamp and
    /// this crate has no clock, so the caller supplies it.
    pub fn with_created(model: &str, created_unix: u64) -> Self {
        ChatStreamDecoder {
            sse: SseParser::new(),
            events: Vec::new(),
            id: String::new(),
            model: model.to_string(),
            created: created_unix,
            usage: MessageUsage::default(),
            tool_blocks: Vec::new(),
            next_tool_call: 0,
            role_pending: true,
            ended: false,
        }
    }

    /// A chunk with one choice; the first one also carries the role.
    fn chunk(&mut self, mut delta: Delta, finish_reason: Option<&str>) -> ChatCompletionChunk {
        if std::mem::take(&mut self.role_pending) {
            delta.role = Some(Role::Assistant);
        }
        let choice = ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish_reason.map(str::to_string),
            logprobs: None,
        };
        self.envelope(vec![choice], None)
    }

    fn envelope(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_string(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
            system_fingerprint: None,
        }
    }

    fn tool_call_of_block(&self, block_index: u32) -> Option<u32> {
        self.tool_blocks
            .iter()
            .find(|(block, _)| *block == block_index)
            .map(|&(_, call)| call)
    }

    fn fail(&mut self, error: UpstreamError, out: &mut Vec<StreamItem>) {
        self.ended = true;
        out.push(StreamItem::Error(error));
    }

    fn decode(&mut self, event: &SseEvent, out: &mut Vec<StreamItem>) -> Result<(), String> {
        // Anthropic names every event after its `type`; fall back to the field if a proxy
        // dropped the `event:` lines.
        let from_data;
        let name = match &event.event {
            Some(name) => name.as_str(),
            None => {
                from_data = parse::<TypeOnly>(&event.data)?.kind;
                from_data.as_str()
            }
        };
        let data = event.data.as_str();
        match name {
            "message_start" => {
                let MessageStart { message } = parse(data)?;
                self.id = chat_id(&message.id);
                if let Some(model) = message.model.filter(|m| !m.is_empty()) {
                    self.model = model;
                }
                self.usage.update(&message.usage);
            }
            "content_block_start" => {
                let ContentBlockStart {
                    index,
                    content_block,
                } = parse(data)?;
                match content_block {
                    StartBlock::Text { text } if !text.is_empty() => {
                        out.push(StreamItem::Chunk(self.chunk(text_delta(text), None)));
                    }
                    StartBlock::ToolUse { id, name } => {
                        let call = self.next_tool_call;
                        self.next_tool_call = call.saturating_add(1);
                        self.tool_blocks.push((index, call));
                        let delta = tool_delta(ToolCallDelta {
                            index: call,
                            id: Some(id),
                            kind: Some("function".to_string()),
                            function: Some(FunctionCallDelta {
                                name: Some(name),
                                arguments: Some(String::new()),
                            }),
                        });
                        out.push(StreamItem::Chunk(self.chunk(delta, None)));
                    }
                    StartBlock::Text { .. } | StartBlock::Other => {}
                }
            }
            "content_block_delta" => {
                let ContentBlockDelta { index, delta } = parse(data)?;
                match delta {
                    BlockDelta::TextDelta { text } if !text.is_empty() => {
                        out.push(StreamItem::Chunk(self.chunk(text_delta(text), None)));
                    }
                    BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                        // Server tools (`server_tool_use`, e.g. web search) stream their input
                        // too; they run at Anthropic and are not the client's tool calls.
                        let Some(call) = self.tool_call_of_block(index) else {
                            return Ok(());
                        };
                        let delta = tool_delta(ToolCallDelta {
                            index: call,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(partial_json),
                            }),
                            ..ToolCallDelta::default()
                        });
                        out.push(StreamItem::Chunk(self.chunk(delta, None)));
                    }
                    // Empty deltas, thinking, signatures, citations: nothing to say.
                    _ => {}
                }
            }
            "content_block_stop" => {
                let ContentBlockStop { index } = parse(data)?;
                self.tool_blocks.retain(|(block, _)| *block != index);
            }
            "message_delta" => {
                let MessageDelta { delta, usage } = parse(data)?;
                self.usage.update(&usage);
                if let Some(stop_reason) = delta.stop_reason {
                    let chunk = self.chunk(Delta::default(), Some(finish_reason(&stop_reason)));
                    out.push(StreamItem::Chunk(chunk));
                }
            }
            "message_stop" => {
                // OpenAI's final usage chunk: empty `choices`, the totals.
                let chunk = self.envelope(Vec::new(), Some(self.usage.to_canonical()));
                out.push(StreamItem::Chunk(chunk));
                out.push(StreamItem::Done);
                self.ended = true;
            }
            "error" => {
                let value: Value = parse(data)?;
                let error = in_stream_error(ProviderKind::Anthropic, &value)
                    .ok_or("error event without an error")?;
                self.fail(error, out);
            }
            // `ping`, and event types Anthropic may add later (its versioning policy says
            // clients must ignore them).
            _ => {}
        }
        Ok(())
    }
}

impl ChunkDecoder for ChatStreamDecoder {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamItem>) {
        self.sse.push(bytes, &mut self.events);
        let events = std::mem::take(&mut self.events);
        for event in &events {
            if self.ended {
                break;
            }
            if let Err(reason) = self.decode(event, out) {
                let error = UpstreamError::broken_stream(
                    ProviderKind::Anthropic,
                    format!("upstream sent an unparsable stream event: {reason}"),
                );
                self.fail(error, out);
            }
        }
        self.events = events;
        self.events.clear();
    }

    fn finish(&mut self, out: &mut Vec<StreamItem>) {
        if !self.ended {
            let error = UpstreamError::broken_stream(
                ProviderKind::Anthropic,
                "upstream stream ended before message_stop",
            );
            self.fail(error, out);
        }
    }
}

fn parse<'a, T: Deserialize<'a>>(data: &'a str) -> Result<T, String> {
    serde_json::from_str(data).map_err(|e| e.to_string())
}

fn text_delta(text: String) -> Delta {
    Delta {
        content: Some(text),
        ..Delta::default()
    }
}

fn tool_delta(call: ToolCallDelta) -> Delta {
    Delta {
        tool_calls: Some(vec![call]),
        ..Delta::default()
    }
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct MessageStart {
    message: StartMessage,
}

#[derive(Deserialize)]
struct StartMessage {
    id: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: MessageUsage,
}

#[derive(Deserialize)]
struct ContentBlockStart {
    index: u32,
    content_block: StartBlock,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ContentBlockDelta {
    index: u32,
    delta: BlockDelta,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ContentBlockStop {
    index: u32,
}

#[derive(Deserialize)]
struct MessageDelta {
    delta: MessageDeltaBody,
    #[serde(default)]
    usage: MessageUsage,
}

#[derive(Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

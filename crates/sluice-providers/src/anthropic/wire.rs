//! Anthropic Messages API shapes, as far as Sluice reads or writes them. Shared by the upstream
//! adapter and the Anthropic ingress.
//!
//! Outgoing shapes borrow from the canonical request; incoming ones ignore unknown fields and
//! unknown block types (`thinking`, `server_tool_use`, ...), which Anthropic adds over time.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::wire::{PromptTokensDetails, Usage};

/// `POST /v1/messages` body.
#[derive(Debug, Serialize)]
pub(crate) struct MessagesRequest<'a> {
    pub model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<Cow<'a, str>>,
    pub messages: Vec<Message<'a>>,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    User,
    Assistant,
}

#[derive(Debug, Serialize)]
pub(crate) struct Message<'a> {
    pub role: Role,
    pub content: Content<'a>,
}

/// A plain string, or content blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Content<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<Block<'a>>),
}

impl<'a> Content<'a> {
    /// One text block is sent as a plain string, as clients usually write it.
    pub fn from_blocks(mut blocks: Vec<Block<'a>>) -> Self {
        if let [Block::Text { .. }] = blocks.as_slice()
            && let Some(Block::Text { text }) = blocks.pop()
        {
            return Content::Text(text);
        }
        Content::Blocks(blocks)
    }

    pub fn into_blocks(self) -> Vec<Block<'a>> {
        match self {
            Content::Text(text) => vec![Block::Text { text }],
            Content::Blocks(blocks) => blocks,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Block<'a> {
    Text {
        text: Cow<'a, str>,
    },
    Image {
        source: Source<'a>,
    },
    Document {
        source: Source<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: Content<'a>,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Source<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Debug, Serialize)]
pub(crate) struct ToolDef<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub input_schema: Cow<'a, Value>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToolChoice<'a> {
    Auto {
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    #[serde(rename = "none")]
    NoTool {},
    Tool {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
}

#[derive(Debug, Serialize)]
pub(crate) struct Metadata<'a> {
    pub user_id: &'a str,
}

/// A (non-streamed) `message` response.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageResponse {
    pub id: String,
    pub model: String,
    #[serde(default)]
    pub content: Vec<ResponseBlock>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: MessageUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ResponseBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// `thinking`, `redacted_thinking`, server tool blocks: nothing the canonical shape holds.
    #[serde(other)]
    Other,
}

/// Anthropic `usage`. Every field is optional: `message_delta` sends only what changed, and
/// the cache fields may be absent or `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MessageUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
}

impl MessageUsage {
    /// Takes every field `newer` reports (`message_delta` usage is cumulative).
    pub fn update(&mut self, newer: &MessageUsage) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
    }

    /// Anthropic counts cache reads and writes apart from `input_tokens`; OpenAI's
    /// `prompt_tokens` includes them, with reads as `cached_tokens`.
    pub fn to_canonical(self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let cache_creation = self.cache_creation_input_tokens.unwrap_or(0);
        let prompt = self
            .input_tokens
            .unwrap_or(0)
            .saturating_add(cache_read)
            .saturating_add(cache_creation);
        let completion = self.output_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: (cache_read > 0 || cache_creation > 0).then_some(
                PromptTokensDetails {
                    cached_tokens: cache_read,
                    cache_creation_tokens: cache_creation,
                },
            ),
        }
    }

    /// The inverse of [`MessageUsage::to_canonical`], every field present.
    pub fn from_canonical(usage: &Usage) -> MessageUsage {
        let cache_read = usage.cached_tokens();
        let cache_creation = usage
            .prompt_tokens_details
            .map(|d| d.cache_creation_tokens)
            .unwrap_or(0);
        MessageUsage {
            input_tokens: Some(
                usage
                    .prompt_tokens
                    .saturating_sub(cache_read)
                    .saturating_sub(cache_creation),
            ),
            cache_creation_input_tokens: Some(cache_creation),
            cache_read_input_tokens: Some(cache_read),
            output_tokens: Some(usage.completion_tokens),
        }
    }
}

/// `{"type": "error", "error": {"type", "message"}}`.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ErrorDetail<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub message: &'a str,
}

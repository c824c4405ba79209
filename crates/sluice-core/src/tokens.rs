//! Request token estimates for the admit stage: how many tokens to reserve before the upstream
//! call (settle replaces them with the upstream's own count).
//!
//! - **OpenAI models** (`gpt-*`, `o1`/`o3`/`o4`, embeddings, ...; any provider prefix) are
//!   counted with OpenAI's own BPE (`tiktoken-rs`): `o200k_base` for gpt-4o, gpt-4.1, gpt-5 and
//!   the o-series, `cl100k_base` for older models. Chat adds OpenAI's documented framing: 3
//!   tokens per message (+1 for a `name`) and 3 priming the reply. Tool definitions are
//!   counted as their JSON, which slightly over-counts OpenAI's internal rendering.
//! - **Other models** (Claude, Llama, ...): characters / 4, rounded up — an approximation; their
//!   tokenizers are not public or not shipped.
//! - **Images**: a fixed [`IMAGE_TOKENS`] (a 1024×1024 image at `detail: high` on gpt-4o), or
//!   [`IMAGE_TOKENS_LOW_DETAIL`]; image sizes are not decoded. Audio and file parts:
//!   [`OTHER_PART_TOKENS`] each.
//!
//! The BPE tables are built once per process (a few hundred ms); call [`warm_up`] at start-up
//! so the first request does not pay for it.

use serde_json::Value;
use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::wire::{
    ChatCompletionRequest, ChatMessage, CompletionRequest, ContentPart, EmbeddingRequest,
    MessageContent,
};

/// Framing tokens of every chat message (OpenAI: `<|start|>{role}\n{content}<|end|>\n`, with the
/// role counted separately as [`ROLE_TOKENS`]).
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Every role name (`system`, `user`, ...) is one token.
pub const ROLE_TOKENS: u64 = 1;
/// Extra token of a message `name`.
pub const TOKENS_PER_NAME: u64 = 1;
/// Tokens priming the reply (`<|start|>assistant<|message|>`).
pub const REPLY_PRIMING_TOKENS: u64 = 3;
/// An image at `detail: high` or `auto`: 85 base + 4 tiles × 170, a 1024×1024 image on gpt-4o.
pub const IMAGE_TOKENS: u64 = 765;
/// An image at `detail: low`.
pub const IMAGE_TOKENS_LOW_DETAIL: u64 = 85;
/// An audio or file part, whose size is not decoded.
pub const OTHER_PART_TOKENS: u64 = 1_000;

/// What a request is expected to use: reserve `prompt + completion` tokens and price them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenEstimate {
    pub prompt: u64,
    /// The output ceiling: `max_completion_tokens`/`max_tokens` (or the configured default),
    /// times `n` choices.
    pub completion: u64,
}

impl TokenEstimate {
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }

    /// As a [`Usage`](crate::wire::Usage), to price the estimate with the price table.
    pub fn as_usage(&self) -> crate::wire::Usage {
        crate::wire::Usage::new(self.prompt, self.completion)
    }
}

/// Builds the BPE tables now rather than on the first request.
pub fn warm_up() {
    let _ = tiktoken_rs::o200k_base_singleton();
    let _ = tiktoken_rs::cl100k_base_singleton();
}

/// Whether `model` (with or without a `provider/` prefix) is counted with a real BPE.
pub fn uses_bpe(model: &str) -> bool {
    bpe_for(model).is_some()
}

/// Tokens of `text` for `model`.
///
/// ```
/// use sluice_core::tokens::count_text_tokens;
/// assert_eq!(count_text_tokens("openai/gpt-4o-mini", "hello world"), 2);
/// assert_eq!(count_text_tokens("anthropic/claude-3-5-haiku-latest", "hello world"), 3);
/// ```
pub fn count_text_tokens(model: &str, text: &str) -> u64 {
    let mut tally = Tally::new(model);
    tally.text(text);
    tally.finish()
}

/// Estimated prompt tokens of a chat request.
pub fn estimate_prompt_tokens(model: &str, req: &ChatCompletionRequest) -> u64 {
    let mut tally = Tally::new(model);
    for message in &req.messages {
        tally.message(message);
    }
    if let Some(tools) = &req.tools
        && !tools.is_empty()
        && let Ok(json) = serde_json::to_string(tools)
    {
        tally.text(&json);
    }
    tally.fixed(REPLY_PRIMING_TOKENS);
    tally.finish()
}

/// The reservation estimate of a chat request: prompt, and the output ceiling the client set
/// (or `default_max_output` when it set none) for each of its `n` choices.
///
/// ```
/// use sluice_core::tokens::estimate_chat_tokens;
/// use sluice_core::wire::{ChatCompletionRequest, ChatMessage, Role};
/// let req = ChatCompletionRequest {
///     model: "gpt-4o-mini".into(),
///     messages: vec![ChatMessage::text(Role::User, "hello world")],
///     max_tokens: Some(100),
///     ..Default::default()
/// };
/// let est = estimate_chat_tokens("gpt-4o-mini", &req, 4096);
/// assert_eq!((est.prompt, est.completion), (3 + 1 + 2 + 3, 100));
/// ```
pub fn estimate_chat_tokens(
    model: &str,
    req: &ChatCompletionRequest,
    default_max_output: u64,
) -> TokenEstimate {
    let per_choice = req
        .max_output_tokens()
        .map_or(default_max_output, u64::from);
    TokenEstimate {
        prompt: estimate_prompt_tokens(model, req),
        completion: per_choice.saturating_mul(u64::from(req.n.unwrap_or(1).max(1))),
    }
}

/// Estimated tokens of a `/v1/completions` `prompt` or `/v1/embeddings` `input`: a string, an
/// array of strings, an array of token ids, or an array of token-id arrays.
pub fn estimate_input_tokens(model: &str, input: &Value) -> u64 {
    let mut tally = Tally::new(model);
    match input {
        Value::Array(items) => {
            for item in items {
                match item {
                    // One token id.
                    Value::Number(_) => tally.fixed(1),
                    Value::Array(ids) => tally.fixed(ids.len() as u64),
                    other => tally.json(other),
                }
            }
        }
        other => tally.json(other),
    }
    tally.finish()
}

/// The reservation estimate of a legacy completion request.
pub fn estimate_completion_tokens(
    model: &str,
    req: &CompletionRequest,
    default_max_output: u64,
) -> TokenEstimate {
    TokenEstimate {
        prompt: estimate_input_tokens(model, &req.prompt),
        completion: req.max_tokens.map_or(default_max_output, u64::from),
    }
}

/// The reservation estimate of an embeddings request (no output tokens).
pub fn estimate_embedding_tokens(model: &str, req: &EmbeddingRequest) -> TokenEstimate {
    TokenEstimate {
        prompt: estimate_input_tokens(model, &req.input),
        completion: 0,
    }
}

fn bpe_for(model: &str) -> Option<&'static CoreBPE> {
    // `openai/gpt-4o`, `mock/gpt-4o-mini`, `openrouter/openai/gpt-4o`: the last segment.
    let name = model.rsplit('/').next().unwrap_or(model);
    match get_tokenizer(name)? {
        Tokenizer::O200kBase | Tokenizer::O200kHarmony => Some(tiktoken_rs::o200k_base_singleton()),
        // Legacy encodings (p50k, r50k) differ from cl100k by a few percent: close enough to
        // reserve with, and not worth loading more tables for retired models.
        _ => Some(tiktoken_rs::cl100k_base_singleton()),
    }
}

/// Accumulates a count: BPE tokens, or characters to divide by 4 once at the end.
struct Tally {
    bpe: Option<&'static CoreBPE>,
    tokens: u64,
    chars: u64,
}

impl Tally {
    fn new(model: &str) -> Self {
        Tally {
            bpe: bpe_for(model),
            tokens: 0,
            chars: 0,
        }
    }

    fn text(&mut self, s: &str) {
        match self.bpe {
            // Ordinary encoding: text that looks like `<|endoftext|>` is text, as for the API.
            Some(bpe) => self.fixed(bpe.encode_ordinary(s).len() as u64),
            None => self.chars = self.chars.saturating_add(s.chars().count() as u64),
        }
    }

    fn fixed(&mut self, n: u64) {
        self.tokens = self.tokens.saturating_add(n);
    }

    fn json(&mut self, v: &Value) {
        match v {
            Value::Null => {}
            Value::String(s) => self.text(s),
            other => self.text(&other.to_string()),
        }
    }

    fn message(&mut self, m: &ChatMessage) {
        self.fixed(TOKENS_PER_MESSAGE + ROLE_TOKENS);
        match &m.content {
            Some(MessageContent::Text(s)) => self.text(s),
            Some(MessageContent::Parts(parts)) => {
                for part in parts {
                    match part {
                        ContentPart::Text { text } => self.text(text),
                        ContentPart::ImageUrl { image_url } => {
                            self.fixed(match image_url.detail.as_deref() {
                                Some("low") => IMAGE_TOKENS_LOW_DETAIL,
                                _ => IMAGE_TOKENS,
                            })
                        }
                        ContentPart::InputAudio { .. } | ContentPart::File { .. } => {
                            self.fixed(OTHER_PART_TOKENS)
                        }
                    }
                }
            }
            None => {}
        }
        if let Some(name) = &m.name {
            self.text(name);
            self.fixed(TOKENS_PER_NAME);
        }
        for call in m.tool_calls.iter().flatten() {
            self.text(&call.function.name);
            self.text(&call.function.arguments);
            self.fixed(1);
        }
        if let Some(id) = &m.tool_call_id {
            self.text(id);
        }
    }

    fn finish(&self) -> u64 {
        self.tokens.saturating_add(self.chars.div_ceil(4))
    }
}

#[cfg(test)]
mod tests;

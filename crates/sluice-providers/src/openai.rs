//! OpenAI and every OpenAI-compatible upstream (groq, mistral, together, deepseek, xai,
//! openrouter, ollama, vllm, `sluice mock`).

use bytes::Bytes;
use sluice_core::wire::{ChatCompletionRequest, CompletionRequest, EmbeddingRequest};

use crate::stream::{ChunkDecoder, StreamItem};
use crate::{DecodeError, Decoded, EncodeError, Target};

pub fn encode_chat(
    target: &Target<'_>,
    req: &ChatCompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let _ = (target, req);
    todo!(
        "POST {{base_url}}/chat/completions, Authorization: Bearer, model replaced, fallbacks dropped"
    )
}

pub fn encode_completion(
    target: &Target<'_>,
    req: &CompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let _ = (target, req);
    todo!()
}

pub fn encode_embeddings(
    target: &Target<'_>,
    req: &EmbeddingRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let _ = (target, req);
    todo!()
}

/// Body unchanged; only `usage` is read.
pub fn decode_passthrough(body: &[u8]) -> Result<Decoded, DecodeError> {
    let _ = body;
    todo!()
}

/// Decodes `data: {chunk}` lines and `data: [DONE]`.
pub struct ChatStreamDecoder {}

impl ChatStreamDecoder {
    pub fn new() -> Self {
        ChatStreamDecoder {}
    }
}

impl Default for ChatStreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkDecoder for ChatStreamDecoder {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamItem>) {
        let _ = (bytes, out);
        todo!()
    }

    fn finish(&mut self, out: &mut Vec<StreamItem>) {
        let _ = out;
        todo!()
    }
}

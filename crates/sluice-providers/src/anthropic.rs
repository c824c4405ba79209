//! Anthropic Messages API upstream: canonical request → `POST {base_url}/v1/messages`
//! (`x-api-key`, `anthropic-version: 2023-06-01`), message → `chat.completion`, stream events
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`, `ping`, `error`) →
//! `chat.completion.chunk`s.

use bytes::Bytes;
use sluice_core::wire::{ChatCompletionRequest, CompletionRequest};

use crate::stream::{ChunkDecoder, StreamItem};
use crate::{DecodeError, Decoded, EncodeError, Target};

pub fn encode_chat(
    target: &Target<'_>,
    req: &ChatCompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let _ = (target, req);
    todo!()
}

pub fn encode_completion(
    target: &Target<'_>,
    req: &CompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let _ = (target, req);
    todo!()
}

pub fn decode_chat(body: &[u8]) -> Result<Decoded, DecodeError> {
    let _ = body;
    todo!()
}

pub fn decode_completion(body: &[u8]) -> Result<Decoded, DecodeError> {
    let _ = body;
    todo!()
}

pub struct ChatStreamDecoder {}

impl ChatStreamDecoder {
    pub fn new(model: &str) -> Self {
        let _ = model;
        ChatStreamDecoder {}
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

//! Incremental stream decoding: bytes from the upstream in, canonical chunks out.

use sluice_core::wire::ChatCompletionChunk;

use crate::UpstreamError;

/// One decoded item of an upstream stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Chunk(ChatCompletionChunk),
    /// The upstream ended the stream cleanly (`[DONE]`, `message_stop`).
    Done,
    /// The upstream reported an error inside the stream (Anthropic `error` event, OpenAI
    /// `{"error": ...}` data line, or unparsable data).
    Error(UpstreamError),
}

/// A push decoder: feed it body bytes as they arrive, in any split.
pub trait ChunkDecoder {
    /// Decodes what `bytes` completes and appends the items to `out`.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamItem>);
    /// The upstream body ended. If no `Done` was seen, appends an `Error` saying the stream
    /// ended early (a broken stream must never look like a clean end).
    fn finish(&mut self, out: &mut Vec<StreamItem>);
}

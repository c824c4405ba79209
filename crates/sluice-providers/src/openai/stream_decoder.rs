//! OpenAI chat streams: `data: {chunk}` lines, then `data: [DONE]`.

use serde_json::Value;
use sluice_core::ProviderKind;
use sluice_core::wire::ChatCompletionChunk;

use crate::UpstreamError;
use crate::error::in_stream_error;
use crate::sse::{SseEvent, SseParser};
use crate::stream::{ChunkDecoder, StreamItem};

/// Decodes `data: {chunk}` lines and `data: [DONE]`.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder {
    sse: SseParser,
    events: Vec<SseEvent>,
    /// `Done` or an `Error` was emitted; anything after it is ignored.
    ended: bool,
}

impl ChatStreamDecoder {
    pub fn new() -> Self {
        ChatStreamDecoder::default()
    }

    fn decode(&mut self, data: &str, out: &mut Vec<StreamItem>) {
        if self.ended {
            return;
        }
        let data = data.trim();
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            self.ended = true;
            out.push(StreamItem::Done);
            return;
        }
        // The hot path: a chunk parses on the first try.
        match serde_json::from_str::<ChatCompletionChunk>(data) {
            Ok(chunk) => out.push(StreamItem::Chunk(chunk)),
            Err(chunk_error) => {
                self.ended = true;
                let error = serde_json::from_str::<Value>(data)
                    .ok()
                    .and_then(|v| in_stream_error(ProviderKind::Openai, &v))
                    .unwrap_or_else(|| {
                        UpstreamError::broken_stream(
                            ProviderKind::Openai,
                            format!("upstream sent an unparsable stream chunk: {chunk_error}"),
                        )
                    });
                out.push(StreamItem::Error(error));
            }
        }
    }
}

impl ChunkDecoder for ChatStreamDecoder {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamItem>) {
        self.sse.push(bytes, &mut self.events);
        let mut events = std::mem::take(&mut self.events);
        for event in events.drain(..) {
            self.decode(&event.data, out);
        }
        self.events = events;
    }

    fn finish(&mut self, out: &mut Vec<StreamItem>) {
        if self.ended {
            return;
        }
        // Some OpenAI-compatible servers omit the blank line after the final `data: [DONE]`.
        if let Some(last) = self.sse.take_partial()
            && last.data.trim() == "[DONE]"
        {
            self.decode(&last.data, out);
            return;
        }
        self.ended = true;
        out.push(StreamItem::Error(UpstreamError::broken_stream(
            ProviderKind::Openai,
            "upstream stream ended before [DONE]",
        )));
    }
}

//! A push parser for Server-Sent Events (WHATWG): bytes in any split, events out.
//!
//! Written by hand because the crates that parse SSE (eventsource-stream) are tied to async
//! `Stream`s, and this crate is sans-IO.

/// One SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` field; `None` means the default `message`.
    pub event: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {}

impl SseParser {
    pub fn new() -> Self {
        SseParser {}
    }

    /// Feeds bytes; appends each completed event to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        let _ = (bytes, out);
        todo!()
    }

    /// Whether bytes of an unfinished event are buffered (a stream cut mid-event).
    pub fn has_partial(&self) -> bool {
        todo!()
    }
}

//! A push parser for Server-Sent Events (WHATWG): bytes in any split, events out.
//!
//! Written by hand because the crates that parse SSE (eventsource-stream) are tied to async
//! `Stream`s, and this crate is sans-IO.
//!
//! Bytes are buffered per line and decoded only once the line is complete: the line terminators
//! (CR, LF, CRLF) are ASCII, so they never occur inside a multi-byte UTF-8 sequence, and a chunk
//! boundary inside such a sequence is harmless.

use std::mem;

/// One SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` field; `None` means the default `message`.
    pub event: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

/// The UTF-8 byte order mark, which the spec strips from the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Feed it body bytes as they arrive; it yields each event once its blank line arrives.
///
/// ```
/// use sluice_providers::sse::SseParser;
///
/// let mut parser = SseParser::new();
/// let mut events = Vec::new();
/// parser.push(b"event: ping\r\ndata: {\"type\":", &mut events);
/// assert!(events.is_empty() && parser.has_partial());
/// parser.push(b" \"ping\"}\r\n\r\n", &mut events);
/// assert_eq!(events[0].event.as_deref(), Some("ping"));
/// assert_eq!(events[0].data, r#"{"type": "ping"}"#);
/// ```
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unterminated line.
    line: Vec<u8>,
    /// The last byte seen was a CR: an LF at the start of the next push belongs to it.
    pending_cr: bool,
    /// No line has been completed yet (the BOM check applies to the first line only).
    seen_line: bool,
    /// `event:` of the event being built.
    event: Option<String>,
    /// `data:` lines of the event being built, each followed by `\n`.
    data: String,
}

impl SseParser {
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Feeds bytes; appends each completed event to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        // An empty read says nothing about a CR pending from the last push: keep it.
        if bytes.is_empty() {
            return;
        }
        let mut rest = bytes;
        if mem::take(&mut self.pending_cr) && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            if self.line.is_empty() {
                self.process_line(&rest[..end], out);
            } else {
                self.line.extend_from_slice(&rest[..end]);
                let line = mem::take(&mut self.line);
                self.process_line(&line, out);
                // Keep the allocation for the next partial line.
                self.line = line;
                self.line.clear();
            }
            let terminator = rest[end];
            rest = &rest[end + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
    }

    /// Whether bytes of an unfinished event are buffered (a stream cut mid-event).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || !self.data.is_empty() || self.event.is_some()
    }

    /// End of stream: the event that a final blank line would have dispatched, if any.
    ///
    /// The spec discards an unterminated event at end of stream, and decoders must treat it as a
    /// truncated stream. This exists for the lenient check of a final `data: [DONE]` that some
    /// OpenAI-compatible servers send without the trailing blank line.
    pub fn take_partial(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = mem::take(&mut self.line);
            self.process_line(&line, &mut out);
        }
        self.process_line(b"", &mut out);
        out.pop()
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let line = if self.seen_line {
            line
        } else {
            self.seen_line = true;
            line.strip_prefix(BOM).unwrap_or(line)
        };
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment (keep-alives such as `: OPENROUTER PROCESSING`)
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            // `id` and `retry` matter only to a reconnecting browser; other fields are ignored.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take().filter(|e| !e.is_empty());
        if self.data.is_empty() {
            return; // the spec dispatches nothing for an event without data
        }
        let mut data = mem::take(&mut self.data);
        data.pop(); // the `\n` after the last data line
        out.push(SseEvent { event, data });
    }
}

#[cfg(test)]
mod tests;

//! OpenAI ingress: SSE framing of chunks and the error envelope.

use bytes::Bytes;
use sluice_core::wire::ChatCompletionChunk;

/// `data: {chunk}\n\n`.
pub fn sse_chunk(chunk: &ChatCompletionChunk) -> Bytes {
    let _ = chunk;
    todo!()
}

/// `data: [DONE]\n\n`.
pub const SSE_DONE: &[u8] = b"data: [DONE]\n\n";

/// `{"error": {"message", "type", "code", "param"}}`.
pub fn error_body(
    message: &str,
    error_type: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> Bytes {
    let _ = (message, error_type, code, param);
    todo!()
}

/// A mid-stream error event, as OpenAI sends one: `data: {"error": {...}}\n\n` (no `[DONE]`
/// follows, so clients see the stream did not end cleanly).
pub fn sse_error(message: &str, error_type: &str, code: Option<&str>) -> Bytes {
    let _ = (message, error_type, code);
    todo!()
}

//! OpenAI ingress: SSE framing of chunks and the error envelope.

use bytes::Bytes;
use sluice_core::wire::{ChatCompletionChunk, OpenAiError, OpenAiErrorBody};

use crate::json;

/// `data: {chunk}\n\n`.
pub fn sse_chunk(chunk: &ChatCompletionChunk) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    json::write(&mut out, chunk);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
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
    json::to_bytes(&envelope(message, error_type, code, param))
}

/// A mid-stream error event, as OpenAI sends one: `data: {"error": {...}}\n\n` (no `[DONE]`
/// follows, so clients see the stream did not end cleanly).
pub fn sse_error(message: &str, error_type: &str, code: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(128 + message.len());
    out.extend_from_slice(b"data: ");
    json::write(&mut out, &envelope(message, error_type, code, None));
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn envelope(
    message: &str,
    error_type: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> OpenAiErrorBody {
    OpenAiErrorBody {
        error: OpenAiError {
            message: message.to_string(),
            kind: error_type.to_string(),
            code: code.map(str::to_string),
            param: param.map(str::to_string),
        },
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::wire::{ChunkChoice, Delta};

    use super::*;

    #[test]
    fn chunk_is_framed_as_one_data_event() {
        let chunk = ChatCompletionChunk {
            id: "chatcmpl-1".into(),
            object: "chat.completion.chunk".into(),
            created: 7,
            model: "gpt-4o-mini".into(),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Delta {
                    content: Some("Hi".into()),
                    ..Delta::default()
                },
                finish_reason: None,
                logprobs: None,
            }],
            usage: None,
            system_fingerprint: None,
        };
        assert_eq!(
            &sse_chunk(&chunk)[..],
            br#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}

"#
        );
    }

    #[test]
    fn error_body_has_null_code_and_param_when_absent() {
        assert_eq!(
            &error_body("No such model", "invalid_request_error", None, None)[..],
            br#"{"error":{"message":"No such model","type":"invalid_request_error","code":null,"param":null}}"#
        );
    }

    #[test]
    fn error_body_carries_code_and_param() {
        assert_eq!(
            &error_body("bad", "invalid_request_error", Some("bad_fallback"), Some("fallbacks"))[..],
            br#"{"error":{"message":"bad","type":"invalid_request_error","code":"bad_fallback","param":"fallbacks"}}"#
        );
    }

    #[test]
    fn sse_error_is_a_data_event_with_the_error_envelope() {
        assert_eq!(
            &sse_error("upstream failed", "api_error", Some("upstream_error"))[..],
            b"data: {\"error\":{\"message\":\"upstream failed\",\"type\":\"api_error\",\"code\":\"upstream_error\",\"param\":null}}\n\n"
        );
    }
}

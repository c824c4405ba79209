//! Stage 1, ingress: read the body (bounded) and parse it into the canonical request.
//!
//! Runs first, before any config is consulted beyond the body limit. May reject with 400
//! (malformed JSON, missing field, naming it) or 413 (body over `server.max_body_bytes`).

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use sluice_core::wire::{ChatCompletionRequest, CompletionRequest, EmbeddingRequest};
use sluice_providers::EncodeError;

use crate::error::{GatewayError, Ingress};

/// What the client asked for, in canonical form.
#[derive(Debug)]
pub enum Operation {
    Chat(ChatCompletionRequest),
    Completion(CompletionRequest),
    Embeddings(EmbeddingRequest),
}

impl Operation {
    pub fn model(&self) -> &str {
        match self {
            Operation::Chat(r) => &r.model,
            Operation::Completion(r) => &r.model,
            Operation::Embeddings(r) => &r.model,
        }
    }

    pub fn fallbacks(&self) -> &[String] {
        let f = match self {
            Operation::Chat(r) => &r.fallbacks,
            Operation::Completion(r) => &r.fallbacks,
            Operation::Embeddings(r) => &r.fallbacks,
        };
        f.as_deref().unwrap_or(&[])
    }

    pub fn is_stream(&self) -> bool {
        match self {
            Operation::Chat(r) => r.is_stream(),
            Operation::Completion(r) => r.is_stream(),
            Operation::Embeddings(_) => false,
        }
    }

    /// Whether the client asked for the usage chunk at the end of a stream.
    pub fn wants_stream_usage(&self) -> bool {
        match self {
            Operation::Chat(r) => r
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
            _ => false,
        }
    }
}

/// Which endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
    AnthropicMessages,
}

impl Endpoint {
    pub fn ingress(self) -> Ingress {
        match self {
            Endpoint::AnthropicMessages => Ingress::Anthropic,
            _ => Ingress::OpenAi,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Completions => "/v1/completions",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::AnthropicMessages => "/anthropic/v1/messages",
        }
    }
}

/// Reads at most `limit` bytes of body; more is a 413.
pub async fn read_body(
    body: Incoming,
    content_length: Option<u64>,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    if content_length.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(GatewayError::PayloadTooLarge { limit })
        }
        Err(e) => Err(GatewayError::bad_request(
            format!("could not read the request body: {e}"),
            None,
        )),
    }
}

/// Parses the body of `endpoint` into the canonical operation.
pub fn parse(endpoint: Endpoint, body: &[u8]) -> Result<Operation, GatewayError> {
    let op = match endpoint {
        Endpoint::ChatCompletions => Operation::Chat(parse_json(body)?),
        Endpoint::Completions => Operation::Completion(parse_json(body)?),
        Endpoint::Embeddings => Operation::Embeddings(parse_json(body)?),
        Endpoint::AnthropicMessages => {
            let req =
                sluice_providers::ingress::anthropic::parse_request(body).map_err(|e| match e {
                    EncodeError::Invalid { param, message } => GatewayError::BadRequest {
                        message,
                        param,
                        code: "invalid_request",
                    },
                    other => GatewayError::bad_request(other.to_string(), None),
                })?;
            Operation::Chat(req)
        }
    };
    validate(&op)?;
    Ok(op)
}

fn validate(op: &Operation) -> Result<(), GatewayError> {
    if op.model().trim().is_empty() {
        return Err(GatewayError::bad_request(
            "'model' must not be empty",
            Some("model"),
        ));
    }
    if let Operation::Chat(r) = op
        && r.messages.is_empty()
    {
        return Err(GatewayError::bad_request(
            "'messages' must contain at least one message",
            Some("messages"),
        ));
    }
    Ok(())
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        // serde names a missing or mistyped field between backticks; surface it as `param`.
        let param = if msg.starts_with("missing field") || msg.starts_with("invalid type") {
            msg.split('`').nth(1).map(str::to_string)
        } else {
            None
        };
        let param = param.filter(|p| !p.contains(' '));
        GatewayError::BadRequest {
            message: format!("invalid request body: {msg}"),
            param,
            code: "invalid_request",
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_is_a_bad_request() {
        let e = parse(Endpoint::ChatCompletions, b"{not json").unwrap_err();
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse(Endpoint::ChatCompletions, br#"{"model":"openai/x"}"#).unwrap_err();
        match e {
            GatewayError::BadRequest { param, message, .. } => {
                assert_eq!(param.as_deref(), Some("messages"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn empty_messages_are_rejected() {
        let e = parse(
            Endpoint::ChatCompletions,
            br#"{"model":"m/x","messages":[]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("messages"));
    }
}

//! Sans-IO provider adapters: encode a canonical (OpenAI-shaped) request into an
//! `http::Request`, decode responses back into canonical shapes, translate SSE streams
//! incrementally, classify errors and read upstream rate-limit headers.
//!
//! Nothing here does I/O: the data plane moves the bytes, these functions decide what they are.

pub mod anthropic;
pub mod error;
pub mod ingress;
mod json;
pub mod openai;
pub mod ratelimit;
mod request;
pub mod sse;
pub mod stream;

use bytes::Bytes;
use http::HeaderMap;
use sluice_core::ProviderKind;
use sluice_core::wire::{ChatCompletionRequest, CompletionRequest, EmbeddingRequest, Usage};

pub use error::{DecodeError, EncodeError, UpstreamError};
pub use ratelimit::RateLimitInfo;
pub use stream::{ChunkDecoder, StreamItem};

/// Where and how one upstream attempt is sent.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub kind: ProviderKind,
    /// `https://api.openai.com/v1` for OpenAI-compatible, `https://api.anthropic.com` for
    /// Anthropic (the SDKs' base URL conventions). No trailing slash required.
    pub base_url: &'a str,
    /// `None` for keyless local servers (ollama, vllm).
    pub api_key: Option<&'a str>,
    /// Added to the request as-is (`network_config.extra_headers`).
    pub extra_headers: &'a HeaderMap,
    /// The upstream model name (provider prefix already stripped).
    pub model: &'a str,
}

/// A successful non-streaming response, in the canonical OpenAI shape.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// OpenAI-shaped JSON (`chat.completion`, `text_completion`, or embeddings `list`). For an
    /// OpenAI-compatible upstream this is the upstream body unchanged.
    pub body: Bytes,
    pub usage: Option<Usage>,
}

/// Encodes a chat request. The `fallbacks` extension is never sent upstream; `model` is replaced
/// by `target.model`. Streaming requests to OpenAI-compatible upstreams ask for
/// `stream_options.include_usage` so usage can be settled.
pub fn encode_chat(
    target: &Target<'_>,
    req: &ChatCompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    match target.kind {
        ProviderKind::Openai => openai::encode_chat(target, req),
        ProviderKind::Anthropic => anthropic::encode_chat(target, req),
    }
}

/// Encodes a legacy completion request (Anthropic: as a one-message chat).
pub fn encode_completion(
    target: &Target<'_>,
    req: &CompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    match target.kind {
        ProviderKind::Openai => openai::encode_completion(target, req),
        ProviderKind::Anthropic => anthropic::encode_completion(target, req),
    }
}

/// Encodes an embeddings request (`EncodeError::Unsupported` for Anthropic).
pub fn encode_embeddings(
    target: &Target<'_>,
    req: &EmbeddingRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    match target.kind {
        ProviderKind::Openai => openai::encode_embeddings(target, req),
        ProviderKind::Anthropic => Err(EncodeError::Unsupported {
            provider: "anthropic",
            operation: "embeddings",
        }),
    }
}

/// Decodes a 2xx chat body into a `chat.completion`.
pub fn decode_chat(kind: ProviderKind, body: &[u8]) -> Result<Decoded, DecodeError> {
    match kind {
        ProviderKind::Openai => openai::decode_passthrough(body),
        ProviderKind::Anthropic => anthropic::decode_chat(body),
    }
}

/// Decodes a 2xx completion body into a `text_completion`.
pub fn decode_completion(kind: ProviderKind, body: &[u8]) -> Result<Decoded, DecodeError> {
    match kind {
        ProviderKind::Openai => openai::decode_passthrough(body),
        ProviderKind::Anthropic => anthropic::decode_completion(body),
    }
}

/// Decodes a 2xx embeddings body.
pub fn decode_embeddings(kind: ProviderKind, body: &[u8]) -> Result<Decoded, DecodeError> {
    match kind {
        ProviderKind::Openai => openai::decode_passthrough(body),
        ProviderKind::Anthropic => Err(DecodeError::Invalid(
            "anthropic has no embeddings endpoint".into(),
        )),
    }
}

/// Classifies a non-2xx upstream answer: status, error body and rate-limit headers.
/// `now` (Unix seconds) resolves `retry-after` HTTP-dates and absolute reset timestamps.
pub fn classify_error(
    kind: ProviderKind,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now_unix_secs: u64,
) -> UpstreamError {
    error::classify(kind, status, headers, body, now_unix_secs)
}

/// A stream decoder for a chat stream from this provider, yielding canonical chunks.
/// `model` is the name reported in chunks when the upstream does not say.
pub fn chat_stream_decoder(kind: ProviderKind, model: &str) -> Box<dyn ChunkDecoder + Send> {
    match kind {
        ProviderKind::Openai => Box::new(openai::ChatStreamDecoder::new()),
        ProviderKind::Anthropic => Box::new(anthropic::ChatStreamDecoder::new(model)),
    }
}

/// [`decode_chat`] stamping `created` (Unix seconds) where the upstream format has no such
/// field (Anthropic).
pub fn decode_chat_at(
    kind: ProviderKind,
    body: &[u8],
    created_unix: u64,
) -> Result<Decoded, DecodeError> {
    match kind {
        ProviderKind::Openai => openai::decode_passthrough(body),
        ProviderKind::Anthropic => anthropic::decode_chat_with_created(body, created_unix),
    }
}

/// [`chat_stream_decoder`] stamping `created` (Unix seconds) on chunks of upstreams that do
/// not send it (Anthropic).
pub fn chat_stream_decoder_at(
    kind: ProviderKind,
    model: &str,
    created_unix: u64,
) -> Box<dyn ChunkDecoder + Send> {
    match kind {
        ProviderKind::Openai => Box::new(openai::ChatStreamDecoder::new()),
        ProviderKind::Anthropic => Box::new(anthropic::ChatStreamDecoder::with_created(
            model,
            created_unix,
        )),
    }
}

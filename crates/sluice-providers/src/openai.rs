//! OpenAI and every OpenAI-compatible upstream (groq, mistral, together, deepseek, xai,
//! openrouter, ollama, vllm, `sluice mock`).
//!
//! The canonical form *is* OpenAI's, so encoding only swaps `model`, drops the `fallbacks`
//! extension and asks for streamed usage; responses pass through unchanged.

mod stream_decoder;

use std::borrow::Cow;

use bytes::Bytes;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sluice_core::wire::{
    ChatCompletionRequest, ChatMessage, CompletionRequest, EmbeddingRequest, PromptTokensDetails,
    StopSequences, StreamOptions, Tool, Usage,
};

use crate::request::{join_url, post_json, secret_header};
use crate::{DecodeError, Decoded, EncodeError, Target};

pub use stream_decoder::ChatStreamDecoder;

pub fn encode_chat(
    target: &Target<'_>,
    req: &ChatCompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    // Destructured without `..`: a field added to the canonical request fails to compile here
    // instead of being silently dropped on the way upstream.
    let ChatCompletionRequest {
        model: _,
        messages,
        stream,
        stream_options,
        max_tokens,
        max_completion_tokens,
        temperature,
        top_p,
        n,
        stop,
        tools,
        tool_choice,
        parallel_tool_calls,
        user,
        fallbacks: _,
        extra,
    } = req;
    let stream_options = match stream_options {
        // Usage arrives only when asked for; without it a stream cannot be settled.
        _ if !req.is_stream() => stream_options.as_ref().map(Cow::Borrowed),
        Some(o) if o.include_usage == Some(true) => Some(Cow::Borrowed(o)),
        other => {
            let mut o = other.clone().unwrap_or_default();
            o.include_usage = Some(true);
            Some(Cow::Owned(o))
        }
    };
    let body = ChatBody {
        model: target.model,
        messages,
        stream: *stream,
        stream_options,
        max_tokens: *max_tokens,
        max_completion_tokens: *max_completion_tokens,
        temperature: *temperature,
        top_p: *top_p,
        n: *n,
        stop: stop.as_ref(),
        tools: tools.as_deref(),
        tool_choice: tool_choice.as_ref(),
        parallel_tool_calls: *parallel_tool_calls,
        user: user.as_deref(),
        extra,
    };
    post_json(
        join_url(target.base_url, "chat/completions"),
        auth_headers(target)?,
        target.extra_headers,
        &body,
    )
}

pub fn encode_completion(
    target: &Target<'_>,
    req: &CompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let CompletionRequest {
        model: _,
        prompt,
        max_tokens,
        stream,
        fallbacks: _,
        extra,
    } = req;
    // The legacy request has no typed `stream_options`; patch it in a copy of `extra` (this
    // endpoint is rare enough that the copy does not matter).
    let patched;
    let extra = if req.is_stream() {
        let mut copy = extra.clone();
        include_usage(&mut copy);
        patched = copy;
        &patched
    } else {
        extra
    };
    let body = CompletionBody {
        model: target.model,
        prompt,
        max_tokens: *max_tokens,
        stream: *stream,
        extra,
    };
    post_json(
        join_url(target.base_url, "completions"),
        auth_headers(target)?,
        target.extra_headers,
        &body,
    )
}

pub fn encode_embeddings(
    target: &Target<'_>,
    req: &EmbeddingRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let EmbeddingRequest {
        model: _,
        input,
        encoding_format,
        dimensions,
        user,
        fallbacks: _,
        extra,
    } = req;
    let body = EmbeddingBody {
        model: target.model,
        input,
        encoding_format: encoding_format.as_deref(),
        dimensions: *dimensions,
        user: user.as_deref(),
        extra,
    };
    post_json(
        join_url(target.base_url, "embeddings"),
        auth_headers(target)?,
        target.extra_headers,
        &body,
    )
}

/// Body unchanged; only `usage` is read.
pub fn decode_passthrough(body: &[u8]) -> Result<Decoded, DecodeError> {
    // Validates the whole document but skips everything except `usage` without allocating.
    let envelope: UsageOnly<'_> =
        serde_json::from_slice(body).map_err(|e| DecodeError::Invalid(e.to_string()))?;
    // A usage object in an unexpected shape must not fail an otherwise good answer.
    let usage = envelope
        .usage
        .and_then(|raw| serde_json::from_str::<LenientUsage>(raw.get()).ok())
        .map(Usage::from);
    Ok(Decoded {
        body: Bytes::copy_from_slice(body),
        usage,
    })
}

fn auth_headers(target: &Target<'_>) -> Result<HeaderMap, EncodeError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = target.api_key {
        headers.insert(AUTHORIZATION, secret_header(&format!("Bearer {key}"))?);
    }
    Ok(headers)
}

/// Sets `stream_options.include_usage = true` in a JSON body map, keeping other options.
fn include_usage(body: &mut Map<String, Value>) {
    let options = body
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    match options {
        Value::Object(o) => {
            o.insert("include_usage".into(), Value::Bool(true));
        }
        other => *other = serde_json::json!({"include_usage": true}),
    }
}

/// The chat request as sent upstream, borrowing from the canonical one.
#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<Cow<'a, StreamOptions>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a StopSequences>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

#[derive(Serialize)]
struct CompletionBody<'a> {
    model: &'a str,
    prompt: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

#[derive(Serialize)]
struct EmbeddingBody<'a> {
    model: &'a str,
    input: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

#[derive(Deserialize)]
struct UsageOnly<'a> {
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
}

/// `usage` as OpenAI-compatible servers really send it: any field may be missing or `null`.
#[derive(Deserialize)]
struct LenientUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    prompt_tokens_details: Option<LenientDetails>,
}

#[derive(Deserialize)]
struct LenientDetails {
    cached_tokens: Option<u64>,
    cache_creation_tokens: Option<u64>,
}

impl From<LenientUsage> for Usage {
    fn from(u: LenientUsage) -> Usage {
        let prompt = u.prompt_tokens.unwrap_or(0);
        let completion = u.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: u.total_tokens.unwrap_or(prompt.saturating_add(completion)),
            prompt_tokens_details: u.prompt_tokens_details.map(|d| PromptTokensDetails {
                cached_tokens: d.cached_tokens.unwrap_or(0),
                cache_creation_tokens: d.cache_creation_tokens.unwrap_or(0),
            }),
        }
    }
}

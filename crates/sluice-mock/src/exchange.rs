//! What every inference endpoint hands the pipeline after parsing (an [`Exchange`]), and what
//! the pipeline hands back for rendering ([`Render`]).

use crate::config::Knobs;
use crate::reply::Reply;
use crate::stream::Pacing;

/// A parsed request with its deterministic answer already decided, so the pipeline can charge
/// its exact tokens before answering.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    /// The requested model, echoed in the response.
    pub model: String,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`: a usage chunk before `[DONE]`.
    pub include_usage: bool,
    /// Embeddings as base64 of little-endian f32 (`encoding_format: "base64"`).
    pub base64: bool,
    pub reply: Reply,
}

/// What parsing needs besides the body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParseCtx<'a> {
    pub key_label: &'a str,
    pub knobs: &'a Knobs,
}

/// What rendering needs besides the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Render {
    /// Sequence number of the request; ids are derived from it.
    pub seq: u64,
    /// Unix seconds for `created`.
    pub created: u64,
    pub pacing: Pacing,
}

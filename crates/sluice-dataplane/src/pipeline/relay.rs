//! Stage 7, relay: turn the upstream's answer into the client's wire format.
//!
//! Non-streaming: decode once and answer. Streaming: translate chunk by chunk as the upstream
//! sends them. Once the first byte is on its way to the client there is no failover; a
//! mid-stream failure becomes an explicit error event, never a fake clean end.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use sluice_core::wire::{ChatCompletion, ChatCompletionChunk, Usage};
use sluice_providers::ingress::{anthropic as anthropic_ingress, openai as openai_ingress};
use sluice_providers::sse::{SseEvent, SseParser};
use sluice_providers::{ChunkDecoder, StreamItem, UpstreamError};

use crate::body::GatewayBody;
use crate::error::{GatewayError, Ingress};

/// How the client wants stream items rendered.
pub enum StreamEncoder {
    /// OpenAI chat chunks; the usage-only chunk is forwarded only if the client asked for it.
    OpenAiChat {
        forward_usage: bool,
    },
    /// Legacy completions: chat chunks rendered as `text_completion` chunks.
    OpenAiCompletion,
    Anthropic(Box<anthropic_ingress::EventEncoder>),
}

impl StreamEncoder {
    fn chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut Vec<u8>) {
        match self {
            StreamEncoder::OpenAiChat { forward_usage } => {
                if chunk.choices.is_empty() && chunk.usage.is_some() && !*forward_usage {
                    return;
                }
                out.extend_from_slice(&openai_ingress::sse_chunk(chunk));
            }
            StreamEncoder::OpenAiCompletion => {
                let choices: Vec<serde_json::Value> = chunk
                    .choices
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "index": c.index,
                            "text": c.delta.content.as_deref().unwrap_or(""),
                            "finish_reason": c.finish_reason,
                            "logprobs": null,
                        })
                    })
                    .collect();
                let mut v = serde_json::json!({
                    "id": chunk.id,
                    "object": "text_completion",
                    "created": chunk.created,
                    "model": chunk.model,
                    "choices": choices,
                });
                if let Some(u) = chunk.usage {
                    v["usage"] = serde_json::to_value(u).unwrap_or_default();
                }
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(v.to_string().as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            StreamEncoder::Anthropic(enc) => enc.push(chunk, out),
        }
    }

    fn done(&mut self, out: &mut Vec<u8>) {
        match self {
            StreamEncoder::OpenAiChat { .. } | StreamEncoder::OpenAiCompletion => {
                out.extend_from_slice(openai_ingress::SSE_DONE)
            }
            StreamEncoder::Anthropic(enc) => enc.finish(out),
        }
    }

    fn error(&mut self, err: &GatewayError, out: &mut Vec<u8>) {
        match self {
            StreamEncoder::OpenAiChat { .. } | StreamEncoder::OpenAiCompletion => {
                out.extend_from_slice(&err.openai_stream_event())
            }
            StreamEncoder::Anthropic(enc) => enc.error(
                anthropic_ingress::error_type_for_status(err.status().as_u16()),
                &err.to_string(),
                out,
            ),
        }
    }
}

/// Reads from the upstream body until the decoder yields at least one item (or the body ends),
/// so the dispatch stage can still fail over if the stream opens with an error.
pub async fn prefetch(
    body: &mut Incoming,
    decoder: &mut (dyn ChunkDecoder + Send),
    idle: Duration,
) -> Result<Vec<StreamItem>, StreamFailure> {
    let mut items = Vec::new();
    while items.is_empty() {
        match next_bytes(body, idle).await {
            Ok(Some(bytes)) => decoder.push(&bytes, &mut items),
            Ok(None) => decoder.finish(&mut items),
            Err(f) => return Err(f),
        }
    }
    Ok(items)
}

/// Why reading the upstream stream failed.
#[derive(Debug)]
pub enum StreamFailure {
    Idle(Duration),
    Io(String),
}

async fn next_bytes(body: &mut Incoming, idle: Duration) -> Result<Option<Bytes>, StreamFailure> {
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(StreamFailure::Idle(idle)),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(StreamFailure::Io(e.to_string())),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// What a finished stream reports to the settle stage.
#[derive(Debug, Default)]
pub struct StreamOutcome {
    pub usage: Option<Usage>,
    pub completed: bool,
    pub error: Option<String>,
}

/// Called once when a relayed stream ends (cleanly, with an error, or because the client left).
pub type OnStreamEnd = Box<dyn FnOnce(StreamOutcome) + Send>;

struct RelayState {
    body: Incoming,
    decoder: Box<dyn ChunkDecoder + Send>,
    encoder: StreamEncoder,
    pending: VecDeque<StreamItem>,
    provider: String,
    idle: Duration,
    finished: bool,
    outcome: StreamOutcome,
    on_end: Option<OnStreamEnd>,
}

impl Drop for RelayState {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            if !self.finished && self.outcome.error.is_none() {
                self.outcome.error = Some("client disconnected".into());
            }
            f(std::mem::take(&mut self.outcome));
        }
    }
}

/// The client-facing SSE body: the prefetched items, then the rest of the upstream stream.
/// Dropping it (client gone) drops the upstream body, which cancels the upstream request.
pub fn stream_body(
    first: Vec<StreamItem>,
    body: Incoming,
    decoder: Box<dyn ChunkDecoder + Send>,
    encoder: StreamEncoder,
    provider: String,
    idle: Duration,
    on_end: OnStreamEnd,
) -> GatewayBody {
    let state = RelayState {
        body,
        decoder,
        encoder,
        pending: first.into(),
        provider,
        idle,
        finished: false,
        outcome: StreamOutcome::default(),
        on_end: Some(on_end),
    };
    let s = stream::unfold(state, |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            let mut out = Vec::new();
            while let Some(item) = st.pending.pop_front() {
                match item {
                    StreamItem::Chunk(c) => {
                        if let Some(u) = c.usage {
                            st.outcome.usage = Some(u);
                        }
                        st.encoder.chunk(&c, &mut out);
                    }
                    StreamItem::Done => {
                        st.encoder.done(&mut out);
                        st.outcome.completed = true;
                        st.finished = true;
                        break;
                    }
                    StreamItem::Error(e) => {
                        let err = mid_stream_error(&st.provider, e);
                        st.outcome.error = Some(err.to_string());
                        st.encoder.error(&err, &mut out);
                        st.finished = true;
                        break;
                    }
                }
            }
            if st.finished {
                st.pending.clear();
                return Some((Ok::<_, Infallible>(Frame::data(Bytes::from(out))), st));
            }
            if !out.is_empty() {
                return Some((Ok(Frame::data(Bytes::from(out))), st));
            }
            let mut items = Vec::new();
            match next_bytes(&mut st.body, st.idle).await {
                Ok(Some(bytes)) => st.decoder.push(&bytes, &mut items),
                Ok(None) => st.decoder.finish(&mut items),
                Err(f) => {
                    let detail = match f {
                        StreamFailure::Idle(d) => {
                            format!("upstream sent nothing for {} ms", d.as_millis())
                        }
                        StreamFailure::Io(e) => format!("upstream stream broke: {e}"),
                    };
                    items.push(StreamItem::Error(UpstreamError {
                        provider: sluice_core::ProviderKind::Openai,
                        status: None,
                        class: sluice_core::FailureClass::Transient,
                        message: detail,
                        error_type: Some("api_error".into()),
                        code: Some("upstream_stream_error".into()),
                        param: None,
                        rate_limit: Default::default(),
                    }));
                }
            }
            st.pending.extend(items);
        }
    });
    StreamBody::new(s).boxed_unsync()
}

fn mid_stream_error(provider: &str, e: UpstreamError) -> GatewayError {
    GatewayError::Upstream {
        error: Box::new(e),
        provider: provider.to_string(),
        attempts: 1,
    }
}

/// Renders a non-streaming chat answer (OpenAI-shaped JSON) for the client's ingress.
pub fn render_chat(ingress: Ingress, openai_body: Bytes) -> Result<Bytes, String> {
    match ingress {
        Ingress::OpenAi => Ok(openai_body),
        Ingress::Anthropic => {
            let c: ChatCompletion =
                serde_json::from_slice(&openai_body).map_err(|e| e.to_string())?;
            Ok(anthropic_ingress::render_response(&c))
        }
    }
}

/// State of a byte-for-byte relay of an OpenAI-compatible completion stream.
struct RawRelay {
    body: Incoming,
    parser: SseParser,
    events: Vec<SseEvent>,
    idle: Duration,
    saw_done: bool,
    finished: bool,
    outcome: StreamOutcome,
    on_end: Option<OnStreamEnd>,
}

impl Drop for RawRelay {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            self.outcome.completed = self.saw_done;
            if !self.saw_done && self.outcome.error.is_none() {
                self.outcome.error = Some("client disconnected".into());
            }
            f(std::mem::take(&mut self.outcome));
        }
    }
}

/// Relays an OpenAI-compatible legacy completion stream byte for byte (its `text_completion`
/// chunks need no translation), reading usage on the way; if the upstream ends without
/// `[DONE]`, an error event is appended so the client sees the stream broke.
pub fn raw_stream_body(body: Incoming, idle: Duration, on_end: OnStreamEnd) -> GatewayBody {
    let state = RawRelay {
        body,
        parser: SseParser::new(),
        events: Vec::new(),
        idle,
        saw_done: false,
        finished: false,
        outcome: StreamOutcome::default(),
        on_end: Some(on_end),
    };
    let s = stream::unfold(state, |mut st| async move {
        if st.finished {
            return None;
        }
        match next_bytes(&mut st.body, st.idle).await {
            Ok(Some(bytes)) => {
                st.parser.push(&bytes, &mut st.events);
                for ev in st.events.drain(..) {
                    if ev.data.trim() == "[DONE]" {
                        st.saw_done = true;
                    } else if let Ok(v) = serde_json::from_str::<serde_json::Value>(&ev.data)
                        && let Some(u) = v.get("usage").filter(|u| !u.is_null())
                    {
                        st.outcome.usage = serde_json::from_value(u.clone()).ok();
                    }
                }
                Some((Ok::<_, Infallible>(Frame::data(bytes)), st))
            }
            Ok(None) if st.saw_done => None,
            Ok(None) | Err(_) => {
                let msg = "upstream stream ended before [DONE]";
                st.outcome.error = Some(msg.into());
                st.finished = true;
                let ev = openai_ingress::sse_error(msg, "api_error", Some("upstream_stream_error"));
                Some((Ok(Frame::data(ev)), st))
            }
        }
    });
    StreamBody::new(s).boxed_unsync()
}

//! `POST /v1/chat/completions`: `chat.completion` JSON, or `chat.completion.chunk` events
//! (role, content or tool-call deltas, finish reason, optional usage chunk, `[DONE]`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{SYSTEM_FINGERPRINT, Usage, finish_reason};
use crate::body::MockBody;
use crate::error::{ApiError, from_json, invalid};
use crate::exchange::{Exchange, ParseCtx, Render};
use crate::reply::{self, Ask, Output, ToolChoice, ToolSpec, argument_pieces, word_deltas};
use crate::stream::{Beat, SseWriter};
use crate::text::Text;

#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    messages: Option<Vec<Message<'a>>>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    #[serde(borrow)]
    tools: Option<Vec<Tool<'a>>>,
    #[serde(borrow)]
    tool_choice: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct StreamOptions {
    pub include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Text<'a>,
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(borrow)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    parameters: Option<&'a RawValue>,
}

pub(crate) fn parse(body: &[u8], ctx: &ParseCtx<'_>) -> Result<Exchange, ApiError> {
    let req: ChatRequest = serde_json::from_slice(body).map_err(from_json)?;
    let model = req
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ApiError::MissingModel)?;
    let messages = req.messages.ok_or(ApiError::MissingParam("messages"))?;
    let Some(last) = messages.last() else {
        return Err(invalid("messages", "[] is too short - 'messages'"));
    };
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    if max_tokens == Some(0) {
        return Err(invalid("max_tokens", "max_tokens must be at least 1"));
    }
    let choice: Option<serde_json::Value> = req
        .tool_choice
        .map(|raw| serde_json::from_str(raw.get()))
        .transpose()
        .map_err(from_json)?;
    let tools: Vec<ToolSpec> = req
        .tools
        .iter()
        .flatten()
        .filter_map(|t| t.function.as_ref())
        .map(|f| ToolSpec {
            name: &f.name,
            schema: f.parameters,
        })
        .collect();
    let tool_result = (last.role == "tool").then_some(&*last.content.text);
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map_or("", |m| &m.content.text);
    let intent = reply::intent(&tools, tool_choice(choice.as_ref()), last_user, tool_result);
    let reply = reply::plan(&Ask {
        model: &model,
        key_label: ctx.key_label,
        prompt_chars: messages.iter().map(|m| m.content.chars()).sum(),
        output_tokens: ctx.knobs.output_tokens,
        max_tokens: max_tokens.or(ctx.knobs.max_tokens_default),
        intent,
    });
    Ok(Exchange {
        model: model.into_owned(),
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        base64: false,
        reply,
    })
}

/// `"none"`, `"auto"`, `"required"`, or `{"type":"function","function":{"name":..}}`.
fn tool_choice(choice: Option<&serde_json::Value>) -> ToolChoice<'_> {
    match choice {
        Some(serde_json::Value::String(mode)) => match mode.as_str() {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        },
        Some(named) => named
            .pointer("/function/name")
            .and_then(serde_json::Value::as_str)
            .map_or(ToolChoice::Auto, ToolChoice::Named),
        None => ToolChoice::Auto,
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: [Choice<'a>; 1],
    usage: Usage,
    service_tier: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

pub(crate) fn render(ex: &Exchange, r: &Render) -> MockBody {
    let id = format!("chatcmpl-mock{:010}", r.seq);
    let call_id = format!("call_mock{:010}", r.seq);
    if ex.stream {
        return MockBody::Sse(stream(ex, r, &id, &call_id));
    }
    let reply = &ex.reply;
    let (content, tool_calls) = match &reply.output {
        Output::Text(text) => (Some(text.as_str()), None),
        Output::ToolCall { name, arguments } => (
            None,
            Some([ToolCall {
                index: None,
                id: Some(&call_id),
                kind: Some("function"),
                function: FunctionCall {
                    name: Some(name),
                    arguments,
                },
            }]),
        ),
        Output::Vectors(_) => (None, None),
    };
    let completion = Completion {
        id: &id,
        object: "chat.completion",
        created: r.created,
        model: &ex.model,
        system_fingerprint: SYSTEM_FINGERPRINT,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content,
                refusal: None,
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish_reason(reply.finish),
        }],
        usage: Usage::chat(reply),
        service_tier: "default",
    };
    MockBody::full(serde_json::to_vec(&completion).expect("completions serialize"))
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    /// `Some(None)` is an explicit `null` (the role chunk of a tool call).
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<Option<()>>,
}

/// The fields every chunk of one stream repeats.
struct Envelope<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
}

impl<'a> Envelope<'a> {
    fn chunk<'b>(&self, choices: &'b [ChunkChoice<'b>], usage: Option<Usage>) -> Chunk<'b>
    where
        'a: 'b,
    {
        Chunk {
            id: self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: self.model,
            system_fingerprint: SYSTEM_FINGERPRINT,
            choices,
            usage,
        }
    }
}

fn choice<'a>(delta: Delta<'a>, finish: Option<&'static str>) -> ChunkChoice<'a> {
    ChunkChoice {
        index: 0,
        delta,
        logprobs: None,
        finish_reason: finish,
    }
}

fn stream(ex: &Exchange, r: &Render, id: &str, call_id: &str) -> crate::stream::SseBody {
    let envelope = Envelope {
        id,
        created: r.created,
        model: &ex.model,
    };
    let mut w = SseWriter::new();
    match &ex.reply.output {
        Output::ToolCall { name, arguments } => {
            let first = Delta {
                role: Some("assistant"),
                content: Some(None),
                tool_calls: Some([ToolCall {
                    index: Some(0),
                    id: Some(call_id),
                    kind: Some("function"),
                    function: FunctionCall {
                        name: Some(name),
                        arguments: "",
                    },
                }]),
                refusal: Some(None),
            };
            w.event(
                None,
                Beat::Preamble,
                &envelope.chunk(&[choice(first, None)], None),
            );
            for piece in argument_pieces(arguments) {
                let delta = Delta {
                    tool_calls: Some([ToolCall {
                        index: Some(0),
                        id: None,
                        kind: None,
                        function: FunctionCall {
                            name: None,
                            arguments: piece,
                        },
                    }]),
                    ..Delta::default()
                };
                w.event(
                    None,
                    Beat::Token,
                    &envelope.chunk(&[choice(delta, None)], None),
                );
            }
        }
        Output::Text(text) => {
            let first = Delta {
                role: Some("assistant"),
                content: Some(Some("")),
                refusal: Some(None),
                ..Delta::default()
            };
            w.event(
                None,
                Beat::Preamble,
                &envelope.chunk(&[choice(first, None)], None),
            );
            for word in word_deltas(text) {
                let delta = Delta {
                    content: Some(Some(word)),
                    ..Delta::default()
                };
                w.event(
                    None,
                    Beat::Token,
                    &envelope.chunk(&[choice(delta, None)], None),
                );
            }
        }
        Output::Vectors(_) => {}
    }
    let last = choice(Delta::default(), Some(finish_reason(ex.reply.finish)));
    w.event(None, Beat::Tail, &envelope.chunk(&[last], None));
    if ex.include_usage {
        w.event(
            None,
            Beat::Tail,
            &envelope.chunk(&[], Some(Usage::chat(&ex.reply))),
        );
    }
    w.done();
    w.finish(r.pacing)
}

#[cfg(test)]
mod tests;

//! Anthropic Messages API: `POST /v1/messages` as `message` JSON, or the exact event sequence
//! `message_start`, `content_block_start`, `ping`, `content_block_delta`..., `content_block_stop`,
//! `message_delta`, `message_stop`; errors as `{"type":"error","error":{"type","message"}}`.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::body::MockBody;
use crate::error::{ApiError, from_json, invalid};
use crate::exchange::{Exchange, ParseCtx, Render};
use crate::limits::LimitKind;
use crate::reply::{self, Ask, Finish, Output, ToolChoice, ToolSpec, argument_pieces, word_deltas};
use crate::stream::{Beat, SseWriter};
use crate::text::Text;

#[derive(Deserialize)]
struct MessagesRequest<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    messages: Option<Vec<Message<'a>>>,
    max_tokens: Option<u32>,
    #[serde(borrow, default)]
    system: Text<'a>,
    stream: Option<bool>,
    #[serde(borrow)]
    tools: Option<Vec<Tool<'a>>>,
    #[serde(borrow)]
    tool_choice: Option<&'a RawValue>,
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
    name: Cow<'a, str>,
    #[serde(borrow)]
    input_schema: Option<&'a RawValue>,
}

pub(crate) fn parse(body: &[u8], ctx: &ParseCtx<'_>) -> Result<Exchange, ApiError> {
    let req: MessagesRequest = serde_json::from_slice(body).map_err(from_json)?;
    let model = req
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ApiError::MissingParam("model"))?;
    let messages = req.messages.ok_or(ApiError::MissingParam("messages"))?;
    // Unlike OpenAI, Anthropic requires max_tokens on every request.
    let max_tokens = req.max_tokens.ok_or(ApiError::MissingParam("max_tokens"))?;
    if max_tokens == 0 {
        return Err(invalid(
            "max_tokens",
            "max_tokens: must be greater than or equal to 1",
        ));
    }
    let Some(last) = messages.last() else {
        return Err(invalid(
            "messages",
            "messages: at least one message is required",
        ));
    };
    let choice: Option<serde_json::Value> = req
        .tool_choice
        .map(|raw| serde_json::from_str(raw.get()))
        .transpose()
        .map_err(from_json)?;
    let tools: Vec<ToolSpec> = req
        .tools
        .iter()
        .flatten()
        .map(|t| ToolSpec {
            name: &t.name,
            schema: t.input_schema,
        })
        .collect();
    let tool_result =
        (last.role == "user" && last.content.tool_result).then_some(&*last.content.text);
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map_or("", |m| &m.content.text);
    let intent = reply::intent(&tools, tool_choice(choice.as_ref()), last_user, tool_result);
    let prompt_chars =
        req.system.chars() + messages.iter().map(|m| m.content.chars()).sum::<usize>();
    let reply = reply::plan(&Ask {
        model: &model,
        key_label: ctx.key_label,
        prompt_chars,
        output_tokens: ctx.knobs.output_tokens,
        max_tokens: Some(max_tokens),
        intent,
    });
    Ok(Exchange {
        model: model.into_owned(),
        stream: req.stream.unwrap_or(false),
        include_usage: false,
        base64: false,
        reply,
    })
}

/// `{"type": "auto" | "any" | "none" | "tool", "name": ..}`.
fn tool_choice(choice: Option<&serde_json::Value>) -> ToolChoice<'_> {
    let Some(choice) = choice else {
        return ToolChoice::Auto;
    };
    match choice.get("type").and_then(serde_json::Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("any") => ToolChoice::Required,
        Some("tool") => choice
            .get("name")
            .and_then(serde_json::Value::as_str)
            .map_or(ToolChoice::Required, ToolChoice::Named),
        _ => ToolChoice::Auto,
    }
}

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
    }
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: &'a [Block<'a>],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<()>,
    usage: UsageOut,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a RawValue,
    },
}

#[derive(Serialize)]
struct UsageOut {
    input_tokens: u32,
    cache_creation_input_tokens: u32,
    cache_read_input_tokens: u32,
    output_tokens: u32,
    service_tier: &'static str,
}

fn usage(input_tokens: u32, output_tokens: u32) -> UsageOut {
    UsageOut {
        input_tokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens,
        service_tier: "standard",
    }
}

pub(crate) fn render(ex: &Exchange, r: &Render) -> MockBody {
    let id = format!("msg_mock{:016}", r.seq);
    let tool_id = format!("toolu_mock{:014}", r.seq);
    if ex.stream {
        return MockBody::Sse(stream(ex, r, &id, &tool_id));
    }
    let reply = &ex.reply;
    let empty_input: Box<RawValue> = RawValue::from_string("{}".to_owned()).expect("valid JSON");
    let arguments: Box<RawValue>;
    let block = match &reply.output {
        Output::ToolCall {
            name,
            arguments: args,
        } => {
            arguments = RawValue::from_string(args.clone()).unwrap_or(empty_input);
            Block::ToolUse {
                id: &tool_id,
                name,
                input: &arguments,
            }
        }
        Output::Text(text) => Block::Text { text },
        Output::Vectors(_) => Block::Text { text: "" },
    };
    let message = MessageOut {
        id: &id,
        kind: "message",
        role: "assistant",
        model: &ex.model,
        content: &[block],
        stop_reason: Some(stop_reason(reply.finish)),
        stop_sequence: None,
        usage: usage(reply.prompt_tokens, reply.completion_tokens),
    };
    MockBody::full(serde_json::to_vec(&message).expect("messages serialize"))
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: MessageOut<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: u32,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopDelta,
        usage: OutputUsage,
    },
    MessageStop,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u32,
}

fn stream(ex: &Exchange, r: &Render, id: &str, tool_id: &str) -> crate::stream::SseBody {
    let reply = &ex.reply;
    let empty: Box<RawValue> = RawValue::from_string("{}".to_owned()).expect("valid JSON");
    let mut w = SseWriter::new();
    let start = Event::MessageStart {
        message: MessageOut {
            id,
            kind: "message",
            role: "assistant",
            model: &ex.model,
            content: &[],
            stop_reason: None,
            stop_sequence: None,
            usage: usage(reply.prompt_tokens, 1),
        },
    };
    w.event(Some("message_start"), Beat::Preamble, &start);
    let block = match &reply.output {
        Output::ToolCall { name, .. } => Block::ToolUse {
            id: tool_id,
            name,
            input: &empty,
        },
        _ => Block::Text { text: "" },
    };
    let block_start = Event::ContentBlockStart {
        index: 0,
        content_block: block,
    };
    w.event(Some("content_block_start"), Beat::Preamble, &block_start);
    w.event(Some("ping"), Beat::Preamble, &Event::Ping);
    let delta = |delta| Event::ContentBlockDelta { index: 0, delta };
    match &reply.output {
        Output::ToolCall { arguments, .. } => {
            // Anthropic opens a tool_use block with an empty partial_json.
            let pieces = std::iter::once("").chain(argument_pieces(arguments));
            for piece in pieces {
                let d = delta(Delta::InputJsonDelta {
                    partial_json: piece,
                });
                w.event(Some("content_block_delta"), Beat::Token, &d);
            }
        }
        Output::Text(text) => {
            for word in word_deltas(text) {
                let d = delta(Delta::TextDelta { text: word });
                w.event(Some("content_block_delta"), Beat::Token, &d);
            }
        }
        Output::Vectors(_) => {}
    }
    w.event(
        Some("content_block_stop"),
        Beat::Tail,
        &Event::ContentBlockStop { index: 0 },
    );
    let message_delta = Event::MessageDelta {
        delta: StopDelta {
            stop_reason: stop_reason(reply.finish),
            stop_sequence: None,
        },
        usage: OutputUsage {
            output_tokens: reply.completion_tokens,
        },
    };
    w.event(Some("message_delta"), Beat::Tail, &message_delta);
    w.event(Some("message_stop"), Beat::Tail, &Event::MessageStop);
    w.finish(r.pacing)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// The error body Anthropic would send for `err`.
pub(crate) fn error_body(err: &ApiError) -> Bytes {
    let (kind, message): (&str, String) = match err {
        ApiError::BadJson(detail) => (
            "invalid_request_error",
            format!("The request body is not valid JSON: {detail}"),
        ),
        ApiError::MissingModel => ("invalid_request_error", "model: Field required".to_owned()),
        ApiError::MissingParam(p) => ("invalid_request_error", format!("{p}: Field required")),
        ApiError::MissingKey => (
            "authentication_error",
            "x-api-key header is required".to_owned(),
        ),
        ApiError::InvalidKey(_) => ("authentication_error", "invalid x-api-key".to_owned()),
        ApiError::RateLimited { refusal, .. } => {
            let unit = match refusal.kind {
                LimitKind::Requests => "requests",
                LimitKind::Tokens => "tokens",
            };
            let message = format!(
                "This request would exceed the rate limit for your organization of {} {unit} per \
                 minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
                refusal.limit
            );
            ("rate_limit_error", message)
        }
        ApiError::Fault(fault) => {
            let (kind, message) = fault_kind(fault.status);
            (kind, message.to_owned())
        }
        ApiError::NotFound(_) => ("not_found_error", "Not found".to_owned()),
        ApiError::BodyTooLarge => ("request_too_large", err.to_string()),
        _ => ("invalid_request_error", err.to_string()),
    };
    let body = ErrorBody {
        kind: "error",
        error: ErrorDetail {
            kind,
            message: &message,
        },
    };
    serde_json::to_vec(&body)
        .expect("error bodies serialize")
        .into()
}

/// Error type and message Anthropic uses for a status.
fn fault_kind(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => (
            "invalid_request_error",
            "Invalid request (injected by sluice mock)",
        ),
        401 => (
            "authentication_error",
            "invalid x-api-key (injected by sluice mock)",
        ),
        403 => ("permission_error", "Forbidden (injected by sluice mock)"),
        404 => ("not_found_error", "Not found (injected by sluice mock)"),
        413 => (
            "request_too_large",
            "Request too large (injected by sluice mock)",
        ),
        429 => ("rate_limit_error", "Rate limited (injected by sluice mock)"),
        529 => ("overloaded_error", "Overloaded"),
        _ => (
            "api_error",
            "Internal server error (injected by sluice mock)",
        ),
    }
}

#[cfg(test)]
mod tests;

//! Canonical (OpenAI-shaped) request → Anthropic Messages request.
//!
//! Where the two APIs differ: system prompts are a top-level field, roles must alternate (so
//! consecutive same-role messages are merged), tool results are user content blocks, tool call
//! arguments are JSON objects rather than strings, and `max_tokens` is required.

use std::borrow::Cow;

use bytes::Bytes;
use http::HeaderMap;
use http::header::HeaderValue;
use serde_json::{Value, json};
use sluice_core::wire::{
    ChatCompletionRequest, ChatMessage, CompletionRequest, ContentPart, MessageContent, Role,
    StopSequences,
};

use super::wire::{
    Block, Content, Message, MessagesRequest, Metadata, Role as AnthropicRole, Source, ToolChoice,
    ToolDef,
};
use super::{API_VERSION, DEFAULT_MAX_TOKENS};
use crate::request::{join_url, post_json, secret_header};
use crate::{EncodeError, Target};

pub fn encode_chat(
    target: &Target<'_>,
    req: &ChatCompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let body = messages_request(target.model, req)?;
    post_json(
        messages_url(target.base_url),
        headers(target)?,
        target.extra_headers,
        &body,
    )
}

/// The legacy completion as a one-message chat. Sampling fields the legacy request does not
/// type (`temperature`, `top_p`, `stop`, `user`) are read from its `extra`.
pub fn encode_completion(
    target: &Target<'_>,
    req: &CompletionRequest,
) -> Result<http::Request<Bytes>, EncodeError> {
    let prompt = match &req.prompt {
        Value::String(s) => Some(s.as_str()),
        Value::Array(items) if items.len() == 1 => items[0].as_str(),
        _ => None,
    }
    .ok_or_else(|| {
        EncodeError::invalid(
            "prompt",
            "anthropic accepts one string prompt (or an array of exactly one string)",
        )
    })?;
    let extra = &req.extra;
    let stop = match extra.get("stop") {
        Some(Value::String(s)) => Some(StopSequences::One(s.clone())),
        Some(Value::Array(items)) => Some(StopSequences::Many(
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        )),
        _ => None,
    };
    let chat = ChatCompletionRequest {
        messages: vec![ChatMessage::text(Role::User, prompt)],
        stream: req.stream,
        max_tokens: req.max_tokens,
        temperature: extra.get("temperature").and_then(Value::as_f64),
        top_p: extra.get("top_p").and_then(Value::as_f64),
        stop,
        user: extra
            .get("user")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..ChatCompletionRequest::default()
    };
    encode_chat(target, &chat)
}

/// `{base_url}/v1/messages`; a base URL that already ends in `/v1` is not doubled.
fn messages_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1") {
        join_url(base, "messages")
    } else {
        join_url(base, "v1/messages")
    }
}

fn headers(target: &Target<'_>) -> Result<HeaderMap, EncodeError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = target.api_key {
        headers.insert("x-api-key", secret_header(key)?);
    }
    headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
    Ok(headers)
}

pub(crate) fn messages_request<'a>(
    model: &'a str,
    req: &'a ChatCompletionRequest,
) -> Result<MessagesRequest<'a>, EncodeError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(EncodeError::invalid(
            "n",
            "anthropic returns one choice per request; send n = 1",
        ));
    }
    let mut system: Vec<&'a str> = Vec::new();
    let mut messages: Vec<Message<'a>> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                system_segments(i, m, &mut system)?;
                continue;
            }
            Role::User => (AnthropicRole::User, content_blocks(i, m)?),
            Role::Assistant => (AnthropicRole::Assistant, assistant_blocks(i, m)?),
            // Tool results are user content in Anthropic's model of a conversation.
            Role::Tool => (AnthropicRole::User, vec![tool_result(i, m)?]),
            Role::Function => {
                return Err(EncodeError::invalid(
                    format!("messages[{i}].role"),
                    "role 'function' is not supported for anthropic; use tools and role 'tool'",
                ));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            // Anthropic requires alternating roles: merge runs (e.g. several tool results).
            Some(last) if last.role == role => {
                let mut merged =
                    std::mem::replace(&mut last.content, Content::Blocks(Vec::new())).into_blocks();
                merged.extend(blocks);
                last.content = Content::Blocks(merged);
            }
            _ => messages.push(Message {
                role,
                content: Content::from_blocks(blocks),
            }),
        }
    }
    let system = match system.as_slice() {
        [] => None,
        [one] => Some(Cow::Borrowed(*one)),
        many => Some(Cow::Owned(many.join("\n\n"))),
    };
    let stop_sequences = req
        .stop
        .as_ref()
        .map(|stop| match stop {
            StopSequences::One(s) => vec![s.as_str()],
            StopSequences::Many(v) => v.iter().map(String::as_str).collect(),
        })
        .filter(|v| !v.is_empty());
    let tools = req
        .tools
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|tools| {
            tools
                .iter()
                .enumerate()
                .map(|(k, t)| {
                    if t.kind != "function" {
                        return Err(EncodeError::invalid(
                            format!("tools[{k}].type"),
                            format!("anthropic supports only function tools, not '{}'", t.kind),
                        ));
                    }
                    Ok(ToolDef {
                        name: &t.function.name,
                        description: t.function.description.as_deref(),
                        input_schema: t.function.parameters.as_ref().map_or_else(
                            || Cow::Owned(json!({"type": "object", "properties": {}})),
                            Cow::Borrowed,
                        ),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let tool_choice = tool_choice(req, tools.is_some())?;
    Ok(MessagesRequest {
        model,
        system,
        messages,
        max_tokens: req.max_output_tokens().unwrap_or(DEFAULT_MAX_TOKENS),
        stop_sequences,
        stream: req.stream,
        temperature: req.temperature,
        top_p: req.top_p,
        // Anthropic-only parameters, as the Anthropic ingress (or a client) put them in `extra`.
        // Nothing else in `extra` is forwarded: Anthropic rejects unknown fields.
        top_k: req.extra.get("top_k"),
        thinking: req.extra.get("thinking"),
        tools,
        tool_choice,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
    })
}

fn system_segments<'a>(
    i: usize,
    m: &'a ChatMessage,
    out: &mut Vec<&'a str>,
) -> Result<(), EncodeError> {
    match &m.content {
        None => {}
        Some(MessageContent::Text(text)) => out.push(text),
        Some(MessageContent::Parts(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text } => out.push(text),
                    _ => {
                        return Err(EncodeError::invalid(
                            format!("messages[{i}].content[{j}]"),
                            "anthropic accepts only text in system prompts",
                        ));
                    }
                }
            }
        }
    }
    out.retain(|s| !s.is_empty());
    Ok(())
}

/// User (or assistant) content as blocks; empty text is dropped (Anthropic rejects it).
fn content_blocks<'a>(i: usize, m: &'a ChatMessage) -> Result<Vec<Block<'a>>, EncodeError> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(text)) if text.is_empty() => Ok(Vec::new()),
        Some(MessageContent::Text(text)) => Ok(vec![Block::Text {
            text: Cow::Borrowed(text),
        }]),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .enumerate()
            .filter_map(|(j, part)| part_block(i, j, part).transpose())
            .collect(),
    }
}

fn part_block<'a>(
    i: usize,
    j: usize,
    part: &'a ContentPart,
) -> Result<Option<Block<'a>>, EncodeError> {
    Ok(Some(match part {
        ContentPart::Text { text } if text.is_empty() => return Ok(None),
        ContentPart::Text { text } => Block::Text {
            text: Cow::Borrowed(text),
        },
        ContentPart::ImageUrl { image_url } => Block::Image {
            source: image_source(&image_url.url, || {
                format!("messages[{i}].content[{j}].image_url.url")
            })?,
        },
        ContentPart::File { file } => {
            let param = || format!("messages[{i}].content[{j}].file.file_data");
            let data = file
                .get("file_data")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    EncodeError::invalid(
                        param(),
                        "anthropic accepts files only inline, as a base64 `file_data` data URL",
                    )
                })?;
            Block::Document {
                source: data_url_source(data, param)?,
            }
        }
        ContentPart::InputAudio { .. } => {
            return Err(EncodeError::invalid(
                format!("messages[{i}].content[{j}]"),
                "anthropic does not accept audio input",
            ));
        }
    }))
}

/// `data:image/png;base64,...` → a base64 source; `http(s)://` → a URL source.
fn image_source<'a>(url: &'a str, param: impl Fn() -> String) -> Result<Source<'a>, EncodeError> {
    if url.starts_with("data:") {
        data_url_source(url, param)
    } else if url.starts_with("https://") || url.starts_with("http://") {
        Ok(Source::Url { url })
    } else {
        Err(EncodeError::invalid(
            param(),
            "an image must be an http(s) URL or a base64 data URL",
        ))
    }
}

fn data_url_source<'a>(
    url: &'a str,
    param: impl Fn() -> String,
) -> Result<Source<'a>, EncodeError> {
    url.strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .and_then(|(meta, data)| {
            let media_type = meta.strip_suffix(";base64")?;
            Some(Source::Base64 { media_type, data })
        })
        .ok_or_else(|| {
            EncodeError::invalid(
                param(),
                "expected a base64 data URL (data:<media type>;base64,<data>)",
            )
        })
}

fn assistant_blocks<'a>(i: usize, m: &'a ChatMessage) -> Result<Vec<Block<'a>>, EncodeError> {
    let mut blocks = content_blocks(i, m)?;
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        let arguments = call.function.arguments.trim();
        // Anthropic wants the arguments as an object; OpenAI clients send a JSON string.
        let input = if arguments.is_empty() {
            json!({})
        } else {
            serde_json::from_str(arguments).map_err(|e| {
                EncodeError::invalid(
                    format!("messages[{i}].tool_calls[{j}].function.arguments"),
                    format!("tool call arguments are not valid JSON: {e}"),
                )
            })?
        };
        blocks.push(Block::ToolUse {
            id: &call.id,
            name: &call.function.name,
            input,
        });
    }
    Ok(blocks)
}

fn tool_result<'a>(i: usize, m: &'a ChatMessage) -> Result<Block<'a>, EncodeError> {
    let tool_use_id = m.tool_call_id.as_deref().ok_or_else(|| {
        EncodeError::invalid(
            format!("messages[{i}].tool_call_id"),
            "a message with role 'tool' needs the tool_call_id it answers",
        )
    })?;
    let content = match &m.content {
        None => Content::Text(Cow::Borrowed("")),
        Some(MessageContent::Text(text)) => Content::Text(Cow::Borrowed(text)),
        Some(MessageContent::Parts(_)) => Content::from_blocks(content_blocks(i, m)?),
    };
    Ok(Block::ToolResult {
        tool_use_id,
        content,
    })
}

fn tool_choice<'a>(
    req: &'a ChatCompletionRequest,
    has_tools: bool,
) -> Result<Option<ToolChoice<'a>>, EncodeError> {
    let disable_parallel_tool_use = (req.parallel_tool_calls == Some(false)).then_some(true);
    Ok(Some(match &req.tool_choice {
        None if has_tools && disable_parallel_tool_use.is_some() => ToolChoice::Auto {
            disable_parallel_tool_use,
        },
        None => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto {
                disable_parallel_tool_use,
            },
            "required" => ToolChoice::Any {
                disable_parallel_tool_use,
            },
            "none" => ToolChoice::NoTool {},
            other => {
                return Err(EncodeError::invalid(
                    "tool_choice",
                    format!(
                        "unknown tool_choice '{other}'; use none, auto, required or a function"
                    ),
                ));
            }
        },
        Some(choice) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    EncodeError::invalid(
                        "tool_choice.function.name",
                        "tool_choice must name a function: {\"type\": \"function\", \
                         \"function\": {\"name\": ...}}",
                    )
                })?;
            ToolChoice::Tool {
                name,
                disable_parallel_tool_use,
            }
        }
    }))
}

//! Anthropic Messages request → canonical request.
//!
//! Walked by hand over a `serde_json::Value` (moving strings out, not copying them) so every
//! error names the exact field, as Anthropic's own 400s do: `messages[2].content[0].type`.

use serde_json::{Map, Value, json};
use sluice_core::wire::{
    ChatCompletionRequest, ChatMessage, ContentPart, FunctionCall, FunctionDef, ImageUrl,
    MessageContent, Role, StopSequences, Tool, ToolCall,
};

use crate::EncodeError;

/// Parses an Anthropic Messages request body into the canonical request (system prompt,
/// content blocks, images, tools, tool_use/tool_result, stop_sequences, stream, metadata).
/// Errors name the field (`messages[2].content[0].type`).
///
/// Anthropic-only parameters (`top_k`, `thinking`) are kept in `extra`; an Anthropic upstream
/// receives them again.
///
/// ```
/// use sluice_providers::ingress::anthropic::parse_request;
///
/// let req = parse_request(
///     br#"{"model": "claude-x", "max_tokens": 64, "system": "Be brief.",
///          "messages": [{"role": "user", "content": "Hi"}]}"#,
/// )?;
/// assert_eq!(req.max_tokens, Some(64));
/// assert_eq!(req.messages.len(), 2); // the system prompt became a system message
/// # Ok::<(), sluice_providers::EncodeError>(())
/// ```
pub fn parse_request(body: &[u8]) -> Result<ChatCompletionRequest, EncodeError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| EncodeError::Invalid {
        param: None,
        message: format!("request body is not valid JSON: {e}"),
    })?;
    let Value::Object(mut obj) = value else {
        return Err(EncodeError::Invalid {
            param: None,
            message: "request body must be a JSON object".into(),
        });
    };

    let model = match obj.remove("model") {
        Some(Value::String(model)) if !model.is_empty() => model,
        _ => return Err(invalid("model", "model: a non-empty string is required")),
    };
    let max_tokens = obj
        .get("max_tokens")
        .and_then(Value::as_u64)
        .filter(|&n| n >= 1)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| invalid("max_tokens", "max_tokens: a positive integer is required"))?;

    let mut messages = Vec::new();
    if let Some(system) = obj.remove("system")
        && let Some(text) = system_text(system)?
    {
        messages.push(ChatMessage::text(Role::System, text));
    }
    let items = match obj.remove("messages") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            return Err(invalid(
                "messages",
                "messages: a non-empty array of messages is required",
            ));
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        push_message(i, item, &mut messages)?;
    }

    let tools = match obj.remove("tools") {
        None | Some(Value::Null) => None,
        Some(Value::Array(tools)) => Some(
            tools
                .into_iter()
                .enumerate()
                .map(|(k, t)| tool(k, t))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(invalid("tools", "tools: must be an array")),
    };
    let (tool_choice, parallel_tool_calls) = match obj.remove("tool_choice") {
        None | Some(Value::Null) => (None, None),
        Some(choice) => tool_choice(choice)?,
    };
    let stop = match obj.remove("stop_sequences") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(StopSequences::Many(
            items
                .into_iter()
                .enumerate()
                .map(|(k, s)| match s {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid(
                        format!("stop_sequences[{k}]"),
                        "stop_sequences: must be strings",
                    )),
                })
                .collect::<Result<_, _>>()?,
        )),
        Some(_) => {
            return Err(invalid(
                "stop_sequences",
                "stop_sequences: must be an array of strings",
            ));
        }
    };
    let user = match obj.remove("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(mut metadata)) => match metadata.remove("user_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(user)) => Some(user),
            Some(_) => {
                return Err(invalid(
                    "metadata.user_id",
                    "metadata.user_id: must be a string",
                ));
            }
        },
        Some(_) => return Err(invalid("metadata", "metadata: must be an object")),
    };

    let mut extra = Map::new();
    if let Some(top_k) = optional(&obj, "top_k", Value::as_u64, "an integer")? {
        extra.insert("top_k".into(), top_k.into());
    }
    match obj.remove("thinking") {
        None | Some(Value::Null) => {}
        Some(thinking @ Value::Object(_)) => {
            extra.insert("thinking".into(), thinking);
        }
        Some(_) => return Err(invalid("thinking", "thinking: must be an object")),
    }

    Ok(ChatCompletionRequest {
        model,
        messages,
        stream: optional(&obj, "stream", Value::as_bool, "a boolean")?,
        max_tokens: Some(max_tokens),
        temperature: optional(&obj, "temperature", Value::as_f64, "a number")?,
        top_p: optional(&obj, "top_p", Value::as_f64, "a number")?,
        stop,
        tools,
        tool_choice,
        parallel_tool_calls,
        user,
        extra,
        ..ChatCompletionRequest::default()
    })
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> EncodeError {
    EncodeError::invalid(param, message)
}

/// An optional scalar field: absent or `null` is `None`, the wrong type is an error.
fn optional<T>(
    obj: &Map<String, Value>,
    key: &str,
    read: impl Fn(&Value) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, EncodeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v)
            .map(Some)
            .ok_or_else(|| invalid(key, format!("{key}: must be {expected}"))),
    }
}

/// `system`: a string or an array of text blocks (joined by blank lines).
fn system_text(system: Value) -> Result<Option<String>, EncodeError> {
    let text = match system {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        Value::Array(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (k, block) in blocks.into_iter().enumerate() {
                let Value::Object(mut block) = block else {
                    return Err(invalid(
                        format!("system[{k}]"),
                        "system: blocks must be objects",
                    ));
                };
                if block.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(invalid(
                        format!("system[{k}].type"),
                        "system: only text blocks are allowed",
                    ));
                }
                texts.push(take_string(&mut block, "text", || {
                    format!("system[{k}].text")
                })?);
            }
            texts.join("\n\n")
        }
        _ => {
            return Err(invalid(
                "system",
                "system: must be a string or an array of text blocks",
            ));
        }
    };
    Ok((!text.is_empty()).then_some(text))
}

fn take_string(
    obj: &mut Map<String, Value>,
    key: &str,
    param: impl Fn() -> String,
) -> Result<String, EncodeError> {
    match obj.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => {
            let param = param();
            Err(invalid(
                param.clone(),
                format!("{param}: a string is required"),
            ))
        }
    }
}

/// One Anthropic message; a user message with `tool_result` blocks becomes `tool` messages
/// (first: OpenAI wants them right after the assistant's tool calls) and then the rest.
fn push_message(i: usize, item: Value, out: &mut Vec<ChatMessage>) -> Result<(), EncodeError> {
    let Value::Object(mut m) = item else {
        return Err(invalid(
            format!("messages[{i}]"),
            "each message must be an object",
        ));
    };
    let role = match m.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => {
            return Err(invalid(
                format!("messages[{i}].role"),
                "role: must be 'user' or 'assistant'",
            ));
        }
    };
    let blocks = match m.remove("content") {
        Some(Value::String(text)) => {
            out.push(ChatMessage::text(role, text));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(invalid(
                format!("messages[{i}].content"),
                "content: must be a string or an array of content blocks",
            ));
        }
    };
    let mut parts = Vec::new();
    let mut tool_calls = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        let path = |field: &str| format!("messages[{i}].content[{j}]{field}");
        let Value::Object(mut block) = block else {
            return Err(invalid(path(""), "a content block must be an object"));
        };
        let kind = take_string(&mut block, "type", || path(".type"))?;
        match (kind.as_str(), role) {
            ("text", _) => parts.push(ContentPart::Text {
                text: take_string(&mut block, "text", || path(".text"))?,
            }),
            ("image", Role::User) => parts.push(image_part(block, &path)?),
            ("document", Role::User) => parts.push(document_part(block, &path)?),
            ("tool_use", Role::Assistant) => tool_calls.push(ToolCall {
                id: take_string(&mut block, "id", || path(".id"))?,
                kind: "function".into(),
                function: FunctionCall {
                    name: take_string(&mut block, "name", || path(".name"))?,
                    arguments: block.get("input").unwrap_or(&json!({})).to_string(),
                },
            }),
            ("tool_result", Role::User) => out.push(tool_message(block, &path)?),
            // Extended-thinking history has no canonical form; the model does not need it back.
            ("thinking" | "redacted_thinking", Role::Assistant) => {}
            (other, _) => {
                let role = if role == Role::User {
                    "user"
                } else {
                    "assistant"
                };
                return Err(invalid(
                    path(".type"),
                    format!("content block type '{other}' is not supported in a {role} message"),
                ));
            }
        }
    }
    if !parts.is_empty() || !tool_calls.is_empty() {
        out.push(ChatMessage {
            role,
            content: content(parts),
            name: None,
            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            tool_call_id: None,
            extra: Map::new(),
        });
    }
    Ok(())
}

/// One text part is sent as a plain string, as OpenAI clients usually write it.
fn content(mut parts: Vec<ContentPart>) -> Option<MessageContent> {
    match parts.as_slice() {
        [] => None,
        [ContentPart::Text { .. }] => match parts.pop() {
            Some(ContentPart::Text { text }) => Some(MessageContent::Text(text)),
            _ => None,
        },
        _ => Some(MessageContent::Parts(parts)),
    }
}

/// `{"type": "image", "source": {"type": "base64", "media_type", "data"} | {"type": "url",
/// "url"}}` → an `image_url` part (base64 as a data URL).
fn image_part(
    mut block: Map<String, Value>,
    path: &impl Fn(&str) -> String,
) -> Result<ContentPart, EncodeError> {
    let url = match source(&mut block, path)? {
        Source::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Source::Url(url) => url,
    };
    Ok(ContentPart::ImageUrl {
        image_url: ImageUrl { url, detail: None },
    })
}

/// A base64 PDF `document` → a `file` part with a data URL, as OpenAI accepts files.
fn document_part(
    mut block: Map<String, Value>,
    path: &impl Fn(&str) -> String,
) -> Result<ContentPart, EncodeError> {
    match source(&mut block, path)? {
        Source::Base64 { media_type, data } => {
            let mut file = json!({ "file_data": format!("data:{media_type};base64,{data}") });
            if let Some(Value::String(title)) = block.remove("title") {
                file["filename"] = Value::String(title);
            }
            Ok(ContentPart::File { file })
        }
        Source::Url(_) => Err(invalid(
            path(".source.type"),
            "documents are supported only as base64 sources",
        )),
    }
}

enum Source {
    Base64 { media_type: String, data: String },
    Url(String),
}

fn source(
    block: &mut Map<String, Value>,
    path: &impl Fn(&str) -> String,
) -> Result<Source, EncodeError> {
    let Some(Value::Object(mut source)) = block.remove("source") else {
        return Err(invalid(path(".source"), "source: an object is required"));
    };
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => Ok(Source::Base64 {
            media_type: take_string(&mut source, "media_type", || path(".source.media_type"))?,
            data: take_string(&mut source, "data", || path(".source.data"))?,
        }),
        Some("url") => Ok(Source::Url(take_string(&mut source, "url", || {
            path(".source.url")
        })?)),
        _ => Err(invalid(
            path(".source.type"),
            "source.type: must be 'base64' or 'url'",
        )),
    }
}

/// `{"type": "tool_result", "tool_use_id", "content": string | blocks}` → a `tool` message.
fn tool_message(
    mut block: Map<String, Value>,
    path: &impl Fn(&str) -> String,
) -> Result<ChatMessage, EncodeError> {
    let tool_use_id = take_string(&mut block, "tool_use_id", || path(".tool_use_id"))?;
    let content = match block.remove("content") {
        None | Some(Value::Null) => MessageContent::Text(String::new()),
        Some(Value::String(text)) => MessageContent::Text(text),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for (k, item) in items.into_iter().enumerate() {
                let inner = |field: &str| path(&format!(".content[{k}]{field}"));
                let Value::Object(mut item) = item else {
                    return Err(invalid(inner(""), "a content block must be an object"));
                };
                match item.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(ContentPart::Text {
                        text: take_string(&mut item, "text", || inner(".text"))?,
                    }),
                    Some("image") => parts.push(image_part(item, &inner)?),
                    _ => {
                        return Err(invalid(
                            inner(".type"),
                            "tool_result content blocks must be text or image",
                        ));
                    }
                }
            }
            content(parts).unwrap_or_else(|| MessageContent::Text(String::new()))
        }
        Some(_) => {
            return Err(invalid(
                path(".content"),
                "content: must be a string or an array of blocks",
            ));
        }
    };
    Ok(ChatMessage {
        role: Role::Tool,
        content: Some(content),
        name: None,
        tool_calls: None,
        tool_call_id: Some(tool_use_id),
        extra: Map::new(),
    })
}

/// `{"name", "description", "input_schema"}` → a function tool.
fn tool(k: usize, tool: Value) -> Result<Tool, EncodeError> {
    let Value::Object(mut tool) = tool else {
        return Err(invalid(
            format!("tools[{k}]"),
            "each tool must be an object",
        ));
    };
    match tool.get("type").and_then(Value::as_str) {
        None | Some("custom") => {}
        Some(other) => {
            return Err(invalid(
                format!("tools[{k}].type"),
                format!("server tool '{other}' is not supported through this gateway"),
            ));
        }
    }
    let name = take_string(&mut tool, "name", || format!("tools[{k}].name"))?;
    let parameters = match tool.remove("input_schema") {
        Some(schema @ Value::Object(_)) => schema,
        _ => {
            return Err(invalid(
                format!("tools[{k}].input_schema"),
                "input_schema: a JSON schema object is required",
            ));
        }
    };
    let description = match tool.remove("description") {
        Some(Value::String(d)) => Some(d),
        _ => None,
    };
    Ok(Tool {
        kind: "function".into(),
        function: FunctionDef {
            name,
            description,
            parameters: Some(parameters),
            strict: None,
        },
    })
}

/// Anthropic `tool_choice` → OpenAI `tool_choice` and `parallel_tool_calls`.
fn tool_choice(choice: Value) -> Result<(Option<Value>, Option<bool>), EncodeError> {
    let Value::Object(mut choice) = choice else {
        return Err(invalid("tool_choice", "tool_choice: must be an object"));
    };
    let parallel = match choice.get("disable_parallel_tool_use") {
        Some(Value::Bool(true)) => Some(false),
        _ => None,
    };
    let openai = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = take_string(&mut choice, "name", || "tool_choice.name".into())?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => {
            return Err(invalid(
                "tool_choice.type",
                "tool_choice.type: must be 'auto', 'any', 'tool' or 'none'",
            ));
        }
    };
    Ok((Some(openai), parallel))
}

//! The deterministic answer, independent of wire format: what to say (or which tool to call),
//! why it stopped, and the token counts both the usage block and the token limit use.
//!
//! Tokens are approximations a test can predict: a prompt is `ceil(chars / 4)` tokens (at least
//! 1), and an answer is one token per word, so a stream has one delta per completion token.

use serde_json::value::RawValue;

/// Words every text answer starts from (then filler, then cut to length).
const FILLER: [&str; 8] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
];

/// Longest tool result echoed back, in characters.
const TOOL_RESULT_ECHO: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Natural end (`stop` / `end_turn`).
    Stop,
    /// Cut by `max_tokens` (`length` / `max_tokens`).
    Length,
    /// A tool call (`tool_calls` / `tool_use`).
    ToolCalls,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// Words separated by single spaces.
    Text(String),
    ToolCall {
        name: String,
        arguments: String,
    },
    /// One vector per input (`/v1/embeddings`).
    Vectors(Vec<Vec<f32>>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub output: Output,
    pub finish: Finish,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Reply {
    /// What the token limit charges: prompt + completion.
    pub fn total_tokens(&self) -> u64 {
        u64::from(self.prompt_tokens) + u64::from(self.completion_tokens)
    }
}

/// A tool the request offers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ToolSpec<'a> {
    pub name: &'a str,
    /// JSON Schema of the arguments (`parameters` / `input_schema`).
    pub schema: Option<&'a RawValue>,
}

/// The request's `tool_choice`, in either format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolChoice<'a> {
    Auto,
    None,
    /// OpenAI `required`, Anthropic `any`.
    Required,
    Named(&'a str),
}

/// What the conversation asks of the mock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Intent<'a> {
    /// The usual deterministic sentence.
    Answer,
    /// The last message is a tool result: mention it.
    UseToolResult(&'a str),
    CallTool(ToolSpec<'a>),
}

/// Picks the intent: a tool result last wins; otherwise a tool is called when tools are offered
/// and either `tool_choice` forces one or the last user message mentions "weather".
pub(crate) fn intent<'a>(
    tools: &[ToolSpec<'a>],
    choice: ToolChoice<'a>,
    last_user_text: &str,
    tool_result: Option<&'a str>,
) -> Intent<'a> {
    if let Some(result) = tool_result {
        return Intent::UseToolResult(result);
    }
    let weather_tool = || {
        tools
            .iter()
            .find(|t| contains_ignore_case(t.name, "weather"))
            .or(tools.first())
            .copied()
    };
    let tool = match choice {
        _ if tools.is_empty() => None,
        ToolChoice::None => None,
        ToolChoice::Named(name) => Some(
            tools
                .iter()
                .find(|t| t.name == name)
                .copied()
                .unwrap_or(ToolSpec { name, schema: None }),
        ),
        ToolChoice::Required => weather_tool(),
        ToolChoice::Auto => contains_ignore_case(last_user_text, "weather")
            .then(weather_tool)
            .flatten(),
    };
    tool.map_or(Intent::Answer, Intent::CallTool)
}

/// Everything the answer depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask<'a> {
    pub model: &'a str,
    /// Short stable label of the key, shown in the answer.
    pub key_label: &'a str,
    pub prompt_chars: usize,
    /// Words in a text answer before `max_tokens`.
    pub output_tokens: u32,
    pub max_tokens: Option<u32>,
    pub intent: Intent<'a>,
}

pub(crate) fn prompt_tokens(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX).max(1)
}

/// The first 8 characters of a key, or `anonymous` without one. Mock keys are test keys, so a
/// prefix is fine to show; it lets a test see which key served a request.
pub(crate) fn key_label(key: &str) -> &str {
    match key.char_indices().nth(8) {
        _ if key.is_empty() => "anonymous",
        Some((end, _)) => &key[..end],
        None => key,
    }
}

pub(crate) fn plan(ask: &Ask<'_>) -> Reply {
    let prompt_tokens = prompt_tokens(ask.prompt_chars);
    match ask.intent {
        Intent::CallTool(tool) => {
            let arguments = arguments_for(tool.schema);
            let completion_tokens = self::prompt_tokens(tool.name.len() + arguments.len());
            Reply {
                output: Output::ToolCall {
                    name: tool.name.to_owned(),
                    arguments,
                },
                finish: Finish::ToolCalls,
                prompt_tokens,
                completion_tokens,
            }
        }
        Intent::Answer | Intent::UseToolResult(_) => {
            let sentence = match ask.intent {
                Intent::UseToolResult(result) => tool_result_sentence(result),
                _ => greeting(ask),
            };
            let words = sentence.split(' ').count() as u32;
            let (limit, finish) = match ask.max_tokens {
                Some(max) if max < words => (max, Finish::Length),
                _ => (words, Finish::Stop),
            };
            let text = first_words(&sentence, limit).to_owned();
            Reply {
                output: Output::Text(text),
                finish,
                prompt_tokens,
                completion_tokens: limit,
            }
        }
    }
}

/// "Hello from Sluice mock (model M, key K)." padded with filler to `output_tokens` words.
fn greeting(ask: &Ask<'_>) -> String {
    // Single spaces between words keep "one word = one token = one delta" exact.
    let model = squash(ask.model);
    let mut s = format!(
        "Hello from Sluice mock (model {model}, key {}).",
        squash(ask.key_label)
    );
    let base = s.split(' ').count() as u32;
    for i in base..ask.output_tokens {
        s.push(' ');
        s.push_str(FILLER[(i - base) as usize % FILLER.len()]);
    }
    first_words(&s, ask.output_tokens).to_owned()
}

fn tool_result_sentence(result: &str) -> String {
    let result: String = result.chars().take(TOOL_RESULT_ECHO).collect();
    let result = squash(&result);
    if result.is_empty() {
        "The tool returned nothing.".to_owned()
    } else {
        format!("The tool returned: {result}")
    }
}

/// Whitespace runs become one space, so the text splits into words exactly at spaces.
fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn first_words(s: &str, n: u32) -> &str {
    let Some(skip) = (n as usize).checked_sub(1) else {
        return "";
    };
    match s.match_indices(' ').nth(skip) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// Arguments that satisfy the tool's schema in spirit: one value per declared property.
fn arguments_for(schema: Option<&RawValue>) -> String {
    let properties = schema
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s.get()).ok())
        .and_then(|mut s| s.get_mut("properties").map(serde_json::Value::take));
    let Some(serde_json::Value::Object(properties)) = properties else {
        return "{}".to_owned();
    };
    let args: serde_json::Map<String, serde_json::Value> = properties
        .into_iter()
        .map(|(name, prop)| {
            let value = sample_value(&name, &prop);
            (name, value)
        })
        .collect();
    serde_json::Value::Object(args).to_string()
}

fn sample_value(name: &str, prop: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    if let Some(first) = prop
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    match prop.get("type").and_then(Value::as_str) {
        Some("string")
            if ["location", "city", "place"]
                .iter()
                .any(|w| name.contains(w)) =>
        {
            "San Francisco, CA".into()
        }
        Some("string") => "mock".into(),
        Some("integer" | "number") => 1.into(),
        Some("boolean") => true.into(),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(serde_json::Map::new()),
        _ => Value::Null,
    }
}

/// A text answer as stream deltas: `"Hello"`, `" from"`, `" Sluice"`, ... (one per token).
pub(crate) fn word_deltas(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == ' ')
            .map_or(rest.len(), |(i, _)| i);
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

/// Tool-call arguments as stream deltas of a few characters each, so clients must reassemble
/// them as they would from a real provider.
pub(crate) fn argument_pieces(arguments: &str) -> impl Iterator<Item = &str> {
    const PIECE_CHARS: usize = 8;
    let mut rest = arguments;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .char_indices()
            .nth(PIECE_CHARS)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests;

//! `POST /v1/completions` (legacy): `text_completion` JSON, or `text_completion` chunks ending
//! with `[DONE]`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::chat::StreamOptions;
use super::{SYSTEM_FINGERPRINT, Usage, finish_reason};
use crate::body::MockBody;
use crate::error::{ApiError, from_json, invalid};
use crate::exchange::{Exchange, ParseCtx, Render};
use crate::reply::{self, Ask, Intent, Output, word_deltas};
use crate::stream::{Beat, SseWriter};
use crate::text::Text;

/// The legacy endpoint's own default when a request sets no `max_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 16;

#[derive(Deserialize)]
struct CompletionRequest<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    prompt: Option<&'a RawValue>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
}

pub(crate) fn parse(body: &[u8], ctx: &ParseCtx<'_>) -> Result<Exchange, ApiError> {
    let req: CompletionRequest = serde_json::from_slice(body).map_err(from_json)?;
    let model = req
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ApiError::MissingModel)?;
    let prompt = req.prompt.ok_or(ApiError::MissingParam("prompt"))?;
    if req.max_tokens == Some(0) {
        return Err(invalid("max_tokens", "max_tokens must be at least 1"));
    }
    let reply = reply::plan(&Ask {
        model: &model,
        key_label: ctx.key_label,
        prompt_chars: prompt_chars(prompt)?,
        output_tokens: ctx.knobs.output_tokens,
        max_tokens: Some(
            req.max_tokens
                .or(ctx.knobs.max_tokens_default)
                .unwrap_or(DEFAULT_MAX_TOKENS),
        ),
        intent: Intent::Answer,
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

/// A prompt is a string, strings, token ids, or lists of token ids; a token counts as four
/// characters so it comes back as one prompt token.
fn prompt_chars(prompt: &RawValue) -> Result<usize, ApiError> {
    if let Ok(text) = serde_json::from_str::<Text>(prompt.get()) {
        return Ok(text.chars());
    }
    let tokens: serde_json::Value = serde_json::from_str(prompt.get()).map_err(from_json)?;
    let count = |v: &serde_json::Value| v.as_array().map_or(1, Vec::len);
    match &tokens {
        serde_json::Value::Array(items) if items.iter().all(|i| i.is_u64() || i.is_array()) => {
            let ids: usize = items
                .iter()
                .map(|i| if i.is_u64() { 1 } else { count(i) })
                .sum();
            Ok(ids * 4)
        }
        _ => Err(invalid(
            "prompt",
            "prompt must be a string, an array of strings, or token ids",
        )),
    }
}

#[derive(Serialize)]
struct TextCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [TextChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct TextChoice<'a> {
    text: &'a str,
    index: u32,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// The fields every completion (and chunk) of one response repeats.
struct Envelope<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
}

impl<'a> Envelope<'a> {
    fn completion<'b>(
        &self,
        choices: &'b [TextChoice<'b>],
        usage: Option<Usage>,
    ) -> TextCompletion<'b>
    where
        'a: 'b,
    {
        TextCompletion {
            id: self.id,
            object: "text_completion",
            created: self.created,
            model: self.model,
            system_fingerprint: SYSTEM_FINGERPRINT,
            choices,
            usage,
        }
    }
}

fn choice<'a>(text: &'a str, finish: Option<&'static str>) -> TextChoice<'a> {
    TextChoice {
        text,
        index: 0,
        logprobs: None,
        finish_reason: finish,
    }
}

pub(crate) fn render(ex: &Exchange, r: &Render) -> MockBody {
    let id = format!("cmpl-mock{:010}", r.seq);
    let text = match &ex.reply.output {
        Output::Text(text) => text.as_str(),
        _ => "",
    };
    let envelope = Envelope {
        id: &id,
        created: r.created,
        model: &ex.model,
    };
    let finish = finish_reason(ex.reply.finish);
    if !ex.stream {
        let choices = [choice(text, Some(finish))];
        let body = envelope.completion(&choices, Some(Usage::plain(&ex.reply)));
        return MockBody::full(serde_json::to_vec(&body).expect("completions serialize"));
    }
    let mut w = SseWriter::new();
    for word in word_deltas(text) {
        w.event(
            None,
            Beat::Token,
            &envelope.completion(&[choice(word, None)], None),
        );
    }
    w.event(
        None,
        Beat::Tail,
        &envelope.completion(&[choice("", Some(finish))], None),
    );
    if ex.include_usage {
        w.event(
            None,
            Beat::Tail,
            &envelope.completion(&[], Some(Usage::plain(&ex.reply))),
        );
    }
    w.done();
    MockBody::Sse(w.finish(r.pacing))
}

//! A request's log record as the pipeline fills it in: who asked (authenticate), what for
//! (parse), and how it ended (refused, failed, answered, or a stream's end). Empty, and free,
//! when the request log is off.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use sluice_core::wire::Usage;

use super::{CONTENT_MAX_BYTES, RequestLogRecord, SharedRequestLogSink};
use crate::Gateway;
use crate::error::GatewayError;
use crate::limiter::now_unix_ms;
use crate::pipeline::authenticate::Principal;
use crate::pipeline::dispatch::Served;
use crate::pipeline::ingress::Operation;
use crate::pipeline::relay::OnStreamEnd;
use crate::runtime::Runtime;

/// One request's record in the making; submitted by the method that says how it ended.
pub struct RequestLogDraft(Option<Box<Draft>>);

struct Draft {
    sink: SharedRequestLogSink,
    rt: Arc<Runtime>,
    started: Instant,
    record: RequestLogRecord,
    log_content: bool,
    request: Option<Value>,
}

impl RequestLogDraft {
    /// A record for this request, if the request log is on (`[logs] enabled`).
    pub fn start(
        gw: &Gateway,
        rt: &Arc<Runtime>,
        route: &str,
        request_id: &str,
        started: Instant,
    ) -> Self {
        if !rt.snapshot.request_log {
            return RequestLogDraft(None);
        }
        RequestLogDraft(Some(Box::new(Draft {
            sink: gw.request_log_sink(),
            rt: rt.clone(),
            started,
            record: RequestLogRecord {
                request_id: request_id.to_string(),
                route: route.to_string(),
                cache: "miss".into(),
                ..RequestLogRecord::default()
            },
            log_content: false,
            request: None,
        })))
    }

    /// The caller: virtual key, its team and customer, and whether it logs content.
    pub fn principal(&mut self, principal: &Principal) {
        let (Some(d), Some(vk)) = (self.0.as_mut(), principal.virtual_key()) else {
            return;
        };
        let r = &mut d.record;
        r.virtual_key_id = Some(vk.id.clone());
        r.team_id = vk.config.team_id.clone();
        r.customer_id = vk.config.customer_id.clone().or_else(|| {
            let team = r.team_id.as_deref()?;
            d.rt.snapshot.team_customer(team).map(str::to_string)
        });
        d.log_content = vk.config.log_content;
    }

    /// The parsed request: the model asked for, and its messages when content is logged.
    pub fn operation(&mut self, op: &Operation) {
        let Some(d) = self.0.as_mut() else { return };
        d.record.model = Some(op.model().to_string());
        if d.log_content {
            d.request = match op {
                Operation::Chat(r) => serde_json::to_value(&r.messages).ok(),
                Operation::Completion(r) => Some(r.prompt.clone()),
                Operation::Embeddings(r) => Some(r.input.clone()),
            };
        }
    }

    /// The request was refused or failed before any answer reached the client.
    pub fn failed(self, err: &GatewayError) {
        let Some(mut d) = self.0 else { return };
        d.record.status = err.status().as_u16();
        d.record.error_code = Some(err.code().unwrap_or("error").to_string());
        d.record.attempts = err.attempts().unwrap_or(0);
        if let GatewayError::Upstream { provider, .. } = err {
            d.record.provider = Some(provider.clone());
        }
        d.submit(None);
    }

    /// Answered in full by `served`; `body` is the canonical response body.
    pub fn served(self, served: &Served, usage: Option<&Usage>, body: &[u8]) {
        let Some(mut d) = self.0 else { return };
        d.served(served, usage);
        let response = d.log_content.then(|| response_text(body));
        d.submit(response);
    }

    /// A stream is on its way: its first chunk is ready now (time to first token); the record is
    /// completed and submitted when the stream ends, after `on_end`.
    pub fn streaming(self, served: &Served, on_end: OnStreamEnd) -> OnStreamEnd {
        let Some(mut d) = self.0 else { return on_end };
        d.record.stream = true;
        d.record.ttft_ms = Some(millis(d.started.elapsed()));
        let served = served.clone();
        Box::new(move |outcome| {
            let usage = outcome.usage;
            let error_code = match (&outcome.error, outcome.completed) {
                (Some(_), _) => Some("stream_error"),
                (None, false) => Some("stream_incomplete"),
                (None, true) => None,
            };
            on_end(outcome);
            d.served(&served, usage.as_ref());
            d.record.error_code = error_code.map(str::to_string);
            d.submit(None);
        })
    }
}

impl Draft {
    fn served(&mut self, served: &Served, usage: Option<&Usage>) {
        let r = &mut self.record;
        r.status = 200;
        r.provider = Some(served.provider.clone());
        r.model = Some(served.model.clone());
        r.key_name = Some(served.key.clone());
        r.attempts = served.attempts;
        if let Some(u) = usage {
            r.prompt_tokens = u.prompt_tokens;
            r.completion_tokens = u.completion_tokens;
            let prices = &self.rt.snapshot.prices;
            let cost = prices.cost_micros(&served.provider, &served.model, u);
            r.cost_micros = cost.and_then(|c| u64::try_from(c).ok()).unwrap_or(0);
        }
    }

    fn submit(mut self, response: Option<Value>) {
        self.record.at_unix_ms = now_unix_ms();
        self.record.latency_ms = millis(self.started.elapsed());
        if self.log_content {
            let (request, cut_request) = truncated(self.request.take());
            let (response, cut_response) = truncated(response);
            let content = json!({
                "request": request,
                "response": response,
                "truncated": cut_request || cut_response,
            });
            self.record.content = Some(content.to_string());
        }
        self.sink.submit(self.record);
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The text of a chat or completion answer (choices joined); other bodies as they are.
fn response_text(body: &[u8]) -> Value {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Value::String(String::from_utf8_lossy(body).into_owned());
    };
    let Some(choices) = v.get("choices").and_then(Value::as_array) else {
        return v;
    };
    let text: Vec<&str> = choices
        .iter()
        .filter_map(|c| {
            c.pointer("/message/content")
                .or_else(|| c.get("text"))
                .and_then(Value::as_str)
        })
        .collect();
    Value::String(text.join("\n"))
}

/// `v` kept whole if its JSON fits [`CONTENT_MAX_BYTES`]; otherwise its JSON text, cut at a
/// character boundary. Returns whether it was cut.
fn truncated(v: Option<Value>) -> (Value, bool) {
    let Some(v) = v else {
        return (Value::Null, false);
    };
    let text = match &v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() <= CONTENT_MAX_BYTES {
        return (v, false);
    }
    let mut end = CONTENT_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (Value::String(text[..end].to_string()), true)
}

//! One inference request, start to finish, as named phases in order:
//!
//! 1. [`identify`](crate::auth::identify) — the key (401/400 in the route's format otherwise);
//! 2. **always** — `always_status` answers at once;
//! 3. **parse** — the body (read in full first, whatever the answer) into an [`Exchange`] whose answer and exact tokens are decided;
//! 4. **draw** — whether `error_rate` fails this request;
//! 5. **admit** — charge the key's rolling window (one request, prompt + completion tokens;
//!    an injected failure charges no tokens), or answer 429 with the provider's headers;
//! 6. **delay** — `latency_ms`;
//! 7. **respond** — the injected failure, or the rendered answer with quota headers;
//! 8. **record** — the key's counters (at every exit above).
//!
//! No lock is held across an await: config is copied out as [`Knobs`], and the key's window is
//! locked only for the synchronous admission decision.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::auth;
use crate::body::MockBody;
use crate::config::Knobs;
use crate::error::ApiError;
use crate::exchange::{Exchange, ParseCtx, Render};
use crate::faults::{self, Fault};
use crate::headers::{self, Wire};
use crate::limits::{Admission, Cost, Quotas};
use crate::reply::key_label;
use crate::state::MockState;
use crate::stats::{Outcome, Route};
use crate::stream::Pacing;
use crate::{anthropic, openai};

/// Largest request body read.
const MAX_BODY: usize = 32 * 1024 * 1024;

static JSON: HeaderValue = HeaderValue::from_static("application/json");
static EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream; charset=utf-8");
static NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The inference endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Messages,
}

impl Endpoint {
    pub fn wire(self) -> Wire {
        match self {
            Endpoint::Messages => Wire::Anthropic,
            _ => Wire::OpenAi,
        }
    }

    pub fn route(self) -> Route {
        match self {
            Endpoint::Chat => Route::Chat,
            Endpoint::Completions => Route::Completions,
            Endpoint::Embeddings => Route::Embeddings,
            Endpoint::Messages => Route::Messages,
        }
    }

    fn parse(self, body: &[u8], ctx: &ParseCtx<'_>) -> Result<Exchange, ApiError> {
        match self {
            Endpoint::Chat => openai::chat::parse(body, ctx),
            Endpoint::Completions => openai::completions::parse(body, ctx),
            Endpoint::Embeddings => openai::embeddings::parse(body, ctx),
            Endpoint::Messages => anthropic::parse(body, ctx),
        }
    }

    fn render(self, exchange: &Exchange, r: &Render) -> MockBody {
        match self {
            Endpoint::Chat => openai::chat::render(exchange, r),
            Endpoint::Completions => openai::completions::render(exchange, r),
            Endpoint::Embeddings => openai::embeddings::render(exchange, r),
            Endpoint::Messages => anthropic::render(exchange, r),
        }
    }
}

pub(crate) async fn serve(
    state: Arc<MockState>,
    endpoint: Endpoint,
    req: http::Request<Incoming>,
) -> Response<MockBody> {
    let wire = endpoint.wire();
    let (parts, body) = req.into_parts();
    // Read even a request that will be refused: an unread body would cost the keep-alive
    // connection, and benchmarks hammer refusals too.
    let body = read_body(body).await;
    let identified = {
        let active = state.active.load();
        auth::identify(wire, &parts.headers, &active.config)
            .map(|key| (key.to_owned(), active.config.knobs(key)))
    };
    let (key, knobs) = match identified {
        Ok(found) => found,
        Err(e) => {
            state.unattributed.record(Outcome::Error);
            return error_response(wire, &e);
        }
    };
    let entry = state.keys.get(&key);
    let finish = |outcome: Outcome, response: Response<MockBody>| {
        entry.counters.record(outcome);
        response
    };

    if let Some(fault) = faults::always(&knobs) {
        return finish(fault_outcome(fault), fault_response(wire, fault, &knobs));
    }

    let body = match body {
        Ok(body) => body,
        Err(e) => return finish(Outcome::Error, error_response(wire, &e)),
    };
    let ctx = ParseCtx {
        key_label: key_label(&key),
        knobs: &knobs,
    };
    let exchange = match endpoint.parse(&body, &ctx) {
        Ok(exchange) => exchange,
        Err(e) => return finish(Outcome::Error, error_response(wire, &e)),
    };

    let fault = state.faults.draw(&knobs);

    let quotas = if knobs.limits.is_unlimited() {
        Quotas::default()
    } else {
        let cost = Cost {
            requests: 1,
            tokens: if fault.is_some() {
                0
            } else {
                exchange.reply.total_tokens()
            },
        };
        let now = state.now();
        let admission = entry
            .window
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(now, knobs.limits, cost);
        match admission {
            Admission::Admitted(quotas) => quotas,
            Admission::Refused(refusal) => {
                let e = ApiError::RateLimited {
                    refusal: Box::new(refusal),
                    model: exchange.model,
                };
                return finish(Outcome::RateLimited, error_response(wire, &e));
            }
        }
    };

    if !knobs.latency.is_zero() {
        tokio::time::sleep(knobs.latency).await;
    }

    if let Some(fault) = fault {
        let mut response = fault_response(wire, fault, &knobs);
        headers::quotas(response.headers_mut(), wire, &quotas);
        return finish(fault_outcome(fault), response);
    }
    let seq = state.next_seq();
    let render = Render {
        seq,
        created: unix_now(),
        pacing: Pacing {
            ttft: knobs.ttft,
            per_token: knobs.per_token,
            drop_after: knobs.drop_after,
        },
    };
    let body = endpoint.render(&exchange, &render);
    let dropped_stream = matches!(&body, MockBody::Sse(sse) if sse.drops());
    let mut response = Response::new(body);
    let h = response.headers_mut();
    if exchange.stream {
        h.insert(header::CONTENT_TYPE, EVENT_STREAM.clone());
        h.insert(header::CACHE_CONTROL, NO_CACHE.clone());
    } else {
        h.insert(header::CONTENT_TYPE, JSON.clone());
    }
    request_id(h, wire, seq);
    headers::quotas(h, wire, &quotas);
    finish(
        Outcome::Ok {
            prompt_tokens: exchange.reply.prompt_tokens,
            completion_tokens: exchange.reply.completion_tokens,
            dropped_stream,
        },
        response,
    )
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::BodyTooLarge),
        Err(_) => Err(ApiError::BodyUnreadable),
    }
}

fn fault_outcome(fault: Fault) -> Outcome {
    if fault.status == 429 {
        Outcome::RateLimited
    } else {
        Outcome::Error
    }
}

fn fault_response(wire: Wire, fault: Fault, knobs: &Knobs) -> Response<MockBody> {
    let mut response = error_response(wire, &ApiError::Fault(fault));
    if let Some(secs) = fault.retry_after_s {
        let wait = Duration::from_secs(secs);
        headers::retry_after(response.headers_mut(), wire, wait);
        if fault.status == 429 {
            headers::exhausted(response.headers_mut(), wire, knobs.limits.requests, wait);
        }
    }
    response
}

/// An error in the wire format of the route, with the headers its kind calls for.
pub(crate) fn error_response(wire: Wire, err: &ApiError) -> Response<MockBody> {
    let body = match wire {
        Wire::OpenAi => openai::error_body(err),
        Wire::Anthropic => anthropic::error_body(err),
    };
    let mut response = Response::new(MockBody::full(body));
    *response.status_mut() = err.status();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, JSON.clone());
    if let ApiError::RateLimited { refusal, .. } = err {
        headers::retry_after(h, wire, refusal.retry_after);
        headers::quotas(h, wire, &refusal.quotas);
    }
    if err.status() == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

fn request_id(h: &mut http::HeaderMap, wire: Wire, seq: u64) {
    let (name, value) = match wire {
        Wire::OpenAi => ("x-request-id", format!("req_mock{seq:016}")),
        Wire::Anthropic => ("request-id", format!("req_mock{seq:016}")),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(name, v);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

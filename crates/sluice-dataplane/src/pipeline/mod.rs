//! The request pipeline, one small named stage per step, in the order a request meets them:
//!
//! 1. [`ingress`] — read the bounded body, parse into the canonical request.
//! 2. [`authenticate`] — find the caller's virtual key in the snapshot by credential hash.
//! 3. [`admit`] — reserve the request against the key's, team's and customer's limits
//!    (after route, so the estimate is priced for the plan's primary target).
//! 4. cache — (cache issue).
//! 5. [`route`] — the plan: primary `provider/model`, then fallbacks.
//! 6. [`dispatch`] — attempts with key selection, retries and failover.
//! 7. [`relay`] — the answer in the client's wire format, streamed as it arrives.
//! 8. [`settle`] — actual usage replaces the reservation; a usage event goes to the ledger.
//! 9. [`observe`] — metrics and the request record.

pub mod admit;
pub mod authenticate;
pub mod dispatch;
pub mod ingress;
pub mod observe;
pub mod relay;
pub mod route;
pub mod settle;

use std::time::{Duration, Instant};

use http::{HeaderValue, Response, StatusCode, header};
use hyper::body::Incoming;
use tracing::{Instrument, debug_span};

use crate::Gateway;
use crate::body::{GatewayBody, error_response, json_response};
use crate::error::GatewayError;
use crate::request_log::RequestLogDraft;
use crate::spans;
use dispatch::{Answer, Served};
use ingress::{Endpoint, Operation};
use relay::StreamEncoder;

impl Gateway {
    /// Serves one inference request end to end.
    pub(crate) async fn serve_inference(
        &self,
        endpoint: Endpoint,
        req: http::Request<Incoming>,
    ) -> Response<GatewayBody> {
        let started = Instant::now();
        let _in_flight = observe::InFlight::request();
        let ingress = endpoint.ingress();
        // The one config load of this request: everything below reads this runtime.
        let rt = self.runtime();
        let content_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let request_id = new_request_id();
        spans::request_id(&request_id);
        let mut log = RequestLogDraft::start(self, &rt, endpoint.as_str(), &request_id, started);
        let prepared = async {
            let principal = debug_span!("authenticate")
                .in_scope(|| authenticate::authenticate(&rt, req.headers()))?;
            log.principal(&principal);
            let body = ingress::read_body(
                req.into_body(),
                content_length,
                rt.snapshot.server.max_body_bytes,
            )
            .instrument(debug_span!("read_body"))
            .await?;
            let op = debug_span!("parse").in_scope(|| ingress::parse(endpoint, &body))?;
            log.operation(&op);
            drop(body);
            spans::operation(&op, principal.virtual_key().map(|vk| vk.id.as_str()));
            let plan = debug_span!("route")
                .in_scope(|| route::plan(&rt, &principal, op.model(), op.fallbacks()))?;
            let admission =
                debug_span!("admit").in_scope(|| admit::admit(self, &rt, principal, &op, &plan))?;
            Ok::<_, GatewayError>((op, plan, admission))
        }
        .await;
        let (op, plan, admission) = match prepared {
            Ok(v) => v,
            Err(e) => {
                observe::failed(endpoint, &e, started);
                log.failed(&e);
                return with_request_id(error_response(&e, ingress), &request_id);
            }
        };
        let deadline = started + Duration::from_millis(rt.snapshot.server.request_timeout_ms);
        let dispatched = dispatch::dispatch(self, &rt, &op, &plan, deadline, &admission)
            .instrument(debug_span!("dispatch"))
            .await;
        let headroom = admission
            .charges
            .as_ref()
            .map(|c| self.limiter().headroom(c));
        let settler = |provider_reservation| settle::Settler {
            limiter: self.limiter().clone(),
            sink: self.usage_sink(),
            rt: rt.clone(),
            request_id: request_id.clone(),
            admission,
            provider_reservation,
        };
        let (answer, served, settler) = match dispatched {
            Ok((answer, served, pr)) => (answer, served, settler(pr)),
            Err(e) => {
                debug_span!("settle")
                    .in_scope(|| settler(None).failed(e.attempts().unwrap_or(0) > 0));
                observe::failed(endpoint, &e, started);
                log.failed(&e);
                return with_request_id(error_response(&e, ingress), &request_id);
            }
        };
        spans::served(&served, &rt);
        let mut res = match answer {
            Answer::Full(decoded) => {
                observe::finished(endpoint, &served, decoded.usage.as_ref(), started);
                log.served(&served, decoded.usage.as_ref(), &decoded.body);
                debug_span!("settle").in_scope(|| settler.served(&served, decoded.usage));
                let body = debug_span!("relay").in_scope(|| {
                    if matches!(op, Operation::Chat(_)) {
                        relay::render_chat(ingress, decoded.body)
                    } else {
                        Ok(decoded.body)
                    }
                });
                match body {
                    Ok(b) => json_response(StatusCode::OK, b),
                    Err(detail) => {
                        let e = GatewayError::BadUpstreamBody {
                            provider: served.provider.clone(),
                            detail,
                        };
                        return error_response(&e, ingress);
                    }
                }
            }
            Answer::Stream {
                first,
                body,
                decoder,
            } => {
                let encoder = match (&op, ingress) {
                    (_, crate::error::Ingress::Anthropic) => StreamEncoder::Anthropic(Box::new(
                        sluice_providers::ingress::anthropic::EventEncoder::new(&served.model),
                    )),
                    (Operation::Completion(_), _) => StreamEncoder::OpenAiCompletion,
                    _ => StreamEncoder::OpenAiChat {
                        forward_usage: op.wants_stream_usage(),
                    },
                };
                observe::stream_started(endpoint, &served, started);
                let on_end = observe::stream_end(endpoint, served.clone(), started, settler);
                let on_end = log.streaming(&served, on_end);
                sse_response(relay::stream_body(
                    first,
                    body,
                    decoder,
                    encoder,
                    served.provider.clone(),
                    served.idle_timeout,
                    on_end,
                ))
            }
            Answer::RawStream(body) => {
                observe::stream_started(endpoint, &served, started);
                let on_end = observe::stream_end(endpoint, served.clone(), started, settler);
                let on_end = log.streaming(&served, on_end);
                sse_response(relay::raw_stream_body(body, served.idle_timeout, on_end))
            }
        };
        served_headers(res.headers_mut(), &served);
        if let Some(h) = headroom {
            limit_headers(res.headers_mut(), &h);
        }
        with_request_id(res, &request_id)
    }
}

/// A request id unique enough for the ledger's idempotency: time and randomness, no
/// coordination between replicas.
fn new_request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("req_{nanos:016x}{:016x}", rand::random::<u64>())
}

fn with_request_id(mut res: Response<GatewayBody>, id: &str) -> Response<GatewayBody> {
    if let Ok(v) = HeaderValue::from_str(id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// The tightest request and token limits of the key, its team and customer, as OpenAI sends
/// its own `x-ratelimit-*` headers.
fn limit_headers(h: &mut http::HeaderMap, headroom: &sluice_core::limits::LimitHeadroom) {
    for (kind, u) in [
        ("requests", &headroom.requests),
        ("tokens", &headroom.tokens),
    ] {
        if let Some(u) = u {
            crate::body::ratelimit_headers(
                h,
                kind,
                u.usage.max,
                u.usage.max.saturating_sub(u.usage.used),
                u.usage.reset_in,
            );
        }
    }
}

fn sse_response(body: GatewayBody) -> Response<GatewayBody> {
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

fn served_headers(h: &mut http::HeaderMap, served: &Served) {
    if let Ok(v) = HeaderValue::from_str(&served.provider) {
        h.insert("x-sluice-provider", v);
    }
    if let Ok(v) = HeaderValue::from_str(&served.key) {
        h.insert("x-sluice-key", v);
    }
    h.insert("x-sluice-attempts", HeaderValue::from(served.attempts));
    h.insert("x-sluice-cache", HeaderValue::from_static("miss"));
}

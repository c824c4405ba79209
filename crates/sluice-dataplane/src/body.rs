//! Response bodies: a full buffer, or a stream of SSE frames produced while the upstream streams.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};

use crate::error::{GatewayError, Ingress};

/// The body type of every response the gateway sends. Stream bodies never fail at the HTTP
/// layer: an upstream failure mid-stream becomes an explicit error event inside the stream.
pub type GatewayBody = UnsyncBoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> GatewayBody {
    Full::new(bytes.into()).boxed_unsync()
}

pub fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<GatewayBody> {
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The error response in the client's wire format, with `retry-after` passed on.
pub fn error_response(err: &GatewayError, ingress: Ingress) -> Response<GatewayBody> {
    let mut res = json_response(err.status(), err.body(ingress));
    if let Some(secs) = err.retry_after_secs() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    if let GatewayError::LimitExceeded(r) = err {
        let kind = match r.kind {
            sluice_core::limits::LimitKind::Requests => "requests",
            sluice_core::limits::LimitKind::Tokens => "tokens",
            sluice_core::limits::LimitKind::BudgetUsd => "budget-usd",
        };
        ratelimit_headers(
            res.headers_mut(),
            kind,
            r.limit,
            r.limit.saturating_sub(r.used),
            r.reset_in,
        );
        if let Ok(v) = HeaderValue::from_str(&r.scope.to_string()) {
            res.headers_mut().insert("x-sluice-limit-scope", v);
        }
    }
    if let Some(n) = err.attempts() {
        res.headers_mut()
            .insert("x-sluice-attempts", HeaderValue::from(n));
    }
    res
}

/// `x-ratelimit-limit-KIND`, `x-ratelimit-remaining-KIND`, `x-ratelimit-reset-KIND` as OpenAI
/// writes them (reset as a duration such as `1.5s`). Names are static: this runs on every
/// governed response.
pub fn ratelimit_headers(
    h: &mut http::HeaderMap,
    kind: &str,
    limit: u64,
    remaining: u64,
    reset_in: std::time::Duration,
) {
    use http::HeaderName;
    let (l, r, t) = match kind {
        "requests" => (
            HeaderName::from_static("x-ratelimit-limit-requests"),
            HeaderName::from_static("x-ratelimit-remaining-requests"),
            HeaderName::from_static("x-ratelimit-reset-requests"),
        ),
        "tokens" => (
            HeaderName::from_static("x-ratelimit-limit-tokens"),
            HeaderName::from_static("x-ratelimit-remaining-tokens"),
            HeaderName::from_static("x-ratelimit-reset-tokens"),
        ),
        _ => (
            HeaderName::from_static("x-ratelimit-limit-budget-usd"),
            HeaderName::from_static("x-ratelimit-remaining-budget-usd"),
            HeaderName::from_static("x-ratelimit-reset-budget-usd"),
        ),
    };
    h.insert(l, HeaderValue::from(limit));
    h.insert(r, HeaderValue::from(remaining));
    if let Ok(v) = HeaderValue::from_str(&format!("{:.3}s", reset_in.as_secs_f64())) {
        h.insert(t, v);
    }
}

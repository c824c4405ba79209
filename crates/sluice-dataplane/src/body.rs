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
    if let Some(n) = err.attempts() {
        res.headers_mut()
            .insert("x-sluice-attempts", HeaderValue::from(n));
    }
    res
}

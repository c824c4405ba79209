//! The request's trace spans and their attributes: one `sluice.request` root span per inference
//! request (INFO), a child span per pipeline stage (DEBUG: `authenticate`, `read_body`, `parse`,
//! `route`, `admit`, `dispatch`, `relay` or `stream`, `settle`), and under `dispatch` one
//! `attempt` span per upstream attempt. Attributes follow the OpenTelemetry GenAI semantic
//! conventions (`gen_ai.*`), plus `sluice.*` for what the conventions do not name.
//!
//! This crate only creates spans; the binary decides where they go (logs, OTLP) and installs
//! [`continue_traces_with`] so a client's W3C `traceparent` becomes the root span's parent. The
//! data plane itself depends on no OpenTelemetry crate.
//!
//! Cost: the binary's log output takes no spans, so without a trace exporter every span here
//! is a disabled no-op (~30 ns per request in all) and the helpers below return at once. With
//! an exporter, the root span is INFO and the stage and attempt spans DEBUG, so an exporter
//! filter of `info` keeps only the root span. Values that cost something to compute (the
//! upstream host) are computed only for enabled spans.

use std::sync::OnceLock;

use http::HeaderMap;
use sluice_core::wire::Usage;
use tracing::Span;
use tracing::field::Empty;

use crate::error::GatewayError;
use crate::pipeline::dispatch::Served;
use crate::pipeline::ingress::{Endpoint, Operation};
use crate::pipeline::relay::StreamOutcome;
use crate::runtime::{ProviderRuntime, Runtime};

/// Makes `headers`' trace context (W3C `traceparent`) the parent of a root span.
pub type ParentFromHeaders = fn(&Span, &HeaderMap);

static PARENT_FROM_HEADERS: OnceLock<ParentFromHeaders> = OnceLock::new();

/// Installs how a request's root span continues the client's trace. Called once by the binary
/// when traces are exported; without it a `traceparent` header is ignored (nobody would see
/// the trace anyway).
pub fn continue_traces_with(f: ParentFromHeaders) {
    let _ = PARENT_FROM_HEADERS.set(f);
}

/// The root span of one inference request, child of the client's trace if it sent one. The
/// pipeline runs inside it (`Instrument`); the stage helpers below record onto it.
pub fn request(endpoint: Endpoint, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(
        "sluice.request",
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_description = Empty,
        http.request.method = "POST",
        http.route = endpoint.as_str(),
        http.response.status_code = Empty,
        error.type = Empty,
        sluice.request_id = Empty,
        sluice.virtual_key = Empty,
        sluice.stream = Empty,
        gen_ai.operation.name = Empty,
        gen_ai.request.model = Empty,
        gen_ai.request.max_tokens = Empty,
        gen_ai.provider.name = Empty,
        gen_ai.system = Empty,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        server.address = Empty,
        server.port = Empty,
        sluice.provider = Empty,
        sluice.key = Empty,
        sluice.attempts = Empty,
    );
    if !span.is_disabled()
        && let Some(f) = PARENT_FROM_HEADERS.get()
    {
        f(&span, headers);
    }
    span
}

/// Records the request id on the current (root) span.
pub fn request_id(id: &str) {
    Span::current().record("sluice.request_id", id);
}

/// Records what the client asked for on the current (root) span: the GenAI operation, the
/// requested model and output ceiling, and the caller's virtual key id.
pub fn operation(op: &Operation, virtual_key: Option<&str>) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    let (name, max_tokens) = match op {
        Operation::Chat(r) => ("chat", r.max_completion_tokens.or(r.max_tokens)),
        Operation::Completion(r) => ("text_completion", r.max_tokens),
        Operation::Embeddings(_) => ("embeddings", None),
    };
    span.record("gen_ai.operation.name", name);
    span.record("gen_ai.request.model", op.model());
    if let Some(m) = max_tokens {
        span.record("gen_ai.request.max_tokens", i64::from(m));
    }
    span.record("sluice.stream", op.is_stream());
    if let Some(vk) = virtual_key {
        span.record("sluice.virtual_key", vk);
    }
}

/// One upstream attempt (a child of `dispatch`): the provider, key and upstream it went to. Its
/// outcome is recorded by [`attempt_ok`] or [`attempt_failed`].
pub fn attempt(prt: &ProviderRuntime, key: &str, model: &str, n: u32) -> Span {
    let kind = prt.entry.kind.as_str();
    let span = tracing::debug_span!(
        "attempt",
        otel.kind = "client",
        otel.status_code = Empty,
        sluice.attempt = i64::from(n),
        sluice.provider = prt.entry.name.as_str(),
        sluice.key = key,
        gen_ai.provider.name = kind,
        gen_ai.system = kind,
        gen_ai.request.model = model,
        server.address = Empty,
        server.port = Empty,
        http.response.status_code = Empty,
        error.type = Empty,
        sluice.failure_class = Empty,
    );
    record_upstream(&span, &prt.entry.base_url);
    span
}

/// The attempt answered.
pub fn attempt_ok(span: &Span) {
    span.record("http.response.status_code", 200i64);
    span.record("otel.status_code", "ok");
}

/// The attempt failed: the upstream's status if it answered, and the failure class that
/// decided what dispatch did next.
pub fn attempt_failed(span: &Span, status: Option<u16>, class: &str) {
    if let Some(s) = status {
        span.record("http.response.status_code", i64::from(s));
    }
    span.record("sluice.failure_class", class);
    span.record("error.type", class);
    span.record("otel.status_code", "error");
}

/// Records who answered on the current (root) span.
pub fn served(served: &Served, rt: &Runtime) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    let kind = served.kind.as_str();
    span.record("gen_ai.provider.name", kind);
    span.record("gen_ai.system", kind);
    span.record("gen_ai.response.model", served.model.as_str());
    span.record("sluice.provider", served.provider.as_str());
    span.record("sluice.key", served.key.as_str());
    span.record("sluice.attempts", i64::from(served.attempts));
    span.record("http.response.status_code", 200i64);
    span.record("otel.status_code", "ok");
    if let Ok(p) = rt.snapshot.provider(&served.provider) {
        record_upstream(&span, &p.base_url);
    }
}

/// Records the tokens the upstream reported on `span` (the root span).
pub fn usage(span: &Span, usage: Option<&Usage>) {
    if let Some(u) = usage {
        span.record("gen_ai.usage.input_tokens", saturating_i64(u.prompt_tokens));
        span.record(
            "gen_ai.usage.output_tokens",
            saturating_i64(u.completion_tokens),
        );
    }
}

/// Records how a relayed stream ended on `root`: the tokens, and the error if it broke.
pub fn stream_ended(root: &Span, outcome: &StreamOutcome) {
    usage(root, outcome.usage.as_ref());
    if let Some(e) = &outcome.error {
        root.record("error.type", "stream_error");
        root.record("otel.status_code", "error");
        root.record("otel.status_description", e.as_str());
    }
}

/// Records a failed request on the current (root) span: its status and the error kind.
pub fn failed(err: &GatewayError) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    span.record(
        "http.response.status_code",
        i64::from(err.status().as_u16()),
    );
    span.record("error.type", err.status().as_str());
    span.record("otel.status_code", "error");
    span.record("otel.status_description", err.to_string().as_str());
    if let Some(n) = err.attempts() {
        span.record("sluice.attempts", i64::from(n));
    }
}

/// OpenTelemetry has no unsigned integers (and tracing-opentelemetry would record a `u64` as a
/// string): integer attributes are recorded as `i64`.
fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `server.address` and `server.port`: the upstream of a provider's base URL.
fn record_upstream(span: &Span, base_url: &str) {
    if span.is_disabled() {
        return;
    }
    if let Ok(uri) = base_url.parse::<http::Uri>() {
        if let Some(host) = uri.host() {
            span.record("server.address", host);
        }
        if let Some(port) = uri.port_u16() {
            span.record("server.port", i64::from(port));
        }
    }
}

//! Stages 8–9, settle and observe: what a finished request reports. Today that is a structured
//! log record per request (at debug level, so the hot path pays for it only when asked); the
//! usage ledger and metrics attach here in their issues.

use std::time::Instant;

use sluice_core::wire::Usage;

use super::dispatch::Served;
use super::ingress::Endpoint;
use super::relay::{OnStreamEnd, StreamOutcome};
use super::settle::Settler;
use crate::error::GatewayError;

/// Tracks one in-flight request (or stream) in a gauge for as long as it lives.
pub struct InFlight(&'static str);

impl InFlight {
    pub fn request() -> Self {
        metrics::gauge!("sluice_active_requests").increment(1.0);
        InFlight("sluice_active_requests")
    }

    pub fn stream() -> Self {
        metrics::gauge!("sluice_active_streams").increment(1.0);
        InFlight("sluice_active_streams")
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

fn record_served(endpoint: Endpoint, served: &Served, usage: Option<&Usage>, started: Instant) {
    let route = endpoint.as_str();
    let elapsed = started.elapsed();
    // `model` is bounded: see `Served::metric_model`.
    metrics::counter!(
        "sluice_requests_total",
        "route" => route,
        "status" => "200",
        "provider" => served.provider.clone(),
        "model" => served.metric_model.clone()
    )
    .increment(1);
    metrics::histogram!("sluice_request_duration_seconds", "route" => route).record(elapsed);
    metrics::histogram!("sluice_upstream_duration_seconds", "provider" => served.provider.clone())
        .record(served.upstream);
    let overhead = elapsed.saturating_sub(served.upstream + served.waited);
    metrics::histogram!("sluice_gateway_overhead_seconds", "route" => route).record(overhead);
    metrics::counter!("sluice_cache_requests_total", "outcome" => "miss").increment(1);
    record_tokens(&served.provider, usage);
}

fn record_tokens(provider: &str, usage: Option<&Usage>) {
    if let Some(u) = usage {
        metrics::counter!("sluice_tokens_total", "provider" => provider.to_string(), "direction" => "input")
            .increment(u.prompt_tokens);
        metrics::counter!("sluice_tokens_total", "provider" => provider.to_string(), "direction" => "output")
            .increment(u.completion_tokens);
    }
}

/// A stream's first chunk is on its way to the client.
pub fn stream_started(endpoint: Endpoint, served: &Served, started: Instant) {
    record_served(endpoint, served, None, started);
    metrics::histogram!("sluice_time_to_first_token_seconds", "provider" => served.provider.clone())
        .record(started.elapsed());
}

pub fn finished(endpoint: Endpoint, served: &Served, usage: Option<&Usage>, started: Instant) {
    record_served(endpoint, served, usage, started);
    crate::spans::usage(&tracing::Span::current(), usage);
    tracing::debug!(
        target: "sluice::request",
        route = endpoint.as_str(),
        provider = %served.provider,
        key = %served.key,
        model = %served.model,
        attempts = served.attempts,
        prompt_tokens = usage.map(|u| u.prompt_tokens),
        completion_tokens = usage.map(|u| u.completion_tokens),
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
        status = 200,
    );
}

pub fn failed(endpoint: Endpoint, err: &GatewayError, started: Instant) {
    crate::spans::failed(err);
    let status = err.status();
    metrics::counter!(
        "sluice_requests_total",
        "route" => endpoint.as_str(),
        "status" => status.as_str().to_string(),
        "provider" => "",
        "model" => ""
    )
    .increment(1);
    tracing::debug!(
        target: "sluice::request",
        route = endpoint.as_str(),
        status = err.status().as_u16(),
        error = %err,
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
    );
}

pub fn stream_end(
    endpoint: Endpoint,
    served: Served,
    started: Instant,
    settler: Settler,
) -> OnStreamEnd {
    let active = InFlight::stream();
    // The root span stays open (and is exported) until the stream ends: the `stream` span,
    // its child, lives in this closure.
    let root = tracing::Span::current();
    let stream = tracing::debug_span!("stream");
    Box::new(move |outcome: StreamOutcome| {
        drop(active);
        // A span's exported end is its last exit: enter the root too so it ends here.
        let _root = root.enter();
        let _stream = stream.enter();
        tracing::debug_span!("settle").in_scope(|| settler.served(&served, outcome.usage));
        crate::spans::stream_ended(&root, &outcome);
        record_tokens(&served.provider, outcome.usage.as_ref());
        tracing::debug!(
            target: "sluice::request",
            route = endpoint.as_str(),
            provider = %served.provider,
            key = %served.key,
            model = %served.model,
            attempts = served.attempts,
            stream = true,
            completed = outcome.completed,
            error = outcome.error.as_deref(),
            prompt_tokens = outcome.usage.map(|u| u.prompt_tokens),
            completion_tokens = outcome.usage.map(|u| u.completion_tokens),
            latency_ms = started.elapsed().as_secs_f64() * 1e3,
        );
    })
}

//! Stages 8–9, settle and observe: what a finished request reports. Today that is a structured
//! log record per request (at debug level, so the hot path pays for it only when asked); the
//! usage ledger and metrics attach here in their issues.

use std::time::Instant;

use sluice_core::wire::Usage;

use super::dispatch::Served;
use super::ingress::Endpoint;
use super::relay::{OnStreamEnd, StreamOutcome};
use crate::error::GatewayError;

pub fn finished(endpoint: Endpoint, served: &Served, usage: Option<&Usage>, started: Instant) {
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
    tracing::debug!(
        target: "sluice::request",
        route = endpoint.as_str(),
        status = err.status().as_u16(),
        error = %err,
        latency_ms = started.elapsed().as_secs_f64() * 1e3,
    );
}

pub fn stream_end(endpoint: Endpoint, served: Served, started: Instant) -> OnStreamEnd {
    Box::new(move |outcome: StreamOutcome| {
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

//! Logs and traces.
//!
//! - Logs: human-readable on a terminal, JSON otherwise (or as `--log-format` says); level by
//!   `RUST_LOG` (default `info`).
//! - Traces: exported over OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its `_TRACES_`
//!   variant) is set; the standard `OTEL_*` variables apply (`OTEL_SERVICE_NAME`,
//!   `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_TIMEOUT`, ...). Spans go through a
//!   batch processor: the request path only enqueues a finished span on a bounded queue (full
//!   queue: the span is dropped), a background thread exports. A client's W3C `traceparent` is
//!   continued.
//!
//! The two outputs have separate filters, and only the trace exporter sees spans:
//!
//! - Log lines are events only (filtered by `RUST_LOG`); they carry no span context. Formatting
//!   the request's span into the JSON log context cost ~40 µs per request (the JSON formatter
//!   re-parses the span's fields on every `record`), ~4 µs as text, for a request id that
//!   the `sluice::request` debug record already has.
//! - The trace exporter (`SLUICE_TRACE_FILTER`, default [`DEFAULT_TRACE_FILTER`]) takes the
//!   data plane's INFO root span and its DEBUG stage and attempt spans (about 11 µs per request
//!   measured with a no-op exporter; `SLUICE_TRACE_FILTER=info` keeps only the root span, ~3.5 µs).
//!
//! So without `OTEL_EXPORTER_OTLP_ENDPOINT` no subscriber wants any span, every span is a
//! disabled no-op, and the request path pays ~30 ns for them.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What the trace exporter takes when `SLUICE_TRACE_FILTER` is not set: every span of the data
/// plane's pipeline (its stages are DEBUG), INFO and above from everything else.
pub const DEFAULT_TRACE_FILTER: &str = "info,sluice_dataplane=debug";

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes what is still queued.
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued, then stops the exporter. Call it while the tokio runtime
    /// is still alive: the gRPC channel runs on it.
    pub fn shutdown(self) {
        if let Some(p) = self.tracer_provider
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "trace exporter did not shut down cleanly");
        }
    }
}

/// Installs logging and, if `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
/// is set, trace export. Must run inside the tokio runtime (the OTLP gRPC channel spawns its
/// worker there).
pub fn init(format: Option<LogFormat>) -> Result<Telemetry> {
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    }
    // Events only: spans are for the trace exporter (see the module docs for the cost).
    .with_filter(log_filter.and(filter_fn(|meta| meta.is_event())));

    let endpoint = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .into_iter()
    .filter_map(|k| std::env::var(k).ok())
    .find(|v| !v.trim().is_empty())
    .unwrap_or_default();
    if endpoint.is_empty() {
        tracing_subscriber::registry().with(logs).init();
        return Ok(Telemetry {
            tracer_provider: None,
        });
    }
    let trace_filter = match std::env::var("SLUICE_TRACE_FILTER") {
        Ok(f) if !f.trim().is_empty() => EnvFilter::try_new(&f)
            .with_context(|| format!("SLUICE_TRACE_FILTER '{f}' is not a valid filter"))?,
        _ => EnvFilter::new(DEFAULT_TRACE_FILTER),
    };
    let provider = tracer_provider()?;
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("sluice"))
        // Source location, thread, target and busy/idle timings are noise next to the GenAI
        // attributes (and the timings cost an `Instant::now()` per enter and exit).
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(trace_filter);
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    sluice_dataplane::spans::continue_traces_with(set_parent_from_headers);
    tracing::info!(endpoint = %endpoint, "exporting traces over OTLP/gRPC");
    Ok(Telemetry {
        tracer_provider: Some(provider),
    })
}

/// The OTLP/gRPC exporter (endpoint, headers and timeout from the `OTEL_EXPORTER_OTLP_*`
/// variables) behind a batch processor (`OTEL_BSP_*`).
fn tracer_provider() -> Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .context("could not build the OTLP span exporter (check OTEL_EXPORTER_OTLP_ENDPOINT)")?;
    let mut resource = Resource::builder();
    // The SDK reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; name the service only if
    // the operator did not.
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("sluice");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// Continues the client's trace: the W3C `traceparent` (and `tracestate`) of the request
/// become the root span's parent.
fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only if the span was already started or no trace layer is installed; the request
    // is then its own trace, which is all we could do anyway.
    let _ = span.set_parent(cx);
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

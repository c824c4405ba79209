//! Prometheus metrics: one process-wide recorder from the `metrics` crate, rendered as text by
//! `GET /metrics`. Every label here has a bounded set of values (routes, statuses, configured
//! provider and key names, failure classes); request ids and raw client strings never become
//! labels. The series are documented in docs/observability.md.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets in seconds, from 100 µs (the gateway's own overhead) to 2 minutes (long
/// generations).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Installs the recorder once per process. Returns `false` if another recorder was already
/// installed (metrics then go to that one and `/metrics` renders nothing).
pub fn install() -> bool {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            let upkeep = handle.clone();
            // Histograms keep raw samples until upkeep folds them into buckets; without it
            // memory grows with traffic when nobody scrapes.
            std::thread::Builder::new()
                .name("sluice-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .is_some()
}

/// The Prometheus text exposition of every series.
pub fn render() -> String {
    HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// Sets `sluice_rate_limit_usage` and `sluice_rate_limit_max` for every limit of every scope
/// in the current config. Runs at scrape time, off the request path; label values are the
/// configured ids, so cardinality is bounded by the config.
pub fn record_limit_usage(gw: &crate::Gateway) {
    let rt = gw.runtime();
    let mut seen = std::collections::HashSet::new();
    for vk in rt.snapshot.virtual_keys() {
        let scopes = vk.charges.iter().chain(vk.provider_limits.values());
        for (scope, spec) in scopes {
            if !seen.insert(scope.clone()) {
                continue;
            }
            for u in gw.limiter().usage(scope, spec) {
                let (used, max) = match u.kind {
                    sluice_core::limits::LimitKind::BudgetUsd => {
                        (u.used as f64 / 1e6, u.max as f64 / 1e6)
                    }
                    _ => (u.used as f64, u.max as f64),
                };
                let labels = [
                    ("scope", scope.kind.as_str().to_string()),
                    ("id", scope.id.to_string()),
                    ("kind", u.kind.as_str().to_string()),
                ];
                metrics::gauge!("sluice_rate_limit_usage", &labels).set(used);
                metrics::gauge!("sluice_rate_limit_max", &labels).set(max);
            }
        }
    }
}

fn describe() {
    metrics::describe_gauge!(
        "sluice_rate_limit_usage",
        "Current usage of a limit (requests, tokens, or budget in USD) by scope, id and kind"
    );
    metrics::describe_gauge!(
        "sluice_rate_limit_max",
        "The limit itself, same labels as usage"
    );
    metrics::describe_counter!(
        "sluice_unpriced_requests_total",
        "Served requests whose model has no price (costed at 0), by provider"
    );
    metrics::describe_counter!(
        "sluice_cost_micro_usd_total",
        "Cost of served requests in micro-USD, by provider"
    );
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "sluice_requests_total",
        "Client requests by route, status, provider"
    );
    describe_counter!(
        "sluice_upstream_attempts_total",
        "Upstream attempts by provider, key and outcome (ok or failure class)"
    );
    describe_counter!(
        "sluice_retries_total",
        "Retries after a failed attempt, by provider"
    );
    describe_counter!(
        "sluice_failovers_total",
        "Fail-overs to the next target, by provider left"
    );
    describe_counter!(
        "sluice_key_cooldowns_total",
        "Keys put into cooldown after a 429"
    );
    describe_gauge!(
        "sluice_key_available",
        "1 when a key is in rotation (not cooling, not disabled, breaker not open), else 0"
    );
    describe_counter!(
        "sluice_tokens_total",
        "Tokens by provider and direction (input, output)"
    );
    describe_counter!("sluice_cache_requests_total", "Cache lookups by outcome");
    describe_gauge!("sluice_active_requests", "Requests in flight");
    describe_gauge!("sluice_active_streams", "Streams being relayed");
    describe_histogram!(
        "sluice_request_duration_seconds",
        "Wall time of a request as the client sees it (to the last byte for non-streaming, to the first byte for streams)"
    );
    describe_histogram!(
        "sluice_upstream_duration_seconds",
        "Time waiting on the upstream per successful request"
    );
    describe_histogram!(
        "sluice_time_to_first_token_seconds",
        "Streams: time from the request to the first chunk sent to the client"
    );
    describe_counter!(
        "sluice_usage_events_reported_total",
        "Usage events acknowledged by the ledger (re-sent ones counted again)"
    );
    describe_counter!(
        "sluice_usage_events_dropped_total",
        "Usage events lost before the ledger, by reason (queue_full, buffer_full, rejected, corrupt_spill, shutdown)"
    );
    describe_counter!(
        "sluice_usage_events_spilled_total",
        "Usage events written to the spill file while the ledger was unreachable"
    );
    describe_counter!(
        "sluice_usage_report_failures_total",
        "Failed usage reports and budget reads (each is retried with backoff)"
    );
    describe_gauge!(
        "sluice_usage_events_buffered",
        "Usage events in memory waiting for the ledger"
    );
    describe_gauge!(
        "sluice_usage_spill_bytes",
        "Bytes of the usage spill file not yet delivered to the ledger"
    );
    describe_histogram!(
        "sluice_gateway_overhead_seconds",
        "The gateway's own time: wall time minus upstream waiting and retry backoff"
    );
}

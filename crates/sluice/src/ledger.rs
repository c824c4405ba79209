//! The usage ledger between the planes of this binary.
//!
//! - `sluice serve`: the gateway's reporter writes straight into the store
//!   ([`InProcessLedger`]), budgets are restored from it before the first request
//!   ([`restore_budgets`]) and the admin API's usage route reads the gateway's live limiter
//!   ([`GatewayUsage`]).
//! - Both: request-log records go beside the usage, best-effort, into the same store
//!   (`RequestLogTransport` in-process; `UsageService.ReportLogs` over gRPC).
//! - `sluice controlplane`: `UsageService` over the store ([`GrpcLedger`]); data planes report
//!   through `sluice_dataplane::usage::GrpcUsageTransport`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sluice_controlplane::{ControlPlane, ControlPlaneError, LiveUsage};
use sluice_core::limits::{LimitSpec, LimitUsage, Scope};
use sluice_dataplane::Gateway;
use sluice_dataplane::request_log::{RequestLogRecord, RequestLogTransport};
use sluice_dataplane::usage::{BudgetUsage, TransportError, UsageEvent, UsageTransport};
use sluice_proto::usage::UsageLedger;
use sluice_proto::v1;
use sluice_store::{StoreError, UsageRecord};
use tonic::Status;

/// `sluice serve`'s usage transport: the store of the control plane in the same process.
pub struct InProcessLedger {
    control_plane: Arc<ControlPlane>,
}

impl InProcessLedger {
    pub fn new(control_plane: Arc<ControlPlane>) -> Self {
        InProcessLedger { control_plane }
    }
}

impl UsageTransport for InProcessLedger {
    async fn report(&self, batch: &[UsageEvent]) -> Result<u64, TransportError> {
        let records: Vec<UsageRecord> = batch.iter().map(event_record).collect();
        match self.control_plane.store().record_usage(&records).await {
            Ok(_) => Ok(batch.len() as u64),
            Err(e @ StoreError::OutOfRange { .. }) => Err(TransportError::Rejected(e.to_string())),
            Err(e) => Err(TransportError::Unavailable(e.to_string())),
        }
    }

    async fn current_budgets(&self) -> Result<Vec<BudgetUsage>, TransportError> {
        let usage = self
            .control_plane
            .current_budget_usage()
            .await
            .map_err(|e| TransportError::Unavailable(e.to_string()))?;
        Ok(usage.into_iter().map(budget_usage).collect())
    }
}

/// `sluice serve`'s request log: written to the store of the control plane in this process.
impl RequestLogTransport for InProcessLedger {
    async fn report_logs(&self, batch: &[RequestLogRecord]) -> Result<u64, TransportError> {
        let records: Vec<_> = batch.iter().map(log_record).collect();
        self.control_plane
            .store()
            .record_request_logs(&records)
            .await
            .map_err(|e| TransportError::Unavailable(e.to_string()))
    }
}

/// Restores every budget's spend in its current period from the ledger into `gateway`'s
/// limiter: `sluice serve` does it before serving, so the first request after a restart already
/// sees it. Returns how many budgets had spent something.
pub async fn restore_budgets(
    control_plane: &ControlPlane,
    gateway: &Gateway,
) -> Result<usize, ControlPlaneError> {
    let usage = control_plane.current_budget_usage().await?;
    for u in &usage {
        gateway
            .limiter()
            .restore_budget_usage(&u.scope, u.reset, u.used_micros, u.period_start_ms);
    }
    Ok(usage.len())
}

/// The gateway's limiter as the control plane's usage route sees it (`sluice serve`).
pub struct GatewayUsage(pub Arc<Gateway>);

impl LiveUsage for GatewayUsage {
    fn usage(&self, scope: &Scope, spec: &LimitSpec) -> Vec<LimitUsage> {
        self.0.limiter().usage(scope, spec)
    }
}

/// `UsageService` of `sluice controlplane`, over its store.
pub struct GrpcLedger {
    control_plane: Arc<ControlPlane>,
}

impl GrpcLedger {
    pub fn new(control_plane: Arc<ControlPlane>) -> Self {
        GrpcLedger { control_plane }
    }
}

#[tonic::async_trait]
impl UsageLedger for GrpcLedger {
    async fn record(&self, records: Vec<v1::UsageRecord>) -> Result<u32, Status> {
        let n = u32::try_from(records.len()).unwrap_or(u32::MAX);
        let records: Vec<UsageRecord> = records.into_iter().map(wire_record).collect();
        match self.control_plane.store().record_usage(&records).await {
            Ok(_) => Ok(n),
            Err(e @ StoreError::OutOfRange { .. }) => Err(Status::invalid_argument(e.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, records = n, "could not store reported usage; the data plane will retry");
                Err(Status::unavailable(e.to_string()))
            }
        }
    }

    async fn record_logs(&self, logs: Vec<v1::RequestLogRecord>) -> Result<u32, Status> {
        let n = u32::try_from(logs.len()).unwrap_or(u32::MAX);
        let records: Vec<_> = logs.into_iter().map(wire_log).collect();
        match self
            .control_plane
            .store()
            .record_request_logs(&records)
            .await
        {
            Ok(_) => Ok(n),
            Err(e) => {
                // Best-effort: the data plane drops the batch and counts it.
                tracing::debug!(error = %e, records = n, "could not store request logs");
                Err(Status::unavailable(e.to_string()))
            }
        }
    }

    async fn current(&self) -> Result<Vec<v1::ScopeUsage>, Status> {
        let usage = self
            .control_plane
            .current_budget_usage()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(usage
            .into_iter()
            .map(|u| v1::ScopeUsage {
                scope_kind: u.scope.kind.as_str().to_string(),
                id: u.scope.id.to_string(),
                reset_duration: u.reset.to_string(),
                period_start_ms: u.period_start_ms,
                cost_micros: u64::try_from(u.used_micros).unwrap_or(0),
            })
            .collect())
    }
}

fn budget_usage(u: sluice_controlplane::BudgetUsage) -> BudgetUsage {
    BudgetUsage {
        scope: u.scope,
        reset: u.reset,
        period_start_ms: u.period_start_ms,
        used_micros: u.used_micros,
    }
}

fn at_ms(ms: i64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn event_record(e: &UsageEvent) -> UsageRecord {
    UsageRecord {
        request_id: e.request_id.clone(),
        virtual_key_id: e.virtual_key_id.clone(),
        team_id: e.team_id.clone(),
        customer_id: e.customer_id.clone(),
        provider: e.provider.clone(),
        model: e.model.clone(),
        prompt_tokens: e.prompt_tokens,
        completion_tokens: e.completion_tokens,
        cost_micros: u64::try_from(e.cost_micros).unwrap_or(0),
        occurred_at: at_ms(e.at_unix_ms),
    }
}

fn wire_record(r: v1::UsageRecord) -> UsageRecord {
    let some = |s: String| (!s.is_empty()).then_some(s);
    UsageRecord {
        occurred_at: at_ms(r.at_unix_ms),
        request_id: r.request_id,
        virtual_key_id: some(r.virtual_key_id),
        team_id: some(r.team_id),
        customer_id: some(r.customer_id),
        provider: r.provider,
        model: r.model,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        cost_micros: r.cost_micros,
    }
}

fn log_record(r: &RequestLogRecord) -> sluice_store::RequestLogRecord {
    sluice_store::RequestLogRecord {
        request_id: r.request_id.clone(),
        occurred_at_ms: r.at_unix_ms,
        route: r.route.clone(),
        virtual_key_id: r.virtual_key_id.clone(),
        team_id: r.team_id.clone(),
        customer_id: r.customer_id.clone(),
        provider: r.provider.clone(),
        model: r.model.clone(),
        key_name: r.key_name.clone(),
        status: r.status,
        error_code: r.error_code.clone(),
        attempts: r.attempts,
        latency_ms: r.latency_ms,
        ttft_ms: r.ttft_ms,
        stream: r.stream,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        cost_micros: r.cost_micros,
        cache: r.cache.clone(),
        content: r.content.clone(),
    }
}

fn wire_log(r: v1::RequestLogRecord) -> sluice_store::RequestLogRecord {
    let some = |s: String| (!s.is_empty()).then_some(s);
    sluice_store::RequestLogRecord {
        request_id: r.request_id,
        occurred_at_ms: r.at_unix_ms,
        route: r.route,
        virtual_key_id: some(r.virtual_key_id),
        team_id: some(r.team_id),
        customer_id: some(r.customer_id),
        provider: some(r.provider),
        model: some(r.model),
        key_name: some(r.key_name),
        status: u16::try_from(r.status).unwrap_or(0),
        error_code: some(r.error_code),
        attempts: r.attempts,
        latency_ms: r.latency_ms,
        ttft_ms: r.ttft_ms,
        stream: r.stream,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        cost_micros: r.cost_micros,
        cache: if r.cache.is_empty() {
            "miss".into()
        } else {
            r.cache
        },
        content: r.content,
    }
}

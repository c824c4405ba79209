//! Settled usage leaving the data plane: one event per finished request, handed to a sink that
//! batches it to the control plane's ledger. Submitting never blocks the request path.
//!
//! - [`UsageReporter`] (`reporter`, its task in `delivery`): the sink of a data plane with a
//!   ledger. A bounded queue feeds one task that batches events, delivers them through a [`UsageTransport`]
//!   at least once (a failed batch is kept and retried with backoff), spills them to a file in
//!   the data dir when the control plane stays away (`spill`), replays that file at start, and
//!   restores budget usage from the ledger after each (re)connection (`budget_sync`).
//! - Transports: [`GrpcUsageTransport`] (`UsageService.Report`/`Current`, for `sluice dataplane
//!   --controlplane`); `sluice serve` writes to its store in-process.

mod budget_sync;
mod delivery;
mod grpc;
mod reporter;
mod spill;
mod transport;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use grpc::GrpcUsageTransport;
pub use reporter::{ReporterConfig, ReporterHandle, SPILL_FILE_NAME, UsageReporter};
pub use transport::{BudgetUsage, TransportError, UsageTransport};

/// What one request used, once settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// Unique per request: the ledger is idempotent by it (reports are at-least-once).
    pub request_id: String,
    pub at_unix_ms: i64,
    pub virtual_key_id: Option<String>,
    pub team_id: Option<String>,
    pub customer_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_micros: i64,
}

/// Where usage events go. `submit` must not block: a sink that cannot keep up drops events and
/// counts them (`sluice_usage_events_dropped_total`), it never stalls inference.
pub trait UsageSink: Send + Sync {
    fn submit(&self, event: UsageEvent);
}

/// A sink that keeps nothing (data planes without a ledger: file-config data planes).
pub struct DiscardUsage;

impl UsageSink for DiscardUsage {
    fn submit(&self, _event: UsageEvent) {}
}

pub type SharedUsageSink = Arc<dyn UsageSink>;

#[cfg(test)]
mod tests;

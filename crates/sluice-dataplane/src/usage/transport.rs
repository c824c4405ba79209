//! How usage reaches the ledger: one trait, two directions (report settled usage; read back the
//! budget usage of the current periods).

use std::future::Future;

use sluice_core::governance::ResetDuration;
use sluice_core::limits::{MicroUsd, Scope};
use thiserror::Error;

use super::UsageEvent;

/// What one budget has spent in its current period, according to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetUsage {
    pub scope: Scope,
    pub reset: ResetDuration,
    /// Start of the period `used_micros` was spent in (Unix ms).
    pub period_start_ms: i64,
    pub used_micros: MicroUsd,
}

/// Why a transport call failed.
#[derive(Debug, Error)]
pub enum TransportError {
    /// The ledger is unreachable or failed for now: keep the batch and retry.
    #[error("usage ledger unavailable: {0}")]
    Unavailable(String),
    /// The ledger refused the batch as invalid; resending it cannot succeed, so it is dropped
    /// (and counted) rather than blocking every later batch.
    #[error("usage ledger rejected the batch: {0}")]
    Rejected(String),
}

/// Delivers usage to the ledger. Receiving is idempotent by request id, so a batch may be sent
/// again after a failure whose outcome is unknown (a lost acknowledgement).
///
/// ```
/// use sluice_dataplane::usage::{BudgetUsage, TransportError, UsageEvent, UsageTransport};
/// struct Nowhere;
/// impl UsageTransport for Nowhere {
///     async fn report(&self, batch: &[UsageEvent]) -> Result<u64, TransportError> {
///         Err(TransportError::Unavailable(format!("{} events, no ledger", batch.len())))
///     }
/// }
/// ```
pub trait UsageTransport: Send + Sync + 'static {
    /// Stores `batch` durably; `Ok(accepted)` (duplicates included) lets the reporter forget it.
    fn report(
        &self,
        batch: &[UsageEvent],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Spend in the current period of every budget the ledger knows of (those that spent
    /// nothing may be left out). The default knows none.
    fn current_budgets(
        &self,
    ) -> impl Future<Output = Result<Vec<BudgetUsage>, TransportError>> + Send {
        async { Ok(Vec::new()) }
    }
}

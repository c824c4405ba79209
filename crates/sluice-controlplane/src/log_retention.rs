//! Request-log retention: a periodic job deletes records older than `[logs] retention_days`
//! (read from the current config at every run, so a change applies at the next run).

use std::sync::Weak;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::ControlPlane;
use crate::ledger::now_unix_ms;

/// How often old records are deleted; the first run is at start.
const EVERY: Duration = Duration::from_secs(3600);
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Starts the job; it ends when the control plane is dropped.
pub(crate) fn spawn(cp: Weak<ControlPlane>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(cp) = cp.upgrade() else { return };
            if let Err(e) = cp.delete_expired_logs().await {
                tracing::warn!(error = %e, "could not delete expired request logs; retrying at the next run");
            }
        }
    })
}

impl ControlPlane {
    /// Deletes request-log records older than the configured retention; returns how many.
    pub async fn delete_expired_logs(&self) -> Result<u64, crate::ControlPlaneError> {
        let days = i64::from(self.current().config.logs.retention_days.max(1));
        let cutoff = now_unix_ms() - days * DAY_MS;
        let n = self.store().delete_request_logs_before(cutoff).await?;
        if n > 0 {
            tracing::info!(
                deleted = n,
                retention_days = days,
                "expired request logs deleted"
            );
        }
        Ok(n)
    }
}

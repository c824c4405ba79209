//! The usage reporter: settled usage to the ledger, batched, at least once, bounded everywhere.
//!
//! ```text
//! settle ──try_send──► queue (bounded) ──► task: memory (bounded) ──batch──► transport ──► ledger
//!                         │ full: drop,          │ long outage / half full        ▲
//!                         ▼ count                ▼                                │ replay
//!                                           spill file (data dir) ────────────────┘
//! ```
//!
//! - Requests never wait: [`UsageReporter::submit`] is a `try_send`; a full queue drops the
//!   event and counts it (`sluice_usage_events_dropped_total{reason="queue_full"}`).
//! - One task owns all state (no locks). It sends a batch when it has `batch_size` events or its
//!   oldest event has waited `batch_interval`. One batch is in flight at a time; a failed batch
//!   is kept and sent again after a capped, jittered backoff, so delivery is at least once (the
//!   ledger is idempotent by request id).
//! - Events wait in memory up to `max_buffered`. Once the ledger has failed for `spill_after`,
//!   or memory is half full, they go to the spill file (synced to disk), which is read back once
//!   the ledger answers again, and at the next start if the process stops first.
//! - After a start, a reconnection or a config change, and once the backlog is delivered, budget
//!   usage is restored from the ledger into the limiter (`budget_sync`).
//! - [`ReporterHandle::close`] (graceful shutdown) delivers what it can within
//!   `shutdown_grace` and spills the rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::budget_sync::BudgetSync;
use super::delivery::Task;
use super::{UsageEvent, UsageSink, UsageTransport};
use crate::Gateway;
use crate::config_source::Reconnect;

/// The spill file's name in the data dir.
pub const SPILL_FILE_NAME: &str = "usage-spill.jsonl";

/// Bounds and timings of a [`UsageReporter`].
#[derive(Debug, Clone)]
pub struct ReporterConfig {
    /// Events between the requests and the reporter task; beyond it events are dropped.
    pub queue_capacity: usize,
    /// Most events in one report.
    pub batch_size: usize,
    /// Longest an event waits for its batch to fill.
    pub batch_interval: Duration,
    /// Most events kept in memory (waiting, or in the batch being retried).
    pub max_buffered: usize,
    /// Where events go when the ledger stays away; `None`: memory only.
    pub spill_file: Option<PathBuf>,
    /// How long the ledger must have been failing before events go to the spill file.
    pub spill_after: Duration,
    /// Delays between failed attempts.
    pub retry: Reconnect,
    /// How long [`ReporterHandle::close`] tries to deliver before spilling the rest.
    pub shutdown_grace: Duration,
}

impl Default for ReporterConfig {
    /// 16 Ki queued, batches of 500 or every 200 ms, 100 k events in memory, spilling after 5 s
    /// of failures, retries from 200 ms doubling to 5 s, 5 s to deliver at shutdown.
    fn default() -> Self {
        ReporterConfig {
            queue_capacity: 16 * 1024,
            batch_size: 500,
            batch_interval: Duration::from_millis(200),
            max_buffered: 100_000,
            spill_file: None,
            spill_after: Duration::from_secs(5),
            retry: Reconnect::default(),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl ReporterConfig {
    /// The defaults, spilling to [`SPILL_FILE_NAME`] in `data_dir`.
    pub fn spilling_in(data_dir: &Path) -> Self {
        ReporterConfig {
            spill_file: Some(data_dir.join(SPILL_FILE_NAME)),
            ..ReporterConfig::default()
        }
    }
}

/// The usage sink of a data plane with a ledger. Cheap to share; `submit` never blocks.
///
/// ```no_run
/// # async fn demo(gateway: std::sync::Arc<sluice_dataplane::Gateway>) -> Result<(), Box<dyn std::error::Error>> {
/// use sluice_dataplane::usage::{GrpcUsageTransport, ReporterConfig, UsageReporter};
/// let transport = GrpcUsageTransport::new("http://10.0.0.5:50051", "dp-1")?;
/// let config = ReporterConfig::spilling_in(".sluice".as_ref());
/// let (sink, reporter) = UsageReporter::spawn(transport, config, Some(&gateway));
/// gateway.set_usage_sink(sink);
/// // ... serve, then on shutdown:
/// reporter.close().await;
/// # Ok(()) }
/// ```
pub struct UsageReporter {
    queue: mpsc::Sender<UsageEvent>,
}

/// Stops the reporter task: [`close`](ReporterHandle::close) it at shutdown, after the server
/// has stopped taking requests.
pub struct ReporterHandle {
    close: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl UsageSink for UsageReporter {
    fn submit(&self, event: UsageEvent) {
        if self.queue.try_send(event).is_err() {
            count_dropped("queue_full", 1);
        }
    }
}

impl UsageReporter {
    /// Starts the reporter task on `transport`. With `gateway`, budget usage from the ledger is
    /// restored into its limiter (see the module docs).
    pub fn spawn<T: UsageTransport>(
        transport: T,
        config: ReporterConfig,
        gateway: Option<&Arc<Gateway>>,
    ) -> (Arc<UsageReporter>, ReporterHandle) {
        let (queue, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (close, closing) = oneshot::channel();
        let task = Task::new(transport, config, rx, gateway.map(BudgetSync::new));
        let task = tokio::spawn(task.run(closing));
        (
            Arc::new(UsageReporter { queue }),
            ReporterHandle { close, task },
        )
    }
}

impl ReporterHandle {
    /// Delivers what it can within the configured grace, spills the rest, and stops.
    pub async fn close(self) {
        let _ = self.close.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the usage reporter task failed");
        }
    }
}

pub(super) fn count_dropped(reason: &'static str, n: usize) {
    metrics::counter!("sluice_usage_events_dropped_total", "reason" => reason).increment(n as u64);
}

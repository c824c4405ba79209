//! The request-log reporter: records to the log store in batches, best-effort.
//!
//! ```text
//! pipeline ──try_send──► queue (bounded) ──► task: batch ──send once, with a deadline──► store
//!              │ full: drop, count                        │ error / deadline: drop, count
//! ```
//!
//! One task, one batch in flight, no retries, no memory beyond the queue and one batch, no
//! spill file: while the store is slow the queue fills and new records are dropped at
//! `try_send`, which costs the request nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{RequestLogRecord, RequestLogSink, RequestLogTransport};

/// Bounds and timings of a [`RequestLogReporter`].
#[derive(Debug, Clone)]
pub struct RequestLogReporterConfig {
    /// Records waiting for the task; beyond it they are dropped.
    pub queue_capacity: usize,
    /// Most records in one send.
    pub batch_size: usize,
    /// Longest a record waits for its batch to fill.
    pub batch_interval: Duration,
    /// A send that takes longer is abandoned and its batch dropped.
    pub send_timeout: Duration,
    /// How long [`RequestLogReporterHandle::close`] sends what is queued.
    pub shutdown_grace: Duration,
}

impl Default for RequestLogReporterConfig {
    /// 8 Ki queued, batches of 500 or every 500 ms, 5 s per send, 2 s at shutdown.
    fn default() -> Self {
        RequestLogReporterConfig {
            queue_capacity: 8 * 1024,
            batch_size: 500,
            batch_interval: Duration::from_millis(500),
            send_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// The request-log sink of a data plane with a control plane. `submit` never blocks.
///
/// ```no_run
/// # async fn demo(gateway: std::sync::Arc<sluice_dataplane::Gateway>) -> Result<(), Box<dyn std::error::Error>> {
/// use sluice_dataplane::request_log::{RequestLogReporter, RequestLogReporterConfig};
/// use sluice_dataplane::usage::GrpcUsageTransport;
/// let transport = GrpcUsageTransport::new("http://10.0.0.5:50051", "dp-1")?;
/// let (sink, reporter) = RequestLogReporter::spawn(transport, RequestLogReporterConfig::default());
/// gateway.set_request_log_sink(sink);
/// // ... serve, then on shutdown:
/// reporter.close().await;
/// # Ok(()) }
/// ```
pub struct RequestLogReporter {
    queue: mpsc::Sender<RequestLogRecord>,
    dropped: Arc<AtomicU64>,
}

/// Stops the reporter task at shutdown (after the server stopped taking requests).
pub struct RequestLogReporterHandle {
    close: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RequestLogSink for RequestLogReporter {
    fn submit(&self, record: RequestLogRecord) {
        if self.queue.try_send(record).is_err() {
            drop_records(&self.dropped, "queue_full", 1);
        }
    }
}

impl RequestLogReporter {
    pub fn spawn<T: RequestLogTransport>(
        transport: T,
        config: RequestLogReporterConfig,
    ) -> (Arc<RequestLogReporter>, RequestLogReporterHandle) {
        let (queue, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (close, closing) = oneshot::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(run(transport, config, rx, closing, dropped.clone()));
        (
            Arc::new(RequestLogReporter { queue, dropped }),
            RequestLogReporterHandle { close, task },
        )
    }

    /// Records dropped so far, for every reason (also in `sluice_request_logs_dropped_total`).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl RequestLogReporterHandle {
    /// Sends what is queued within the grace period, drops the rest, and stops.
    pub async fn close(self) {
        let _ = self.close.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the request-log reporter task failed");
        }
    }
}

async fn run<T: RequestLogTransport>(
    transport: T,
    config: RequestLogReporterConfig,
    mut queue: mpsc::Receiver<RequestLogRecord>,
    mut closing: oneshot::Receiver<()>,
    dropped: Arc<AtomicU64>,
) {
    let batch_size = config.batch_size.max(1);
    let mut batch = Vec::with_capacity(batch_size);
    let mut failing = false;
    'run: loop {
        let first = tokio::select! {
            biased;
            _ = &mut closing => break 'run,
            r = queue.recv() => r,
        };
        let Some(first) = first else { break };
        batch.push(first);
        let deadline = Instant::now() + config.batch_interval;
        while batch.len() < batch_size {
            tokio::select! {
                biased;
                _ = &mut closing => break 'run,
                r = tokio::time::timeout_at(deadline, queue.recv()) => match r {
                    Ok(Some(r)) => batch.push(r),
                    Ok(None) | Err(_) => break,
                },
            }
        }
        let sent = send(&transport, &batch, config.send_timeout, &dropped).await;
        if sent == failing {
            failing = !sent;
            if failing {
                tracing::warn!(
                    "cannot write the request log; records are dropped until it answers (see sluice_request_logs_dropped_total)"
                );
            } else {
                tracing::info!("the request log is written again");
            }
        }
        batch.clear();
    }
    // Shutdown: what is queued, in batches, within the grace period.
    queue.close();
    let deadline = Instant::now() + config.shutdown_grace;
    while let Ok(r) = queue.try_recv() {
        batch.push(r);
    }
    for chunk in batch.chunks(batch_size) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            drop_records(&dropped, "shutdown", chunk.len());
            continue;
        }
        send(&transport, chunk, left.min(config.send_timeout), &dropped).await;
    }
}

/// Sends `batch` once; whatever goes wrong, it is dropped and counted. Returns whether it was
/// stored.
async fn send<T: RequestLogTransport>(
    transport: &T,
    batch: &[RequestLogRecord],
    timeout: Duration,
    dropped: &AtomicU64,
) -> bool {
    match tokio::time::timeout(timeout, transport.report_logs(batch)).await {
        Ok(Ok(_)) => {
            metrics::counter!("sluice_request_logs_reported_total").increment(batch.len() as u64);
            true
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, records = batch.len(), "request-log batch dropped");
            drop_records(dropped, "store_error", batch.len());
            false
        }
        Err(_) => {
            drop_records(dropped, "timeout", batch.len());
            false
        }
    }
}

fn drop_records(counter: &AtomicU64, reason: &'static str, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
    metrics::counter!("sluice_request_logs_dropped_total", "reason" => reason).increment(n as u64);
}

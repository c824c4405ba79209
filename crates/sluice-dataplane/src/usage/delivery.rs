//! The reporter task: owns the memory buffer, the spill file and the one batch in flight, and
//! decides at every wake-up what to do next (see [`reporter`](super::reporter) for the design).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::budget_sync::BudgetSync;
use super::reporter::{ReporterConfig, count_dropped};
use super::spill::SpillFile;
use super::{BudgetUsage, TransportError, UsageEvent, UsageTransport};
use crate::config_source::Reconnect;

/// The batch being delivered or waiting to be retried.
struct Batch {
    events: Arc<[UsageEvent]>,
    /// Read back from the spill file (which keeps it until delivered).
    from_file: bool,
}

enum Outcome {
    Delivered(Result<u64, TransportError>),
    /// Budget usage read for config version `.0`.
    Synced(u64, Result<Vec<BudgetUsage>, TransportError>),
}

type InFlight = Pin<Box<dyn Future<Output = Outcome> + Send>>;

enum Wake {
    Close,
    Done(Outcome),
    Event(Option<UsageEvent>),
    Timer,
}

pub(super) struct Task<T> {
    transport: Arc<T>,
    config: ReporterConfig,
    reconnect: Reconnect,
    queue: mpsc::Receiver<UsageEvent>,
    memory: VecDeque<UsageEvent>,
    /// When the oldest event in memory arrived (or the last batch was taken).
    oldest: Option<Instant>,
    spill: Option<SpillFile>,
    batch: Option<Batch>,
    /// No new attempt before this (backoff after a failure).
    retry_at: Option<Instant>,
    failing_since: Option<Instant>,
    last_spill: Instant,
    budgets: Option<BudgetSync>,
}

impl<T: UsageTransport> Task<T> {
    pub(super) fn new(
        transport: T,
        config: ReporterConfig,
        queue: mpsc::Receiver<UsageEvent>,
        budgets: Option<BudgetSync>,
    ) -> Self {
        Task {
            transport: Arc::new(transport),
            reconnect: config.retry.clone(),
            config,
            queue,
            memory: VecDeque::new(),
            oldest: None,
            spill: None,
            batch: None,
            retry_at: None,
            failing_since: None,
            last_spill: Instant::now(),
            budgets,
        }
    }

    pub(super) async fn run(mut self, mut closing: oneshot::Receiver<()>) {
        if let Some(path) = self.config.spill_file.clone() {
            match SpillFile::open(path.clone()).await {
                Ok(s) => self.spill = Some(s),
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "cannot use the usage spill file; usage is kept in memory only")
                }
            }
        }
        let mut inflight: Option<InFlight> = None;
        loop {
            self.spill_if_needed(inflight.is_some()).await;
            if inflight.is_none() {
                inflight = self.next_work().await;
            }
            self.publish_gauges();
            let wake_at = self.wake_at(inflight.is_some());
            let wake = tokio::select! {
                biased;
                _ = &mut closing => Wake::Close,
                outcome = async {
                    match inflight.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                } => Wake::Done(outcome),
                event = self.queue.recv() => Wake::Event(event),
                () = tokio::time::sleep_until(wake_at) => Wake::Timer,
            };
            match wake {
                Wake::Close | Wake::Event(None) => break,
                Wake::Done(outcome) => {
                    inflight = None;
                    self.on_outcome(outcome).await;
                }
                Wake::Event(Some(event)) => {
                    self.push(event);
                    // Take what else is queued, up to a batch, before deciding anything.
                    for _ in 1..self.config.batch_size {
                        match self.queue.try_recv() {
                            Ok(e) => self.push(e),
                            Err(_) => break,
                        }
                    }
                }
                Wake::Timer => {}
            }
        }
        self.shutdown(inflight).await;
    }

    fn push(&mut self, event: UsageEvent) {
        if self.memory.len() >= self.config.max_buffered {
            count_dropped("buffer_full", 1);
            return;
        }
        self.memory.push_back(event);
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// What to start now, if anything: a retry, the spill file's next batch, a batch from
    /// memory, or a budget restore once everything is delivered.
    async fn next_work(&mut self) -> Option<InFlight> {
        let now = Instant::now();
        match self.retry_at {
            Some(at) if at > now => return None,
            Some(_) => self.retry_at = None,
            None => {}
        }
        if let Some(b) = &self.batch {
            return Some(self.deliver(b.events.clone()));
        }
        if let Some(spill) = self.spill.as_mut().filter(|s| s.has_unread()) {
            match spill.read_batch(self.config.batch_size).await {
                Ok(events) if !events.is_empty() => {
                    let events: Arc<[UsageEvent]> = events.into();
                    self.batch = Some(Batch {
                        events: events.clone(),
                        from_file: true,
                    });
                    return Some(self.deliver(events));
                }
                // Nothing readable was left (damaged lines only).
                Ok(_) => spill.delivered().await,
                Err(e) => {
                    tracing::warn!(file = %spill.path().display(), error = %e, "cannot read the usage spill file; retrying");
                    self.retry_at = Some(now + Duration::from_secs(1));
                    return None;
                }
            }
        }
        let waited = self
            .oldest
            .is_some_and(|t| now >= t + self.config.batch_interval);
        if self.memory.len() >= self.config.batch_size || (!self.memory.is_empty() && waited) {
            let n = self.memory.len().min(self.config.batch_size);
            let events: Arc<[UsageEvent]> = self.memory.drain(..n).collect();
            self.oldest = (!self.memory.is_empty()).then_some(now);
            self.batch = Some(Batch {
                events: events.clone(),
                from_file: false,
            });
            return Some(self.deliver(events));
        }
        let version = self.budgets.as_ref()?.due()?;
        let transport = self.transport.clone();
        Some(Box::pin(async move {
            Outcome::Synced(version, transport.current_budgets().await)
        }))
    }

    fn deliver(&self, events: Arc<[UsageEvent]>) -> InFlight {
        let transport = self.transport.clone();
        Box::pin(async move { Outcome::Delivered(transport.report(&events).await) })
    }

    async fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered(Ok(_)) => {
                if let Some(b) = self.batch.take() {
                    metrics::counter!("sluice_usage_events_reported_total")
                        .increment(b.events.len() as u64);
                    self.done_with(b).await;
                }
                self.recovered();
            }
            Outcome::Delivered(Err(TransportError::Rejected(reason))) => {
                if let Some(b) = self.batch.take() {
                    tracing::error!(events = b.events.len(), reason = %reason, "the usage ledger rejected a batch; dropping it");
                    count_dropped("rejected", b.events.len());
                    self.done_with(b).await;
                }
                self.recovered();
            }
            Outcome::Delivered(Err(e)) => self.failed(&e),
            Outcome::Synced(version, Ok(budgets)) => {
                self.recovered();
                if let Some(sync) = self.budgets.as_mut() {
                    sync.apply(version, &budgets);
                }
            }
            Outcome::Synced(_, Err(e)) => self.failed(&e),
        }
    }

    async fn done_with(&mut self, batch: Batch) {
        if batch.from_file
            && let Some(spill) = self.spill.as_mut()
        {
            spill.delivered().await;
        }
    }

    fn recovered(&mut self) {
        self.reconnect.connected();
        self.retry_at = None;
        if let Some(since) = self.failing_since.take() {
            tracing::info!(after = ?since.elapsed(), "usage ledger reachable again; delivering the backlog");
        }
    }

    fn failed(&mut self, error: &TransportError) {
        metrics::counter!("sluice_usage_report_failures_total").increment(1);
        let delay = self.reconnect.failed(rand::random::<f64>());
        let now = Instant::now();
        self.retry_at = Some(now + delay);
        if let Some(sync) = self.budgets.as_mut() {
            sync.invalidate();
        }
        if self.failing_since.is_none() {
            self.failing_since = Some(now);
            tracing::warn!(error = %error, buffered = self.buffered(), "cannot report usage to the ledger; keeping it and retrying with backoff");
        } else {
            tracing::debug!(error = %error, retry_in = ?delay, "usage ledger still unreachable");
        }
    }

    /// Moves events from memory to the spill file when memory is half full, or at most every
    /// `batch_interval` while the ledger has been failing for `spill_after`.
    async fn spill_if_needed(&mut self, batch_in_flight: bool) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        let now = Instant::now();
        let outage = self
            .failing_since
            .is_some_and(|t| now >= t + self.config.spill_after)
            && now >= self.last_spill + self.config.batch_interval;
        if !outage && self.memory.len() < self.config.max_buffered / 2 {
            return;
        }
        self.last_spill = now;
        // A batch waiting for its retry goes too: the file keeps it across a restart, and the
        // next attempt reads it back from there.
        let batch = self
            .batch
            .as_ref()
            .filter(|b| outage && !b.from_file && !batch_in_flight);
        let from_batch = batch.map_or(&[][..], |b| &b.events[..]);
        if from_batch.is_empty() && self.memory.is_empty() {
            return;
        }
        match spill.append(from_batch.iter().chain(&self.memory)).await {
            Ok(n) => {
                metrics::counter!("sluice_usage_events_spilled_total").increment(n as u64);
                tracing::debug!(events = n, file = %spill.path().display(), "usage spilled to disk");
                if !from_batch.is_empty() {
                    self.batch = None;
                }
                self.memory.clear();
                self.oldest = None;
            }
            Err(e) => {
                tracing::warn!(file = %spill.path().display(), error = %e, "cannot spill usage to disk; keeping it in memory")
            }
        }
    }

    /// When to look again if nothing arrives: a retry, a batch's deadline, a due spill, or a
    /// periodic check (config changes make a budget restore due).
    fn wake_at(&self, in_flight: bool) -> Instant {
        let now = Instant::now();
        let mut at = now + Duration::from_secs(1);
        if !in_flight {
            if let Some(r) = self.retry_at {
                at = at.min(r);
            } else if let Some(oldest) = self.oldest {
                at = at.min(oldest + self.config.batch_interval);
            }
        }
        if let Some(since) = self.failing_since
            && self.spill.is_some()
            && !self.memory.is_empty()
        {
            let after_outage = since + self.config.spill_after;
            at = at.min(after_outage.max(self.last_spill + self.config.batch_interval));
        }
        at
    }

    /// Events in memory, the batch being retried included.
    fn buffered(&self) -> usize {
        let batch = self
            .batch
            .as_ref()
            .filter(|b| !b.from_file)
            .map_or(0, |b| b.events.len());
        self.memory.len() + batch
    }

    fn publish_gauges(&self) {
        metrics::gauge!("sluice_usage_events_buffered").set(self.buffered() as f64);
        let spilled = self.spill.as_ref().map_or(0, SpillFile::unread_bytes);
        metrics::gauge!("sluice_usage_spill_bytes").set(spilled as f64);
    }

    /// Delivers what the ledger takes within the grace period, then spills the rest.
    async fn shutdown(mut self, inflight: Option<InFlight>) {
        self.queue.close();
        while let Ok(e) = self.queue.try_recv() {
            self.push(e);
        }
        let deadline = Instant::now() + self.config.shutdown_grace;
        if let Some(f) = inflight
            && let Ok(outcome) = tokio::time::timeout_at(deadline, f).await
        {
            self.on_outcome(outcome).await;
        }
        while self.failing_since.is_none() && (self.batch.is_some() || !self.memory.is_empty()) {
            let events = match &self.batch {
                Some(b) => b.events.clone(),
                None => {
                    let n = self.memory.len().min(self.config.batch_size);
                    let events: Arc<[UsageEvent]> = self.memory.drain(..n).collect();
                    self.batch = Some(Batch {
                        events: events.clone(),
                        from_file: false,
                    });
                    events
                }
            };
            match tokio::time::timeout_at(deadline, self.transport.report(&events)).await {
                Ok(result) => self.on_outcome(Outcome::Delivered(result)).await,
                Err(_) => break,
            }
        }
        let batch = self.batch.take().filter(|b| !b.from_file);
        let left = batch.as_ref().map_or(0, |b| b.events.len()) + self.memory.len();
        if left == 0 {
            return;
        }
        let pending = batch.iter().flat_map(|b| b.events.iter());
        let spilled = match self.spill.as_mut() {
            Some(spill) => spill.append(pending.chain(&self.memory)).await,
            None => Err(std::io::Error::other("no spill file configured")),
        };
        match spilled {
            Ok(n) => {
                tracing::info!(
                    events = n,
                    "usage not yet in the ledger was spilled to disk; it is reported at the next start"
                )
            }
            Err(e) => {
                tracing::error!(events = left, error = %e, "usage not yet in the ledger is lost at shutdown");
                count_dropped("shutdown", left);
            }
        }
    }
}

//! The reporter against a fake ledger: at-least-once delivery with exactly-once effect, spilling
//! and replay across restarts, bounds, and budget restore.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_core::governance::ResetDuration;
use sluice_core::limits::calendar::period_bounds;
use sluice_core::limits::{BudgetLimit, LimitSpec, Scope};
use sluice_core::{Config, Snapshot};

use super::*;
use crate::Gateway;
use crate::config_source::Reconnect;
use crate::limiter::now_unix_ms;

/// A ledger keyed by request id (like the real one) that can be down, fail a number of times,
/// or reject a poisoned batch.
#[derive(Default)]
struct FakeLedger {
    stored: Mutex<BTreeMap<String, UsageEvent>>,
    /// Events received, duplicates included.
    received: AtomicUsize,
    fail_next: AtomicUsize,
    down: AtomicBool,
    largest_batch: AtomicUsize,
    budgets: Mutex<Vec<BudgetUsage>>,
    /// How many events were stored when budgets were first read.
    stored_at_first_restore: Mutex<Option<usize>>,
}

impl FakeLedger {
    fn failing(times: usize) -> Arc<FakeLedger> {
        let l = FakeLedger::default();
        l.fail_next.store(times, Ordering::SeqCst);
        Arc::new(l)
    }

    fn stored(&self) -> usize {
        self.stored.lock().unwrap().len()
    }
}

impl UsageTransport for Arc<FakeLedger> {
    async fn report(&self, batch: &[UsageEvent]) -> Result<u64, TransportError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(TransportError::Unavailable("down".into()));
        }
        let fail = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if fail.is_ok() {
            return Err(TransportError::Unavailable("flaky".into()));
        }
        if batch.iter().any(|e| e.request_id == "poison") {
            return Err(TransportError::Rejected("poison".into()));
        }
        self.received.fetch_add(batch.len(), Ordering::SeqCst);
        self.largest_batch.fetch_max(batch.len(), Ordering::SeqCst);
        let mut stored = self.stored.lock().unwrap();
        for e in batch {
            stored
                .entry(e.request_id.clone())
                .or_insert_with(|| e.clone());
        }
        Ok(batch.len() as u64)
    }

    async fn current_budgets(&self) -> Result<Vec<BudgetUsage>, TransportError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(TransportError::Unavailable("down".into()));
        }
        let stored = self.stored();
        self.stored_at_first_restore
            .lock()
            .unwrap()
            .get_or_insert(stored);
        Ok(self.budgets.lock().unwrap().clone())
    }
}

fn event(i: usize) -> UsageEvent {
    UsageEvent {
        request_id: format!("req-{i}"),
        at_unix_ms: 1_700_000_000_000 + i as i64,
        virtual_key_id: Some("vk".into()),
        team_id: Some("eng".into()),
        customer_id: None,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_micros: 7,
    }
}

/// Fast timings so tests finish quickly; they never assert on time.
fn fast(spill_dir: Option<&Path>) -> ReporterConfig {
    ReporterConfig {
        batch_size: 50,
        batch_interval: Duration::from_millis(5),
        spill_file: spill_dir.map(|d| d.join(reporter::SPILL_FILE_NAME)),
        spill_after: Duration::from_millis(20),
        retry: Reconnect::new(Duration::from_millis(2), Duration::from_millis(10)),
        shutdown_grace: Duration::from_secs(2),
        ..ReporterConfig::default()
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 10 s: {what}");
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

#[tokio::test]
async fn every_event_reaches_the_ledger_exactly_once_after_transient_failures() {
    let ledger = FakeLedger::failing(3);
    let (sink, reporter) = UsageReporter::spawn(ledger.clone(), fast(None), None);
    for i in 0..1200 {
        sink.submit(event(i));
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    eventually("all 1200 stored", || ledger.stored() == 1200).await;
    reporter.close().await;
    assert_eq!(ledger.stored(), 1200);
    assert!(ledger.received.load(Ordering::SeqCst) >= 1200);
    assert!(ledger.largest_batch.load(Ordering::SeqCst) <= 50);
    let stored = ledger.stored.lock().unwrap();
    assert!((0..1200).all(|i| stored[&format!("req-{i}")] == event(i)));
}

#[tokio::test]
async fn a_long_outage_spills_to_disk_and_the_next_start_replays_it() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join(reporter::SPILL_FILE_NAME);
    let ledger = Arc::new(FakeLedger::default());
    ledger.down.store(true, Ordering::SeqCst);
    let (sink, reporter) = UsageReporter::spawn(ledger.clone(), fast(Some(dir.path())), None);
    for i in 0..120 {
        sink.submit(event(i));
    }
    eventually("all 120 on disk", || lines(&spill) >= 120).await;
    for i in 120..130 {
        sink.submit(event(i));
    }
    // Stopped while the ledger is still down: what is left in memory is spilled too.
    reporter.close().await;
    assert_eq!(ledger.stored(), 0);
    assert_eq!(lines(&spill), 130);

    ledger.down.store(false, Ordering::SeqCst);
    let (_sink, reporter) = UsageReporter::spawn(ledger.clone(), fast(Some(dir.path())), None);
    eventually("the spilled events delivered", || ledger.stored() == 130).await;
    eventually("the spill file removed", || !spill.exists()).await;
    reporter.close().await;
}

#[tokio::test]
async fn events_buffered_in_memory_are_delivered_when_the_ledger_comes_back() {
    let ledger = Arc::new(FakeLedger::default());
    ledger.down.store(true, Ordering::SeqCst);
    let (sink, reporter) = UsageReporter::spawn(ledger.clone(), fast(None), None);
    for i in 0..300 {
        sink.submit(event(i));
    }
    // A few failed attempts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ledger.stored(), 0);
    ledger.down.store(false, Ordering::SeqCst);
    eventually("all 300 stored", || ledger.stored() == 300).await;
    reporter.close().await;
}

#[tokio::test]
async fn a_full_queue_drops_events_instead_of_blocking_the_request() {
    let ledger = Arc::new(FakeLedger::default());
    let config = ReporterConfig {
        queue_capacity: 4,
        ..fast(None)
    };
    let (sink, reporter) = UsageReporter::spawn(ledger.clone(), config, None);
    // On this single-threaded runtime the reporter cannot run until the loop yields.
    for i in 0..1000 {
        sink.submit(event(i));
    }
    reporter.close().await;
    assert_eq!(ledger.stored(), 4);
}

#[tokio::test]
async fn memory_is_bounded_when_the_ledger_is_down_and_nothing_can_spill() {
    let ledger = Arc::new(FakeLedger::default());
    ledger.down.store(true, Ordering::SeqCst);
    let config = ReporterConfig {
        batch_size: 5,
        max_buffered: 10,
        shutdown_grace: Duration::from_millis(50),
        ..fast(None)
    };
    let (sink, reporter) = UsageReporter::spawn(ledger.clone(), config, None);
    for i in 0..200 {
        sink.submit(event(i));
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    ledger.down.store(false, Ordering::SeqCst);
    eventually("the kept events delivered", || ledger.stored() > 0).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    reporter.close().await;
    // At most the memory bound plus the batch being retried.
    assert!(ledger.stored() <= 15, "{} stored", ledger.stored());
}

#[tokio::test]
async fn a_rejected_batch_is_dropped_and_later_batches_still_flow() {
    let ledger = Arc::new(FakeLedger::default());
    let config = ReporterConfig {
        batch_size: 1,
        ..fast(None)
    };
    let (sink, reporter) = UsageReporter::spawn(ledger.clone(), config, None);
    let mut poison = event(0);
    poison.request_id = "poison".into();
    sink.submit(poison);
    sink.submit(event(1));
    sink.submit(event(2));
    eventually("the good events stored", || ledger.stored() == 2).await;
    reporter.close().await;
}

#[tokio::test]
async fn shutdown_delivers_what_is_still_buffered() {
    let ledger = Arc::new(FakeLedger::default());
    let config = ReporterConfig {
        batch_interval: Duration::from_secs(3600),
        ..fast(None)
    };
    let (sink, reporter) = UsageReporter::spawn(ledger.clone(), config, None);
    for i in 0..3 {
        sink.submit(event(i));
    }
    tokio::task::yield_now().await;
    reporter.close().await;
    assert_eq!(ledger.stored(), 3);
}

#[tokio::test]
async fn budget_usage_is_restored_into_the_limiter_after_the_backlog_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    // Left by an earlier run during an outage.
    let ledger = Arc::new(FakeLedger::default());
    ledger.down.store(true, Ordering::SeqCst);
    let (sink, reporter) = UsageReporter::spawn(ledger.clone(), fast(Some(dir.path())), None);
    for i in 0..3 {
        sink.submit(event(i));
    }
    reporter.close().await;

    let month = ResetDuration::Months(1);
    let (period_start_ms, _) = period_bounds(month, now_unix_ms());
    let team = Scope::team("eng");
    *ledger.budgets.lock().unwrap() = vec![BudgetUsage {
        scope: team.clone(),
        reset: month,
        period_start_ms,
        used_micros: 1_234,
    }];
    ledger.down.store(false, Ordering::SeqCst);
    let gateway = Gateway::new(Snapshot::build(&Config::default(), &|_| None, 1).unwrap());
    let (_sink, reporter) =
        UsageReporter::spawn(ledger.clone(), fast(Some(dir.path())), Some(&gateway));
    let spec = LimitSpec {
        budget: Some(BudgetLimit {
            max_micros: 10_000_000,
            reset: month,
        }),
        ..LimitSpec::default()
    };
    eventually("the team's budget restored", || {
        gateway.limiter().usage(&team, &spec)[0].used == 1_234
    })
    .await;
    assert_eq!(*ledger.stored_at_first_restore.lock().unwrap(), Some(3));
    reporter.close().await;
}

//! The request-log reporter against fake stores: delivery in batches, and a dead store (failing
//! or never answering) that costs `submit` nothing and only grows the dropped count.

use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::usage::TransportError;

#[derive(Clone, Copy, PartialEq)]
enum Store {
    Working,
    Failing,
    /// Accepts the call and never answers.
    Hanging,
}

struct FakeStore {
    mode: Store,
    stored: Arc<Mutex<Vec<RequestLogRecord>>>,
}

impl RequestLogTransport for FakeStore {
    async fn report_logs(&self, batch: &[RequestLogRecord]) -> Result<u64, TransportError> {
        match self.mode {
            Store::Working => {
                self.stored.lock().unwrap().extend_from_slice(batch);
                Ok(batch.len() as u64)
            }
            Store::Failing => Err(TransportError::Unavailable("log store is down".into())),
            Store::Hanging => std::future::pending().await,
        }
    }
}

fn record(i: usize) -> RequestLogRecord {
    RequestLogRecord {
        request_id: format!("req-{i}"),
        status: 200,
        cache: "miss".into(),
        ..RequestLogRecord::default()
    }
}

fn config() -> RequestLogReporterConfig {
    RequestLogReporterConfig {
        queue_capacity: 16,
        batch_size: 4,
        batch_interval: Duration::from_millis(10),
        send_timeout: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(50),
    }
}

fn spawn(
    mode: Store,
) -> (
    Arc<RequestLogReporter>,
    RequestLogReporterHandle,
    Arc<Mutex<Vec<RequestLogRecord>>>,
) {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let (sink, handle) = RequestLogReporter::spawn(
        FakeStore {
            mode,
            stored: stored.clone(),
        },
        config(),
    );
    (sink, handle, stored)
}

#[tokio::test]
async fn records_reach_a_working_store_in_bounded_batches() {
    let (sink, handle, stored) = spawn(Store::Working);
    for i in 0..10 {
        sink.submit(record(i));
        tokio::task::yield_now().await;
    }
    handle.close().await;
    let stored = stored.lock().unwrap();
    let ids: Vec<_> = stored.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(ids, (0..10).map(|i| format!("req-{i}")).collect::<Vec<_>>());
    assert_eq!(sink.dropped(), 0);
}

/// Submitting is a `try_send`: with a store that never answers, every submit returns at once
/// (this loop would hang otherwise), memory stays bounded by the queue, and the overflow is
/// counted as dropped.
#[tokio::test]
async fn a_hanging_store_never_blocks_submit_and_records_are_dropped_and_counted() {
    let (sink, handle, stored) = spawn(Store::Hanging);
    for i in 0..1_000 {
        sink.submit(record(i));
    }
    // At most the queue and one batch are held; everything else was dropped at submit.
    assert!(
        sink.dropped() >= 1_000 - 16 - 4,
        "dropped {}",
        sink.dropped()
    );
    handle.close().await;
    assert!(stored.lock().unwrap().is_empty());
    // Nothing is kept for later: what was held is dropped by the close too.
    assert_eq!(sink.dropped(), 1_000);
}

#[tokio::test]
async fn a_failing_store_loses_its_batches_without_retrying_them() {
    let (sink, handle, stored) = spawn(Store::Failing);
    for i in 0..8 {
        sink.submit(record(i));
        tokio::task::yield_now().await;
    }
    handle.close().await;
    assert!(stored.lock().unwrap().is_empty());
    assert_eq!(sink.dropped(), 8);
}

//! The request log leaving the data plane: one [`RequestLogRecord`] per finished or refused
//! request, shipped beside the usage reports to the control plane, which stores them.
//!
//! Best-effort, unlike usage: usage is at least once (retried, spilled to disk, idempotent by
//! request id) because budgets depend on it; a log record is sent once and dropped on any
//! trouble — a full queue, a failing or slow store — and counted in
//! `sluice_request_logs_dropped_total{reason}`. A dead log store therefore never slows or fails
//! inference, and never grows memory or disk.
//!
//! - [`RequestLogDraft`] (`draft`): what the pipeline fills in as a request goes.
//! - [`RequestLogReporter`] (`reporter`): bounded queue, batches, one send at a time with a
//!   deadline, through a [`RequestLogTransport`] (`GrpcUsageTransport` for split mode; the store
//!   in-process for `sluice serve`).

mod draft;
mod grpc;
mod reporter;

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use draft::RequestLogDraft;
pub use reporter::{RequestLogReporter, RequestLogReporterConfig, RequestLogReporterHandle};

use crate::usage::TransportError;

/// Most bytes kept of the request, and of the response, in a record's `content` (keys with
/// `log_content` only); longer text is cut at a character boundary and marked truncated.
pub const CONTENT_MAX_BYTES: usize = 16 * 1024;

/// One request, as the data plane saw it end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogRecord {
    pub request_id: String,
    pub at_unix_ms: i64,
    /// The route label of the metrics (`/v1/chat/completions`, ...).
    pub route: String,
    pub virtual_key_id: Option<String>,
    pub team_id: Option<String>,
    pub customer_id: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The provider key that answered.
    pub key_name: Option<String>,
    pub status: u16,
    pub error_code: Option<String>,
    pub attempts: u32,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub stream: bool,
    /// As the upstream reported them (0 when it did not).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_micros: u64,
    /// `miss` until the response cache lands.
    pub cache: String,
    /// JSON `{"request": ..., "response": ..., "truncated": bool}`; keys with `log_content` only.
    pub content: Option<String>,
}

/// Where records go. `submit` never blocks: a sink that cannot keep up drops and counts.
pub trait RequestLogSink: Send + Sync {
    fn submit(&self, record: RequestLogRecord);
}

/// A sink that keeps nothing (data planes without a control plane).
pub struct DiscardRequestLogs;

impl RequestLogSink for DiscardRequestLogs {
    fn submit(&self, _record: RequestLogRecord) {}
}

pub type SharedRequestLogSink = Arc<dyn RequestLogSink>;

/// Delivers a batch of records to the log store, once: an error loses the batch.
pub trait RequestLogTransport: Send + Sync + 'static {
    fn report_logs(
        &self,
        batch: &[RequestLogRecord],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
}

#[cfg(test)]
mod tests;

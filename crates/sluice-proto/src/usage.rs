//! The control plane's side of `UsageService`: [`UsageReceiver`] answers `Report` and `Current`
//! by calling a [`UsageLedger`], so this crate needs neither the store nor the control plane
//! (the binary implements the ledger over them).
//!
//! ```no_run
//! # async fn demo(rx: tokio::sync::watch::Receiver<std::sync::Arc<sluice_core::VersionedConfig>>) {
//! use sluice_proto::usage::UsageLedger;
//! use sluice_proto::v1::{ScopeUsage, UsageRecord};
//! use tonic::Status;
//!
//! struct Ledger;
//! #[tonic::async_trait]
//! impl UsageLedger for Ledger {
//!     async fn record(&self, records: Vec<UsageRecord>) -> Result<u32, Status> {
//!         Ok(records.len() as u32) // store them durably first
//!     }
//!     async fn current(&self) -> Result<Vec<ScopeUsage>, Status> {
//!         Ok(Vec::new())
//!     }
//! }
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await.unwrap();
//! sluice_proto::server::serve_with_usage(listener, rx, Ledger, std::future::pending()).await.unwrap();
//! # }
//! ```

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::v1::usage_service_server::{UsageService, UsageServiceServer};
use crate::v1::{
    CurrentUsage, CurrentUsageRequest, ReportAck, RequestLogBatch, RequestLogRecord, ScopeUsage,
    UsageBatch, UsageRecord,
};

/// Where reported usage goes, and where current budget usage comes from.
#[tonic::async_trait]
pub trait UsageLedger: Send + Sync + 'static {
    /// Stores `records` durably (idempotent by `request_id`: a record already stored is
    /// ignored) and returns how many were accepted, duplicates included. An error makes the data
    /// plane keep the batch and retry it: `Status::unavailable` for a passing failure,
    /// `Status::invalid_argument` for a batch that can never be stored (it is then dropped).
    async fn record(&self, records: Vec<UsageRecord>) -> Result<u32, Status>;

    /// Spend in the current period of every budget of the current config.
    async fn current(&self) -> Result<Vec<ScopeUsage>, Status>;

    /// Stores request-log records (best-effort: the data plane drops the batch on an error and
    /// never re-sends it). The default refuses them: a ledger without a request log.
    async fn record_logs(&self, logs: Vec<RequestLogRecord>) -> Result<u32, Status> {
        let _ = logs;
        Err(Status::unimplemented(
            "this control plane keeps no request log",
        ))
    }
}

/// Implements `UsageService` over a [`UsageLedger`].
pub struct UsageReceiver<L> {
    ledger: Arc<L>,
}

impl<L: UsageLedger> UsageReceiver<L> {
    pub fn new(ledger: L) -> Self {
        UsageReceiver {
            ledger: Arc::new(ledger),
        }
    }

    /// The tonic service, to add to a `tonic::transport::Server`.
    pub fn into_service(self) -> UsageServiceServer<UsageReceiver<L>> {
        UsageServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl<L: UsageLedger> UsageService for UsageReceiver<L> {
    async fn report(&self, request: Request<UsageBatch>) -> Result<Response<ReportAck>, Status> {
        let records = request.into_inner().records;
        if records.iter().any(|r| r.request_id.is_empty()) {
            return Err(Status::invalid_argument(
                "every usage record needs a request_id (the ledger is idempotent by it)",
            ));
        }
        let accepted = self.ledger.record(records).await?;
        Ok(Response::new(ReportAck { accepted }))
    }

    async fn current(
        &self,
        request: Request<CurrentUsageRequest>,
    ) -> Result<Response<CurrentUsage>, Status> {
        let dataplane = request.into_inner().dataplane_id;
        let scopes = self.ledger.current().await?;
        tracing::debug!(dataplane = %dataplane, budgets = scopes.len(), "current budget usage sent");
        Ok(Response::new(CurrentUsage { scopes }))
    }

    async fn report_logs(
        &self,
        request: Request<RequestLogBatch>,
    ) -> Result<Response<ReportAck>, Status> {
        let accepted = self.ledger.record_logs(request.into_inner().logs).await?;
        Ok(Response::new(ReportAck { accepted }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::net::TcpListener;
    use tokio::sync::{oneshot, watch};

    use super::*;
    use crate::v1::usage_service_client::UsageServiceClient;

    /// Keeps records by request id, like the real ledger.
    #[derive(Default)]
    struct MemoryLedger {
        ids: Mutex<std::collections::BTreeSet<String>>,
    }

    #[tonic::async_trait]
    impl UsageLedger for Arc<MemoryLedger> {
        async fn record(&self, records: Vec<UsageRecord>) -> Result<u32, Status> {
            let mut ids = self.ids.lock().unwrap();
            ids.extend(records.iter().map(|r| r.request_id.clone()));
            Ok(records.len() as u32)
        }

        async fn current(&self) -> Result<Vec<ScopeUsage>, Status> {
            Ok(vec![ScopeUsage {
                scope_kind: "team".into(),
                id: "eng".into(),
                reset_duration: "1M".into(),
                period_start_ms: 1_700_000_000_000,
                cost_micros: self.ids.lock().unwrap().len() as u64,
            }])
        }
    }

    fn record(id: &str) -> UsageRecord {
        UsageRecord {
            request_id: id.into(),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            cost_micros: 7,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn reports_reach_the_ledger_and_current_reads_it_back() {
        let ledger = Arc::new(MemoryLedger::default());
        let (_publish, configs) = watch::channel(Arc::new(sluice_core::VersionedConfig {
            version: 1,
            config: Default::default(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(crate::server::serve_with_usage(
            listener,
            configs,
            ledger.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        let mut client = UsageServiceClient::connect(url).await.unwrap();
        let batch = UsageBatch {
            records: vec![record("r1"), record("r2")],
        };
        let ack = client.report(batch.clone()).await.unwrap().into_inner();
        assert_eq!(ack.accepted, 2);
        // A re-sent batch is acknowledged again and stored once.
        assert_eq!(client.report(batch).await.unwrap().into_inner().accepted, 2);
        let current = client
            .current(CurrentUsageRequest {
                dataplane_id: "dp".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(current.scopes.len(), 1);
        assert_eq!(current.scopes[0].cost_micros, 2);

        let e = client
            .report(UsageBatch {
                records: vec![record("")],
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}

//! `UsageService.ReportLogs`: the request log over the usage reporter's gRPC channel.

use sluice_proto::v1;

use super::{RequestLogRecord, RequestLogTransport};
use crate::usage::{GrpcUsageTransport, TransportError};

impl RequestLogTransport for GrpcUsageTransport {
    async fn report_logs(&self, batch: &[RequestLogRecord]) -> Result<u64, TransportError> {
        let logs = batch.iter().map(to_wire).collect();
        match self
            .client()
            .report_logs(v1::RequestLogBatch { logs })
            .await
        {
            Ok(ack) => Ok(u64::from(ack.into_inner().accepted)),
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                Err(TransportError::Rejected(status.message().to_string()))
            }
            Err(status) => Err(TransportError::Unavailable(status.to_string())),
        }
    }
}

fn to_wire(r: &RequestLogRecord) -> v1::RequestLogRecord {
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    v1::RequestLogRecord {
        request_id: r.request_id.clone(),
        at_unix_ms: r.at_unix_ms,
        route: r.route.clone(),
        virtual_key_id: text(&r.virtual_key_id),
        team_id: text(&r.team_id),
        customer_id: text(&r.customer_id),
        provider: text(&r.provider),
        model: text(&r.model),
        key_name: text(&r.key_name),
        status: u32::from(r.status),
        error_code: text(&r.error_code),
        attempts: r.attempts,
        latency_ms: r.latency_ms,
        ttft_ms: r.ttft_ms,
        stream: r.stream,
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        cost_micros: r.cost_micros,
        cache: r.cache.clone(),
        content: r.content.clone(),
    }
}

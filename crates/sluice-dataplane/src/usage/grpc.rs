//! `UsageService` over gRPC: the transport of `sluice dataplane --controlplane`.

use std::time::Duration;

use sluice_core::limits::{Scope, ScopeKind};
use sluice_proto::v1::usage_service_client::UsageServiceClient;
use sluice_proto::v1::{CurrentUsageRequest, ScopeUsage, UsageBatch, UsageRecord};
use tonic::transport::{Channel, Endpoint};

use super::{BudgetUsage, TransportError, UsageEvent, UsageTransport};
use crate::config_source::ConfigSourceError;

/// Largest `CurrentUsage` accepted (one entry per budget that spent something).
const MAX_CURRENT_BYTES: usize = 64 << 20;

/// Reports usage to a control plane's `UsageService`. The connection is made on first use and
/// re-made after failures by tonic itself; every call has a deadline.
#[derive(Clone)]
pub struct GrpcUsageTransport {
    client: UsageServiceClient<Channel>,
    dataplane_id: String,
}

impl GrpcUsageTransport {
    /// A transport to `endpoint` (`http://HOST:PORT`, the control plane's gRPC address). Call
    /// it inside a Tokio runtime; nothing connects until the first report.
    pub fn new(endpoint: &str, dataplane_id: impl Into<String>) -> Result<Self, ConfigSourceError> {
        let bad = || ConfigSourceError::BadEndpoint(endpoint.to_string());
        let uri: http::Uri = endpoint.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(bad());
        }
        let channel = Endpoint::from_shared(endpoint.trim_end_matches('/').to_string())
            .map_err(|_| bad())?
            .connect_timeout(Duration::from_secs(3))
            // A control plane that accepts but never answers must not hold a batch for ever.
            .timeout(Duration::from_secs(15))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(GrpcUsageTransport {
            client: UsageServiceClient::new(channel).max_decoding_message_size(MAX_CURRENT_BYTES),
            dataplane_id: dataplane_id.into(),
        })
    }
}

impl GrpcUsageTransport {
    /// A handle on the shared channel (the request log uses it too).
    pub(crate) fn client(&self) -> UsageServiceClient<Channel> {
        self.client.clone()
    }
}

impl UsageTransport for GrpcUsageTransport {
    async fn report(&self, batch: &[UsageEvent]) -> Result<u64, TransportError> {
        let records = batch.iter().map(to_record).collect();
        match self.client.clone().report(UsageBatch { records }).await {
            Ok(ack) => Ok(u64::from(ack.into_inner().accepted)),
            Err(status) => Err(classify(status)),
        }
    }

    async fn current_budgets(&self) -> Result<Vec<BudgetUsage>, TransportError> {
        let request = CurrentUsageRequest {
            dataplane_id: self.dataplane_id.clone(),
        };
        let current = self
            .client
            .clone()
            .current(request)
            .await
            .map_err(classify)?
            .into_inner();
        Ok(current.scopes.iter().filter_map(from_scope_usage).collect())
    }
}

fn classify(status: tonic::Status) -> TransportError {
    match status.code() {
        tonic::Code::InvalidArgument => TransportError::Rejected(status.message().to_string()),
        _ => {
            // tonic's transport errors say only "transport error"; the source says why.
            let why = std::error::Error::source(&status)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            TransportError::Unavailable(format!("{status}{why}"))
        }
    }
}

fn to_record(e: &UsageEvent) -> UsageRecord {
    UsageRecord {
        request_id: e.request_id.clone(),
        virtual_key_id: e.virtual_key_id.clone().unwrap_or_default(),
        team_id: e.team_id.clone().unwrap_or_default(),
        customer_id: e.customer_id.clone().unwrap_or_default(),
        provider: e.provider.clone(),
        model: e.model.clone(),
        prompt_tokens: e.prompt_tokens,
        completion_tokens: e.completion_tokens,
        cost_micros: u64::try_from(e.cost_micros).unwrap_or(0),
        at_unix_ms: e.at_unix_ms,
    }
}

/// A budget's usage from the wire; entries this data plane does not understand (a newer
/// control plane) are skipped with a warning.
fn from_scope_usage(s: &ScopeUsage) -> Option<BudgetUsage> {
    let kind = match s.scope_kind.as_str() {
        "virtual_key" => ScopeKind::VirtualKey,
        "team" => ScopeKind::Team,
        "customer" => ScopeKind::Customer,
        "provider_config" => ScopeKind::ProviderConfig,
        other => {
            tracing::warn!(scope_kind = other, id = %s.id, "ignoring budget usage of an unknown scope kind");
            return None;
        }
    };
    let reset = match s.reset_duration.parse() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(reset_duration = %s.reset_duration, error = %e, id = %s.id, "ignoring budget usage with an unreadable period");
            return None;
        }
    };
    Some(BudgetUsage {
        scope: Scope::new(kind, s.id.as_str()),
        reset,
        period_start_ms: s.period_start_ms,
        used_micros: i64::try_from(s.cost_micros).unwrap_or(i64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use sluice_proto::usage::UsageLedger;
    use tokio::sync::{oneshot, watch};

    use super::*;

    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<UsageRecord>>>);

    #[tonic::async_trait]
    impl UsageLedger for Recorded {
        async fn record(&self, records: Vec<UsageRecord>) -> Result<u32, tonic::Status> {
            let n = records.len() as u32;
            self.0.lock().unwrap().extend(records);
            Ok(n)
        }

        async fn current(&self) -> Result<Vec<ScopeUsage>, tonic::Status> {
            let usage = |kind: &str, id: &str| ScopeUsage {
                scope_kind: kind.into(),
                id: id.into(),
                reset_duration: "1M".into(),
                period_start_ms: 1_700_000_000_000,
                cost_micros: 42,
            };
            Ok(vec![
                usage("provider_config", "vk-1/openai"),
                usage("galaxy", "andromeda"),
            ])
        }
    }

    #[tokio::test]
    async fn events_and_budgets_cross_the_wire_intact() {
        let ledger = Recorded::default();
        let (_publish, configs) = watch::channel(Arc::new(sluice_core::VersionedConfig {
            version: 1,
            config: Default::default(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sluice_proto::server::serve_with_usage(
            listener,
            configs,
            ledger.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        let transport = GrpcUsageTransport::new(&url, "dp-test").unwrap();
        let event = UsageEvent {
            request_id: "r-1".into(),
            at_unix_ms: 1_700_000_000_123,
            virtual_key_id: Some("vk-1".into()),
            team_id: None,
            customer_id: Some("acme".into()),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            prompt_tokens: 11,
            completion_tokens: 22,
            cost_micros: 33,
        };
        assert_eq!(
            transport
                .report(std::slice::from_ref(&event))
                .await
                .unwrap(),
            1
        );
        let got = ledger.0.lock().unwrap()[0].clone();
        assert_eq!(
            (
                got.virtual_key_id.as_str(),
                got.team_id.as_str(),
                got.customer_id.as_str()
            ),
            ("vk-1", "", "acme")
        );
        assert_eq!((got.cost_micros, got.at_unix_ms), (33, 1_700_000_000_123));

        let budgets = transport.current_budgets().await.unwrap();
        assert_eq!(
            budgets.len(),
            1,
            "an unknown scope kind is skipped: {budgets:?}"
        );
        assert_eq!(budgets[0].scope, Scope::provider_config("vk-1", "openai"));
        assert_eq!(budgets[0].used_micros, 42);
        let _ = stop.send(());
    }

    #[tokio::test]
    async fn an_unreachable_control_plane_is_a_retryable_failure() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let transport = GrpcUsageTransport::new(&format!("http://{addr}"), "dp").unwrap();
        let e = transport.report(&[]).await.unwrap_err();
        assert!(matches!(e, TransportError::Unavailable(_)), "{e}");
    }

    #[test]
    fn only_plain_http_endpoints_are_accepted() {
        assert!(GrpcUsageTransport::new("https://cp:50051", "dp").is_err());
        assert!(GrpcUsageTransport::new("cp:50051", "dp").is_err());
    }
}

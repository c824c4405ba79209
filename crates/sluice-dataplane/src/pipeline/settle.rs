//! Stage 8, settle: actual usage replaces what admission reserved (refund or extra debit) at
//! every level, and one usage event goes to the ledger. Failed requests refund what they did not
//! use: tokens and cost always, the request itself only if no upstream was called.

use std::sync::Arc;

use sluice_core::limits::{Actual, MicroUsd, Reservation};
use sluice_core::wire::Usage;

use super::admit::Admission;
use super::dispatch::Served;
use crate::limiter::{LimiterBackend, now_unix_ms};
use crate::runtime::Runtime;
use crate::usage::{SharedUsageSink, UsageEvent};

/// Everything settling needs, owned, so a stream can settle when it ends.
pub struct Settler {
    pub limiter: Arc<dyn LimiterBackend>,
    pub sink: SharedUsageSink,
    pub rt: Arc<Runtime>,
    pub request_id: String,
    pub admission: Admission,
    /// The provider-config reservation of the target that answered.
    pub provider_reservation: Option<Reservation>,
}

impl Settler {
    /// The request was answered by `served`; `usage` is what the upstream reported (`None`:
    /// the reservation is kept as the charge, the conservative choice).
    pub fn served(self, served: &Served, usage: Option<Usage>) {
        let usage = usage.unwrap_or_else(|| self.admission.estimate.as_usage());
        let cost = self.cost(served, &usage);
        let tokens = usage.prompt_tokens + usage.completion_tokens;
        let actual = || Actual::called(tokens, cost);
        if let Some(r) = self.admission.reservation {
            self.limiter.settle(r, actual());
        }
        if let Some(r) = self.provider_reservation {
            self.limiter.settle(r, actual());
        }
        if cost > 0 {
            metrics::counter!("sluice_cost_micro_usd_total", "provider" => served.provider.clone())
                .increment(cost as u64);
        }
        let vk = self.admission.principal.virtual_key();
        let config = vk.map(|v| &v.config);
        let team = config.and_then(|c| c.team_id.clone());
        let customer = config.and_then(|c| c.customer_id.clone()).or_else(|| {
            let team = team.as_deref()?;
            self.rt.snapshot.team_customer(team).map(str::to_string)
        });
        self.sink.submit(UsageEvent {
            request_id: self.request_id,
            at_unix_ms: now_unix_ms(),
            virtual_key_id: vk.map(|v| v.id.clone()),
            team_id: team,
            customer_id: customer,
            provider: served.provider.clone(),
            model: served.model.clone(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost_micros: cost,
        });
    }

    /// The request failed before any answer reached the client.
    pub fn failed(self, upstream_called: bool) {
        let actual = || {
            if upstream_called {
                Actual::called(0, 0)
            } else {
                Actual::not_called()
            }
        };
        if let Some(r) = self.admission.reservation {
            self.limiter.settle(r, actual());
        }
        if let Some(r) = self.provider_reservation {
            self.limiter.settle(r, actual());
        }
    }

    fn cost(&self, served: &Served, usage: &Usage) -> MicroUsd {
        match self
            .rt
            .snapshot
            .prices
            .cost_micros(&served.provider, &served.model, usage)
        {
            Some(c) => c,
            None => {
                metrics::counter!("sluice_unpriced_requests_total", "provider" => served.provider.clone())
                    .increment(1);
                0
            }
        }
    }
}

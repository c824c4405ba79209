//! Budgets from the usage ledger: which scopes of a config have a budget, and what each has
//! spent in its current period. This is how budget usage survives restarts: the data plane's
//! limiter counts in memory, and at start-up (and after each reconnection to the control plane)
//! it restores each budget's spend in the current period from here.
//!
//! The ledger is written by the data planes' usage reports ([`Store::record_usage`], idempotent
//! by request id); it records the team and customer of each request as they were at the time,
//! so a team's budget counts what its keys spent while they belonged to it.
//!
//! [`Store::record_usage`]: sluice_store::Store::record_usage

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_core::Config;
use sluice_core::governance::{Budget, ResetDuration};
use sluice_core::limits::calendar::period_bounds;
use sluice_core::limits::{LimitSpec, LimitUsage, MicroUsd, Scope, ScopeKind};
use sluice_store::{Store, UsageScope, UsageTotals};

use crate::{ControlPlane, ControlPlaneError};

/// A scope that has a budget, and the budget's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetScope {
    pub scope: Scope,
    pub reset: ResetDuration,
}

/// What one budget has spent in its current period, according to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetUsage {
    pub scope: Scope,
    pub reset: ResetDuration,
    /// Start of the current period (Unix ms, UTC calendar or epoch-aligned).
    pub period_start_ms: i64,
    pub used_micros: MicroUsd,
}

/// The live counters of a data plane in the same process (`sluice serve`): what
/// `GET /api/governance/virtual-keys/{id}/usage` reports when one is set
/// ([`ControlPlane::set_usage_view`]). Without one (a split deployment) that route reports budget
/// usage from the ledger and no usage for rate windows, which live in each data plane.
pub trait LiveUsage: Send + Sync {
    /// Every limit of `scope` that `spec` declares, with its current usage.
    fn usage(&self, scope: &Scope, spec: &LimitSpec) -> Vec<LimitUsage>;
}

/// Every scope of `config` with a budget: virtual keys, their provider configs, teams and
/// customers, in that order (sorted by id within each).
///
/// ```
/// let config: sluice_core::Config = serde_json::from_value(serde_json::json!({
///     "governance": {"teams": {"eng": {"name": "Eng",
///         "budget": {"max_limit": 10.0, "reset_duration": "1M"}}}}
/// })).unwrap();
/// let scopes = sluice_controlplane::budget_scopes(&config);
/// assert_eq!(&*scopes[0].scope.id, "eng");
/// ```
pub fn budget_scopes(config: &Config) -> Vec<BudgetScope> {
    let gov = &config.governance;
    let mut out = Vec::new();
    let mut add = |scope: Scope, budget: Option<&Budget>| {
        if let Some(b) = budget {
            out.push(BudgetScope {
                scope,
                reset: b.reset_duration,
            });
        }
    };
    for (id, vk) in &gov.virtual_keys {
        add(Scope::virtual_key(id), vk.budget.as_ref());
        for pc in &vk.provider_configs {
            add(Scope::provider_config(id, &pc.provider), pc.budget.as_ref());
        }
    }
    for (id, team) in &gov.teams {
        add(Scope::team(id), team.budget.as_ref());
    }
    for (id, customer) in &gov.customers {
        add(Scope::customer(id), customer.budget.as_ref());
    }
    out
}

/// Wall-clock now in Unix ms.
pub(crate) fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What the ledger holds for `scope` since `since_ms`.
pub(crate) async fn ledger_totals(
    store: &Store,
    scope: &Scope,
    since_ms: i64,
) -> Result<UsageTotals, ControlPlaneError> {
    let since = UNIX_EPOCH + Duration::from_millis(u64::try_from(since_ms).unwrap_or(0));
    let totals = match scope.kind {
        ScopeKind::VirtualKey => {
            store
                .usage_since(UsageScope::VirtualKey, &scope.id, since)
                .await?
        }
        ScopeKind::Team => {
            store
                .usage_since(UsageScope::Team, &scope.id, since)
                .await?
        }
        ScopeKind::Customer => {
            store
                .usage_since(UsageScope::Customer, &scope.id, since)
                .await?
        }
        ScopeKind::ProviderConfig => {
            // `"{virtual key id}/{provider}"`; provider names never contain '/'.
            let Some((vk, provider)) = scope.id.rsplit_once('/') else {
                return Ok(UsageTotals::default());
            };
            store
                .provider_config_usage_since(vk, provider, since)
                .await?
        }
    };
    Ok(totals)
}

impl ControlPlane {
    /// Lets the usage route read live counters (see [`LiveUsage`]): `sluice serve` passes its
    /// gateway's limiter. Replaces any view set before.
    pub fn set_usage_view(&self, view: Arc<dyn LiveUsage>) {
        if let Ok(mut v) = self.usage_view.write() {
            *v = Some(view);
        }
    }

    pub(crate) fn usage_view(&self) -> Option<Arc<dyn LiveUsage>> {
        self.usage_view.read().ok().and_then(|v| v.clone())
    }

    /// Spend in the current period of each of `scopes`, from the ledger, at `now_ms`. Scopes
    /// that spent nothing are left out (restoring zero changes nothing).
    pub async fn budget_usage(
        &self,
        scopes: &[BudgetScope],
        now_ms: i64,
    ) -> Result<Vec<BudgetUsage>, ControlPlaneError> {
        let mut out = Vec::new();
        for s in scopes {
            let (period_start_ms, _) = period_bounds(s.reset, now_ms);
            let totals = ledger_totals(&self.store, &s.scope, period_start_ms).await?;
            let used_micros = i64::try_from(totals.cost_micros).unwrap_or(i64::MAX);
            if used_micros > 0 {
                out.push(BudgetUsage {
                    scope: s.scope.clone(),
                    reset: s.reset,
                    period_start_ms,
                    used_micros,
                });
            }
        }
        Ok(out)
    }

    /// [`budget_usage`](Self::budget_usage) of every budget of the published config, now: what
    /// a data plane restores at start-up and after each reconnection.
    pub async fn current_budget_usage(&self) -> Result<Vec<BudgetUsage>, ControlPlaneError> {
        let scopes = budget_scopes(&self.current().config);
        self.budget_usage(&scopes, now_unix_ms()).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sluice_store::UsageRecord;
    use sluice_store::testing::TestDatabase;

    use super::*;

    fn config() -> Config {
        serde_json::from_value(serde_json::json!({
            "governance": {
                "customers": {"acme": {"name": "Acme",
                    "budget": {"max_limit": 100.0, "reset_duration": "1Y"}}},
                "teams": {"eng": {"name": "Eng", "customer_id": "acme"},
                          "ops": {"name": "Ops",
                              "budget": {"max_limit": 5.0, "reset_duration": "1d"}}},
                "virtual_keys": {"vk-1": {
                    "value_hash": sluice_core::hash_credential("vk-1"),
                    "team_id": "eng",
                    "budget": {"max_limit": 1.0, "reset_duration": "1M"},
                    "provider_configs": [
                        {"provider": "openai",
                         "budget": {"max_limit": 0.5, "reset_duration": "1M"}},
                        {"provider": "anthropic"}
                    ]
                }}
            }
        }))
        .unwrap()
    }

    fn record(id: &str, provider: &str, cost_micros: u64, at: SystemTime) -> UsageRecord {
        UsageRecord {
            request_id: id.into(),
            virtual_key_id: Some("vk-1".into()),
            team_id: Some("eng".into()),
            customer_id: Some("acme".into()),
            provider: provider.into(),
            model: "gpt-4o-mini".into(),
            prompt_tokens: 10,
            completion_tokens: 5,
            cost_micros,
            occurred_at: at,
        }
    }

    #[test]
    fn every_scope_with_a_budget_is_listed_and_no_other() {
        let ids: Vec<String> = budget_scopes(&config())
            .iter()
            .map(|s| format!("{}:{}", s.scope.kind.as_str(), s.scope.id))
            .collect();
        assert_eq!(
            ids,
            [
                "virtual_key:vk-1",
                "provider_config:vk-1/openai",
                "team:ops",
                "customer:acme"
            ]
        );
    }

    #[tokio::test]
    async fn budget_usage_counts_only_the_current_period() {
        let db = TestDatabase::sqlite();
        let cp = ControlPlane::open(
            db.url(),
            sluice_store::EncryptionKey::generate().unwrap(),
            Some(config()),
        )
        .await
        .unwrap();
        let now = SystemTime::now();
        let now_ms = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        let (month_start, _) = period_bounds(ResetDuration::Months(1), now_ms);
        let before_month = UNIX_EPOCH + Duration::from_millis(month_start as u64 - 1);
        cp.store()
            .record_usage(&[
                record("r1", "openai", 1_000, now),
                record("r2", "anthropic", 300, now),
                record("r0", "openai", 50_000, before_month),
            ])
            .await
            .unwrap();
        let used: Vec<(String, i64)> = cp
            .budget_usage(&budget_scopes(&config()), now_ms)
            .await
            .unwrap()
            .into_iter()
            .map(|u| (u.scope.id.to_string(), u.used_micros))
            .collect();
        // The key and its openai config count this month only; the customer's year includes
        // last month's request unless this runs in January; the ops team spent nothing.
        let year_start = period_bounds(ResetDuration::Years(1), now_ms).0;
        let acme = if month_start == year_start {
            1_300
        } else {
            51_300
        };
        assert_eq!(
            used,
            [
                ("vk-1".to_string(), 1_300),
                ("vk-1/openai".to_string(), 1_000),
                ("acme".to_string(), acme)
            ]
        );
    }
}

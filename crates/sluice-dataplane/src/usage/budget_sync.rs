//! Budget usage restored from the ledger into this data plane's limiter.
//!
//! The limiter counts in memory; the ledger has what every request ever spent. A restore is due
//! at start-up, after every reconnection (usage may have been reported meanwhile by this data
//! plane's replayed spill file or by others) and after every config change (a new budget, a key
//! moved to a team with a budget, ...). The limiter keeps the larger of its count and the
//! ledger's, so restoring again is harmless. The reporter runs it only once its backlog is
//! delivered, so the ledger includes what this data plane spent during an outage.

use std::sync::{Arc, Weak};

use super::BudgetUsage;
use crate::Gateway;

pub(super) struct BudgetSync {
    gateway: Weak<Gateway>,
    /// The config version budgets were last restored for; `None` until the first restore and
    /// after every delivery failure.
    synced: Option<u64>,
}

impl BudgetSync {
    pub(super) fn new(gateway: &Arc<Gateway>) -> Self {
        BudgetSync {
            gateway: Arc::downgrade(gateway),
            synced: None,
        }
    }

    /// The config version a restore started now would be for, if one is due.
    pub(super) fn due(&self) -> Option<u64> {
        let version = self.gateway.upgrade()?.runtime().snapshot.version;
        (self.synced != Some(version)).then_some(version)
    }

    /// The ledger was unreachable: restore again once it is back.
    pub(super) fn invalidate(&mut self) {
        self.synced = None;
    }

    /// Restores `budgets` into the limiter; `version` is the config they were read for.
    pub(super) fn apply(&mut self, version: u64, budgets: &[BudgetUsage]) {
        let Some(gateway) = self.gateway.upgrade() else {
            return;
        };
        for b in budgets {
            gateway.limiter().restore_budget_usage(
                &b.scope,
                b.reset,
                b.used_micros,
                b.period_start_ms,
            );
        }
        // Loud after a start or a reconnection, quiet after a config change.
        if self.synced.is_none() {
            tracing::info!(
                budgets = budgets.len(),
                config_version = version,
                "budget usage restored from the ledger"
            );
        } else {
            tracing::debug!(
                budgets = budgets.len(),
                config_version = version,
                "budget usage restored from the ledger"
            );
        }
        self.synced = Some(version);
    }
}

//! Usage of limits: `GET /api/governance/virtual-keys/{id}/usage`, the `sluice_rate_limit_*`
//! gauges, and the `x-ratelimit-*` headers of a successful response.

use std::time::{Duration, Instant};

use super::budget::{BudgetCounter, MicroUsd};
use super::window::SlidingWindow;
use super::{BudgetLimit, LimitKind, Scope, WindowLimit};
use crate::governance::ResetDuration;

/// One limit's usage, for `GET .../usage`, metrics and `x-ratelimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitUsage {
    pub kind: LimitKind,
    /// In the kind's unit (requests, tokens, micro-USD); may exceed `max` after extra debits.
    pub used: u64,
    pub max: u64,
    /// Until the limit is fully reset: the window empties, or the budget period ends.
    pub reset_in: Duration,
    pub period: ResetDuration,
}

impl LimitUsage {
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }
}

/// A limit with the scope it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedUsage {
    pub scope: Scope,
    pub usage: LimitUsage,
}

/// The tightest limit of each kind over a charge list: the one with the least remaining.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitHeadroom {
    pub requests: Option<ScopedUsage>,
    pub tokens: Option<ScopedUsage>,
    pub budget: Option<ScopedUsage>,
}

pub(super) fn window_usage(
    kind: LimitKind,
    limit: &WindowLimit,
    window: Option<&SlidingWindow>,
    now: Instant,
) -> LimitUsage {
    LimitUsage {
        kind,
        used: window.map_or(0, |w| w.used(now)),
        max: limit.max,
        reset_in: window.map_or(Duration::ZERO, |w| w.reset_in(now)),
        period: ResetDuration::Fixed(limit.window),
    }
}

pub(super) fn budget_usage(
    limit: &BudgetLimit,
    budget: Option<&BudgetCounter>,
    now_ms: i64,
) -> LimitUsage {
    let empty = BudgetCounter::default();
    let b = budget.unwrap_or(&empty);
    LimitUsage {
        kind: LimitKind::BudgetUsd,
        used: micros_u64(b.used(limit.reset, now_ms)),
        max: micros_u64(limit.max_micros),
        reset_in: b.reset_in(limit.reset, now_ms),
        period: limit.reset,
    }
}

pub(super) fn micros_u64(m: MicroUsd) -> u64 {
    u64::try_from(m).unwrap_or(0)
}

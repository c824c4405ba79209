//! Why a request was refused: the data the data plane turns into a 429 (rate) or 402 (budget)
//! with `Retry-After` and `x-ratelimit-*` headers.

use std::fmt;
use std::time::{Duration, Instant};

use super::budget::{BudgetCounter, MicroUsd};
use super::usage::micros_u64;
use super::window::SlidingWindow;
use super::{BudgetLimit, LimitKind, Scope, WindowLimit};
use crate::governance::ResetDuration;

/// Why a request was not admitted: one limit of one scope, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub scope: Scope,
    pub kind: LimitKind,
    /// The limit, in the kind's unit (requests, tokens, micro-USD).
    pub limit: u64,
    /// Usage counted when refused.
    pub used: u64,
    /// What this request asked for.
    pub requested: u64,
    /// The window or budget period.
    pub period: ResetDuration,
    /// When the request would fit (`Retry-After`); `None` if it never can (`requested > limit`).
    pub retry_after: Option<Duration>,
    /// Until the limit is fully reset (`x-ratelimit-reset-*`).
    pub reset_in: Duration,
}

impl Refusal {
    /// A budget refusal (402) rather than a rate limit (429).
    pub fn is_budget(&self) -> bool {
        self.kind == LimitKind::BudgetUsd
    }

    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = |v: u64| match self.kind {
            LimitKind::Requests => format!("{v} requests"),
            LimitKind::Tokens => format!("{v} tokens"),
            LimitKind::BudgetUsd => format_usd(v),
        };
        match self.retry_after {
            None => write!(
                f,
                "this request needs {} but {} allows {} per {}",
                amount(self.requested),
                self.scope,
                amount(self.limit),
                self.period
            ),
            Some(wait) => {
                write!(
                    f,
                    "{} has used {} of its {} per {}",
                    self.scope,
                    amount(self.used),
                    amount(self.limit),
                    self.period
                )?;
                if self.kind != LimitKind::Requests {
                    write!(f, " and this request needs {}", amount(self.requested))?;
                }
                // Whole seconds, rounded up, as `Retry-After` says it.
                let wait = Duration::from_secs(wait.as_millis().div_ceil(1000) as u64);
                write!(f, "; retry in {}", humantime::format_duration(wait))
            }
        }
    }
}

impl std::error::Error for Refusal {}

fn format_usd(micros: u64) -> String {
    let cents = micros.div_ceil(10_000);
    format!("${}.{:02}", cents / 100, cents % 100)
}

pub(super) fn window_refusal(
    scope: &Scope,
    kind: LimitKind,
    limit: &WindowLimit,
    window: Option<&SlidingWindow>,
    now: Instant,
    n: u64,
) -> Option<Refusal> {
    let used = window.map_or(0, |w| w.used(now));
    if used.checked_add(n).is_some_and(|total| total <= limit.max) {
        return None;
    }
    let retry_after = match window {
        Some(w) => w.retry_in_under(now, n, limit.max),
        None => None,
    };
    Some(Refusal {
        scope: scope.clone(),
        kind,
        limit: limit.max,
        used,
        requested: n,
        period: ResetDuration::Fixed(limit.window),
        retry_after,
        reset_in: window.map_or(Duration::ZERO, |w| w.reset_in(now)),
    })
}

pub(super) fn budget_refusal(
    scope: &Scope,
    limit: &BudgetLimit,
    budget: Option<&BudgetCounter>,
    now_ms: i64,
    amount: MicroUsd,
) -> Option<Refusal> {
    let empty = BudgetCounter::default();
    let b = budget.unwrap_or(&empty);
    if b.fits(limit, now_ms, amount) {
        return None;
    }
    Some(Refusal {
        scope: scope.clone(),
        kind: LimitKind::BudgetUsd,
        limit: micros_u64(limit.max_micros),
        used: micros_u64(b.used(limit.reset, now_ms)),
        requested: micros_u64(amount),
        period: limit.reset,
        retry_after: b.retry_in(limit, now_ms, amount),
        reset_in: b.reset_in(limit.reset, now_ms),
    })
}

/// Whether refusal `a` is the one to report rather than `b`: budgets first (waiting seconds
/// will not help), then the longest wait (`None`, never, is longest).
pub(super) fn outranks(a: &Refusal, b: &Refusal) -> bool {
    let rank = |r: &Refusal| (r.is_budget(), r.retry_after.is_none(), r.retry_after);
    rank(a) > rank(b)
}

//! The charge list of a request and its all-or-nothing reservation across the hierarchy; the
//! in-memory [`Limiter`]. The semantics every backend shares are in the [module
//! docs](super).

use std::collections::HashMap;
use std::time::Instant;

use super::budget::{BudgetCounter, BudgetSlot, MicroUsd};
use super::refusal::{Refusal, budget_refusal, outranks, window_refusal};
use super::usage::{LimitHeadroom, LimitUsage, ScopedUsage, budget_usage, window_usage};
use super::window::{SlidingWindow, WindowSlot};
use super::{LimitKind, LimitSpec, Scope, WindowLimit};
use crate::governance::ResetDuration;

/// What one request is charged, and to which scopes.
///
/// ```
/// use sluice_core::limits::{ChargeList, LimitSpec, Scope};
/// let charges = ChargeList::new(1_200, 450)
///     .with(Scope::provider_config("vk-prod", "openai"), LimitSpec::unlimited())
///     .with(Scope::virtual_key("vk-prod"), LimitSpec::unlimited())
///     .with(Scope::team("eng"), LimitSpec::unlimited());
/// assert_eq!(charges.charges().len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChargeList {
    charges: Vec<(Scope, LimitSpec)>,
    /// Estimated tokens: prompt estimate + `max_tokens` (or the configured default).
    pub tokens: u64,
    /// Estimated cost in micro-USD.
    pub cost_micros: MicroUsd,
}

impl ChargeList {
    /// One request of `tokens` estimated tokens costing `cost_micros`, charged nowhere yet.
    pub fn new(tokens: u64, cost_micros: MicroUsd) -> Self {
        ChargeList {
            charges: Vec::with_capacity(4),
            tokens,
            cost_micros: cost_micros.max(0),
        }
    }

    /// Also charge `scope`, whose limits are `spec`. A scope appears once: charging it again
    /// replaces its spec.
    pub fn with(mut self, scope: Scope, spec: LimitSpec) -> Self {
        self.push(scope, spec);
        self
    }

    pub fn push(&mut self, scope: Scope, spec: LimitSpec) {
        match self.charges.iter_mut().find(|(s, _)| *s == scope) {
            Some(entry) => entry.1 = spec,
            None => self.charges.push((scope, spec)),
        }
    }

    pub fn charges(&self) -> &[(Scope, LimitSpec)] {
        &self.charges
    }
}

/// What a request really used, reported at settle time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actual {
    /// Total tokens (prompt + completion) the upstream reported.
    pub tokens: u64,
    pub cost_micros: MicroUsd,
    /// Whether any upstream call was made. `false` (cache hit, failure before dispatch) refunds
    /// the request itself too.
    pub upstream_called: bool,
}

impl Actual {
    /// Nothing reached an upstream: everything is refunded.
    pub fn not_called() -> Self {
        Actual::default()
    }

    /// The upstream was called and used this much (zero for a failed call).
    pub fn called(tokens: u64, cost_micros: MicroUsd) -> Self {
        Actual {
            tokens,
            cost_micros,
            upstream_called: true,
        }
    }
}

/// What a request holds until it is settled. Settle it exactly once with [`Limiter::settle`];
/// dropping it keeps the reserved amounts charged.
#[must_use = "settle the reservation after the upstream call"]
#[derive(Debug, PartialEq, Eq)]
pub struct Reservation {
    held: Vec<(Scope, Hold)>,
    tokens: u64,
    cost_micros: MicroUsd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    Requests(WindowSlot),
    Tokens(WindowSlot),
    Budget(BudgetSlot, ResetDuration),
}

impl Reservation {
    /// Tokens reserved at every scope.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Micro-USD reserved at every scope with a budget.
    pub fn cost_micros(&self) -> MicroUsd {
        self.cost_micros
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Counters {
    requests: Option<SlidingWindow>,
    tokens: Option<SlidingWindow>,
    budget: Option<BudgetCounter>,
}

/// In-memory limiter: the counters of every scope, created on first use.
///
/// Limits are not stored: every call takes them from the [`LimitSpec`]s it is given, so a new
/// config applies at the next call and usage is kept. Wrap it in a mutex to share it; every
/// method is short and never blocks.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sluice_core::limits::{Actual, ChargeList, LimitSpec, Limiter, Scope, WindowLimit};
/// let (t0, unix_ms) = (Instant::now(), 1_750_000_000_000);
/// let spec = LimitSpec {
///     tokens: Some(WindowLimit { max: 1_000, window: Duration::from_secs(60) }),
///     ..LimitSpec::unlimited()
/// };
/// let mut limiter = Limiter::new();
/// let charges = ChargeList::new(800, 0).with(Scope::virtual_key("vk"), spec);
/// let r = limiter.reserve(t0, unix_ms, &charges).unwrap();
/// assert!(limiter.reserve(t0, unix_ms, &charges).is_err(), "800 + 800 > 1000");
/// limiter.settle(t0, unix_ms, r, Actual::called(150, 0));
/// assert!(limiter.reserve(t0, unix_ms, &charges).is_ok(), "150 + 800 ≤ 1000");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Limiter {
    scopes: HashMap<Scope, Counters>,
}

impl Limiter {
    pub fn new() -> Self {
        Limiter::default()
    }

    /// Whether `charges` would be admitted now, without reserving anything: for routing, which
    /// skips a provider config that is over its own limit.
    pub fn check(&self, now: Instant, now_ms: i64, charges: &ChargeList) -> Result<(), Refusal> {
        let mut worst: Option<Refusal> = None;
        for (scope, spec) in &charges.charges {
            let counters = self.scopes.get(scope);
            let refusals = [
                spec.requests.and_then(|l| {
                    let w = counters.and_then(|c| c.requests.as_ref());
                    window_refusal(scope, LimitKind::Requests, &l, w, now, 1)
                }),
                spec.tokens.and_then(|l| {
                    let w = counters.and_then(|c| c.tokens.as_ref());
                    window_refusal(scope, LimitKind::Tokens, &l, w, now, charges.tokens)
                }),
                spec.budget.and_then(|l| {
                    let b = counters.and_then(|c| c.budget.as_ref());
                    budget_refusal(scope, &l, b, now_ms, charges.cost_micros)
                }),
            ];
            for r in refusals.into_iter().flatten() {
                if worst.as_ref().is_none_or(|w| outranks(&r, w)) {
                    worst = Some(r);
                }
            }
        }
        worst.map_or(Ok(()), Err)
    }

    /// Reserves one request, `charges.tokens` and `charges.cost_micros` at every limit of every
    /// scope, or nothing at all.
    pub fn reserve(
        &mut self,
        now: Instant,
        now_ms: i64,
        charges: &ChargeList,
    ) -> Result<Reservation, Refusal> {
        self.check(now, now_ms, charges)?;
        let mut held = Vec::with_capacity(charges.charges.len() * 2);
        for (scope, spec) in &charges.charges {
            if spec.is_unlimited() {
                continue;
            }
            let counters = self.scopes.entry(scope.clone()).or_default();
            // Everything fits (checked above, same instant): these debits are the reservation.
            if let Some(l) = spec.requests {
                let w = synced_window(&mut counters.requests, &l, now);
                held.push((scope.clone(), Hold::Requests(w.debit(now, 1))));
            }
            if let Some(l) = spec.tokens {
                let w = synced_window(&mut counters.tokens, &l, now);
                held.push((scope.clone(), Hold::Tokens(w.debit(now, charges.tokens))));
            }
            if let Some(l) = spec.budget {
                let b = counters.budget.get_or_insert_with(BudgetCounter::default);
                let slot = b.debit(l.reset, now_ms, charges.cost_micros);
                held.push((scope.clone(), Hold::Budget(slot, l.reset)));
            }
        }
        Ok(Reservation {
            held,
            tokens: charges.tokens,
            cost_micros: charges.cost_micros,
        })
    }

    /// Replaces `reservation` with what the request really used: refunds what it did not use,
    /// debits what it used beyond the reservation (never refused; see the module docs).
    pub fn settle(&mut self, now: Instant, now_ms: i64, reservation: Reservation, actual: Actual) {
        let Reservation {
            held,
            tokens,
            cost_micros,
        } = reservation;
        for (scope, hold) in held {
            let Some(counters) = self.scopes.get_mut(&scope) else {
                continue;
            };
            match hold {
                Hold::Requests(slot) => {
                    if let (Some(w), false) = (counters.requests.as_mut(), actual.upstream_called) {
                        w.release(now, slot, 1);
                    }
                }
                Hold::Tokens(slot) => {
                    if let Some(w) = counters.tokens.as_mut() {
                        if actual.tokens > tokens {
                            w.debit(now, actual.tokens - tokens);
                        } else {
                            w.release(now, slot, tokens - actual.tokens);
                        }
                    }
                }
                Hold::Budget(slot, reset) => {
                    if let Some(b) = counters.budget.as_mut() {
                        let actual_cost = actual.cost_micros.max(0);
                        if actual_cost > cost_micros {
                            b.debit(reset, now_ms, actual_cost - cost_micros);
                        } else {
                            b.refund(reset, now_ms, slot, cost_micros - actual_cost);
                        }
                    }
                }
            }
        }
    }

    /// Every limit of `scope` (as `spec` declares them) with its current usage.
    pub fn usage(
        &self,
        now: Instant,
        now_ms: i64,
        scope: &Scope,
        spec: &LimitSpec,
    ) -> Vec<LimitUsage> {
        let counters = self.scopes.get(scope);
        let mut out = Vec::with_capacity(3);
        if let Some(l) = spec.requests {
            let w = counters.and_then(|c| c.requests.as_ref());
            out.push(window_usage(LimitKind::Requests, &l, w, now));
        }
        if let Some(l) = spec.tokens {
            let w = counters.and_then(|c| c.tokens.as_ref());
            out.push(window_usage(LimitKind::Tokens, &l, w, now));
        }
        if let Some(l) = spec.budget {
            let b = counters.and_then(|c| c.budget.as_ref());
            out.push(budget_usage(&l, b, now_ms));
        }
        out
    }

    /// The tightest limit of each kind among `charges` (least remaining; on a tie, the one that
    /// takes longer to reset): the `x-ratelimit-*` headers of a successful response.
    pub fn headroom(&self, now: Instant, now_ms: i64, charges: &ChargeList) -> LimitHeadroom {
        let mut out = LimitHeadroom::default();
        for (scope, spec) in &charges.charges {
            for usage in self.usage(now, now_ms, scope, spec) {
                let slot = match usage.kind {
                    LimitKind::Requests => &mut out.requests,
                    LimitKind::Tokens => &mut out.tokens,
                    LimitKind::BudgetUsd => &mut out.budget,
                };
                let tighter = slot.as_ref().is_none_or(|s| {
                    (usage.remaining(), std::cmp::Reverse(usage.reset_in))
                        < (s.usage.remaining(), std::cmp::Reverse(s.usage.reset_in))
                });
                if tighter {
                    *slot = Some(ScopedUsage {
                        scope: scope.clone(),
                        usage,
                    });
                }
            }
        }
        out
    }

    /// Restores budget usage recorded in the ledger (at start-up): `used_micros` spent in the
    /// `reset` period of `scope` that starts at `period_start_ms`. Ignored if that period has
    /// ended; the larger of this and any usage already counted in the same period is kept.
    pub fn restore_budget_usage(
        &mut self,
        now_ms: i64,
        scope: &Scope,
        reset: ResetDuration,
        used_micros: MicroUsd,
        period_start_ms: i64,
    ) {
        self.scopes
            .entry(scope.clone())
            .or_default()
            .budget
            .get_or_insert_with(BudgetCounter::default)
            .restore(reset, now_ms, period_start_ms, used_micros);
    }

    /// Keeps only the counters of scopes for which `keep` is true: after a config change that
    /// removed virtual keys, teams or customers.
    pub fn retain(&mut self, mut keep: impl FnMut(&Scope) -> bool) {
        self.scopes.retain(|s, _| keep(s));
    }

    /// Number of scopes with counters.
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }
}

/// The window for `limit`, created or brought in line with a changed config.
fn synced_window<'a>(
    slot: &'a mut Option<SlidingWindow>,
    limit: &WindowLimit,
    now: Instant,
) -> &'a mut SlidingWindow {
    let w = slot.get_or_insert_with(|| SlidingWindow::new(limit.max, limit.window));
    w.set_max(limit.max);
    w.set_window(now, limit.window);
    w
}

#[cfg(test)]
mod tests;

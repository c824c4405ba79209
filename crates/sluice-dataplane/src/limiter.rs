//! The limiter backend behind the admit and settle stages.
//!
//! Every method is atomic on its own: `reserve` checks every limit of the charge list and then
//! applies all of them, or nothing (see `sluice_core::limits` for the exact semantics a backend
//! must keep). The in-memory backend holds `sluice-core`'s `Limiter` under one short lock that
//! is never held across an await; a Redis backend for several replicas implements the same
//! trait with one script per call.

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sluice_core::governance::ResetDuration;
use sluice_core::limits::{
    Actual, ChargeList, LimitHeadroom, LimitSpec, LimitUsage, Limiter, Refusal, Reservation, Scope,
};

pub trait LimiterBackend: Send + Sync {
    /// Reserves every charge, all or nothing.
    fn reserve(&self, charges: &ChargeList) -> Result<Reservation, Refusal>;
    /// Whether `charges` would fit now, changing nothing.
    fn check(&self, charges: &ChargeList) -> Result<(), Refusal>;
    /// Replaces a reservation by actual usage (refund or extra debit).
    fn settle(&self, reservation: Reservation, actual: Actual);
    /// The tightest limit of each kind among `charges` (for `x-ratelimit-*` headers).
    fn headroom(&self, charges: &ChargeList) -> LimitHeadroom;
    /// Usage of every limit of one scope.
    fn usage(&self, scope: &Scope, spec: &LimitSpec) -> Vec<LimitUsage>;
    /// Budget usage recorded before this process started (from the ledger).
    fn restore_budget_usage(
        &self,
        scope: &Scope,
        reset: ResetDuration,
        used_micros: i64,
        period_start_ms: i64,
    );
}

/// Wall-clock now in Unix milliseconds: budgets reset on calendar boundaries.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One process's limits, in memory.
#[derive(Default)]
pub struct LocalLimiter {
    inner: Mutex<Limiter>,
}

impl LocalLimiter {
    fn with<T>(&self, f: impl FnOnce(&mut Limiter) -> T) -> T {
        // Every update is a few counter writes: state stays consistent even after a panic.
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }
}

impl LimiterBackend for LocalLimiter {
    fn reserve(&self, charges: &ChargeList) -> Result<Reservation, Refusal> {
        let (now, ms) = (Instant::now(), now_unix_ms());
        self.with(|l| l.reserve(now, ms, charges))
    }

    fn check(&self, charges: &ChargeList) -> Result<(), Refusal> {
        let (now, ms) = (Instant::now(), now_unix_ms());
        self.with(|l| l.check(now, ms, charges))
    }

    fn settle(&self, reservation: Reservation, actual: Actual) {
        let (now, ms) = (Instant::now(), now_unix_ms());
        self.with(|l| l.settle(now, ms, reservation, actual));
    }

    fn headroom(&self, charges: &ChargeList) -> LimitHeadroom {
        let (now, ms) = (Instant::now(), now_unix_ms());
        self.with(|l| l.headroom(now, ms, charges))
    }

    fn usage(&self, scope: &Scope, spec: &LimitSpec) -> Vec<LimitUsage> {
        let (now, ms) = (Instant::now(), now_unix_ms());
        self.with(|l| l.usage(now, ms, scope, spec))
    }

    fn restore_budget_usage(
        &self,
        scope: &Scope,
        reset: ResetDuration,
        used_micros: i64,
        period_start_ms: i64,
    ) {
        let ms = now_unix_ms();
        self.with(|l| l.restore_budget_usage(ms, scope, reset, used_micros, period_start_ms));
    }
}

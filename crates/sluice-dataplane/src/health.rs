//! Shared, mutable health of keys and providers and the process-wide retry budget, driven by
//! the dispatch stage. The state machines are `sluice-core`'s (`key_health`, `retry_budget`);
//! this module only puts them behind short locks that are never held across an await.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice_core::FailureClass;
use sluice_core::config::DispatchConfig;
use sluice_core::headroom::UpstreamLimits;
use sluice_core::key_health::{
    Availability, HealthPolicy, KeyHealth, KeyPermit, ProviderHealth, ProviderPermit,
};
use sluice_core::retry_budget::RetryBudget;
use sluice_providers::RateLimitInfo;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks leaves consistent state behind (every
    // update is a few field writes), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the upstream's headers said, in core's terms.
pub fn upstream_limits(info: &RateLimitInfo) -> UpstreamLimits {
    UpstreamLimits {
        limit_requests: info.limit_requests,
        remaining_requests: info.remaining_requests,
        reset_requests: info.reset_requests,
        limit_tokens: info.limit_tokens,
        remaining_tokens: info.remaining_tokens,
        reset_tokens: info.reset_tokens,
    }
}

/// One provider key's health: cooldown, breaker, adaptive headroom, disabled state.
pub struct KeyState {
    health: Mutex<KeyHealth>,
}

impl KeyState {
    pub fn new(dispatch: &DispatchConfig) -> Self {
        KeyState {
            health: Mutex::new(KeyHealth::new(&HealthPolicy::from_dispatch(dispatch))),
        }
    }

    pub fn availability(&self, now: Instant) -> Availability {
        lock(&self.health).availability(now)
    }

    pub fn try_acquire(&self, now: Instant) -> Option<KeyPermit> {
        lock(&self.health).try_acquire(now)
    }

    pub fn on_success(&self, now: Instant, permit: KeyPermit, limits: &RateLimitInfo) {
        lock(&self.health).on_success(now, permit, &upstream_limits(limits));
    }

    /// Records a failure; returns how long the key now cools down (zero if it does not).
    pub fn on_failure(
        &self,
        now: Instant,
        permit: KeyPermit,
        class: FailureClass,
        limits: Option<&RateLimitInfo>,
    ) -> Duration {
        let mut h = lock(&self.health);
        if let Some(l) = limits {
            h.observe_limits(now, &upstream_limits(l));
        }
        h.on_failure(
            now,
            permit,
            class,
            limits.and_then(RateLimitInfo::wait_hint),
        );
        h.cooldown_remaining(now)
    }

    pub fn release(&self, permit: KeyPermit) {
        lock(&self.health).release(permit);
    }

    pub fn cooldown_remaining(&self, now: Instant) -> Duration {
        lock(&self.health).cooldown_remaining(now)
    }

    /// Puts a disabled key back in rotation (its value changed in a new snapshot).
    pub fn enable(&self) {
        lock(&self.health).enable();
    }
}

/// One provider's breaker: consecutive transient failures across its keys.
pub struct ProviderState {
    health: Mutex<ProviderHealth>,
}

impl ProviderState {
    pub fn new(dispatch: &DispatchConfig) -> Self {
        ProviderState {
            health: Mutex::new(ProviderHealth::new(&HealthPolicy::from_dispatch(dispatch))),
        }
    }

    pub fn try_acquire(&self, now: Instant) -> Option<ProviderPermit> {
        lock(&self.health).try_acquire(now)
    }

    pub fn is_available(&self, now: Instant) -> bool {
        lock(&self.health).is_available(now)
    }

    pub fn on_success(&self, now: Instant, permit: ProviderPermit) {
        lock(&self.health).on_success(now, permit);
    }

    pub fn on_failure(&self, now: Instant, permit: ProviderPermit, class: FailureClass) {
        lock(&self.health).on_failure(now, permit, class);
    }

    pub fn release(&self, permit: ProviderPermit) {
        lock(&self.health).release(permit);
    }
}

/// Retries across the process are capped at a fraction of requests.
pub struct RetryBudgetState {
    budget: Mutex<RetryBudget>,
}

impl RetryBudgetState {
    pub fn new(dispatch: &DispatchConfig) -> Self {
        RetryBudgetState {
            budget: Mutex::new(RetryBudget::from_dispatch(dispatch)),
        }
    }

    pub fn record_request(&self, now: Instant) {
        lock(&self.budget).record_request(now);
    }

    pub fn can_withdraw(&self, now: Instant) -> bool {
        lock(&self.budget).can_withdraw(now)
    }

    pub fn try_withdraw(&self, now: Instant) -> bool {
        lock(&self.budget).try_withdraw(now)
    }
}

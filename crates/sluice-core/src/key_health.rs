//! Health of one provider key, and of a provider as a whole: everything the dispatch stage has
//! learned from upstream answers that decides whether (and how much) to use a key now.
//!
//! A key combines four signals:
//! - **cooldown** ([`KeyCooldown`]) after a 429, for as long as the upstream asked;
//! - **breaker** ([`CircuitBreaker`]) after consecutive transient failures (timeouts, 5xx);
//! - **headroom** ([`Headroom`]), a weight factor from the `x-ratelimit-*` headers;
//! - **disabled** after a credential (401/403) or quota (402) failure.
//!
//! A disabled key stays out of rotation until the configuration gives it a new value (the data
//! plane then builds a fresh [`KeyHealth`], or calls [`KeyHealth::enable`]), or until
//! [`HealthPolicy::disabled_for`] has passed, after which one request tries it again — a revoked
//! key then costs one failed attempt per period, and a topped-up account comes back on its own.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::breaker::{BreakerState, CircuitBreaker, Permit};
use crate::config::DispatchConfig;
use crate::cooldown::{DEFAULT_MAX_COOLDOWN, KeyCooldown};
use crate::failure::FailureClass;
use crate::headroom::{Headroom, UpstreamLimits};

/// How long a key rejected for its credential or quota stays disabled before it is tried again.
pub const DEFAULT_DISABLED_FOR: Duration = Duration::from_secs(10 * 60);

/// The tunables of key and provider health, from [`DispatchConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Cooldown after a 429 without a hint (`dispatch.default_cooldown_ms`).
    pub default_cooldown: Duration,
    /// Cap of the escalated hintless cooldown.
    pub max_cooldown: Duration,
    /// `dispatch.breaker_failure_threshold`.
    pub breaker_failure_threshold: u32,
    /// `dispatch.breaker_open_ms`.
    pub breaker_open_for: Duration,
    /// Cap of the open time, which doubles after each failed half-open probe.
    pub breaker_max_open_for: Duration,
    /// How long a credential or quota failure disables a key.
    pub disabled_for: Duration,
}

impl HealthPolicy {
    /// The policy `dispatch` configures; the caps and `disabled_for` use their defaults.
    pub fn from_dispatch(dispatch: &DispatchConfig) -> Self {
        let open_for = Duration::from_millis(dispatch.breaker_open_ms);
        HealthPolicy {
            default_cooldown: Duration::from_millis(dispatch.default_cooldown_ms),
            max_cooldown: DEFAULT_MAX_COOLDOWN,
            breaker_failure_threshold: dispatch.breaker_failure_threshold,
            breaker_open_for: open_for,
            breaker_max_open_for: open_for.saturating_mul(crate::breaker::BREAKER_MAX_OPEN_FACTOR),
            disabled_for: DEFAULT_DISABLED_FOR,
        }
    }

    fn breaker(&self) -> CircuitBreaker {
        CircuitBreaker::new(self.breaker_failure_threshold, self.breaker_open_for)
            .with_max_open_for(self.breaker_max_open_for)
    }
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy::from_dispatch(&DispatchConfig::default())
    }
}

/// Why a key is out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// The upstream rejected the key (401/403).
    Credential,
    /// The key's account has no credit or quota left (402, `insufficient_quota`).
    Quota,
}

impl DisabledReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Credential => "credential",
            DisabledReason::Quota => "quota",
        }
    }

    /// What an operator should do about it (shown in logs and the admin API).
    pub fn advice(self) -> &'static str {
        match self {
            DisabledReason::Credential => {
                "the upstream rejected this key (401/403); replace its value in the provider config"
            }
            DisabledReason::Quota => {
                "the upstream reports no quota or credit left on this key (402); top up the account or remove the key"
            }
        }
    }
}

/// Whether a key may be used at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Availability {
    /// Usable; multiply its configured weight by `weight_factor` (in `(0, 1]`, from headroom).
    Ready { weight_factor: f64 },
    /// Rate limited until `until`.
    Cooling { until: Instant },
    /// Consecutive failures opened its breaker (or its half-open probe is out).
    BreakerOpen,
    /// Out of rotation for `reason` until `until` (or a new config value).
    Disabled {
        reason: DisabledReason,
        until: Instant,
    },
}

impl Availability {
    /// The weight factor for selection: 0 for anything but `Ready`.
    pub fn weight_factor(&self) -> f64 {
        match *self {
            Availability::Ready { weight_factor } => weight_factor,
            _ => 0.0,
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Availability::Ready { .. })
    }
}

/// Leave to send one request with a key; report its outcome with it.
///
/// Deliberately neither `Copy` nor `Clone`: one outcome per request.
#[must_use = "report the outcome with on_success, on_failure or release"]
#[derive(Debug, PartialEq, Eq)]
pub struct KeyPermit(Permit);

impl KeyPermit {
    /// Whether this request is the key's half-open breaker probe.
    pub fn is_probe(&self) -> bool {
        self.0.is_probe()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Disabled {
    reason: DisabledReason,
    until: Instant,
}

/// Everything learned about one provider key.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sluice_core::FailureClass;
/// use sluice_core::key_health::{Availability, HealthPolicy, KeyHealth};
/// let t0 = Instant::now();
/// let mut key = KeyHealth::new(&HealthPolicy::default());
/// let permit = key.try_acquire(t0).unwrap();
/// key.on_failure(t0, permit, FailureClass::RateLimited, Some(Duration::from_secs(5)));
/// assert_eq!(key.availability(t0), Availability::Cooling { until: t0 + Duration::from_secs(5) });
/// assert!(key.availability(t0 + Duration::from_secs(5)).is_ready());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct KeyHealth {
    cooldown: KeyCooldown,
    breaker: CircuitBreaker,
    headroom: Headroom,
    disabled: Option<Disabled>,
    disabled_for: Duration,
}

impl KeyHealth {
    /// A healthy key.
    pub fn new(policy: &HealthPolicy) -> Self {
        KeyHealth {
            cooldown: KeyCooldown::new(policy.default_cooldown, policy.max_cooldown),
            breaker: policy.breaker(),
            headroom: Headroom::default(),
            disabled: None,
            disabled_for: policy.disabled_for,
        }
    }

    /// Whether the key may be used at `now`, and with what weight factor. When several apply,
    /// the longest-lasting reason is reported: disabled, then breaker, then cooling.
    pub fn availability(&self, now: Instant) -> Availability {
        if let Some(d) = self.disabled.filter(|d| now < d.until) {
            return Availability::Disabled {
                reason: d.reason,
                until: d.until,
            };
        }
        if !self.breaker.is_admitting(now) {
            return Availability::BreakerOpen;
        }
        if let Some(until) = self.cooldown.cooling_until(now) {
            return Availability::Cooling { until };
        }
        Availability::Ready {
            weight_factor: self.headroom.factor(now),
        }
    }

    /// Takes leave to send a request with this key at `now`; `None` unless it is
    /// [`Availability::Ready`] (also when another request just took the breaker's only probe).
    pub fn try_acquire(&mut self, now: Instant) -> Option<KeyPermit> {
        if self.disabled.is_some_and(|d| now >= d.until) {
            self.disabled = None;
        }
        if self.disabled.is_some() || self.cooldown.is_cooling(now) {
            return None;
        }
        self.breaker.try_acquire(now).map(KeyPermit)
    }

    /// The request succeeded at `now`; `limits` is what its response said about the key's limits.
    pub fn on_success(&mut self, now: Instant, permit: KeyPermit, limits: &UpstreamLimits) {
        self.breaker.record_success(permit.0, now);
        self.cooldown.on_success();
        self.headroom.observe(now, limits);
    }

    /// The request failed at `now` with `class`. `wait_hint` is the upstream's wait (its
    /// `retry-after`, or the reset of an exhausted limit) and matters for `RateLimited` only.
    ///
    /// - `Transient` counts towards the key's breaker.
    /// - `RateLimited` cools the key (see [`KeyCooldown`]); the breaker is not touched, since a
    ///   429 proves the upstream is up.
    /// - `Credential` / `Quota` disable the key.
    /// - `Caller` says nothing about the key.
    pub fn on_failure(
        &mut self,
        now: Instant,
        permit: KeyPermit,
        class: FailureClass,
        wait_hint: Option<Duration>,
    ) {
        match class {
            FailureClass::Transient => self.breaker.record_failure(permit.0, now),
            FailureClass::RateLimited => {
                self.cooldown.on_rate_limited(now, wait_hint);
                self.breaker.release(permit.0);
            }
            FailureClass::Credential | FailureClass::Quota => {
                let reason = if class == FailureClass::Credential {
                    DisabledReason::Credential
                } else {
                    DisabledReason::Quota
                };
                self.disabled = Some(Disabled {
                    reason,
                    until: now.checked_add(self.disabled_for).unwrap_or(now),
                });
                self.breaker.release(permit.0);
            }
            FailureClass::Caller => self.breaker.release(permit.0),
        }
    }

    /// The request ended without an outcome that says anything about the key (the client went
    /// away, the deadline passed before sending).
    pub fn release(&mut self, permit: KeyPermit) {
        self.breaker.release(permit.0);
    }

    /// Records limits reported on a response that was not a success (a 429 carries
    /// `x-ratelimit-*` too).
    pub fn observe_limits(&mut self, now: Instant, limits: &UpstreamLimits) {
        self.headroom.observe(now, limits);
    }

    /// How long the key still cools at `now`: after a 429, the wait the dispatch decision
    /// should use as the upstream's hint (the hint itself, or the escalated default).
    pub fn cooldown_remaining(&self, now: Instant) -> Duration {
        self.cooldown.remaining(now)
    }

    /// The breaker's state at `now` (for metrics and the admin API).
    pub fn breaker_state(&self, now: Instant) -> BreakerState {
        self.breaker.state(now)
    }

    /// Puts a disabled key back in rotation at once: for a config snapshot that changed the
    /// key's value while keeping its name.
    pub fn enable(&mut self) {
        self.disabled = None;
    }
}

/// Leave to send a request to a provider; report its outcome with it.
#[must_use = "report the outcome with on_success, on_failure or release"]
#[derive(Debug, PartialEq, Eq)]
pub struct ProviderPermit(Permit);

/// A provider-wide breaker: consecutive transient failures across all its keys mean the
/// provider itself is down, so requests fail over to their fallbacks at once instead of trying
/// every key first.
///
/// ```
/// use std::time::Instant;
/// use sluice_core::FailureClass;
/// use sluice_core::key_health::{HealthPolicy, ProviderHealth};
/// let t0 = Instant::now();
/// let policy = HealthPolicy { breaker_failure_threshold: 2, ..HealthPolicy::default() };
/// let mut openai = ProviderHealth::new(&policy);
/// for _ in 0..2 {
///     let p = openai.try_acquire(t0).unwrap();
///     openai.on_failure(t0, p, FailureClass::Transient);
/// }
/// assert!(!openai.is_available(t0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderHealth {
    breaker: CircuitBreaker,
}

impl ProviderHealth {
    pub fn new(policy: &HealthPolicy) -> Self {
        ProviderHealth {
            breaker: policy.breaker(),
        }
    }

    /// Whether a request may be sent to the provider at `now`.
    pub fn is_available(&self, now: Instant) -> bool {
        self.breaker.is_admitting(now)
    }

    /// The breaker's state at `now` (for metrics and the admin API).
    pub fn state(&self, now: Instant) -> BreakerState {
        self.breaker.state(now)
    }

    /// Takes leave to send one request to the provider; `None` while its breaker is open.
    pub fn try_acquire(&mut self, now: Instant) -> Option<ProviderPermit> {
        self.breaker.try_acquire(now).map(ProviderPermit)
    }

    /// A request to the provider succeeded (with any key).
    pub fn on_success(&mut self, now: Instant, permit: ProviderPermit) {
        self.breaker.record_success(permit.0, now);
    }

    /// A request to the provider failed. Only `Transient` counts: 429s, bad keys and bad
    /// requests are about one key or one request, not the provider.
    pub fn on_failure(&mut self, now: Instant, permit: ProviderPermit, class: FailureClass) {
        match class {
            FailureClass::Transient => self.breaker.record_failure(permit.0, now),
            _ => self.breaker.release(permit.0),
        }
    }

    /// The request ended without an outcome about the provider.
    pub fn release(&mut self, permit: ProviderPermit) {
        self.breaker.release(permit.0);
    }
}

#[cfg(test)]
mod tests;

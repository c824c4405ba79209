//! The dispatch decision: after an attempt fails, retry (which key, after how long), fail over to
//! the plan's next target, or give up. A pure function of what the data plane knows at that
//! moment, so every rule is a row in a table test.
//!
//! | failure class | another key ready | what happens |
//! |---|---|---|
//! | `Caller` (400/404/413/422) | any | give up: the request itself is wrong |
//! | `Credential` / `Quota` (401/403/402) | yes | other key at once; no retry or budget spent |
//! | `Credential` / `Quota` | no | fail over |
//! | `RateLimited` (429) | yes | other key at once (spends the retry budget) |
//! | `RateLimited` | no | same key after its cooldown, if retries remain and it fits the deadline; else fail over |
//! | `Transient` (timeouts, 5xx) | any | back off then retry (another key if one is ready) while retries remain; else fail over |
//!
//! Across every row: no time left → give up; provider breaker open → fail over; a retry the
//! budget refuses → fail over (trying another provider is not a retry); a wait that would not
//! end before the deadline → fail over.
//!
//! Switching keys after a credential or quota failure spends neither `max_retries` nor the retry
//! budget: the failing key is disabled, so such switches are bounded by the number of keys, and
//! they say nothing about the upstream's load. A switch after a 429 is bounded the same way (the
//! key cools) but does spend the budget: when a provider limits a whole organisation, every key
//! answers 429 and unbudgeted switching would multiply the load by the number of keys.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::failure::FailureClass;

/// What the data plane knows right after an attempt on a target failed (and after it has
/// recorded the failure in `KeyHealth` / `ProviderHealth`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailedAttempt {
    pub class: FailureClass,
    /// 1-based number of the attempt on this target that just failed (every attempt on the
    /// target counts, whatever key it used).
    pub attempt: u32,
    /// The target's `network_config.max_retries`: attempts beyond the first that may wait for
    /// the same target.
    pub max_retries: u32,
    /// The target's backoff (`Backoff::from_network`).
    pub backoff: Backoff,
    /// Uniform in `[0, 1)` for the backoff's jitter.
    pub jitter_u: f64,
    /// How long the upstream asked to wait: for `RateLimited`, the key's
    /// `KeyHealth::cooldown_remaining` (the `retry-after`, or the escalated default); for
    /// `Transient`, a `retry-after` on a 503, if any.
    pub upstream_wait: Option<Duration>,
    /// Time left before the request's deadline.
    pub remaining_deadline: Duration,
    /// Whether another key of the same provider (not the one that failed) is ready now.
    pub other_key_available: bool,
    /// Whether the provider's breaker admits requests now (`ProviderHealth::is_available`).
    pub provider_available: bool,
    /// Whether the retry budget has room (`RetryBudget::can_withdraw`).
    pub retry_budget_allows: bool,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait `after`, then try the same key again. If it cannot be acquired by then (its breaker
    /// opened, another request took its probe), use any ready key of the provider, else fail over.
    RetrySameKey { after: Duration },
    /// Wait `after` (zero: at once), then try another ready key of the same provider.
    RetryOtherKey { after: Duration },
    /// Move to the plan's next target; answer with the last error if there is none.
    FailOver,
    /// Answer the client with this error now.
    GiveUp,
}

impl Next {
    /// Whether acting on this decision spends the retry budget: call `RetryBudget::try_withdraw`
    /// first, and treat a refusal (another request took the last retry) as [`Next::FailOver`].
    pub fn spends_retry_budget(&self, class: FailureClass) -> bool {
        matches!(self, Next::RetrySameKey { .. } | Next::RetryOtherKey { .. })
            && !matches!(class, FailureClass::Credential | FailureClass::Quota)
    }
}

/// Decides what follows a failed attempt; see the module documentation for the rules.
///
/// ```
/// use std::time::Duration;
/// use sluice_core::FailureClass;
/// use sluice_core::backoff::Backoff;
/// use sluice_core::dispatch::{FailedAttempt, Next, next_step};
/// let failed = FailedAttempt {
///     class: FailureClass::RateLimited,
///     attempt: 1,
///     max_retries: 2,
///     backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(10)),
///     jitter_u: 0.5,
///     upstream_wait: Some(Duration::from_secs(2)),
///     remaining_deadline: Duration::from_secs(60),
///     other_key_available: false,
///     provider_available: true,
///     retry_budget_allows: true,
/// };
/// assert_eq!(next_step(&failed), Next::RetrySameKey { after: Duration::from_secs(2) });
/// let sibling = FailedAttempt { other_key_available: true, ..failed };
/// assert_eq!(next_step(&sibling), Next::RetryOtherKey { after: Duration::ZERO });
/// ```
pub fn next_step(f: &FailedAttempt) -> Next {
    if f.class == FailureClass::Caller || f.remaining_deadline.is_zero() {
        return Next::GiveUp;
    }
    if !f.provider_available {
        return Next::FailOver;
    }
    let retries_left = f.attempt <= f.max_retries;
    // A wait is only worth it if the attempt after it can still start before the deadline.
    let fits = |after: Duration| after < f.remaining_deadline;
    match f.class {
        FailureClass::Caller => Next::GiveUp,
        FailureClass::Credential | FailureClass::Quota => {
            if f.other_key_available {
                Next::RetryOtherKey {
                    after: Duration::ZERO,
                }
            } else {
                Next::FailOver
            }
        }
        FailureClass::RateLimited => {
            if !f.retry_budget_allows {
                return Next::FailOver;
            }
            if f.other_key_available {
                return Next::RetryOtherKey {
                    after: Duration::ZERO,
                };
            }
            let after = f
                .backoff
                .retry_delay(f.attempt, f.jitter_u, f.upstream_wait);
            if retries_left && fits(after) {
                Next::RetrySameKey { after }
            } else {
                Next::FailOver
            }
        }
        FailureClass::Transient => {
            if !retries_left || !f.retry_budget_allows {
                return Next::FailOver;
            }
            let after = f
                .backoff
                .retry_delay(f.attempt, f.jitter_u, f.upstream_wait);
            if !fits(after) {
                Next::FailOver
            } else if f.other_key_available {
                Next::RetryOtherKey { after }
            } else {
                Next::RetrySameKey { after }
            }
        }
    }
}

#[cfg(test)]
mod tests;

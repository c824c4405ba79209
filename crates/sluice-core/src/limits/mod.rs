//! Limits and budgets: the sans-IO heart of the admit and settle stages.
//!
//! A request is charged to several [`Scope`]s at once — the provider config inside its virtual
//! key, the virtual key, its team, its customer — and must fit in every limit of every one of them
//! ([`ChargeList`]). Each scope may have a request window, a token window and a USD budget
//! ([`LimitSpec`]). The [`Limiter`] keeps the counters; limits themselves come from the spec
//! passed with every call, so a new config applies at once and never loses usage.
//!
//! # Semantics (what every backend must implement)
//!
//! The in-memory [`Limiter`] is the reference; a Redis backend must give the same answers, doing
//! each of `reserve` and `settle` as **one atomic script** over all the keys of the charge list,
//! with Redis's clock.
//!
//! **Counters.** Per `(scope, kind)`:
//! - `requests` and `tokens`: a [`SlidingWindow`] of `max` units over a fixed `window`, kept as
//!   buckets of width `g = ⌈window / 60⌉`. A unit recorded in bucket `b` (bucket of time `t` is
//!   `⌊t / g⌋`) counts until bucket `b + 61` begins, i.e. for between `window` and `window + g`
//!   after it was recorded. Counting is therefore conservative: **in any trailing interval of
//!   length `window`, the units recorded never exceed `max`** at the moment a reservation is
//!   admitted (bound 0); the only price is that capacity frees up to `g` late (1 s for `1m`).
//!   (Redis: one hash per key, field = absolute bucket index, expiring `61 · g` after the
//!   bucket begins.)
//! - `budget_usd`: micro-USD spent in the current period ([`BudgetCounter`]); calendar periods
//!   (`1M`, `1Y`) start at UTC month/year boundaries, fixed ones (`1d`, `1w`, ...) are aligned to
//!   the Unix epoch (weeks to Mondays). (Redis: one counter per `(scope, period_start)`, expiring
//!   at the period end.)
//!
//! **reserve(charges)** — check, then apply, all-or-nothing:
//! 1. For every scope and every limit its spec declares, it fits if
//!    `used + amount ≤ max` (amount: 1 request, the estimated tokens, the estimated cost).
//! 2. If any does not fit, nothing is written and the [`Refusal`] names one failing limit: a
//!    budget if any budget failed (a 402: waiting a few seconds will not help), otherwise the
//!    rate limit with the longest wait.
//! 3. Otherwise every amount is added to the current bucket / period, and the [`Reservation`]
//!    remembers where (bucket index, period start) so that settling refunds the right place.
//!
//! **settle(reservation, actual)** — never refused:
//! - tokens and cost: `delta = actual − reserved`. A refund (`delta < 0`) is subtracted from the
//!   bucket / period the reservation was recorded in, *if that is still counted* (an expired
//!   bucket or a finished period has already freed it), and never below zero. An extra debit
//!   (`delta > 0`) is added to the current bucket / period even if it takes usage over `max`:
//!   the tokens were spent, and the next reservation is refused until the window slides.
//! - the request: refunded only if the upstream was never called (cache hit, refused before
//!   dispatch); a failed upstream call still counts as a request.
//!
//! A reservation that is dropped without settling keeps everything it reserved (fail safe).
//!
//! **Worst-case overshoot.** At the instant any reservation is admitted, the usage recorded in
//! every trailing window of every limit it charges is ≤ `max` (the bound is 0, extra debits
//! included). Between admissions, only settlements add usage, so in any trailing window
//! `usage ≤ max + Σ (actual − reserved)⁺` over the requests that were in flight (admitted and
//! not yet settled) at the last admission. With `C` concurrent requests each reserving
//! `prompt estimate + max_tokens`, and `max_tokens` enforced upstream, each term is at most the
//! prompt estimate's error, so the overshoot is `C × (largest prompt under-estimate)` — tokens
//! for BPE-counted OpenAI models are exact up to the documented per-message overheads. Budgets
//! behave the same with cost in place of tokens.
//!
//! **Config changes.** A changed `max` applies at the next call. A changed window length
//! re-buckets conservatively (current usage is held one full new window). A changed budget
//! period lets the current period run to its end, then follows the new one.

pub mod budget;
pub mod calendar;
pub mod refusal;
pub mod reservation;
pub mod usage;
pub mod window;

pub use budget::{BudgetCounter, BudgetSlot, MicroUsd, micros_to_usd, usd_to_micros};
pub use refusal::Refusal;
pub use reservation::{Actual, ChargeList, Limiter, Reservation};
pub use usage::{LimitHeadroom, LimitUsage, ScopedUsage};
pub use window::{SlidingWindow, WindowSlot};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::governance::{Budget, RateLimit, ResetDuration};

/// What kind of entity a limit belongs to (the `scope` label of `sluice_rate_limit_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// One entry of a virtual key's `provider_configs`.
    ProviderConfig,
    VirtualKey,
    Team,
    Customer,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::ProviderConfig => "provider_config",
            ScopeKind::VirtualKey => "virtual_key",
            ScopeKind::Team => "team",
            ScopeKind::Customer => "customer",
        }
    }
}

/// One entity whose limits a request is charged to.
///
/// ```
/// use sluice_core::limits::{Scope, ScopeKind};
/// let pc = Scope::provider_config("vk-prod", "openai");
/// assert_eq!(pc.kind, ScopeKind::ProviderConfig);
/// assert_eq!(&*pc.id, "vk-prod/openai");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub kind: ScopeKind,
    /// The entity's id; for a provider config, `"{virtual key id}/{provider}"`.
    pub id: Arc<str>,
}

impl Scope {
    pub fn new(kind: ScopeKind, id: impl Into<Arc<str>>) -> Self {
        Scope {
            kind,
            id: id.into(),
        }
    }

    pub fn virtual_key(id: &str) -> Self {
        Scope::new(ScopeKind::VirtualKey, id)
    }

    pub fn team(id: &str) -> Self {
        Scope::new(ScopeKind::Team, id)
    }

    pub fn customer(id: &str) -> Self {
        Scope::new(ScopeKind::Customer, id)
    }

    /// The provider config for `provider` inside virtual key `vk_id`.
    pub fn provider_config(vk_id: &str, provider: &str) -> Self {
        Scope::new(ScopeKind::ProviderConfig, format!("{vk_id}/{provider}"))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ScopeKind::ProviderConfig => "provider config",
            ScopeKind::VirtualKey => "virtual key",
            ScopeKind::Team => "team",
            ScopeKind::Customer => "customer",
        };
        write!(f, "{what} '{}'", self.id)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Scope", 2)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("id", &*self.id)?;
        st.end()
    }
}

/// Which limit of a scope (the `kind` label of `sluice_rate_limit_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    Requests,
    Tokens,
    /// Counted in micro-USD.
    BudgetUsd,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
            LimitKind::BudgetUsd => "budget_usd",
        }
    }
}

/// `max` units over a sliding window of fixed length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    pub max: u64,
    pub window: Duration,
}

/// `max_micros` micro-USD per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimit {
    pub max_micros: MicroUsd,
    pub reset: ResetDuration,
}

/// The limits of one scope. Cheap to copy; build it once per snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitSpec {
    pub requests: Option<WindowLimit>,
    pub tokens: Option<WindowLimit>,
    pub budget: Option<BudgetLimit>,
}

/// A rate limit or budget the limiter cannot enforce (config validation rejects these first).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LimitSpecError {
    #[error(
        "{kind}_reset_duration '{duration}' is a calendar period; rate limits slide over a fixed window (s, m, h, d, w)"
    )]
    CalendarWindow {
        kind: &'static str,
        duration: ResetDuration,
    },
    #[error("{kind}_max_limit needs a {kind}_reset_duration")]
    MissingWindow { kind: &'static str },
    #[error("budget max_limit {0} is not a positive number of USD")]
    BadBudget(f64),
}

impl LimitSpec {
    /// No limits at all.
    pub fn unlimited() -> Self {
        LimitSpec::default()
    }

    pub fn is_unlimited(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none() && self.budget.is_none()
    }

    /// The spec of a scope's `rate_limit` and `budget` config.
    ///
    /// ```
    /// use sluice_core::governance::RateLimit;
    /// use sluice_core::limits::LimitSpec;
    /// let rl = RateLimit {
    ///     request_max_limit: Some(5),
    ///     request_reset_duration: Some("1m".parse().unwrap()),
    ///     ..Default::default()
    /// };
    /// let spec = LimitSpec::from_config(Some(&rl), None).unwrap();
    /// assert_eq!(spec.requests.unwrap().max, 5);
    /// ```
    pub fn from_config(
        rate_limit: Option<&RateLimit>,
        budget: Option<&Budget>,
    ) -> Result<LimitSpec, LimitSpecError> {
        let window =
            |max: Option<u64>, dur: Option<ResetDuration>, kind: &'static str| match (max, dur) {
                (None, _) => Ok(None),
                (Some(_), None) => Err(LimitSpecError::MissingWindow { kind }),
                (Some(max), Some(d)) => match d.fixed() {
                    Some(window) => Ok(Some(WindowLimit { max, window })),
                    None => Err(LimitSpecError::CalendarWindow { kind, duration: d }),
                },
            };
        let (requests, tokens) = match rate_limit {
            Some(rl) => (
                window(rl.request_max_limit, rl.request_reset_duration, "request")?,
                window(rl.token_max_limit, rl.token_reset_duration, "token")?,
            ),
            None => (None, None),
        };
        let budget = match budget {
            Some(b) => Some(BudgetLimit {
                max_micros: usd_to_micros(b.max_limit)
                    .filter(|m| *m > 0)
                    .ok_or(LimitSpecError::BadBudget(b.max_limit))?,
                reset: b.reset_duration,
            }),
            None => None,
        };
        Ok(LimitSpec {
            requests,
            tokens,
            budget,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_from_config_converts_usd_to_micros() {
        let b = Budget {
            max_limit: 12.345_678_9,
            reset_duration: ResetDuration::Months(1),
        };
        let spec = LimitSpec::from_config(None, Some(&b)).unwrap();
        assert_eq!(spec.budget.unwrap().max_micros, 12_345_679);
        assert!(spec.requests.is_none() && spec.tokens.is_none());
    }

    #[test]
    fn calendar_rate_window_is_rejected_not_guessed() {
        let rl = RateLimit {
            token_max_limit: Some(10),
            token_reset_duration: Some(ResetDuration::Months(1)),
            ..Default::default()
        };
        let e = LimitSpec::from_config(Some(&rl), None).unwrap_err();
        assert!(matches!(
            e,
            LimitSpecError::CalendarWindow { kind: "token", .. }
        ));
    }

    #[test]
    fn scopes_display_and_serialize_with_their_kind() {
        let s = Scope::team("eng");
        assert_eq!(s.to_string(), "team 'eng'");
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"kind": "team", "id": "eng"})
        );
        assert_eq!(LimitKind::BudgetUsd.as_str(), "budget_usd");
    }
}

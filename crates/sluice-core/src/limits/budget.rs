//! USD budgets: exact integer micro-USD spent per period, periods on the UTC calendar
//! ([`calendar`](super::calendar)).
//!
//! Money is an `i64` of micro-USD (10⁻⁶ USD; ±9.2 × 10¹² USD of range). Config values (`f64`
//! USD) are converted once with [`usd_to_micros`]; nothing is ever accumulated in floating point,
//! so a budget is exact after any number of requests. Time is Unix milliseconds, not `Instant`,
//! because period boundaries are wall-clock dates.

use std::time::Duration;

use super::BudgetLimit;
use super::calendar::period_bounds;
use crate::governance::ResetDuration;

/// Micro-USD: 1 USD = 1 000 000.
pub type MicroUsd = i64;

/// `usd` in micro-USD, rounded to the nearest; `None` for NaN, infinities, negative amounts and
/// amounts beyond `i64`.
///
/// ```
/// use sluice_core::limits::usd_to_micros;
/// assert_eq!(usd_to_micros(0.15), Some(150_000));
/// assert_eq!(usd_to_micros(10_000.0), Some(10_000_000_000));
/// assert_eq!(usd_to_micros(-1.0), None);
/// ```
pub fn usd_to_micros(usd: f64) -> Option<MicroUsd> {
    let micros = (usd * 1e6).round();
    // i64::MAX as f64 rounds up to 2^63, which is out of range: compare strictly.
    (micros.is_finite() && micros >= 0.0 && micros < i64::MAX as f64).then_some(micros as i64)
}

/// Micro-USD as USD, for display and metrics only.
pub fn micros_to_usd(micros: MicroUsd) -> f64 {
    micros as f64 / 1e6
}

/// Where a reservation was charged: the period it was recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BudgetSlot {
    pub period_start_ms: i64,
}

/// Spending of one scope in its current period.
///
/// The period is stored with the counter, so a config change of the reset duration lets the
/// current period run to its end (usage is never dropped early), and the next period follows
/// the new duration.
///
/// ```
/// use sluice_core::limits::{BudgetCounter, BudgetLimit};
/// use sluice_core::limits::calendar::{days_from_civil, MS_PER_DAY};
/// let limit = BudgetLimit { max_micros: 5_000_000, reset: "1M".parse().unwrap() };
/// let jan_31 = days_from_civil(2025, 1, 31) * MS_PER_DAY;
/// let mut b = BudgetCounter::default();
/// assert!(b.reserve(&limit, jan_31, 5_000_000).is_some());
/// assert!(b.reserve(&limit, jan_31, 1).is_none());
/// let feb_1 = days_from_civil(2025, 2, 1) * MS_PER_DAY;
/// assert_eq!(b.used(limit.reset, feb_1), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetCounter {
    period: Option<Period>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Period {
    start_ms: i64,
    /// `None` for usage restored from the ledger: the end follows from the reset duration at the
    /// first use.
    end_ms: Option<i64>,
    used: MicroUsd,
}

impl Period {
    fn end(&self, reset: ResetDuration) -> i64 {
        self.end_ms
            .unwrap_or_else(|| period_bounds(reset, self.start_ms).1)
    }

    fn is_current(&self, reset: ResetDuration, now_ms: i64) -> bool {
        now_ms < self.end(reset)
    }
}

impl BudgetCounter {
    /// Micro-USD spent in the period of `now_ms` (may exceed the max after extra debits).
    pub fn used(&self, reset: ResetDuration, now_ms: i64) -> MicroUsd {
        self.current(reset, now_ms).map_or(0, |p| p.used)
    }

    /// `[start, end)` of the current period, in Unix ms.
    pub fn period(&self, reset: ResetDuration, now_ms: i64) -> (i64, i64) {
        match self.current(reset, now_ms) {
            Some(p) => (p.start_ms, p.end(reset)),
            None => period_bounds(reset, now_ms),
        }
    }

    /// Time until the current period ends and usage resets to zero.
    pub fn reset_in(&self, reset: ResetDuration, now_ms: i64) -> Duration {
        let end = self.period(reset, now_ms).1;
        Duration::from_millis(u64::try_from(end.saturating_sub(now_ms)).unwrap_or(0))
    }

    /// Whether `amount` more fits under `limit` at `now_ms`.
    pub fn fits(&self, limit: &BudgetLimit, now_ms: i64, amount: MicroUsd) -> bool {
        self.used(limit.reset, now_ms)
            .checked_add(amount.max(0))
            .is_some_and(|total| total <= limit.max_micros)
    }

    /// How long until `amount` fits: zero if it fits now, the period end if it fits an empty
    /// budget, `None` if it never will (`amount > max`).
    pub fn retry_in(&self, limit: &BudgetLimit, now_ms: i64, amount: MicroUsd) -> Option<Duration> {
        if amount > limit.max_micros {
            None
        } else if self.fits(limit, now_ms, amount) {
            Some(Duration::ZERO)
        } else {
            Some(self.reset_in(limit.reset, now_ms))
        }
    }

    /// Charges `amount` at `now_ms` if it fits; `None` changes nothing.
    pub fn reserve(
        &mut self,
        limit: &BudgetLimit,
        now_ms: i64,
        amount: MicroUsd,
    ) -> Option<BudgetSlot> {
        if !self.fits(limit, now_ms, amount) {
            return None;
        }
        Some(self.debit(limit.reset, now_ms, amount))
    }

    /// Charges `amount` at `now_ms` whether or not it fits: an extra debit at settle time.
    pub fn debit(&mut self, reset: ResetDuration, now_ms: i64, amount: MicroUsd) -> BudgetSlot {
        let period = self.roll(reset, now_ms);
        period.used = period.used.saturating_add(amount.max(0));
        BudgetSlot {
            period_start_ms: period.start_ms,
        }
    }

    /// Gives back up to `amount` charged at `slot` if that period is still the current one (a
    /// finished period has reset already). Returns what was refunded; usage never goes below 0.
    pub fn refund(
        &mut self,
        reset: ResetDuration,
        now_ms: i64,
        slot: BudgetSlot,
        amount: MicroUsd,
    ) -> MicroUsd {
        let period = self.roll(reset, now_ms);
        if period.start_ms != slot.period_start_ms {
            return 0;
        }
        let refunded = amount.clamp(0, period.used);
        period.used -= refunded;
        refunded
    }

    /// Restores usage recorded in the ledger for the period that starts at `period_start_ms`.
    ///
    /// Ignored if that period has ended by `now_ms`. If this counter already has usage in the
    /// same period (traffic served before the restore), the larger of the two is kept, so a
    /// repeated restore is harmless.
    pub fn restore(
        &mut self,
        reset: ResetDuration,
        now_ms: i64,
        period_start_ms: i64,
        used: MicroUsd,
    ) {
        let restored = Period {
            start_ms: period_start_ms,
            end_ms: None,
            used: used.max(0),
        };
        if !restored.is_current(reset, now_ms) {
            return;
        }
        match self.current(reset, now_ms) {
            Some(p) if p.start_ms == period_start_ms => {
                let used = p.used.max(restored.used);
                if let Some(p) = self.period.as_mut() {
                    p.used = used;
                }
            }
            _ => self.period = Some(restored),
        }
    }

    fn current(&self, reset: ResetDuration, now_ms: i64) -> Option<&Period> {
        self.period.as_ref().filter(|p| p.is_current(reset, now_ms))
    }

    /// The current period, opening a new one (with zero usage) when the stored one has ended.
    fn roll(&mut self, reset: ResetDuration, now_ms: i64) -> &mut Period {
        let period = match self.period.take() {
            Some(p) if p.is_current(reset, now_ms) => p,
            _ => {
                let (start_ms, end_ms) = period_bounds(reset, now_ms);
                Period {
                    start_ms,
                    end_ms: Some(end_ms),
                    used: 0,
                }
            }
        };
        let period = self.period.insert(period);
        if period.end_ms.is_none() {
            period.end_ms = Some(period_bounds(reset, period.start_ms).1);
        }
        period
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::calendar::{MS_PER_DAY, days_from_civil};

    fn day(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d) * MS_PER_DAY
    }

    fn monthly(max_usd: f64) -> BudgetLimit {
        BudgetLimit {
            max_micros: usd_to_micros(max_usd).unwrap(),
            reset: ResetDuration::Months(1),
        }
    }

    #[test]
    fn usd_converts_to_exact_micros() {
        assert_eq!(usd_to_micros(0.000_000_4), Some(0));
        assert_eq!(usd_to_micros(0.000_000_5), Some(1));
        assert_eq!(usd_to_micros(5000.0), Some(5_000_000_000));
        assert_eq!(usd_to_micros(f64::NAN), None);
        assert_eq!(usd_to_micros(f64::INFINITY), None);
        assert_eq!(usd_to_micros(1e20), None);
    }

    #[test]
    fn a_million_tiny_charges_add_up_exactly() {
        let limit = monthly(1.0);
        let mut b = BudgetCounter::default();
        let now = day(2025, 6, 1);
        for _ in 0..1_000_000 {
            b.debit(limit.reset, now, 1);
        }
        assert_eq!(b.used(limit.reset, now), 1_000_000);
        assert!(!b.fits(&limit, now, 1));
    }

    #[test]
    fn budget_resets_at_the_calendar_month_boundary() {
        let limit = monthly(10.0);
        let mut b = BudgetCounter::default();
        b.reserve(&limit, day(2025, 1, 15), 10_000_000).unwrap();
        let last_ms = day(2025, 2, 1) - 1;
        assert!(b.reserve(&limit, last_ms, 1).is_none());
        assert_eq!(b.reset_in(limit.reset, last_ms), Duration::from_millis(1));
        assert!(b.reserve(&limit, day(2025, 2, 1), 1).is_some());
        assert_eq!(b.period(limit.reset, day(2025, 2, 1)).0, day(2025, 2, 1));
    }

    #[test]
    fn refund_in_the_same_period_returns_money() {
        let limit = monthly(10.0);
        let mut b = BudgetCounter::default();
        let now = day(2025, 1, 15);
        let slot = b.reserve(&limit, now, 3_000_000).unwrap();
        assert_eq!(b.refund(limit.reset, now, slot, 2_500_000), 2_500_000);
        assert_eq!(b.used(limit.reset, now), 500_000);
        assert_eq!(
            b.refund(limit.reset, now, slot, 9_000_000),
            500_000,
            "never below 0"
        );
    }

    #[test]
    fn refund_after_the_period_ended_changes_nothing() {
        let limit = monthly(10.0);
        let mut b = BudgetCounter::default();
        let slot = b.reserve(&limit, day(2025, 1, 31), 3_000_000).unwrap();
        b.debit(limit.reset, day(2025, 2, 1), 1_000_000);
        assert_eq!(b.refund(limit.reset, day(2025, 2, 2), slot, 3_000_000), 0);
        assert_eq!(b.used(limit.reset, day(2025, 2, 2)), 1_000_000);
    }

    #[test]
    fn retry_in_is_the_period_end_or_never() {
        let limit = monthly(1.0);
        let mut b = BudgetCounter::default();
        let now = day(2025, 1, 31);
        b.debit(limit.reset, now, 900_000);
        assert_eq!(b.retry_in(&limit, now, 100_000), Some(Duration::ZERO));
        assert_eq!(
            b.retry_in(&limit, now, 200_000),
            Some(Duration::from_millis(MS_PER_DAY as u64))
        );
        assert_eq!(b.retry_in(&limit, now, 1_000_001), None);
    }

    #[test]
    fn restored_usage_counts_until_its_period_ends() {
        let limit = monthly(10.0);
        let mut b = BudgetCounter::default();
        b.restore(limit.reset, day(2025, 3, 20), day(2025, 3, 1), 9_000_000);
        assert_eq!(b.used(limit.reset, day(2025, 3, 20)), 9_000_000);
        assert!(b.reserve(&limit, day(2025, 3, 20), 2_000_000).is_none());
        assert_eq!(b.used(limit.reset, day(2025, 4, 1)), 0);
    }

    #[test]
    fn restore_of_an_ended_period_is_ignored_and_repeats_are_harmless() {
        let limit = monthly(10.0);
        let mut b = BudgetCounter::default();
        let now = day(2025, 3, 20);
        b.restore(limit.reset, now, day(2025, 2, 1), 9_000_000);
        assert_eq!(b.used(limit.reset, now), 0);
        b.debit(limit.reset, now, 1_000_000);
        b.restore(limit.reset, now, day(2025, 3, 1), 4_000_000);
        b.restore(limit.reset, now, day(2025, 3, 1), 4_000_000);
        assert_eq!(b.used(limit.reset, now), 4_000_000);
    }

    #[test]
    fn a_changed_reset_duration_lets_the_current_period_finish() {
        let mut b = BudgetCounter::default();
        let monthly = ResetDuration::Months(1);
        b.debit(monthly, day(2025, 3, 20), 7);
        let yearly = ResetDuration::Years(1);
        assert_eq!(b.used(yearly, day(2025, 3, 31)), 7);
        assert_eq!(b.used(yearly, day(2025, 4, 1)), 0);
        b.debit(yearly, day(2025, 4, 1), 1);
        assert_eq!(
            b.period(yearly, day(2025, 4, 1)),
            (day(2025, 1, 1), day(2026, 1, 1))
        );
    }
}

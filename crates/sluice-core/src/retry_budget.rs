//! A retry budget: retries may be at most a fraction of recent requests (plus a small reserve),
//! so when an upstream degrades, retries cannot multiply the load on it (a retry storm).
//!
//! Like Finagle's and linkerd's budgets: over a sliding window of [`RETRY_BUDGET_WINDOW`], kept
//! as one-second buckets, retries are allowed while
//! `retries ≤ ratio × requests + min_per_sec × window seconds`.
//! The reserve (`min_per_sec × 10` by default) lets a quiet gateway retry; a burst may spend it at
//! once. The window slides a whole second at a time, so it covers between 9 and 10 seconds.

use std::time::{Duration, Instant};

use crate::config::DispatchConfig;

/// Length of the sliding window.
pub const RETRY_BUDGET_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bucket {
    /// Seconds since the budget's origin this bucket counts; stale buckets are reset on write.
    second: u64,
    requests: u64,
    retries: u64,
}

/// Retry budget shared by all requests (of the gateway, or of one provider).
///
/// Call [`RetryBudget::record_request`] once per client request (not per attempt) and
/// [`RetryBudget::try_withdraw`] before every retry; a refused withdrawal means "fail over or give
/// up instead".
///
/// ```
/// use std::time::{Duration, Instant};
/// use sluice_core::retry_budget::RetryBudget;
/// let t0 = Instant::now();
/// let mut budget = RetryBudget::new(0.2, 0, Duration::from_secs(10));
/// for _ in 0..10 {
///     budget.record_request(t0);
/// }
/// assert!(budget.try_withdraw(t0));
/// assert!(budget.try_withdraw(t0));
/// assert!(!budget.try_withdraw(t0), "20% of 10 requests is 2 retries");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: u32,
    buckets: Vec<Bucket>,
    /// Set by the first call; bucket seconds count from here.
    origin: Option<Instant>,
}

impl RetryBudget {
    /// Retries up to `ratio` of the requests over `window` (rounded up to whole seconds, at least
    /// one), plus `min_per_sec` per second of the window. A negative or NaN ratio counts as 0.
    pub fn new(ratio: f64, min_per_sec: u32, window: Duration) -> Self {
        let seconds = window.as_secs() + u64::from(window.subsec_nanos() > 0);
        RetryBudget {
            ratio: if ratio.is_nan() { 0.0 } else { ratio.max(0.0) },
            min_per_sec,
            buckets: vec![Bucket::default(); seconds.max(1) as usize],
            origin: None,
        }
    }

    /// From `dispatch.retry_budget_ratio` and `dispatch.retry_budget_min_per_sec`, over
    /// [`RETRY_BUDGET_WINDOW`].
    pub fn from_dispatch(dispatch: &DispatchConfig) -> Self {
        RetryBudget::new(
            dispatch.retry_budget_ratio,
            dispatch.retry_budget_min_per_sec,
            RETRY_BUDGET_WINDOW,
        )
    }

    /// Counts one client request at `now` (it earns `ratio` of a retry).
    pub fn record_request(&mut self, now: Instant) {
        self.bucket_mut(now).requests += 1;
    }

    /// Whether a retry at `now` fits the budget, without spending it: for the dispatch decision,
    /// which then spends it with [`RetryBudget::try_withdraw`] only if it chose to retry.
    pub fn can_withdraw(&self, now: Instant) -> bool {
        let (requests, retries) = self.totals(now);
        (retries + 1) as f64 <= self.allowance(requests)
    }

    /// Spends one retry at `now` if the budget allows; `false` means do not retry.
    pub fn try_withdraw(&mut self, now: Instant) -> bool {
        if !self.can_withdraw(now) {
            return false;
        }
        self.bucket_mut(now).retries += 1;
        true
    }

    /// Whole retries still available at `now` (for metrics).
    pub fn remaining(&self, now: Instant) -> u64 {
        let (requests, retries) = self.totals(now);
        (self.allowance(requests) - retries as f64).max(0.0).floor() as u64
    }

    fn allowance(&self, requests: u64) -> f64 {
        let reserve = f64::from(self.min_per_sec) * self.buckets.len() as f64;
        self.ratio * requests as f64 + reserve
    }

    fn second(&self, now: Instant) -> u64 {
        self.origin
            .map_or(0, |origin| now.saturating_duration_since(origin).as_secs())
    }

    /// Requests and retries in the window ending at `now`'s second.
    fn totals(&self, now: Instant) -> (u64, u64) {
        let current = self.second(now);
        let span = self.buckets.len() as u64;
        self.buckets
            .iter()
            .filter(|b| b.second <= current && current - b.second < span)
            .fold((0, 0), |(req, ret), b| (req + b.requests, ret + b.retries))
    }

    fn bucket_mut(&mut self, now: Instant) -> &mut Bucket {
        let origin = *self.origin.get_or_insert(now);
        let second = now.saturating_duration_since(origin).as_secs();
        let len = self.buckets.len() as u64;
        let bucket = &mut self.buckets[(second % len) as usize];
        if bucket.second != second {
            *bucket = Bucket {
                second,
                requests: 0,
                retries: 0,
            };
        }
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn budget(ratio: f64, min_per_sec: u32) -> RetryBudget {
        RetryBudget::new(ratio, min_per_sec, secs(10))
    }

    fn withdraw_all(b: &mut RetryBudget, now: Instant) -> u32 {
        let mut n = 0;
        while b.try_withdraw(now) {
            n += 1;
            assert!(n < 100_000, "budget never ran out");
        }
        n
    }

    #[test]
    fn retries_are_capped_at_the_ratio_of_requests() {
        let t0 = Instant::now();
        let mut b = budget(0.2, 0);
        for _ in 0..100 {
            b.record_request(t0);
        }
        assert_eq!(b.remaining(t0), 20);
        assert_eq!(withdraw_all(&mut b, t0), 20);
        assert_eq!(b.remaining(t0), 0);
    }

    #[test]
    fn reserve_allows_retries_with_no_traffic() {
        let t0 = Instant::now();
        let mut b = budget(0.2, 3);
        assert!(b.can_withdraw(t0));
        // 3 per second over the 10-second window.
        assert_eq!(withdraw_all(&mut b, t0), 30);
    }

    #[test]
    fn zero_ratio_and_zero_reserve_never_retries() {
        let t0 = Instant::now();
        let mut b = budget(0.0, 0);
        b.record_request(t0);
        assert!(!b.try_withdraw(t0));
    }

    #[test]
    fn can_withdraw_does_not_spend() {
        let t0 = Instant::now();
        let mut b = budget(0.5, 0);
        b.record_request(t0);
        b.record_request(t0);
        for _ in 0..5 {
            assert!(b.can_withdraw(t0));
        }
        assert!(b.try_withdraw(t0));
        assert!(!b.can_withdraw(t0));
    }

    #[test]
    fn requests_leave_the_window_after_ten_seconds() {
        let t0 = Instant::now();
        let mut b = budget(0.5, 0);
        for _ in 0..10 {
            b.record_request(t0);
        }
        assert!(b.can_withdraw(t0 + secs(9)));
        assert!(!b.can_withdraw(t0 + secs(10)));
    }

    #[test]
    fn spent_retries_are_refunded_as_the_window_slides() {
        let t0 = Instant::now();
        let mut b = budget(0.0, 1);
        assert_eq!(withdraw_all(&mut b, t0), 10);
        assert!(!b.try_withdraw(t0 + secs(9)));
        assert!(b.try_withdraw(t0 + secs(10)));
    }

    #[test]
    fn window_slides_per_second_across_buckets() {
        let t0 = Instant::now();
        let mut b = budget(1.0, 0);
        for s in 0..5 {
            b.record_request(t0 + secs(s));
        }
        // Requests at seconds 0..=4; at second 12 only those at 3 and 4 remain.
        assert_eq!(b.remaining(t0 + secs(12)), 2);
    }

    #[test]
    fn a_long_pause_clears_every_bucket() {
        let t0 = Instant::now();
        let mut b = budget(1.0, 0);
        for _ in 0..50 {
            b.record_request(t0);
        }
        let later = t0 + secs(3_600);
        assert_eq!(b.remaining(later), 0);
        b.record_request(later);
        assert_eq!(withdraw_all(&mut b, later), 1);
    }

    #[test]
    fn dispatch_config_sets_ratio_and_reserve() {
        let t0 = Instant::now();
        let mut b = RetryBudget::from_dispatch(&DispatchConfig {
            retry_budget_ratio: 0.1,
            retry_budget_min_per_sec: 1,
            ..DispatchConfig::default()
        });
        for _ in 0..100 {
            b.record_request(t0);
        }
        assert_eq!(withdraw_all(&mut b, t0), 10 + 10);
    }

    #[derive(Debug, Clone)]
    enum Event {
        Request,
        Retry,
        WaitMs(u64),
    }

    proptest! {
        /// In the window that ends at any second where a retry was granted, granted retries never
        /// exceed ratio × requests + reserve.
        #[test]
        fn granted_retries_never_exceed_the_budget(
            events in prop::collection::vec(
                prop_oneof![
                    3 => Just(Event::Request),
                    3 => Just(Event::Retry),
                    1 => (0u64..3_000).prop_map(Event::WaitMs),
                ],
                1..400,
            ),
            ratio in 0.0f64..1.0,
            min_per_sec in 0u32..3,
        ) {
            let t0 = Instant::now();
            let mut b = budget(ratio, min_per_sec);
            let mut now = t0;
            // (instant, is_retry) of every request and granted retry.
            let mut log: Vec<(Instant, bool)> = Vec::new();
            for e in events {
                match e {
                    Event::WaitMs(ms) => now += Duration::from_millis(ms),
                    Event::Request => {
                        b.record_request(now);
                        log.push((now, false));
                    }
                    Event::Retry => {
                        if b.try_withdraw(now) {
                            log.push((now, true));
                        }
                    }
                }
            }
            // Buckets count whole seconds from the first event the budget recorded.
            let Some(&(origin, _)) = log.first() else { return Ok(()) };
            let log: Vec<(u64, bool)> =
                log.into_iter().map(|(at, r)| ((at - origin).as_secs(), r)).collect();
            for &(s, _) in log.iter().filter(|(_, retry)| *retry) {
                let in_window = |t: u64| t <= s && s - t < 10;
                let requests = log.iter().filter(|(t, r)| !r && in_window(*t)).count();
                let retries = log.iter().filter(|(t, r)| *r && in_window(*t)).count();
                let allowance = ratio * requests as f64 + f64::from(min_per_sec) * 10.0;
                prop_assert!(
                    retries as f64 <= allowance + 1e-9,
                    "second {}: {} retries > {}", s, retries, allowance
                );
            }
        }
    }
}

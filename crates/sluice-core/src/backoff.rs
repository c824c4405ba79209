//! How long to wait before retrying a target: exponential backoff with *full jitter*, never
//! sooner than the upstream asked (`Retry-After`).
//!
//! Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter") draws the whole delay
//! uniformly from `[0, ceiling)`: it spreads a burst of clients that failed together better than
//! equal or decorrelated jitter, and it is stateless — the delay depends only on the attempt
//! number and one uniform, so the dispatch decision stays a pure function.

use std::time::Duration;

use crate::config::NetworkConfig;

/// Exponential backoff between `initial` and `max`, from a provider's `network_config`.
///
/// The delay after the `attempt`-th failed attempt (1-based) is
/// `u * min(max, initial * 2^(attempt - 1))` with `u` uniform in `[0, 1)`.
///
/// ```
/// use std::time::Duration;
/// use sluice_core::backoff::Backoff;
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(b.delay(3, 0.5), Duration::from_millis(200)); // half of 400 ms
/// assert_eq!(b.delay(9, 0.5), Duration::from_millis(500)); // half of the 1 s cap
/// // A `Retry-After: 2` wins over a shorter backoff.
/// assert_eq!(b.retry_delay(1, 0.5, Some(Duration::from_secs(2))), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay.
    pub initial: Duration,
    /// Ceiling of every delay (the jitter is drawn below it).
    pub max: Duration,
}

impl Backoff {
    /// A backoff from explicit bounds; `max` below `initial` is raised to `initial`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
        }
    }

    /// From `network_config.retry_backoff_initial_ms` / `retry_backoff_max_ms`.
    pub fn from_network(network: &NetworkConfig) -> Self {
        Backoff::new(
            Duration::from_millis(network.retry_backoff_initial_ms),
            Duration::from_millis(network.retry_backoff_max_ms),
        )
    }

    /// The un-jittered ceiling after the `attempt`-th failed attempt (1-based; 0 counts as 1):
    /// `min(max, initial * 2^(attempt - 1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1);
        // 2^31 times any non-zero initial is past any sane max, so saturating there is exact.
        let factor = 1u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The jittered delay before the retry that follows the `attempt`-th failed attempt.
    /// `jitter_u` is a uniform in `[0, 1)` (clamped; NaN counts as 0).
    pub fn delay(&self, attempt: u32, jitter_u: f64) -> Duration {
        let u = if jitter_u.is_nan() {
            0.0
        } else {
            jitter_u.clamp(0.0, 1.0)
        };
        let ceiling = self.ceiling(attempt);
        // Scaled in whole nanoseconds so fixed jitters give exact delays; the `as` casts
        // saturate, and `Duration::mul_f64` would panic when rounding passes `Duration::MAX`.
        let nanos = (ceiling.as_nanos() as f64 * u) as u128;
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (nanos % 1_000_000_000) as u32).min(ceiling)
    }

    /// [`Backoff::delay`], but never sooner than `upstream_wait` (the upstream's `Retry-After`
    /// or reset time): retrying earlier would only earn another refusal. The upstream wait is
    /// not capped by `max`; whether it fits the request's deadline is the dispatch decision's
    /// call.
    pub fn retry_delay(
        &self,
        attempt: u32,
        jitter_u: f64,
        upstream_wait: Option<Duration>,
    ) -> Duration {
        let backoff = self.delay(attempt, jitter_u);
        upstream_wait.map_or(backoff, |wait| wait.max(backoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ceilings_double_from_initial_and_stop_at_max() {
        let b = Backoff::new(ms(100), ms(1_000));
        let ceilings: Vec<u64> = (1..=7).map(|a| b.ceiling(a).as_millis() as u64).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1_000, 1_000, 1_000]);
    }

    #[test]
    fn fixed_jitter_scales_every_ceiling() {
        let b = Backoff::new(ms(100), ms(1_000));
        let half: Vec<u64> = (1..=6)
            .map(|a| b.delay(a, 0.5).as_millis() as u64)
            .collect();
        assert_eq!(half, [50, 100, 200, 400, 500, 500]);
        let quarter: Vec<u64> = (1..=6)
            .map(|a| b.delay(a, 0.25).as_millis() as u64)
            .collect();
        assert_eq!(quarter, [25, 50, 100, 200, 250, 250]);
    }

    #[test]
    fn zero_jitter_retries_at_once_full_jitter_waits_the_ceiling() {
        let b = Backoff::new(ms(250), ms(10_000));
        assert_eq!(b.delay(4, 0.0), Duration::ZERO);
        assert_eq!(b.delay(4, 1.0), ms(2_000));
    }

    #[test]
    fn attempt_zero_is_treated_as_the_first() {
        let b = Backoff::new(ms(100), ms(1_000));
        assert_eq!(b.delay(0, 1.0), b.delay(1, 1.0));
    }

    #[test]
    fn huge_attempt_numbers_saturate_at_max() {
        let b = Backoff::new(ms(1), ms(10_000));
        assert_eq!(b.ceiling(u32::MAX), ms(10_000));
        let b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.ceiling(40), Duration::MAX);
    }

    #[test]
    fn retry_after_longer_than_backoff_wins() {
        let b = Backoff::new(ms(100), ms(1_000));
        assert_eq!(b.retry_delay(1, 0.5, Some(ms(3_000))), ms(3_000));
    }

    #[test]
    fn retry_after_shorter_than_backoff_does_not_shorten_it() {
        let b = Backoff::new(ms(100), ms(1_000));
        assert_eq!(b.retry_delay(4, 1.0, Some(ms(10))), ms(800));
        assert_eq!(b.retry_delay(4, 1.0, None), ms(800));
    }

    #[test]
    fn network_config_bounds_are_used_in_milliseconds() {
        let n = NetworkConfig {
            retry_backoff_initial_ms: 5,
            retry_backoff_max_ms: 50,
            ..NetworkConfig::default()
        };
        assert_eq!(Backoff::from_network(&n), Backoff::new(ms(5), ms(50)));
    }

    proptest! {
        #[test]
        fn delay_never_exceeds_max_nor_precedes_upstream_wait(
            initial in 0u64..5_000,
            extra in 0u64..60_000,
            attempt in 0u32..100,
            u in any::<f64>(),
            wait in proptest::option::of(0u64..120_000),
        ) {
            let b = Backoff::new(ms(initial), ms(initial + extra));
            prop_assert!(b.delay(attempt, u) <= b.max);
            let d = b.retry_delay(attempt, u, wait.map(ms));
            if let Some(w) = wait {
                prop_assert!(d >= ms(w));
            }
        }

        #[test]
        fn ceilings_never_decrease_with_attempts(
            initial in 0u64..5_000, extra in 0u64..60_000, attempt in 1u32..80,
        ) {
            let b = Backoff::new(ms(initial), ms(initial + extra));
            prop_assert!(b.ceiling(attempt) <= b.ceiling(attempt + 1));
        }
    }
}

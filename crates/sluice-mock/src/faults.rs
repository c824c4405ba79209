//! Injected failures: `always_status` (every request) and `error_rate` (a share of them).
//!
//! Which requests fail follows a fixed pseudo-random sequence (SplitMix64 over a counter), so a
//! test run after `POST /mock/reset` sees the same pattern every time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::config::Knobs;

/// An answer the mock was told to give instead of a real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault {
    pub status: u16,
    /// Seconds for `retry-after`, on statuses where providers send one.
    pub retry_after_s: Option<u64>,
}

impl Fault {
    fn new(status: u16, knobs: &Knobs) -> Fault {
        Fault {
            status,
            retry_after_s: matches!(status, 429 | 503 | 529).then_some(knobs.retry_after_s),
        }
    }
}

/// `always_status`, if set for this key.
pub(crate) fn always(knobs: &Knobs) -> Option<Fault> {
    knobs.always_status.map(|s| Fault::new(s, knobs))
}

/// The deterministic draw behind `error_rate`.
#[derive(Debug, Default)]
pub(crate) struct FaultSequence {
    draws: AtomicU64,
}

impl FaultSequence {
    /// Whether this request fails under `error_rate`. Draws only when the rate is strictly
    /// between 0 and 1, so turning errors on does not shift other sequences.
    pub fn draw(&self, knobs: &Knobs) -> Option<Fault> {
        let fails = if knobs.error_rate <= 0.0 {
            false
        } else if knobs.error_rate >= 1.0 {
            true
        } else {
            let n = self.draws.fetch_add(1, Relaxed);
            unit_interval(splitmix64(n)) < knobs.error_rate
        };
        fails.then(|| Fault::new(knobs.error_status, knobs))
    }

    pub fn reset(&self) {
        self.draws.store(0, Relaxed);
    }
}

/// SplitMix64: a cheap, well-mixed bijection of a counter.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The top 53 bits as a float in [0, 1).
pub(crate) fn unit_interval(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockConfig;

    fn knobs(error_rate: f64, error_status: u16) -> Knobs {
        MockConfig {
            error_rate,
            error_status,
            always_retry_after_s: 7,
            ..MockConfig::default()
        }
        .knobs("k")
    }

    #[test]
    fn error_rate_fails_about_that_share_and_repeats_after_reset() {
        let seq = FaultSequence::default();
        let k = knobs(0.3, 500);
        let first: Vec<bool> = (0..1000).map(|_| seq.draw(&k).is_some()).collect();
        let failures = first.iter().filter(|f| **f).count();
        assert!((250..350).contains(&failures), "{failures} failures");
        seq.reset();
        let again: Vec<bool> = (0..1000).map(|_| seq.draw(&k).is_some()).collect();
        assert_eq!(first, again);
    }

    #[test]
    fn rates_zero_and_one_are_exact() {
        let seq = FaultSequence::default();
        assert!((0..100).all(|_| seq.draw(&knobs(0.0, 500)).is_none()));
        assert!((0..100).all(|_| seq.draw(&knobs(1.0, 500)).is_some()));
    }

    #[test]
    fn overload_statuses_carry_retry_after_and_others_do_not() {
        let seq = FaultSequence::default();
        let f = seq.draw(&knobs(1.0, 529)).unwrap();
        assert_eq!(f.retry_after_s, Some(7));
        let f = seq.draw(&knobs(1.0, 500)).unwrap();
        assert_eq!(f.retry_after_s, None);
    }
}

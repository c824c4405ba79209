//! When to try the control plane again: capped exponential backoff with *equal* jitter.
//!
//! Equal jitter (half the ceiling fixed, half random) rather than the full jitter of upstream
//! retries: a restarted control plane should not be hit by every data plane at once, but neither
//! should a flapping one be retried almost immediately by the replicas that drew a small delay.

use std::time::Duration;

use sluice_core::backoff::Backoff;

/// Reconnection delays after consecutive failures; reset once a stream is established.
#[derive(Debug, Clone)]
pub struct Reconnect {
    backoff: Backoff,
    failures: u32,
}

impl Default for Reconnect {
    /// 200 ms doubling up to 5 s: a control plane back from a restart is found within about
    /// 5 s, and a dead one costs each data plane one connection attempt every few seconds.
    fn default() -> Self {
        Reconnect::new(Duration::from_millis(200), Duration::from_secs(5))
    }
}

impl Reconnect {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Reconnect {
            backoff: Backoff::new(initial, max),
            failures: 0,
        }
    }

    /// Consecutive failures since the last established stream.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A stream was established: the next failure starts from the initial delay again.
    pub fn connected(&mut self) {
        self.failures = 0;
    }

    /// Records a failure and returns how long to wait before the next attempt. `jitter_u` is a
    /// uniform in `[0, 1)`; the delay is in `[ceiling / 2, ceiling)`.
    pub fn failed(&mut self, jitter_u: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let ceiling = self.backoff.ceiling(self.failures);
        ceiling / 2 + self.backoff.delay(self.failures, jitter_u) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut r = Reconnect::new(MS(100), MS(1000));
        // With the jitter at 0 the delay is exactly half the ceiling.
        let delays: Vec<_> = (0..6).map(|_| r.failed(0.0)).collect();
        assert_eq!(
            delays,
            vec![MS(50), MS(100), MS(200), MS(400), MS(500), MS(500)]
        );
        assert_eq!(r.failures(), 6);
    }

    #[test]
    fn jitter_stays_between_half_the_ceiling_and_the_ceiling() {
        let mut r = Reconnect::new(MS(100), MS(1000));
        for _ in 0..3 {
            r.failed(0.0);
        }
        // Fourth failure: ceiling 800 ms.
        let d = r.clone().failed(0.999_999);
        assert!(d >= MS(400) && d < MS(800), "{d:?}");
        assert_eq!(r.failed(0.5), MS(600));
    }

    #[test]
    fn an_established_stream_resets_the_delay() {
        let mut r = Reconnect::new(MS(100), MS(1000));
        for _ in 0..5 {
            r.failed(0.0);
        }
        r.connected();
        assert_eq!(r.failures(), 0);
        assert_eq!(r.failed(0.0), MS(50));
    }

    #[test]
    fn many_failures_never_overflow() {
        let mut r = Reconnect::default();
        let mut last = Duration::ZERO;
        for _ in 0..10_000 {
            last = r.failed(0.999);
        }
        assert!(last <= Duration::from_secs(5), "{last:?}");
    }
}

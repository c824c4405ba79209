//! A provider key's cooldown after a 429: the key sits out until the upstream said it may be
//! called again, so new requests go to its siblings instead of collecting more 429s.

use std::time::{Duration, Instant};

use crate::config::DispatchConfig;

/// Longest escalated cooldown for 429s that carry no hint (a hint itself is never capped).
pub const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(60);

/// Cooldown state of one provider key.
///
/// A 429 with a hint (`retry-after`, or the reset of the exhausted `x-ratelimit-*` limit) cools
/// the key for exactly that long. A 429 without one cools it for `default_wait`, doubled for each
/// further hintless 429 in a row up to `max_wait`; a success ends the escalation.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sluice_core::cooldown::KeyCooldown;
/// let t0 = Instant::now();
/// let mut key = KeyCooldown::new(Duration::from_secs(1), Duration::from_secs(60));
/// key.on_rate_limited(t0, Some(Duration::from_secs(20)));
/// assert!(key.is_cooling(t0 + Duration::from_secs(19)));
/// assert!(!key.is_cooling(t0 + Duration::from_secs(20)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCooldown {
    default_wait: Duration,
    max_wait: Duration,
    until: Option<Instant>,
    /// Hintless 429s in a row since the last success (or since escalation was forgotten).
    streak: u32,
}

impl KeyCooldown {
    /// `default_wait` for a hintless 429, escalating up to `max_wait` (raised to `default_wait`
    /// if lower).
    pub fn new(default_wait: Duration, max_wait: Duration) -> Self {
        KeyCooldown {
            default_wait,
            max_wait: max_wait.max(default_wait),
            until: None,
            streak: 0,
        }
    }

    /// From `dispatch.default_cooldown_ms`, escalating up to [`DEFAULT_MAX_COOLDOWN`].
    pub fn from_dispatch(dispatch: &DispatchConfig) -> Self {
        KeyCooldown::new(
            Duration::from_millis(dispatch.default_cooldown_ms),
            DEFAULT_MAX_COOLDOWN,
        )
    }

    /// Records a 429 at `now`, with the upstream's wait `hint` if it gave one. Returns the
    /// instant the key may be used again.
    ///
    /// The cooldown only ever extends: a response that was already in flight when the key was
    /// cooled may report a shorter hint, and it must not cut the longer one short.
    pub fn on_rate_limited(&mut self, now: Instant, hint: Option<Duration>) -> Instant {
        let wait = match hint {
            Some(wait) => wait,
            None => {
                // A key quiet for longer than the longest cooldown has recovered: start over
                // rather than punish it for 429s long past.
                if self
                    .until
                    .is_some_and(|until| now.saturating_duration_since(until) >= self.max_wait)
                {
                    self.streak = 0;
                }
                let wait = self.escalated_wait();
                self.streak = self.streak.saturating_add(1);
                wait
            }
        };
        let until = now.checked_add(wait).unwrap_or(now + self.max_wait);
        let until = self.until.map_or(until, |current| current.max(until));
        self.until = Some(until);
        until
    }

    /// Records a success: the next hintless 429 starts again at `default_wait`. A cooldown in
    /// progress is kept — the success may come from a request sent before the 429.
    pub fn on_success(&mut self) {
        self.streak = 0;
    }

    /// Whether the key must not be called at `now`.
    pub fn is_cooling(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }

    /// How long the key still cools at `now` (zero when it does not).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.until
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }

    /// The instant the cooldown ends, if the key is cooling at `now`.
    pub fn cooling_until(&self, now: Instant) -> Option<Instant> {
        self.until.filter(|&until| now < until)
    }

    /// The wait the next hintless 429 would get: `default_wait * 2^streak`, capped.
    fn escalated_wait(&self) -> Duration {
        let factor = 1u32.checked_shl(self.streak.min(31)).unwrap_or(u32::MAX);
        self.default_wait.saturating_mul(factor).min(self.max_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn cooldown() -> KeyCooldown {
        KeyCooldown::new(secs(1), secs(8))
    }

    #[test]
    fn a_fresh_key_is_not_cooling() {
        let t0 = Instant::now();
        let key = cooldown();
        assert!(!key.is_cooling(t0));
        assert_eq!(key.remaining(t0), Duration::ZERO);
        assert_eq!(key.cooling_until(t0), None);
    }

    #[test]
    fn hinted_cooldown_expires_exactly_at_the_hint() {
        let t0 = Instant::now();
        let mut key = cooldown();
        let until = key.on_rate_limited(t0, Some(secs(20)));
        assert_eq!(until, t0 + secs(20));
        assert!(key.is_cooling(t0 + Duration::from_millis(19_999)));
        assert_eq!(key.remaining(t0 + secs(5)), secs(15));
        assert_eq!(key.cooling_until(t0 + secs(5)), Some(t0 + secs(20)));
        assert!(!key.is_cooling(t0 + secs(20)));
        assert_eq!(key.remaining(t0 + secs(30)), Duration::ZERO);
    }

    #[test]
    fn hint_is_not_capped_by_the_escalation_limit() {
        let t0 = Instant::now();
        let mut key = cooldown();
        key.on_rate_limited(t0, Some(secs(3_600)));
        assert_eq!(key.remaining(t0), secs(3_600));
    }

    #[test]
    fn hintless_429s_in_a_row_double_the_wait_up_to_the_cap() {
        let t0 = Instant::now();
        let mut key = cooldown();
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            let until = key.on_rate_limited(now, None);
            waits.push((until - now).as_secs());
            // The key is tried again as soon as the cooldown ends, and 429s again.
            now = until;
        }
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
    }

    #[test]
    fn success_resets_the_escalation() {
        let t0 = Instant::now();
        let mut key = cooldown();
        let u1 = key.on_rate_limited(t0, None);
        let u2 = key.on_rate_limited(u1, None);
        assert_eq!(u2 - u1, secs(2));
        key.on_success();
        let u3 = key.on_rate_limited(u2, None);
        assert_eq!(u3 - u2, secs(1));
    }

    #[test]
    fn success_does_not_end_a_cooldown_in_progress() {
        let t0 = Instant::now();
        let mut key = cooldown();
        key.on_rate_limited(t0, Some(secs(10)));
        key.on_success();
        assert!(key.is_cooling(t0 + secs(9)));
    }

    #[test]
    fn a_shorter_late_hint_does_not_cut_the_cooldown_short() {
        let t0 = Instant::now();
        let mut key = cooldown();
        key.on_rate_limited(t0, Some(secs(30)));
        let until = key.on_rate_limited(t0 + secs(1), Some(secs(2)));
        assert_eq!(until, t0 + secs(30));
    }

    #[test]
    fn escalation_is_forgotten_after_a_long_quiet_period() {
        let t0 = Instant::now();
        let mut key = cooldown();
        let u1 = key.on_rate_limited(t0, None);
        let u2 = key.on_rate_limited(u1, None);
        // Quiet for the cap (8 s) after the last cooldown ended.
        let later = u2 + secs(8);
        let u3 = key.on_rate_limited(later, None);
        assert_eq!(u3 - later, secs(1));
    }

    #[test]
    fn dispatch_config_sets_the_default_wait() {
        let t0 = Instant::now();
        let mut key = KeyCooldown::from_dispatch(&DispatchConfig {
            default_cooldown_ms: 250,
            ..DispatchConfig::default()
        });
        assert_eq!(
            key.on_rate_limited(t0, None),
            t0 + Duration::from_millis(250)
        );
    }
}

//! Adaptive headroom: steer new requests away from a key the upstream says is nearly out of its
//! request or token allowance, *before* it starts answering 429.
//!
//! Every response (of OpenAI, Anthropic and most compatible upstreams) reports what is left of
//! the key's limits and when they reset. A key with more than [`HEADROOM_COMFORT`] of both left
//! keeps its full weight; below that its weight slopes down linearly to [`HEADROOM_FLOOR`] at
//! zero. The floor is not zero on purpose: the key keeps a trickle of traffic, so its next
//! response tells us when it has recovered, and a 429 (which cools the key) does the rest.

use std::time::{Duration, Instant};

/// Remaining fraction at and above which a key keeps its full weight.
pub const HEADROOM_COMFORT: f64 = 0.2;

/// Weight factor of a key with nothing left.
pub const HEADROOM_FLOOR: f64 = 0.05;

/// How long an observation without a reset time is trusted.
pub const HEADROOM_UNTIMED_TTL: Duration = Duration::from_secs(60);

/// What an upstream response said about the key's limits. The data plane fills it from the
/// provider adapter's header parse (`x-ratelimit-*`, `anthropic-ratelimit-*`); absent headers are
/// `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamLimits {
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    /// Time until the request allowance is full again.
    pub reset_requests: Option<Duration>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
    /// Time until the token allowance is full again.
    pub reset_tokens: Option<Duration>,
}

impl UpstreamLimits {
    /// Fraction of the request allowance left, when both numbers are known.
    pub fn requests_fraction(&self) -> Option<f64> {
        fraction(self.remaining_requests, self.limit_requests)
    }

    /// Fraction of the token allowance left, when both numbers are known.
    pub fn tokens_fraction(&self) -> Option<f64> {
        fraction(self.remaining_tokens, self.limit_tokens)
    }
}

fn fraction(remaining: Option<u64>, limit: Option<u64>) -> Option<f64> {
    match (remaining, limit) {
        (Some(r), Some(l)) if l > 0 => Some((r as f64 / l as f64).min(1.0)),
        _ => None,
    }
}

/// The weight factor for a remaining fraction: 1.0 at or above [`HEADROOM_COMFORT`], sloping
/// linearly down to [`HEADROOM_FLOOR`] at 0.
///
/// ```
/// use sluice_core::headroom::headroom_factor;
/// assert_eq!(headroom_factor(0.5), 1.0);
/// assert_eq!(headroom_factor(0.0), 0.05);
/// assert!((headroom_factor(0.1) - 0.525).abs() < 1e-12);
/// ```
pub fn headroom_factor(remaining_fraction: f64) -> f64 {
    if remaining_fraction.is_nan() || remaining_fraction >= HEADROOM_COMFORT {
        return 1.0;
    }
    let f = remaining_fraction.max(0.0);
    HEADROOM_FLOOR + (1.0 - HEADROOM_FLOOR) * (f / HEADROOM_COMFORT)
}

/// One limit's last observation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Observation {
    fraction: f64,
    at: Instant,
    /// When the allowance is full again (or, without a reset time, when we stop trusting it).
    full_at: Instant,
    /// Upstream buckets refill continuously (OpenAI and Anthropic both document token buckets),
    /// so with a reset time the projection climbs linearly to full; without one, it holds.
    refills: bool,
}

impl Observation {
    fn new(now: Instant, fraction: Option<f64>, reset: Option<Duration>) -> Option<Self> {
        let fraction = fraction?;
        let (window, refills) = match reset {
            Some(reset) => (reset, true),
            None => (HEADROOM_UNTIMED_TTL, false),
        };
        Some(Observation {
            fraction,
            at: now,
            full_at: now.checked_add(window).unwrap_or(now),
            refills,
        })
    }

    fn projected_fraction(&self, now: Instant) -> f64 {
        if now >= self.full_at {
            return 1.0;
        }
        if !self.refills {
            return self.fraction;
        }
        let window = (self.full_at - self.at).as_secs_f64();
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.fraction + (1.0 - self.fraction) * (elapsed / window)
    }
}

/// What the upstream last said about one key's limits, as a weight factor in
/// `[HEADROOM_FLOOR, 1.0]`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sluice_core::headroom::{Headroom, UpstreamLimits};
/// let t0 = Instant::now();
/// let mut key = Headroom::default();
/// key.observe(t0, &UpstreamLimits {
///     limit_requests: Some(100),
///     remaining_requests: Some(0),
///     reset_requests: Some(Duration::from_secs(10)),
///     ..UpstreamLimits::default()
/// });
/// assert_eq!(key.factor(t0), 0.05);
/// assert_eq!(key.factor(t0 + Duration::from_secs(10)), 1.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Headroom {
    requests: Option<Observation>,
    tokens: Option<Observation>,
}

impl Headroom {
    /// Records what a response received at `now` said. A limit the response did not report
    /// keeps its previous observation until that expires.
    pub fn observe(&mut self, now: Instant, limits: &UpstreamLimits) {
        if let Some(o) = Observation::new(now, limits.requests_fraction(), limits.reset_requests) {
            self.requests = Some(o);
        }
        if let Some(o) = Observation::new(now, limits.tokens_fraction(), limits.reset_tokens) {
            self.tokens = Some(o);
        }
    }

    /// The weight factor at `now`: the tighter of the request and token limits decides.
    pub fn factor(&self, now: Instant) -> f64 {
        [self.requests, self.tokens]
            .into_iter()
            .flatten()
            .map(|o| headroom_factor(o.projected_fraction(now)))
            .fold(1.0, f64::min)
    }

    /// Forgets every observation (a new key value, for instance).
    pub fn clear(&mut self) {
        *self = Headroom::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn requests(limit: u64, remaining: u64, reset: Option<u64>) -> UpstreamLimits {
        UpstreamLimits {
            limit_requests: Some(limit),
            remaining_requests: Some(remaining),
            reset_requests: reset.map(secs),
            ..UpstreamLimits::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn factor_is_full_above_the_comfort_line_and_floors_at_zero() {
        assert_eq!(headroom_factor(1.0), 1.0);
        assert_eq!(headroom_factor(0.2), 1.0);
        assert!(close(headroom_factor(0.1), 0.525));
        assert_eq!(headroom_factor(0.0), HEADROOM_FLOOR);
        assert_eq!(headroom_factor(-1.0), HEADROOM_FLOOR);
    }

    #[test]
    fn a_key_without_observations_keeps_full_weight() {
        assert_eq!(Headroom::default().factor(Instant::now()), 1.0);
    }

    #[test]
    fn a_nearly_exhausted_key_is_down_weighted() {
        let t0 = Instant::now();
        let mut h = Headroom::default();
        h.observe(t0, &requests(1000, 50, Some(60)));
        assert!(close(h.factor(t0), headroom_factor(0.05)));
        assert!(h.factor(t0) < 0.3);
    }

    #[test]
    fn weight_is_restored_once_the_reset_time_passes() {
        let t0 = Instant::now();
        let mut h = Headroom::default();
        h.observe(t0, &requests(100, 0, Some(20)));
        assert_eq!(h.factor(t0), HEADROOM_FLOOR);
        // Halfway to the reset the bucket is projected half full: past the comfort line.
        assert_eq!(h.factor(t0 + secs(10)), 1.0);
        assert_eq!(h.factor(t0 + secs(20)), 1.0);
    }

    #[test]
    fn projection_refills_linearly_until_the_reset() {
        let t0 = Instant::now();
        let mut h = Headroom::default();
        h.observe(t0, &requests(100, 0, Some(100)));
        // 10 s into a 100 s refill: 10% projected.
        assert!(close(h.factor(t0 + secs(10)), headroom_factor(0.1)));
    }

    #[test]
    fn without_a_reset_time_the_observation_holds_then_expires() {
        let t0 = Instant::now();
        let mut h = Headroom::default();
        h.observe(t0, &requests(100, 0, None));
        assert_eq!(h.factor(t0 + secs(59)), HEADROOM_FLOOR);
        assert_eq!(h.factor(t0 + HEADROOM_UNTIMED_TTL), 1.0);
    }

    #[test]
    fn the_tighter_of_requests_and_tokens_decides() {
        let t0 = Instant::now();
        let mut h = Headroom::default();
        h.observe(
            t0,
            &UpstreamLimits {
                limit_requests: Some(100),
                remaining_requests: Some(90),
                reset_requests: Some(secs(60)),
                limit_tokens: Some(10_000),
                remaining_tokens: Some(500),
                reset_tokens: Some(secs(60)),
            },
        );
        assert!(close(h.factor(t0), headroom_factor(0.05)));
    }

    #[test]
    fn a_response_without_headers_keeps_the_last_observation() {
        let t0 = Instant::now();
        let mut h = Headroom::default();
        h.observe(t0, &requests(100, 0, Some(60)));
        h.observe(t0, &UpstreamLimits::default());
        assert_eq!(h.factor(t0), HEADROOM_FLOOR);
    }

    #[test]
    fn a_newer_observation_replaces_the_older() {
        let t0 = Instant::now();
        let mut h = Headroom::default();
        h.observe(t0, &requests(100, 0, Some(60)));
        h.observe(t0 + secs(1), &requests(100, 80, Some(60)));
        assert_eq!(h.factor(t0 + secs(1)), 1.0);
    }

    #[test]
    fn nonsense_numbers_do_not_down_weight() {
        let t0 = Instant::now();
        let mut h = Headroom::default();
        h.observe(t0, &requests(0, 0, Some(60)));
        h.observe(t0, &requests(10, 50, Some(60)));
        assert_eq!(h.factor(t0), 1.0);
    }

    proptest! {
        #[test]
        fn factor_stays_within_floor_and_one(
            limit in 0u64..10_000, remaining in 0u64..20_000,
            reset in proptest::option::of(0u64..120), later in 0u64..200,
        ) {
            let t0 = Instant::now();
            let mut h = Headroom::default();
            h.observe(t0, &requests(limit, remaining, reset));
            let f = h.factor(t0 + secs(later));
            prop_assert!((HEADROOM_FLOOR..=1.0).contains(&f));
        }

        #[test]
        fn factor_never_decreases_as_time_passes(
            limit in 1u64..10_000, remaining in 0u64..10_000,
            reset in 1u64..120, a in 0u64..200, b in 0u64..200,
        ) {
            let t0 = Instant::now();
            let mut h = Headroom::default();
            h.observe(t0, &requests(limit, remaining.min(limit), Some(reset)));
            let (early, late) = (a.min(b), a.max(b));
            prop_assert!(h.factor(t0 + secs(early)) <= h.factor(t0 + secs(late)));
        }
    }
}

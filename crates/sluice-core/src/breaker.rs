//! A consecutive-failures circuit breaker: after `threshold` failures in a row a key (or a whole
//! provider) is taken out of rotation for `open_for`, then one probe request decides whether it
//! is back.
//!
//! ```text
//!            threshold failures in a row            open time elapsed
//!   Closed ───────────────────────────────► Open ─────────────────────► HalfOpen (one probe)
//!     ▲                                       ▲                              │
//!     │            probe succeeds             │      probe fails             │
//!     └───────────────────────────────────────┼──────────────────────────────┘
//!                                             └──── (open time doubles, capped)
//! ```
//!
//! Every admitted request holds a [`Permit`]; its outcome is reported with that permit. A permit
//! carries the breaker's epoch, so outcomes of requests sent before the last transition (still in
//! flight when the breaker opened, or when the probe was sent) are ignored instead of closing or
//! re-opening the breaker on stale news.

use std::time::{Duration, Instant};

use crate::config::DispatchConfig;

/// How many times `breaker_open_ms` the open time may grow to after failed probes.
pub const BREAKER_MAX_OPEN_FACTOR: u32 = 8;

/// The breaker's state as seen at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Admitting everything; counting consecutive failures.
    Closed,
    /// Refusing everything until `until`.
    Open { until: Instant },
    /// Admitting one probe; `probe_in_flight` while it is out.
    HalfOpen { probe_in_flight: bool },
}

/// Leave to send one request through a breaker; hand it back with the outcome. Neither `Copy`
/// nor `Clone`, so one request cannot report two outcomes.
#[must_use = "report the outcome with record_success, record_failure or release"]
#[derive(Debug, PartialEq, Eq)]
pub struct Permit {
    epoch: u64,
    probe: bool,
}

impl Permit {
    /// Whether this request is the half-open probe whose outcome closes or re-opens the breaker.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// `probe_since` is when the outstanding probe was admitted.
    HalfOpen {
        probe_since: Option<Instant>,
    },
}

/// A consecutive-failures circuit breaker.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sluice_core::breaker::CircuitBreaker;
/// let t0 = Instant::now();
/// let mut b = CircuitBreaker::new(2, Duration::from_secs(30));
/// for _ in 0..2 {
///     let p = b.try_acquire(t0).unwrap();
///     b.record_failure(p, t0);
/// }
/// assert!(b.try_acquire(t0 + Duration::from_secs(29)).is_none());
/// let probe = b.try_acquire(t0 + Duration::from_secs(30)).unwrap();
/// assert!(probe.is_probe());
/// assert!(b.try_acquire(t0 + Duration::from_secs(30)).is_none(), "one probe at a time");
/// b.record_success(probe, t0 + Duration::from_secs(31));
/// assert!(b.try_acquire(t0 + Duration::from_secs(31)).is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    max_open_for: Duration,
    state: State,
    consecutive_failures: u32,
    /// Probes that failed in a row; each doubles the next open time.
    failed_probes: u32,
    /// Bumped on every transition; permits from an older epoch are stale.
    epoch: u64,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures (at least 1) for `open_for`, which stays
    /// fixed after failed probes unless raised with [`CircuitBreaker::with_max_open_for`].
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            open_for,
            max_open_for: open_for,
            state: State::Closed,
            consecutive_failures: 0,
            failed_probes: 0,
            epoch: 0,
        }
    }

    /// Lets the open time double after each failed probe, up to `max_open_for`.
    pub fn with_max_open_for(mut self, max_open_for: Duration) -> Self {
        self.max_open_for = max_open_for.max(self.open_for);
        self
    }

    /// From `dispatch.breaker_failure_threshold` and `dispatch.breaker_open_ms`, growing up to
    /// [`BREAKER_MAX_OPEN_FACTOR`] times the open time after failed probes.
    pub fn from_dispatch(dispatch: &DispatchConfig) -> Self {
        let open_for = Duration::from_millis(dispatch.breaker_open_ms);
        CircuitBreaker::new(dispatch.breaker_failure_threshold, open_for)
            .with_max_open_for(open_for.saturating_mul(BREAKER_MAX_OPEN_FACTOR))
    }

    /// The state at `now` (an elapsed open time reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open { until },
            State::Open { .. } => BreakerState::HalfOpen {
                probe_in_flight: false,
            },
            State::HalfOpen { probe_since } => BreakerState::HalfOpen {
                probe_in_flight: probe_since.is_some_and(|since| self.probe_is_live(since, now)),
            },
        }
    }

    /// Whether [`CircuitBreaker::try_acquire`] would admit a request at `now`.
    pub fn is_admitting(&self, now: Instant) -> bool {
        !matches!(
            self.state(now),
            BreakerState::Open { .. }
                | BreakerState::HalfOpen {
                    probe_in_flight: true
                }
        )
    }

    /// Failures counted towards opening since the last success (while closed).
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Admits a request at `now`, or refuses it (`None`) while open or while the probe is out.
    ///
    /// A probe that never reports back (its client went away and nobody called
    /// [`CircuitBreaker::release`]) holds the half-open slot only for the base open time; after
    /// that a new probe is admitted and the old one's outcome is ignored.
    pub fn try_acquire(&mut self, now: Instant) -> Option<Permit> {
        match self.state {
            State::Closed => Some(self.permit(false)),
            State::Open { until } if now < until => None,
            State::HalfOpen {
                probe_since: Some(since),
            } if self.probe_is_live(since, now) => None,
            State::Open { .. } | State::HalfOpen { .. } => {
                self.epoch += 1;
                self.state = State::HalfOpen {
                    probe_since: Some(now),
                };
                Some(self.permit(true))
            }
        }
    }

    /// The request behind `permit` succeeded: a closed breaker forgets its failures, a probe
    /// closes the breaker.
    pub fn record_success(&mut self, permit: Permit, _now: Instant) {
        if permit.epoch != self.epoch {
            return;
        }
        match self.state {
            State::Closed => self.consecutive_failures = 0,
            State::HalfOpen { .. } if permit.probe => {
                self.epoch += 1;
                self.state = State::Closed;
                self.consecutive_failures = 0;
                self.failed_probes = 0;
            }
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    /// The request behind `permit` failed at `now` in a way that counts against the breaker:
    /// the `threshold`-th failure in a row opens it, a failed probe re-opens it for longer.
    pub fn record_failure(&mut self, permit: Permit, now: Instant) {
        if permit.epoch != self.epoch {
            return;
        }
        match self.state {
            State::Closed => {
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.threshold {
                    self.open(now);
                }
            }
            State::HalfOpen { .. } if permit.probe => {
                self.failed_probes = self.failed_probes.saturating_add(1);
                self.open(now);
            }
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    /// The request behind `permit` ended without saying anything about health (cancelled by the
    /// client, a 4xx about the request itself, a 429 handled by the cooldown). A probe's slot is
    /// freed so the next request probes.
    pub fn release(&mut self, permit: Permit) {
        if permit.epoch == self.epoch
            && permit.probe
            && matches!(self.state, State::HalfOpen { .. })
        {
            self.state = State::HalfOpen { probe_since: None };
        }
    }

    fn permit(&self, probe: bool) -> Permit {
        Permit {
            epoch: self.epoch,
            probe,
        }
    }

    fn probe_is_live(&self, since: Instant, now: Instant) -> bool {
        now.saturating_duration_since(since) < self.open_for
    }

    fn open(&mut self, now: Instant) {
        let doublings = self.failed_probes.min(31);
        let open_for = self
            .open_for
            .saturating_mul(1u32 << doublings)
            .min(self.max_open_for);
        self.epoch += 1;
        self.consecutive_failures = 0;
        self.state = State::Open {
            until: now.checked_add(open_for).unwrap_or(now),
        };
    }
}

#[cfg(test)]
mod tests;

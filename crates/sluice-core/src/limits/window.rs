//! A sliding-window counter: at most `max` units in any trailing window of fixed length.
//!
//! The window is kept as [`WINDOW_BUCKETS`] (`N`) buckets of width `g = ⌈window / N⌉`. A unit
//! recorded in bucket `b` is counted while the current bucket is at most `b + N`, so it stops
//! counting between `N·g ≥ window` and `(N + 1)·g` after it was recorded. Every unit recorded
//! in the trailing `window` is therefore still counted: a reservation admitted because
//! `used + n ≤ max` leaves **at most `max` units in every trailing window — the overshoot bound
//! is 0**. The price of the granularity is paid in latency, not in accuracy: capacity frees up
//! to `g` later than an exact sliding log would free it (1 s for `1m`, 1 min for `1h`).
//!
//! Time never runs backwards inside a window: an instant older than the latest one seen counts
//! as the latest (callers take `now` before a lock, so a later holder may bring an earlier one).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Buckets per window.
pub const WINDOW_BUCKETS: u64 = 60;

/// Where a reservation was recorded, so a refund comes out of the same bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowSlot {
    /// Bucket index (from the window's origin).
    bucket: u64,
    /// Bumped when the window is re-bucketed; refunds to an older generation are ignored.
    generation: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    index: u64,
    units: u64,
}

/// `max` units in any trailing `window`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sluice_core::limits::SlidingWindow;
/// let t0 = Instant::now();
/// let mut w = SlidingWindow::new(5, Duration::from_secs(60));
/// for _ in 0..5 {
///     assert!(w.reserve(t0, 1).is_some());
/// }
/// assert!(w.reserve(t0 + Duration::from_secs(30), 1).is_none());
/// // The first five leave the count one bucket (1 s) after a full window.
/// assert_eq!(w.retry_in(t0 + Duration::from_secs(30), 1), Some(Duration::from_secs(31)));
/// assert!(w.reserve(t0 + Duration::from_secs(61), 1).is_some());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SlidingWindow {
    max: u64,
    window: Duration,
    /// Bucket width `g` in nanoseconds (at least 1).
    granularity: u64,
    /// Buckets per window `N` (fewer than [`WINDOW_BUCKETS`] only for windows under 60 ns).
    span: u64,
    /// Set by the first write; bucket indexes count from here.
    origin: Option<Instant>,
    /// Highest bucket index seen.
    latest: u64,
    /// Ascending bucket indexes; expired ones are dropped on the next write.
    buckets: VecDeque<Bucket>,
    generation: u32,
}

impl SlidingWindow {
    /// `max` units over a sliding `window` (a zero window counts as 1 ns).
    pub fn new(max: u64, window: Duration) -> Self {
        let (granularity, span) = layout(window);
        SlidingWindow {
            max,
            window,
            granularity,
            span,
            origin: None,
            latest: 0,
            buckets: VecDeque::new(),
            generation: 0,
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// The bucket width `g`: capacity frees at most this much later than an exact sliding log.
    pub fn granularity(&self) -> Duration {
        Duration::from_nanos(self.granularity)
    }

    /// Changes the limit; usage is kept.
    pub fn set_max(&mut self, max: u64) {
        self.max = max;
    }

    /// Changes the window length. Usage is kept, conservatively: everything counted now is
    /// moved into the current bucket and so held for one full new window. Reservations made
    /// before the change can no longer be refunded (their slots are stale).
    pub fn set_window(&mut self, now: Instant, window: Duration) {
        if window == self.window {
            return;
        }
        let used = self.used(now);
        let latest_nanos = u128::from(self.latest) * u128::from(self.granularity);
        let (granularity, span) = layout(window);
        self.window = window;
        self.granularity = granularity;
        self.span = span;
        self.latest = saturate(latest_nanos / u128::from(granularity));
        self.generation = self.generation.wrapping_add(1);
        self.buckets.clear();
        if used > 0 {
            let current = self.current(now);
            self.buckets.push_back(Bucket {
                index: current,
                units: used,
            });
        }
    }

    /// Units counted at `now` (may exceed `max` after extra debits).
    pub fn used(&self, now: Instant) -> u64 {
        let current = self.current(now);
        self.live(current)
            .fold(0, |sum, b| sum.saturating_add(b.units))
    }

    /// Units that can still be reserved at `now`.
    pub fn available(&self, now: Instant) -> u64 {
        self.max.saturating_sub(self.used(now))
    }

    /// Whether `n` units fit at `now`.
    pub fn fits(&self, now: Instant, n: u64) -> bool {
        self.used(now)
            .checked_add(n)
            .is_some_and(|total| total <= self.max)
    }

    /// Reserves `n` units at `now` if they fit; `None` changes nothing.
    pub fn reserve(&mut self, now: Instant, n: u64) -> Option<WindowSlot> {
        if !self.fits(now, n) {
            return None;
        }
        Some(self.debit(now, n))
    }

    /// Records `n` units at `now` whether or not they fit: an extra debit at settle time.
    pub fn debit(&mut self, now: Instant, n: u64) -> WindowSlot {
        self.origin.get_or_insert(now);
        let current = self.current(now);
        self.latest = current;
        self.prune(current);
        match self.buckets.back_mut() {
            Some(last) if last.index == current => last.units = last.units.saturating_add(n),
            _ => self.buckets.push_back(Bucket {
                index: current,
                units: n,
            }),
        }
        WindowSlot {
            bucket: current,
            generation: self.generation,
        }
    }

    /// Gives back up to `n` units reserved at `slot`, if that bucket still counts (an expired
    /// bucket has freed them already). Returns how many units were refunded; usage never goes
    /// below zero.
    pub fn release(&mut self, now: Instant, slot: WindowSlot, n: u64) -> u64 {
        if slot.generation != self.generation {
            return 0;
        }
        let current = self.current(now);
        self.prune(current);
        let Ok(i) = self.buckets.binary_search_by_key(&slot.bucket, |b| b.index) else {
            return 0;
        };
        let bucket = &mut self.buckets[i];
        let refunded = n.min(bucket.units);
        bucket.units -= refunded;
        refunded
    }

    /// How long until `n` units fit: zero if they fit now, `None` if they never will
    /// (`n > max`). This is the `Retry-After` of a refusal.
    pub fn retry_in(&self, now: Instant, n: u64) -> Option<Duration> {
        self.retry_in_under(now, n, self.max)
    }

    /// [`SlidingWindow::retry_in`] under a limit of `max` instead of the stored one (a config
    /// change not yet applied).
    pub fn retry_in_under(&self, now: Instant, n: u64, max: u64) -> Option<Duration> {
        if n > max {
            return None;
        }
        let current = self.current(now);
        let used = self.used(now);
        // Units that must leave the window before `n` fit.
        let mut to_free = used.saturating_add(n).saturating_sub(max);
        if to_free == 0 {
            return Some(Duration::ZERO);
        }
        for b in self.live(current) {
            to_free = to_free.saturating_sub(b.units);
            if to_free == 0 {
                return Some(self.expires_in(now, b.index));
            }
        }
        Some(self.reset_in(now))
    }

    /// How long until the window is empty again (OpenAI's `x-ratelimit-reset-*`).
    pub fn reset_in(&self, now: Instant) -> Duration {
        let current = self.current(now);
        self.live(current)
            .filter(|b| b.units > 0)
            .last()
            .map_or(Duration::ZERO, |b| self.expires_in(now, b.index))
    }

    fn live(&self, current: u64) -> impl Iterator<Item = &Bucket> {
        let span = self.span;
        self.buckets
            .iter()
            .skip_while(move |b| b.index.saturating_add(span) < current)
    }

    fn prune(&mut self, current: u64) {
        while self
            .buckets
            .front()
            .is_some_and(|b| b.index.saturating_add(self.span) < current)
        {
            self.buckets.pop_front();
        }
    }

    /// The bucket index of `now`, never before the latest seen.
    fn current(&self, now: Instant) -> u64 {
        let Some(origin) = self.origin else {
            return self.latest;
        };
        let nanos = now.saturating_duration_since(origin).as_nanos();
        saturate(nanos / u128::from(self.granularity)).max(self.latest)
    }

    /// Time from `now` until bucket `index` stops counting (bucket `index + N + 1` begins).
    fn expires_in(&self, now: Instant, index: u64) -> Duration {
        let Some(origin) = self.origin else {
            return Duration::ZERO;
        };
        let end = u128::from(index.saturating_add(self.span + 1)) * u128::from(self.granularity);
        let elapsed = now.saturating_duration_since(origin).as_nanos();
        Duration::from_nanos(saturate(end.saturating_sub(elapsed)))
    }
}

/// Bucket width in nanoseconds and buckets per window.
fn layout(window: Duration) -> (u64, u64) {
    let nanos = window.as_nanos().max(1);
    let span = WINDOW_BUCKETS.min(saturate(nanos));
    let granularity = saturate(nanos.div_ceil(u128::from(span))).max(1);
    (granularity, span)
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;

//! Per-key rolling 60 s windows of requests and tokens, sans-IO: time comes in as a `Duration`
//! since an arbitrary epoch, so tests drive it with a fake clock.
//!
//! Admission is all-or-nothing: a request is admitted only if its whole cost (one request, its
//! prompt + completion tokens) fits in what the trailing 60 s leave. Usage in the same 10 ms is
//! kept as one entry that expires with its *latest* member, so the window never admits more than
//! the limit and holds at most ~6000 entries per key however hard it is hammered.

use std::collections::VecDeque;
use std::time::Duration;

/// Length of the rolling window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Usage closer together than this shares one entry.
const GRANULE: Duration = Duration::from_millis(10);

/// Limits of one key; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub requests: Option<u64>,
    pub tokens: Option<u64>,
}

impl Limits {
    pub fn is_unlimited(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none()
    }
}

/// What one request takes from the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub requests: u64,
    pub tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Requests,
    Tokens,
}

/// One limit as the provider headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    /// Until the oldest counted usage leaves the window, i.e. the next time `remaining` grows
    /// (zero when nothing is counted). With `remaining == 0` that is when one more unit fits.
    pub reset: Duration,
}

/// The state of every configured limit of a key after a decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quotas {
    pub requests: Option<Quota>,
    pub tokens: Option<Quota>,
}

/// Why a request was refused, and when it would fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The limit that needs the longest wait.
    pub kind: LimitKind,
    pub limit: u64,
    pub used: u64,
    pub requested: u64,
    /// Until enough usage leaves the window for this request to fit. A request larger than the
    /// limit never fits; it gets the full window.
    pub retry_after: Duration,
    pub quotas: Quotas,
}

impl Refusal {
    /// The request alone exceeds the limit (OpenAI's "Request too large").
    pub fn never_fits(&self) -> bool {
        self.requested > self.limit
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted(Quotas),
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    first: Duration,
    last: Duration,
    requests: u64,
    tokens: u64,
}

impl Entry {
    fn expires(&self) -> Duration {
        self.last + WINDOW
    }
}

/// Usage of one key in the trailing window.
#[derive(Debug, Default)]
pub struct Window {
    entries: VecDeque<Entry>,
    requests: u64,
    tokens: u64,
}

impl Window {
    /// Admits `cost` if it fits every limit at `now` (and records it), or says when it would.
    pub fn admit(&mut self, now: Duration, limits: Limits, cost: Cost) -> Admission {
        self.expire(now);
        let requests = self.wait(now, limits.requests, self.requests, cost.requests, |e| {
            e.requests
        });
        let tokens = self.wait(now, limits.tokens, self.tokens, cost.tokens, |e| e.tokens);
        let refusal = match (requests, tokens) {
            (None, None) => {
                self.record(now, cost);
                return Admission::Admitted(self.quotas(now, limits));
            }
            (Some(r), None) => (LimitKind::Requests, r),
            (None, Some(t)) => (LimitKind::Tokens, t),
            (Some(r), Some(t)) if t > r => (LimitKind::Tokens, t),
            (Some(r), Some(_)) => (LimitKind::Requests, r),
        };
        let (kind, retry_after) = refusal;
        let (limit, used, requested) = match kind {
            LimitKind::Requests => (limits.requests, self.requests, cost.requests),
            LimitKind::Tokens => (limits.tokens, self.tokens, cost.tokens),
        };
        Admission::Refused(Refusal {
            kind,
            limit: limit.unwrap_or(0),
            used,
            requested,
            retry_after,
            quotas: self.quotas(now, limits),
        })
    }

    /// Remaining capacity at `now`; expired usage must already be dropped.
    fn quotas(&self, now: Duration, limits: Limits) -> Quotas {
        let quota = |limit: Option<u64>, used: u64, counts: fn(&Entry) -> u64| {
            limit.map(|limit| Quota {
                limit,
                remaining: limit.saturating_sub(used),
                reset: self
                    .entries
                    .iter()
                    .find(|e| counts(e) > 0)
                    .map_or(Duration::ZERO, |e| e.expires().saturating_sub(now)),
            })
        };
        Quotas {
            requests: quota(limits.requests, self.requests, |e| e.requests),
            tokens: quota(limits.tokens, self.tokens, |e| e.tokens),
        }
    }

    /// Drops usage that has left the window.
    fn expire(&mut self, now: Duration) {
        while let Some(front) = self.entries.front() {
            if front.expires() > now {
                break;
            }
            self.requests -= front.requests;
            self.tokens -= front.tokens;
            self.entries.pop_front();
        }
    }

    /// How long until `cost` fits under `limit`; `None` if it fits now.
    fn wait(
        &self,
        now: Duration,
        limit: Option<u64>,
        used: u64,
        cost: u64,
        counts: fn(&Entry) -> u64,
    ) -> Option<Duration> {
        let limit = limit?;
        if used.saturating_add(cost) <= limit {
            return None;
        }
        if cost > limit {
            return Some(WINDOW);
        }
        let mut must_free = used + cost - limit;
        for entry in &self.entries {
            must_free = must_free.saturating_sub(counts(entry));
            if must_free == 0 {
                return Some(entry.expires().saturating_sub(now));
            }
        }
        // Unreachable while the totals match the entries; waiting a full window is safe.
        Some(WINDOW)
    }

    fn record(&mut self, now: Duration, cost: Cost) {
        self.requests += cost.requests;
        self.tokens += cost.tokens;
        if let Some(back) = self.entries.back_mut()
            && now < back.first + GRANULE
        {
            // Threads may read the clock in one order and lock in another; keep `last` the latest.
            back.last = back.last.max(now);
            back.requests += cost.requests;
            back.tokens += cost.tokens;
            return;
        }
        self.entries.push_back(Entry {
            first: now,
            last: now,
            requests: cost.requests,
            tokens: cost.tokens,
        });
    }
}

#[cfg(test)]
mod tests;

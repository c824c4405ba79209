//! What the mock served, per key and per route, as relaxed atomics: a request costs a few
//! uncontended increments, and `GET /mock/stats` sums them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// How one inference request ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A 2xx answer; its tokens count even if the stream is later dropped on purpose.
    Ok {
        prompt_tokens: u32,
        completion_tokens: u32,
        dropped_stream: bool,
    },
    /// A 429, from a limit or injected.
    RateLimited,
    /// Any other non-2xx answer.
    Error,
}

/// Counters of one key.
#[derive(Debug, Default)]
pub(crate) struct KeyCounters {
    requests: AtomicU64,
    ok: AtomicU64,
    rate_limited: AtomicU64,
    errors: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    streams_dropped: AtomicU64,
}

impl KeyCounters {
    pub fn record(&self, outcome: Outcome) {
        self.requests.fetch_add(1, Relaxed);
        match outcome {
            Outcome::Ok {
                prompt_tokens,
                completion_tokens,
                dropped_stream,
            } => {
                self.ok.fetch_add(1, Relaxed);
                self.prompt_tokens
                    .fetch_add(u64::from(prompt_tokens), Relaxed);
                self.completion_tokens
                    .fetch_add(u64::from(completion_tokens), Relaxed);
                if dropped_stream {
                    self.streams_dropped.fetch_add(1, Relaxed);
                }
            }
            Outcome::RateLimited => {
                self.rate_limited.fetch_add(1, Relaxed);
            }
            Outcome::Error => {
                self.errors.fetch_add(1, Relaxed);
            }
        }
    }

    pub fn reset(&self) {
        for c in [
            &self.requests,
            &self.ok,
            &self.rate_limited,
            &self.errors,
            &self.prompt_tokens,
            &self.completion_tokens,
            &self.streams_dropped,
        ] {
            c.store(0, Relaxed);
        }
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            requests: self.requests.load(Relaxed),
            ok: self.ok.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            errors: self.errors.load(Relaxed),
            prompt_tokens: self.prompt_tokens.load(Relaxed),
            completion_tokens: self.completion_tokens.load(Relaxed),
            streams_dropped: self.streams_dropped.load(Relaxed),
        }
    }
}

/// A point-in-time copy of [`KeyCounters`], as `GET /mock/stats` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct CountersSnapshot {
    pub requests: u64,
    pub ok: u64,
    pub rate_limited: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub streams_dropped: u64,
}

impl std::ops::AddAssign for CountersSnapshot {
    fn add_assign(&mut self, o: CountersSnapshot) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.rate_limited += o.rate_limited;
        self.errors += o.errors;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.streams_dropped += o.streams_dropped;
    }
}

/// The routes counted in `GET /mock/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Chat,
    Completions,
    Embeddings,
    Models,
    Messages,
}

impl Route {
    const ALL: [Route; 5] = [
        Route::Chat,
        Route::Completions,
        Route::Embeddings,
        Route::Models,
        Route::Messages,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Route::Chat => "/v1/chat/completions",
            Route::Completions => "/v1/completions",
            Route::Embeddings => "/v1/embeddings",
            Route::Models => "/v1/models",
            Route::Messages => "/v1/messages",
        }
    }
}

/// Requests per route, including rejected ones.
#[derive(Debug, Default)]
pub(crate) struct RouteCounters {
    counts: [AtomicU64; Route::ALL.len()],
}

impl RouteCounters {
    pub fn hit(&self, route: Route) {
        self.counts[route as usize].fetch_add(1, Relaxed);
    }

    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Relaxed);
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        Route::ALL
            .iter()
            .map(|r| {
                (
                    r.path().to_owned(),
                    self.counts[*r as usize].load(Relaxed).into(),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_land_in_their_counters() {
        let c = KeyCounters::default();
        c.record(Outcome::Ok {
            prompt_tokens: 3,
            completion_tokens: 8,
            dropped_stream: true,
        });
        c.record(Outcome::RateLimited);
        c.record(Outcome::Error);
        assert_eq!(
            c.snapshot(),
            CountersSnapshot {
                requests: 3,
                ok: 1,
                rate_limited: 1,
                errors: 1,
                prompt_tokens: 3,
                completion_tokens: 8,
                streams_dropped: 1,
            }
        );
    }
}

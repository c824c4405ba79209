//! Upstream rate-limit headers: `retry-after`, `retry-after-ms`, OpenAI's `x-ratelimit-*` and
//! Anthropic's `anthropic-ratelimit-*`.

use std::time::Duration;

use http::HeaderMap;

/// What an upstream said about its limits on one response (any status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// How long to wait before calling this key again: `retry-after-ms`, else `retry-after`
    /// (seconds or HTTP-date).
    pub retry_after: Option<Duration>,
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub reset_requests: Option<Duration>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub reset_tokens: Option<Duration>,
}

impl RateLimitInfo {
    /// Reads every known header. `now_unix_secs` resolves HTTP-dates and RFC 3339 reset times.
    pub fn from_headers(headers: &HeaderMap, now_unix_secs: u64) -> Self {
        let _ = (headers, now_unix_secs);
        todo!("parse retry-after, retry-after-ms, x-ratelimit-*, anthropic-ratelimit-*")
    }

    /// The earliest time the upstream allows another call: `retry_after`, else the reset of
    /// whichever of requests/tokens is exhausted.
    pub fn wait_hint(&self) -> Option<Duration> {
        if self.retry_after.is_some() {
            return self.retry_after;
        }
        let req = (self.remaining_requests == Some(0))
            .then_some(self.reset_requests)
            .flatten();
        let tok = (self.remaining_tokens == Some(0))
            .then_some(self.reset_tokens)
            .flatten();
        match (req, tok) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

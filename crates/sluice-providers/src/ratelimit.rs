//! Upstream rate-limit headers: `retry-after`, `retry-after-ms`, OpenAI's `x-ratelimit-*` and
//! Anthropic's `anthropic-ratelimit-*`.

mod values;

use std::time::Duration;

use http::HeaderMap;

use values::{
    parse_count, parse_go_duration, parse_retry_after, parse_retry_after_ms, until_rfc3339,
};

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

/// One limit window as a provider reports it: limit, remaining, time until reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Window {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<Duration>,
}

impl Window {
    fn is_empty(&self) -> bool {
        *self == Window::default()
    }

    /// Whether `self` leaves less room than `other`: fewer remaining, then the later reset.
    fn is_tighter_than(&self, other: &Window) -> bool {
        match (self.remaining, other.remaining) {
            (Some(a), Some(b)) if a != b => a < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            _ => self.reset > other.reset,
        }
    }
}

/// `[limit, remaining, reset]` header names of Anthropic's token windows. Anthropic reports the
/// combined window and separate input/output windows; whichever is tightest decides.
const ANTHROPIC_TOKEN_WINDOWS: [[&str; 3]; 3] = [
    [
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
    ],
    [
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-input-tokens-reset",
    ],
    [
        "anthropic-ratelimit-output-tokens-limit",
        "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-reset",
    ],
];

const OPENAI_REQUEST_WINDOW: [&str; 3] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
];

const OPENAI_TOKEN_WINDOW: [&str; 3] = [
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
];

const ANTHROPIC_REQUEST_WINDOW: [&str; 3] = [
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
];

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        // Not `to_str`: Go servers format microseconds as `µs`, which is not visible ASCII.
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// OpenAI: counts, and resets as Go durations (`6m0s`).
fn openai_window(headers: &HeaderMap, names: &[&str; 3]) -> Window {
    Window {
        limit: header(headers, names[0]).and_then(parse_count),
        remaining: header(headers, names[1]).and_then(parse_count),
        reset: header(headers, names[2]).and_then(parse_go_duration),
    }
}

/// Anthropic: counts, and resets as RFC 3339 timestamps.
fn anthropic_window(headers: &HeaderMap, names: &[&str; 3], now_unix_secs: u64) -> Window {
    Window {
        limit: header(headers, names[0]).and_then(parse_count),
        remaining: header(headers, names[1]).and_then(parse_count),
        reset: header(headers, names[2]).and_then(|v| until_rfc3339(v, now_unix_secs)),
    }
}

/// Fills what `primary` lacks from `fallback`.
fn or_window(primary: Window, fallback: Window) -> Window {
    Window {
        limit: primary.limit.or(fallback.limit),
        remaining: primary.remaining.or(fallback.remaining),
        reset: primary.reset.or(fallback.reset),
    }
}

impl RateLimitInfo {
    /// Reads every known header. `now_unix_secs` resolves HTTP-dates and RFC 3339 reset times.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sluice_providers::RateLimitInfo;
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("retry-after", "2".parse().unwrap());
    /// headers.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
    /// headers.insert("x-ratelimit-reset-requests", "6m0s".parse().unwrap());
    /// let info = RateLimitInfo::from_headers(&headers, 0);
    /// assert_eq!(info.retry_after, Some(Duration::from_secs(2)));
    /// assert_eq!(info.reset_requests, Some(Duration::from_secs(360)));
    /// ```
    pub fn from_headers(headers: &HeaderMap, now_unix_secs: u64) -> Self {
        // `retry-after-ms` is more precise, so it wins whenever both are sent (OpenAI, Azure).
        let retry_after = header(headers, "retry-after-ms")
            .and_then(parse_retry_after_ms)
            .or_else(|| {
                header(headers, "retry-after").and_then(|v| parse_retry_after(v, now_unix_secs))
            });

        let requests = or_window(
            openai_window(headers, &OPENAI_REQUEST_WINDOW),
            anthropic_window(headers, &ANTHROPIC_REQUEST_WINDOW, now_unix_secs),
        );
        let anthropic_tokens = ANTHROPIC_TOKEN_WINDOWS
            .iter()
            .map(|names| anthropic_window(headers, names, now_unix_secs))
            .filter(|w| !w.is_empty())
            .fold(None::<Window>, |tightest, w| match tightest {
                Some(t) if !w.is_tighter_than(&t) => Some(t),
                _ => Some(w),
            })
            .unwrap_or_default();
        let tokens = or_window(
            openai_window(headers, &OPENAI_TOKEN_WINDOW),
            anthropic_tokens,
        );

        RateLimitInfo {
            retry_after,
            limit_requests: requests.limit,
            remaining_requests: requests.remaining,
            reset_requests: requests.reset,
            limit_tokens: tokens.limit,
            remaining_tokens: tokens.remaining,
            reset_tokens: tokens.reset,
        }
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

#[cfg(test)]
mod tests;

//! Rate-limit response headers, spelled the way each provider spells them: OpenAI's
//! `x-ratelimit-*` with Go-duration resets (`1.5s`, `6m0s`), Anthropic's
//! `anthropic-ratelimit-*` with RFC 3339 reset times, and `retry-after` (+ OpenAI's
//! `retry-after-ms`).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::limits::{Quota, Quotas};

/// Which provider's header dialect to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    OpenAi,
    Anthropic,
}

static OPENAI_REQUESTS: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-reset-requests"),
];
static OPENAI_TOKENS: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit-tokens"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];
static ANTHROPIC_REQUESTS: [HeaderName; 3] = [
    HeaderName::from_static("anthropic-ratelimit-requests-limit"),
    HeaderName::from_static("anthropic-ratelimit-requests-remaining"),
    HeaderName::from_static("anthropic-ratelimit-requests-reset"),
];
static ANTHROPIC_TOKENS: [HeaderName; 3] = [
    HeaderName::from_static("anthropic-ratelimit-tokens-limit"),
    HeaderName::from_static("anthropic-ratelimit-tokens-remaining"),
    HeaderName::from_static("anthropic-ratelimit-tokens-reset"),
];
static RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Limit, remaining and reset of every configured limit.
pub(crate) fn quotas(headers: &mut HeaderMap, wire: Wire, quotas: &Quotas) {
    let (requests, tokens) = match wire {
        Wire::OpenAi => (&OPENAI_REQUESTS, &OPENAI_TOKENS),
        Wire::Anthropic => (&ANTHROPIC_REQUESTS, &ANTHROPIC_TOKENS),
    };
    for (names, quota) in [(requests, quotas.requests), (tokens, quotas.tokens)] {
        if let Some(q) = quota {
            quota_headers(headers, wire, names, &q);
        }
    }
}

fn quota_headers(headers: &mut HeaderMap, wire: Wire, names: &[HeaderName; 3], q: &Quota) {
    headers.insert(names[0].clone(), HeaderValue::from(q.limit));
    headers.insert(names[1].clone(), HeaderValue::from(q.remaining));
    let reset = match wire {
        Wire::OpenAi => go_duration(q.reset),
        Wire::Anthropic => rfc3339_after(q.reset),
    };
    if let Ok(v) = HeaderValue::from_str(&reset) {
        headers.insert(names[2].clone(), v);
    }
}

/// An injected 429: no requests left until `reset` (the limit only if one is configured).
pub(crate) fn exhausted(headers: &mut HeaderMap, wire: Wire, limit: Option<u64>, reset: Duration) {
    let names = match wire {
        Wire::OpenAi => &OPENAI_REQUESTS,
        Wire::Anthropic => &ANTHROPIC_REQUESTS,
    };
    let q = Quota {
        limit: limit.unwrap_or(0),
        remaining: 0,
        reset,
    };
    quota_headers(headers, wire, names, &q);
    if limit.is_none() {
        headers.remove(&names[0]);
    }
}

/// `retry-after` in whole seconds (rounded up, at least 1), and on OpenAI routes the exact
/// `retry-after-ms` too.
pub(crate) fn retry_after(headers: &mut HeaderMap, wire: Wire, wait: Duration) {
    let ms = wait.as_millis().max(1);
    let secs = ms.div_ceil(1000) as u64;
    headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    if wire == Wire::OpenAi {
        headers.insert(RETRY_AFTER_MS.clone(), HeaderValue::from(ms as u64));
    }
}

/// A duration as Go prints it, to the millisecond (rounded up): `0s`, `20ms`, `1.5s`, `6m0s`,
/// `1h0m0s`.
pub(crate) fn go_duration(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000) as u64;
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let seconds = if frac == 0 {
        s.to_string()
    } else {
        format!("{s}.{frac:03}").trim_end_matches('0').to_owned()
    };
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// The wall-clock time `after` from now, RFC 3339 in whole seconds (rounded up).
fn rfc3339_after(after: Duration) -> String {
    let at = SystemTime::now() + after + Duration::from_millis(999);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn go_durations_match_openai_spelling() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(ms(20)), "20ms");
        assert_eq!(go_duration(Duration::from_micros(1)), "1ms");
        assert_eq!(go_duration(ms(1000)), "1s");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(59_999)), "59.999s");
        assert_eq!(go_duration(ms(360_000)), "6m0s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_duration(ms(3_723_250)), "1h2m3.25s");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() {
        let mut h = HeaderMap::new();
        retry_after(&mut h, Wire::OpenAi, ms(1200));
        assert_eq!(h["retry-after"], "2");
        assert_eq!(h["retry-after-ms"], "1200");
        retry_after(&mut h, Wire::OpenAi, Duration::ZERO);
        assert_eq!(h["retry-after"], "1");
        assert_eq!(h["retry-after-ms"], "1");
        let mut h = HeaderMap::new();
        retry_after(&mut h, Wire::Anthropic, ms(3000));
        assert_eq!(h["retry-after"], "3");
        assert!(h.get("retry-after-ms").is_none());
    }

    #[test]
    fn quotas_use_each_providers_names_and_reset_format() {
        let q = Quotas {
            requests: Some(Quota {
                limit: 10,
                remaining: 4,
                reset: ms(6500),
            }),
            tokens: None,
        };
        let mut h = HeaderMap::new();
        quotas(&mut h, Wire::OpenAi, &q);
        assert_eq!(h["x-ratelimit-limit-requests"], "10");
        assert_eq!(h["x-ratelimit-remaining-requests"], "4");
        assert_eq!(h["x-ratelimit-reset-requests"], "6.5s");
        assert!(h.get("x-ratelimit-limit-tokens").is_none());

        let mut h = HeaderMap::new();
        quotas(&mut h, Wire::Anthropic, &q);
        assert_eq!(h["anthropic-ratelimit-requests-remaining"], "4");
        let reset = h["anthropic-ratelimit-requests-reset"].to_str().unwrap();
        let at = humantime::parse_rfc3339(reset).unwrap();
        let ahead = at.duration_since(SystemTime::now()).unwrap();
        assert!(ahead > ms(5000) && ahead <= ms(8000), "{reset}");
    }
}

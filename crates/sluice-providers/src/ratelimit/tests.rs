use std::time::Duration;

use http::HeaderMap;

use super::RateLimitInfo;

/// 2024-04-18T17:07:00Z.
const NOW: u64 = 1_713_460_020;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, value.parse().expect("test header value"));
    }
    map
}

fn info(pairs: &[(&'static str, &str)]) -> RateLimitInfo {
    RateLimitInfo::from_headers(&headers(pairs), NOW)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn no_headers_give_no_information() {
    assert_eq!(info(&[]), RateLimitInfo::default());
}

#[test]
fn retry_after_integer_seconds() {
    assert_eq!(info(&[("retry-after", "20")]).retry_after, Some(ms(20_000)));
}

#[test]
fn retry_after_fractional_seconds() {
    assert_eq!(info(&[("retry-after", "1.5")]).retry_after, Some(ms(1_500)));
}

#[test]
fn retry_after_http_date_is_relative_to_now() {
    let got = info(&[("retry-after", "Thu, 18 Apr 2024 17:07:30 GMT")]);
    assert_eq!(got.retry_after, Some(Duration::from_secs(30)));
}

#[test]
fn retry_after_http_date_in_the_past_means_no_wait() {
    let got = info(&[("retry-after", "Thu, 18 Apr 2024 17:00:00 GMT")]);
    assert_eq!(got.retry_after, Some(Duration::ZERO));
}

#[test]
fn retry_after_ms_takes_precedence_over_retry_after() {
    let got = info(&[("retry-after", "2"), ("retry-after-ms", "1234.5")]);
    assert_eq!(got.retry_after, Some(Duration::from_micros(1_234_500)));
}

#[test]
fn unparsable_retry_after_ms_falls_back_to_retry_after() {
    let got = info(&[("retry-after", "2"), ("retry-after-ms", "soon")]);
    assert_eq!(got.retry_after, Some(ms(2_000)));
}

#[test]
fn negative_or_garbage_retry_after_is_ignored() {
    assert_eq!(info(&[("retry-after", "-5")]).retry_after, None);
    assert_eq!(info(&[("retry-after", "later")]).retry_after, None);
}

#[test]
fn openai_request_and_token_headers_are_read() {
    let got = info(&[
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-limit-tokens", "150000"),
        ("x-ratelimit-remaining-tokens", "149984"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ]);
    assert_eq!(
        got,
        RateLimitInfo {
            retry_after: None,
            limit_requests: Some(60),
            remaining_requests: Some(59),
            reset_requests: Some(ms(1_000)),
            limit_tokens: Some(150_000),
            remaining_tokens: Some(149_984),
            reset_tokens: Some(Duration::from_secs(360)),
        }
    );
}

#[test]
fn openai_reset_durations_in_every_go_format() {
    let cases = [
        ("1s", ms(1_000)),
        ("6m0s", Duration::from_secs(360)),
        ("20ms", ms(20)),
        ("1h2m3.5s", ms(3_723_500)),
        ("0.5s", ms(500)),
        ("2m59.56s", ms(179_560)),
        ("7.66s", ms(7_660)),
        ("150us", Duration::from_micros(150)),
        ("150µs", Duration::from_micros(150)),
        ("10ns", Duration::from_nanos(10)),
        ("3", ms(3_000)),
    ];
    for (value, expected) in cases {
        let got = info(&[("x-ratelimit-reset-requests", value)]);
        assert_eq!(got.reset_requests, Some(expected), "{value}");
    }
}

#[test]
fn malformed_go_durations_are_ignored() {
    for value in ["s", "1x", "1.2.3s", "-1s", "1h-2m", "m5"] {
        let got = info(&[("x-ratelimit-reset-tokens", value)]);
        assert_eq!(got.reset_tokens, None, "{value}");
    }
}

#[test]
fn anthropic_request_headers_reset_is_rfc3339_relative_to_now() {
    let got = info(&[
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2024-04-18T17:07:29Z"),
    ]);
    assert_eq!(got.limit_requests, Some(50));
    assert_eq!(got.remaining_requests, Some(0));
    assert_eq!(got.reset_requests, Some(Duration::from_secs(29)));
    assert_eq!(got.wait_hint(), Some(Duration::from_secs(29)));
}

#[test]
fn anthropic_reset_with_fraction_and_offset() {
    let frac = info(&[("anthropic-ratelimit-tokens-reset", "2024-04-18T17:07:01.5Z")]);
    assert_eq!(frac.reset_tokens, Some(ms(1_500)));
    let offset = info(&[(
        "anthropic-ratelimit-tokens-reset",
        "2024-04-18T19:07:10+02:00",
    )]);
    assert_eq!(offset.reset_tokens, Some(Duration::from_secs(10)));
    let negative = info(&[(
        "anthropic-ratelimit-tokens-reset",
        "2024-04-18T12:07:10-05:00",
    )]);
    assert_eq!(negative.reset_tokens, Some(Duration::from_secs(10)));
}

#[test]
fn anthropic_reset_in_the_past_is_zero() {
    let got = info(&[("anthropic-ratelimit-requests-reset", "2024-04-18T17:00:00Z")]);
    assert_eq!(got.reset_requests, Some(Duration::ZERO));
}

#[test]
fn anthropic_tightest_token_window_wins() {
    let got = info(&[
        ("anthropic-ratelimit-tokens-limit", "100000"),
        ("anthropic-ratelimit-tokens-remaining", "90000"),
        ("anthropic-ratelimit-tokens-reset", "2024-04-18T17:07:10Z"),
        ("anthropic-ratelimit-input-tokens-limit", "80000"),
        ("anthropic-ratelimit-input-tokens-remaining", "70000"),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "2024-04-18T17:07:20Z",
        ),
        ("anthropic-ratelimit-output-tokens-limit", "16000"),
        ("anthropic-ratelimit-output-tokens-remaining", "0"),
        (
            "anthropic-ratelimit-output-tokens-reset",
            "2024-04-18T17:07:40Z",
        ),
    ]);
    assert_eq!(got.limit_tokens, Some(16_000));
    assert_eq!(got.remaining_tokens, Some(0));
    assert_eq!(got.reset_tokens, Some(Duration::from_secs(40)));
    assert_eq!(got.wait_hint(), Some(Duration::from_secs(40)));
}

#[test]
fn anthropic_equal_remaining_prefers_the_later_reset() {
    let got = info(&[
        ("anthropic-ratelimit-input-tokens-remaining", "0"),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "2024-04-18T17:07:05Z",
        ),
        ("anthropic-ratelimit-output-tokens-remaining", "0"),
        (
            "anthropic-ratelimit-output-tokens-reset",
            "2024-04-18T17:07:50Z",
        ),
    ]);
    assert_eq!(got.reset_tokens, Some(Duration::from_secs(50)));
}

#[test]
fn anthropic_only_input_tokens_window_is_used() {
    let got = info(&[
        ("anthropic-ratelimit-input-tokens-limit", "40000"),
        ("anthropic-ratelimit-input-tokens-remaining", "39000"),
    ]);
    assert_eq!(got.limit_tokens, Some(40_000));
    assert_eq!(got.remaining_tokens, Some(39_000));
    assert_eq!(got.reset_tokens, None);
}

#[test]
fn anthropic_429_with_retry_after_seconds() {
    let got = info(&[
        ("retry-after", "7"),
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2024-04-18T17:07:59Z"),
    ]);
    assert_eq!(got.wait_hint(), Some(Duration::from_secs(7)));
}

#[test]
fn wait_hint_without_exhaustion_is_none() {
    let got = info(&[
        ("x-ratelimit-remaining-requests", "3"),
        ("x-ratelimit-reset-requests", "1s"),
    ]);
    assert_eq!(got.wait_hint(), None);
}

#[test]
fn wait_hint_takes_the_later_of_two_exhausted_windows() {
    let got = info(&[
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ]);
    assert_eq!(got.wait_hint(), Some(Duration::from_secs(360)));
}

#[test]
fn header_values_are_trimmed_and_bad_counts_ignored() {
    let got = info(&[
        ("x-ratelimit-limit-requests", " 60 "),
        ("x-ratelimit-remaining-requests", "many"),
    ]);
    assert_eq!(got.limit_requests, Some(60));
    assert_eq!(got.remaining_requests, None);
}

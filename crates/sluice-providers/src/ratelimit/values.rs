//! Parsers for the values of rate-limit headers: counts, decimal seconds and milliseconds, Go
//! durations (`1h2m3.5s`), HTTP-dates and RFC 3339 timestamps.
//!
//! Durations are computed in integer nanoseconds, so `20ms` is exactly 20 ms (no float rounding).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: u128 = 1_000_000_000;
const NANOS_PER_MILLI: u128 = 1_000_000;

/// A non-negative integer count (`x-ratelimit-remaining-requests: 59`).
pub(super) fn parse_count(v: &str) -> Option<u64> {
    v.parse().ok()
}

/// `retry-after-ms: 1500` or `: 12.5` (milliseconds, fractional allowed).
pub(super) fn parse_retry_after_ms(v: &str) -> Option<Duration> {
    scaled_decimal(v, NANOS_PER_MILLI).map(nanos_to_duration)
}

/// `retry-after: 20`, `: 1.5` (seconds) or `: Wed, 21 Oct 2015 07:28:00 GMT` (an HTTP-date; a
/// date in the past means no wait).
pub(super) fn parse_retry_after(v: &str, now_unix_secs: u64) -> Option<Duration> {
    if let Some(nanos) = scaled_decimal(v, NANOS_PER_SEC) {
        return Some(nanos_to_duration(nanos));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(until(at, now_unix_secs))
}

/// OpenAI's reset values are Go durations: `1s`, `6m0s`, `20ms`, `1h2m3.5s`, `0.5s`. A bare
/// number is taken as seconds, as some OpenAI-compatible servers send one.
pub(super) fn parse_go_duration(v: &str) -> Option<Duration> {
    if let Some(nanos) = scaled_decimal(v, NANOS_PER_SEC) {
        return Some(nanos_to_duration(nanos));
    }
    let mut total: u128 = 0;
    let mut rest = v;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "h" => 3600 * NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "s" => NANOS_PER_SEC,
            "ms" => NANOS_PER_MILLI,
            "us" | "µs" | "μs" => 1_000,
            "ns" => 1,
            _ => return None,
        };
        total = total.checked_add(scaled_decimal(number, scale)?)?;
        rest = tail;
    }
    Some(nanos_to_duration(total))
}

/// Time from `now_unix_secs` until an RFC 3339 timestamp (`2024-04-18T17:07:29Z`); zero if it
/// has passed.
pub(super) fn until_rfc3339(v: &str, now_unix_secs: u64) -> Option<Duration> {
    parse_rfc3339(v).map(|at| until(at, now_unix_secs))
}

fn parse_rfc3339(v: &str) -> Option<SystemTime> {
    if let Ok(at) = humantime::parse_rfc3339_weak(v) {
        return Some(at);
    }
    // humantime knows only UTC (`Z`, `+00:00`); Anthropic sends `Z`, but accept any `±HH:MM`.
    let split = v.len().checked_sub(6)?;
    let (local, offset) = (v.get(..split)?, v.get(split..)?.as_bytes());
    let [sign, h1, h2, b':', m1, m2] = *offset else {
        return None;
    };
    let digits = [h1, h2, m1, m2];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let [h1, h2, m1, m2] = digits.map(|d| u64::from(d - b'0'));
    let offset = Duration::from_secs((h1 * 10 + h2) * 3600 + (m1 * 10 + m2) * 60);
    let local = humantime::parse_rfc3339_weak(local).ok()?;
    // Local time is UTC plus the offset, so UTC is local minus it.
    match sign {
        b'+' => local.checked_sub(offset),
        b'-' => local.checked_add(offset),
        _ => None,
    }
}

fn until(at: SystemTime, now_unix_secs: u64) -> Duration {
    let now = UNIX_EPOCH + Duration::from_secs(now_unix_secs);
    at.duration_since(now).unwrap_or(Duration::ZERO)
}

/// A non-negative decimal (`12`, `0.5`, `.5`, `3.`) times `scale`, in integer arithmetic.
/// Fraction digits beyond the 18th are ignored (far below a nanosecond).
fn scaled_decimal(v: &str, scale: u128) -> Option<u128> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let (mut frac_value, mut denominator) = (0u128, 1u128);
    for digit in frac.bytes().take(18) {
        frac_value = frac_value * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }
    // frac_value < 10^18 and scale <= 3.6 * 10^12, so the product fits in a u128.
    int.checked_mul(scale)?
        .checked_add(frac_value * scale / denominator)
}

fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits in a u32.
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, subsec)
}

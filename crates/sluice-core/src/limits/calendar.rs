//! Budget periods on the UTC calendar, by hand: Howard Hinnant's `days_from_civil` /
//! `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>), exact for every
//! proleptic Gregorian date an `i64` of milliseconds can hold.
//!
//! Periods, for a time `t` in Unix milliseconds (UTC, leap seconds ignored as Unix time does):
//! - `nM`: months are numbered from year 0 (`year × 12 + month − 1`) and grouped by `n`, so `1M`
//!   is each calendar month, `3M` the quarters (Jan, Apr, Jul, Oct), `12M` the years.
//! - `nY`: years grouped by `n` from year 0 (`2Y` starts in even years).
//! - fixed lengths (`1h`, `1d`, ...) are aligned to the Unix epoch — days start at 00:00 UTC —
//!   except whole weeks, which start on Mondays 00:00 UTC (ISO weeks), not on Thursdays as the
//!   epoch did.

use crate::governance::ResetDuration;

pub const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_WEEK: i64 = 7 * MS_PER_DAY;
/// 1970-01-05, the first Monday after the epoch, in ms.
const FIRST_MONDAY_MS: i64 = 4 * MS_PER_DAY;

/// Days since 1970-01-01 of the civil date `y-m-d` (`m` in 1..=12, `d` in 1..=31).
///
/// ```
/// use sluice_core::limits::calendar::days_from_civil;
/// assert_eq!(days_from_civil(1970, 1, 1), 0);
/// assert_eq!(days_from_civil(2000, 3, 1), 11_017);
/// ```
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number (days since 1970-01-01).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    // The ranges above make both casts lossless.
    (y, m as u32, d as u32)
}

/// `[start, end)` in Unix ms of the `reset` period that contains `now_ms`.
///
/// ```
/// use sluice_core::limits::calendar::{days_from_civil, period_bounds, MS_PER_DAY};
/// let day = |y, m, d| days_from_civil(y, m, d) * MS_PER_DAY;
/// let now = day(2024, 2, 29) + 5_000;
/// assert_eq!(period_bounds("1M".parse().unwrap(), now), (day(2024, 2, 1), day(2024, 3, 1)));
/// ```
pub fn period_bounds(reset: ResetDuration, now_ms: i64) -> (i64, i64) {
    match reset {
        ResetDuration::Fixed(d) => {
            let len = i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1);
            let offset = if len % MS_PER_WEEK == 0 {
                FIRST_MONDAY_MS
            } else {
                0
            };
            let start = offset.saturating_add(
                now_ms
                    .saturating_sub(offset)
                    .div_euclid(len)
                    .saturating_mul(len),
            );
            (start, start.saturating_add(len))
        }
        ResetDuration::Months(n) => {
            let n = i64::from(n.max(1));
            let (y, m, _) = civil_from_days(now_ms.div_euclid(MS_PER_DAY));
            let first = (y * 12 + i64::from(m) - 1).div_euclid(n) * n;
            (month_start_ms(first), month_start_ms(first + n))
        }
        ResetDuration::Years(n) => {
            let n = i64::from(n.max(1));
            let (y, _, _) = civil_from_days(now_ms.div_euclid(MS_PER_DAY));
            let first = y.div_euclid(n) * n;
            (month_start_ms(first * 12), month_start_ms((first + n) * 12))
        }
    }
}

/// Unix ms of 00:00 UTC on the first day of month number `months` (`year × 12 + month − 1`).
fn month_start_ms(months: i64) -> i64 {
    let y = months.div_euclid(12);
    // rem_euclid(12) is in 0..12, so the cast is lossless.
    let m = months.rem_euclid(12) as u32 + 1;
    days_from_civil(y, m, 1).saturating_mul(MS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d) * MS_PER_DAY
    }

    fn bounds(reset: &str, now: i64) -> (i64, i64) {
        period_bounds(reset.parse().unwrap(), now)
    }

    #[test]
    fn known_dates_convert_both_ways() {
        for (date, days) in [
            ((1970, 1, 1), 0),
            ((1969, 12, 31), -1),
            ((2000, 2, 29), 11_016),
            ((2024, 12, 31), 20_088),
            ((1600, 3, 1), -135_080),
        ] {
            assert_eq!(days_from_civil(date.0, date.1, date.2), days, "{date:?}");
            assert_eq!(civil_from_days(days), date);
        }
    }

    #[test]
    fn monthly_budget_resets_at_the_first_of_the_next_month_utc() {
        let now = day(2025, 1, 31) + MS_PER_DAY - 1;
        assert_eq!(bounds("1M", now), (day(2025, 1, 1), day(2025, 2, 1)));
        let now = day(2024, 12, 15);
        assert_eq!(bounds("1M", now), (day(2024, 12, 1), day(2025, 1, 1)));
    }

    #[test]
    fn february_has_its_leap_day() {
        assert_eq!(
            bounds("1M", day(2024, 2, 29)),
            (day(2024, 2, 1), day(2024, 3, 1))
        );
        assert_eq!(bounds("1M", day(2023, 2, 28)).1, day(2023, 3, 1));
    }

    #[test]
    fn quarters_and_years_align_to_calendar_boundaries() {
        assert_eq!(
            bounds("3M", day(2025, 5, 20)),
            (day(2025, 4, 1), day(2025, 7, 1))
        );
        assert_eq!(
            bounds("1Y", day(2025, 5, 20)),
            (day(2025, 1, 1), day(2026, 1, 1))
        );
        assert_eq!(
            bounds("2Y", day(2025, 5, 20)),
            (day(2024, 1, 1), day(2026, 1, 1))
        );
    }

    #[test]
    fn days_start_at_midnight_utc_and_weeks_on_monday() {
        let now = day(2025, 3, 13) + 15 * 3_600_000; // a Thursday afternoon
        assert_eq!(bounds("1d", now), (day(2025, 3, 13), day(2025, 3, 14)));
        assert_eq!(bounds("1w", now), (day(2025, 3, 10), day(2025, 3, 17)));
        assert_eq!(bounds("1h", now), (now, now + 3_600_000));
    }

    #[test]
    fn times_before_the_epoch_still_have_periods() {
        assert_eq!(bounds("1d", -1), (-MS_PER_DAY, 0));
        assert_eq!(bounds("1M", -1), (day(1969, 12, 1), 0));
    }

    proptest! {
        #[test]
        fn civil_round_trips(days in -10_000_000i64..10_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn every_instant_lies_in_its_period_and_periods_tile(
            now in -4_000_000_000_000i64..8_000_000_000_000,
            reset in prop_oneof![
                Just("1M"), Just("3M"), Just("1Y"), Just("2Y"), Just("1d"), Just("1w"),
                Just("2w"), Just("5m"), Just("7s"),
            ],
        ) {
            let (start, end) = bounds(reset, now);
            prop_assert!(start <= now && now < end);
            prop_assert_eq!(bounds(reset, end).0, end, "the next period starts at this end");
            prop_assert_eq!(bounds(reset, start), (start, end));
        }
    }
}

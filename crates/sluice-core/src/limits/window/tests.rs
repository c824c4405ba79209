use super::*;
use proptest::prelude::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn admits_up_to_max_then_refuses() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(3, secs(60));
    assert!(w.reserve(t0, 2).is_some());
    assert!(w.reserve(t0, 1).is_some());
    assert!(w.reserve(t0, 1).is_none());
    assert_eq!(w.used(t0), 3);
    assert_eq!(w.available(t0), 0);
}

#[test]
fn refused_reservation_changes_nothing() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    w.reserve(t0, 7).unwrap();
    let before = w.clone();
    assert!(w.reserve(t0 + secs(5), 4).is_none());
    assert_eq!(w, before);
}

#[test]
fn more_than_max_never_fits() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    assert!(w.reserve(t0, 11).is_none());
    assert_eq!(w.retry_in(t0, 11), None);
    assert_eq!(w.retry_in(t0, 10), Some(Duration::ZERO));
}

#[test]
fn usage_slides_out_one_bucket_after_the_window() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(5, secs(60));
    w.reserve(t0, 5).unwrap();
    // Still counted at exactly one window later: [t0, t0 + 60 s] contains t0.
    assert_eq!(w.used(t0 + secs(60)), 5);
    assert_eq!(w.used(t0 + ms(60_999)), 5);
    assert_eq!(w.used(t0 + secs(61)), 0);
    assert!(w.reserve(t0 + secs(61), 5).is_some());
}

#[test]
fn older_buckets_free_first() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    w.reserve(t0, 4).unwrap();
    w.reserve(t0 + secs(20), 6).unwrap();
    assert_eq!(w.used(t0 + secs(61)), 6);
    assert_eq!(w.used(t0 + secs(81)), 0);
}

#[test]
fn retry_in_waits_for_enough_units_to_leave() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    w.reserve(t0, 3).unwrap();
    w.reserve(t0 + secs(10), 7).unwrap();
    let now = t0 + secs(30);
    assert_eq!(
        w.retry_in(now, 3),
        Some(secs(31)),
        "the first 3 free at 61 s"
    );
    assert_eq!(
        w.retry_in(now, 4),
        Some(secs(41)),
        "4 need the second bucket too"
    );
    assert_eq!(w.reset_in(now), secs(41));
}

#[test]
fn refund_comes_out_of_the_reserving_bucket() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    let slot = w.reserve(t0, 8).unwrap();
    w.reserve(t0 + secs(30), 2).unwrap();
    assert_eq!(w.release(t0 + secs(31), slot, 5), 5);
    assert_eq!(w.used(t0 + secs(31)), 5);
    // The remaining 3 of the first bucket still leave at 61 s, not later.
    assert_eq!(w.used(t0 + secs(61)), 2);
}

#[test]
fn refund_never_goes_below_zero() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    let slot = w.reserve(t0, 2).unwrap();
    assert_eq!(w.release(t0, slot, 5), 2);
    assert_eq!(w.used(t0), 0);
}

#[test]
fn refund_after_the_bucket_expired_gives_nothing_back() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    let slot = w.reserve(t0, 4).unwrap();
    w.reserve(t0 + secs(70), 3).unwrap();
    assert_eq!(w.release(t0 + secs(70), slot, 4), 0);
    assert_eq!(w.used(t0 + secs(70)), 3);
}

#[test]
fn extra_debit_can_exceed_max_and_blocks_until_it_slides() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    w.reserve(t0, 10).unwrap();
    w.debit(t0 + secs(1), 5);
    assert_eq!(w.used(t0 + secs(1)), 15);
    assert_eq!(w.available(t0 + secs(1)), 0);
    assert!(
        w.reserve(t0 + secs(61), 6).is_none(),
        "the debit at 1 s still counts"
    );
    assert_eq!(w.used(t0 + secs(61)), 5);
    assert!(w.reserve(t0 + secs(62), 10).is_some());
}

#[test]
fn an_earlier_instant_counts_as_the_latest() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    w.reserve(t0 + secs(30), 1).unwrap();
    // A caller that read the clock before another took the lock.
    w.reserve(t0, 1).unwrap();
    assert_eq!(w.used(t0 + secs(90)), 2);
    assert_eq!(w.used(t0 + secs(91)), 0);
}

#[test]
fn raising_max_keeps_usage() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(5, secs(60));
    w.reserve(t0, 5).unwrap();
    w.set_max(8);
    assert_eq!(w.available(t0), 3);
}

#[test]
fn changing_the_window_keeps_usage_for_a_full_new_window() {
    let t0 = Instant::now();
    let mut w = SlidingWindow::new(10, secs(60));
    let slot = w.reserve(t0, 6).unwrap();
    w.set_window(t0 + secs(10), secs(3600));
    assert_eq!(w.used(t0 + secs(10)), 6);
    assert_eq!(
        w.release(t0 + secs(10), slot, 6),
        0,
        "stale slots refund nothing"
    );
    assert_eq!(w.used(t0 + secs(3600)), 6);
    assert_eq!(w.used(t0 + secs(3600 + 130)), 0);
}

#[test]
fn odd_windows_round_the_bucket_width_up() {
    let w = SlidingWindow::new(1, secs(7));
    assert_eq!(w.granularity(), Duration::from_nanos(116_666_667));
    let tiny = SlidingWindow::new(1, Duration::from_nanos(10));
    assert_eq!(tiny.granularity(), Duration::from_nanos(1));
}

#[derive(Debug, Clone)]
enum Op {
    Reserve(u64),
    /// Refund part of an earlier reservation: (which, numerator out of 4).
    Refund(usize, u64),
    Wait(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => (1u64..6).prop_map(Op::Reserve),
            2 => (any::<usize>(), 0u64..5).prop_map(|(i, k)| Op::Refund(i, k)),
            3 => (0u64..4_000).prop_map(Op::Wait),
        ],
        1..300,
    )
}

proptest! {
    /// The window is never late to count and never more than one bucket late to free:
    /// units recorded in [now − window, now] ≤ used(now) ≤ units recorded in
    /// [now − (N+1)·g, now]; and used(now) ≤ max (no extra debits here), so admitted usage in
    /// any trailing window never exceeds max.
    #[test]
    fn admitted_usage_in_any_trailing_window_never_exceeds_max(
        ops in ops(),
        max in 1u64..20,
        window_ms in 1_000u64..20_000,
    ) {
        let window = ms(window_ms);
        let t0 = Instant::now();
        let mut now = t0;
        let mut w = SlidingWindow::new(max, window);
        let hold = w.granularity() * (WINDOW_BUCKETS as u32 + 1);
        // (recorded at, units still counted, slot)
        let mut log: Vec<(Instant, u64, WindowSlot)> = Vec::new();
        for op in ops {
            match op {
                Op::Wait(d) => now += ms(d),
                Op::Reserve(n) => {
                    let before = w.clone();
                    match w.reserve(now, n) {
                        Some(slot) => log.push((now, n, slot)),
                        None => {
                            prop_assert_eq!(&w, &before);
                            prop_assert!(w.used(now) + n > max);
                        }
                    }
                }
                Op::Refund(i, k) => {
                    if log.is_empty() {
                        continue;
                    }
                    let i = i % log.len();
                    let (_, units, slot) = log[i];
                    let want = units * k / 4;
                    let got = w.release(now, slot, want);
                    prop_assert!(got <= want);
                    log[i].1 -= got;
                }
            }
            let in_window: u64 = log
                .iter()
                .filter(|(at, _, _)| now.duration_since(*at) <= window)
                .map(|(_, u, _)| u)
                .sum();
            let in_hold: u64 = log
                .iter()
                .filter(|(at, _, _)| now.duration_since(*at) < hold)
                .map(|(_, u, _)| u)
                .sum();
            let used = w.used(now);
            prop_assert!(in_window <= used, "{} recorded in the window, {} counted", in_window, used);
            prop_assert!(used <= in_hold, "{} counted, only {} recorded in (N+1)·g", used, in_hold);
            prop_assert!(used <= max);
        }
    }
}

use super::*;
use proptest::prelude::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Fails `n` requests through `b` at `now`.
fn fail(b: &mut CircuitBreaker, now: Instant, n: u32) {
    for _ in 0..n {
        let p = b.try_acquire(now).expect("admitted");
        b.record_failure(p, now);
    }
}

#[test]
fn stays_closed_below_the_threshold() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(3, secs(30));
    fail(&mut b, t0, 2);
    assert_eq!(b.state(t0), BreakerState::Closed);
    assert_eq!(b.consecutive_failures(), 2);
}

#[test]
fn opens_after_threshold_consecutive_failures() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(3, secs(30));
    fail(&mut b, t0, 3);
    assert_eq!(
        b.state(t0),
        BreakerState::Open {
            until: t0 + secs(30)
        }
    );
    assert!(b.try_acquire(t0 + secs(29)).is_none());
    assert!(!b.is_admitting(t0 + secs(29)));
}

#[test]
fn a_success_between_failures_resets_the_count() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(3, secs(30));
    fail(&mut b, t0, 2);
    let p = b.try_acquire(t0).unwrap();
    b.record_success(p, t0);
    fail(&mut b, t0, 2);
    assert_eq!(b.state(t0), BreakerState::Closed);
}

#[test]
fn half_open_admits_exactly_one_probe() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, secs(30));
    fail(&mut b, t0, 1);
    let t1 = t0 + secs(30);
    assert!(b.is_admitting(t1));
    assert_eq!(
        b.state(t1),
        BreakerState::HalfOpen {
            probe_in_flight: false
        }
    );
    let probe = b.try_acquire(t1).unwrap();
    assert!(probe.is_probe());
    assert!(b.try_acquire(t1).is_none());
    assert!(b.try_acquire(t1 + secs(10)).is_none());
    assert_eq!(
        b.state(t1),
        BreakerState::HalfOpen {
            probe_in_flight: true
        }
    );
}

#[test]
fn probe_success_closes_the_breaker() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, secs(30));
    fail(&mut b, t0, 1);
    let probe = b.try_acquire(t0 + secs(30)).unwrap();
    b.record_success(probe, t0 + secs(31));
    assert_eq!(b.state(t0 + secs(31)), BreakerState::Closed);
    let p = b.try_acquire(t0 + secs(31)).unwrap();
    assert!(!p.is_probe());
}

#[test]
fn probe_failure_reopens_for_twice_as_long_up_to_the_cap() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, secs(10)).with_max_open_for(secs(35));
    fail(&mut b, t0, 1);
    let mut now = t0;
    let mut open_times = Vec::new();
    for _ in 0..4 {
        let BreakerState::Open { until } = b.state(now) else {
            panic!("expected open")
        };
        open_times.push((until - now).as_secs());
        now = until;
        let probe = b.try_acquire(now).unwrap();
        b.record_failure(probe, now);
    }
    assert_eq!(open_times, [10, 20, 35, 35]);
}

#[test]
fn open_time_resets_after_the_breaker_closes() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, secs(10)).with_max_open_for(secs(80));
    fail(&mut b, t0, 1);
    let probe = b.try_acquire(t0 + secs(10)).unwrap();
    b.record_failure(probe, t0 + secs(10)); // open 20 s
    let probe = b.try_acquire(t0 + secs(30)).unwrap();
    b.record_success(probe, t0 + secs(30));
    fail(&mut b, t0 + secs(40), 1);
    assert_eq!(
        b.state(t0 + secs(40)),
        BreakerState::Open {
            until: t0 + secs(50)
        }
    );
}

#[test]
fn stale_outcomes_from_before_opening_are_ignored() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(2, secs(30));
    let [early, late, later] = [(); 3].map(|_| b.try_acquire(t0).unwrap());
    fail(&mut b, t0, 2);
    // A late success must not close an open breaker, nor a late failure extend it.
    b.record_success(early, t0 + secs(1));
    b.record_failure(late, t0 + secs(20));
    assert_eq!(
        b.state(t0 + secs(1)),
        BreakerState::Open {
            until: t0 + secs(30)
        }
    );
    // Nor may it decide the half-open state in the probe's place.
    let probe = b.try_acquire(t0 + secs(30)).unwrap();
    b.record_success(later, t0 + secs(31));
    assert!(matches!(
        b.state(t0 + secs(31)),
        BreakerState::HalfOpen { .. }
    ));
    b.record_success(probe, t0 + secs(31));
    assert_eq!(b.state(t0 + secs(31)), BreakerState::Closed);
}

#[test]
fn released_probe_lets_the_next_request_probe() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, secs(30));
    fail(&mut b, t0, 1);
    let probe = b.try_acquire(t0 + secs(30)).unwrap();
    b.release(probe);
    let next = b.try_acquire(t0 + secs(30)).unwrap();
    assert!(next.is_probe());
}

#[test]
fn abandoned_probe_expires_after_the_open_time() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, secs(30));
    fail(&mut b, t0, 1);
    let lost = b.try_acquire(t0 + secs(30)).unwrap();
    assert!(b.try_acquire(t0 + secs(59)).is_none());
    let second = b.try_acquire(t0 + secs(60)).unwrap();
    assert!(second.is_probe());
    // The first probe's late outcome no longer decides anything.
    b.record_success(lost, t0 + secs(61));
    assert!(matches!(
        b.state(t0 + secs(61)),
        BreakerState::HalfOpen { .. }
    ));
}

#[test]
fn dispatch_config_sets_threshold_and_open_time() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::from_dispatch(&DispatchConfig {
        breaker_failure_threshold: 2,
        breaker_open_ms: 1_000,
        ..DispatchConfig::default()
    });
    fail(&mut b, t0, 2);
    assert_eq!(
        b.state(t0),
        BreakerState::Open {
            until: t0 + secs(1)
        }
    );
}

#[derive(Debug, Clone)]
enum Op {
    /// Advance the clock by this many milliseconds.
    Wait(u64),
    Acquire,
    /// Report the outcome of the outstanding permit at this index (modulo).
    Succeed(usize),
    Fail(usize),
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..20_000).prop_map(Op::Wait),
        Just(Op::Acquire),
        any::<usize>().prop_map(Op::Succeed),
        any::<usize>().prop_map(Op::Fail),
        any::<usize>().prop_map(Op::Release),
    ]
}

proptest! {
    /// Whatever the interleaving, a new probe is only admitted once every earlier probe has
    /// reported back or outlived its lease, and an open breaker admits nothing.
    #[test]
    fn never_two_live_probes_and_never_admits_while_open(
        ops in prop::collection::vec(op(), 1..200),
        threshold in 1u32..5,
    ) {
        let t0 = Instant::now();
        let open_for = secs(10);
        let mut b = CircuitBreaker::new(threshold, open_for).with_max_open_for(secs(40));
        let mut now = t0;
        let mut outstanding: Vec<(Permit, Instant)> = Vec::new();
        for op in ops {
            match op {
                Op::Wait(ms) => now += Duration::from_millis(ms),
                Op::Acquire => {
                    let before = b.state(now);
                    match b.try_acquire(now) {
                        Some(p) => {
                            prop_assert!(
                                !matches!(before, BreakerState::Open { .. }),
                                "admitted while open"
                            );
                            if p.is_probe() {
                                for (q, at) in &outstanding {
                                    prop_assert!(
                                        !q.is_probe() || now - *at >= open_for,
                                        "second probe while one is live"
                                    );
                                }
                            }
                            outstanding.push((p, now));
                        }
                        None => prop_assert!(!b.is_admitting(now)),
                    }
                }
                Op::Succeed(i) | Op::Fail(i) | Op::Release(i) if !outstanding.is_empty() => {
                    let (p, _) = outstanding.remove(i % outstanding.len());
                    match op {
                        Op::Succeed(_) => b.record_success(p, now),
                        Op::Fail(_) => b.record_failure(p, now),
                        _ => b.release(p),
                    }
                }
                _ => {}
            }
        }
    }

    /// Fewer than `threshold` failures in a row never open the breaker.
    #[test]
    fn fewer_than_threshold_failures_in_a_row_never_open(
        outcomes in prop::collection::vec(any::<bool>(), 1..200),
        threshold in 1u32..6,
    ) {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(threshold, secs(10));
        let mut run = 0;
        for ok in outcomes {
            let p = b.try_acquire(t0);
            prop_assert!(p.is_some(), "refused after a run of {} < {}", run, threshold);
            let p = p.unwrap();
            if ok {
                b.record_success(p, t0);
                run = 0;
            } else if run + 1 < threshold {
                b.record_failure(p, t0);
                run += 1;
            } else {
                b.record_success(p, t0);
                run = 0;
            }
        }
    }
}

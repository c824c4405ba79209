use super::*;

const MS: Duration = Duration::from_millis(1);

fn at(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn one_request(tokens: u64) -> Cost {
    Cost {
        requests: 1,
        tokens,
    }
}

fn rpm(n: u64) -> Limits {
    Limits {
        requests: Some(n),
        tokens: None,
    }
}

fn refused(admission: Admission) -> Refusal {
    match admission {
        Admission::Refused(r) => r,
        Admission::Admitted(q) => panic!("expected a refusal, got admitted with {q:?}"),
    }
}

fn admitted(admission: Admission) -> Quotas {
    match admission {
        Admission::Admitted(q) => q,
        Admission::Refused(r) => panic!("expected admission, got {r:?}"),
    }
}

#[test]
fn requests_over_the_limit_are_refused_until_the_oldest_leaves_the_window() {
    let mut w = Window::default();
    for t in [0, 1_000, 2_000] {
        admitted(w.admit(at(t), rpm(3), one_request(1)));
    }
    let r = refused(w.admit(at(30_000), rpm(3), one_request(1)));
    assert_eq!(r.kind, LimitKind::Requests);
    assert_eq!((r.limit, r.used, r.requested), (3, 3, 1));
    assert_eq!(r.retry_after, at(30_000));
    assert!(!r.never_fits());

    // One millisecond before the first request expires it still does not fit; at expiry it does.
    refused(w.admit(at(59_999), rpm(3), one_request(1)));
    let q = admitted(w.admit(at(60_000), rpm(3), one_request(1)));
    assert_eq!(q.requests.unwrap().remaining, 0);
}

#[test]
fn remaining_counts_down_and_reset_is_when_the_oldest_usage_expires() {
    let mut w = Window::default();
    let q = admitted(w.admit(at(0), rpm(5), one_request(1)));
    assert_eq!(
        q.requests,
        Some(Quota {
            limit: 5,
            remaining: 4,
            reset: WINDOW
        })
    );
    let q = admitted(w.admit(at(15_000), rpm(5), one_request(1)));
    let quota = q.requests.unwrap();
    assert_eq!(quota.remaining, 3);
    assert_eq!(quota.reset, at(45_000));
    assert_eq!(q.tokens, None, "no token limit configured, no token quota");
}

#[test]
fn tokens_are_admitted_all_or_nothing() {
    let limits = Limits {
        requests: None,
        tokens: Some(100),
    };
    let mut w = Window::default();
    admitted(w.admit(at(0), limits, one_request(60)));
    let r = refused(w.admit(at(10), limits, one_request(41)));
    assert_eq!(r.kind, LimitKind::Tokens);
    assert_eq!((r.used, r.requested), (60, 41));
    assert_eq!(r.retry_after, at(59_990));
    // A smaller request still fits the 40 tokens left.
    let q = admitted(w.admit(at(20), limits, one_request(40)));
    assert_eq!(q.tokens.unwrap().remaining, 0);
}

#[test]
fn refused_requests_take_nothing_from_the_window() {
    let mut w = Window::default();
    admitted(w.admit(at(0), rpm(1), one_request(1)));
    for t in 1..50 {
        refused(w.admit(at(t * 1_000), rpm(1), one_request(1)));
    }
    admitted(w.admit(at(60_000), rpm(1), one_request(1)));
}

#[test]
fn a_request_larger_than_the_limit_never_fits() {
    let limits = Limits {
        requests: None,
        tokens: Some(10),
    };
    let mut w = Window::default();
    let r = refused(w.admit(at(0), limits, one_request(11)));
    assert!(r.never_fits());
    assert_eq!(r.retry_after, WINDOW);
}

#[test]
fn the_limit_needing_the_longest_wait_is_reported() {
    let limits = Limits {
        requests: Some(2),
        tokens: Some(100),
    };
    let mut w = Window::default();
    admitted(w.admit(at(0), limits, one_request(90)));
    admitted(w.admit(at(20_000), limits, one_request(5)));
    // Requests free at 60 s (first entry); 10 more tokens need the first entry gone too, so
    // both wait for it: the tie goes to requests.
    let r = refused(w.admit(at(30_000), limits, one_request(10)));
    assert_eq!(r.kind, LimitKind::Requests);
    assert_eq!(r.retry_after, at(30_000));
    assert_eq!(r.quotas.tokens.unwrap().remaining, 5);
}

#[test]
fn usage_within_one_granule_expires_with_its_latest_member() {
    let mut w = Window::default();
    admitted(w.admit(at(0), rpm(2), one_request(1)));
    admitted(w.admit(at(9), rpm(2), one_request(1)));
    assert_eq!(w.entries.len(), 1);
    // Never admits early: both expire at 60.009 s, not at 60 s.
    refused(w.admit(at(60_000), rpm(2), one_request(1)));
    admitted(w.admit(at(60_009), rpm(2), one_request(1)));
}

#[test]
fn a_clock_read_slightly_behind_the_last_entry_is_harmless() {
    let mut w = Window::default();
    admitted(w.admit(at(100), rpm(3), one_request(1)));
    admitted(w.admit(at(100) - MS, rpm(3), one_request(1)));
    let q = admitted(w.admit(at(100) - MS, rpm(3), one_request(1)));
    assert_eq!(q.requests.unwrap().remaining, 0);
    assert_eq!(q.requests.unwrap().reset, WINDOW + MS);
}

#[test]
fn entries_stay_bounded_under_heavy_load() {
    let mut w = Window::default();
    let limits = rpm(u64::MAX);
    for t in 0..200_000u64 {
        admitted(w.admit(Duration::from_micros(t * 500), limits, one_request(1)));
    }
    assert!(w.entries.len() <= 6_001, "{} entries", w.entries.len());
}

#[test]
fn unlimited_limits_admit_everything() {
    let mut w = Window::default();
    for _ in 0..1000 {
        let q = admitted(w.admit(at(0), Limits::default(), one_request(1_000_000)));
        assert_eq!(q, Quotas::default());
    }
}

use super::*;

use FailureClass::{Caller, Credential, Quota, RateLimited, Transient};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// First attempt failed; 2 retries allowed; backoff ceilings 100, 200, 400 ms…; jitter 0.5; no
/// upstream wait; a minute left; no other key; provider up; budget available.
fn failed(class: FailureClass) -> FailedAttempt {
    FailedAttempt {
        class,
        attempt: 1,
        max_retries: 2,
        backoff: Backoff::new(ms(100), ms(1_000)),
        jitter_u: 0.5,
        upstream_wait: None,
        remaining_deadline: ms(60_000),
        other_key_available: false,
        provider_available: true,
        retry_budget_allows: true,
    }
}

fn other_key(f: FailedAttempt) -> FailedAttempt {
    FailedAttempt {
        other_key_available: true,
        ..f
    }
}

fn attempt(n: u32, f: FailedAttempt) -> FailedAttempt {
    FailedAttempt { attempt: n, ..f }
}

fn wait(w: u64, f: FailedAttempt) -> FailedAttempt {
    FailedAttempt {
        upstream_wait: Some(ms(w)),
        ..f
    }
}

fn deadline(d: u64, f: FailedAttempt) -> FailedAttempt {
    FailedAttempt {
        remaining_deadline: ms(d),
        ..f
    }
}

fn no_budget(f: FailedAttempt) -> FailedAttempt {
    FailedAttempt {
        retry_budget_allows: false,
        ..f
    }
}

fn provider_down(f: FailedAttempt) -> FailedAttempt {
    FailedAttempt {
        provider_available: false,
        ..f
    }
}

fn same(after: u64) -> Next {
    Next::RetrySameKey { after: ms(after) }
}

fn other(after: u64) -> Next {
    Next::RetryOtherKey { after: ms(after) }
}

#[test]
fn decision_table() {
    let rows: Vec<(&str, FailedAttempt, Next)> = vec![
        // Caller: the request is wrong; nothing else helps.
        ("caller gives up", failed(Caller), Next::GiveUp),
        (
            "caller gives up even with keys",
            other_key(failed(Caller)),
            Next::GiveUp,
        ),
        // Credential / Quota: next key at once, no budget needed.
        (
            "bad key, sibling ready",
            other_key(failed(Credential)),
            other(0),
        ),
        (
            "no quota, sibling ready",
            other_key(failed(Quota)),
            other(0),
        ),
        (
            "bad key, no budget still switches",
            no_budget(other_key(failed(Credential))),
            other(0),
        ),
        (
            "bad key, retries spent still switches",
            attempt(9, other_key(failed(Quota))),
            other(0),
        ),
        ("bad key, no sibling", failed(Credential), Next::FailOver),
        ("no quota, no sibling", failed(Quota), Next::FailOver),
        // RateLimited: sibling at once, else wait out the cooldown if it fits.
        (
            "429, sibling ready",
            other_key(wait(5_000, failed(RateLimited))),
            other(0),
        ),
        (
            "429, sibling ready, retries spent",
            attempt(3, other_key(failed(RateLimited))),
            other(0),
        ),
        (
            "429, sibling ready, no budget",
            no_budget(other_key(failed(RateLimited))),
            Next::FailOver,
        ),
        (
            "429 alone waits the retry-after",
            wait(2_000, failed(RateLimited)),
            same(2_000),
        ),
        (
            "429 alone, backoff longer than hint",
            wait(10, failed(RateLimited)),
            same(50),
        ),
        (
            "429 alone, hint past deadline",
            deadline(1_000, wait(2_000, failed(RateLimited))),
            Next::FailOver,
        ),
        (
            "429 alone, hint equal to deadline",
            deadline(2_000, wait(2_000, failed(RateLimited))),
            Next::FailOver,
        ),
        (
            "429 alone, retries spent",
            attempt(3, wait(10, failed(RateLimited))),
            Next::FailOver,
        ),
        (
            "429 alone, last retry allowed",
            attempt(2, wait(10, failed(RateLimited))),
            same(100),
        ),
        (
            "429 alone, no budget",
            no_budget(wait(10, failed(RateLimited))),
            Next::FailOver,
        ),
        // Transient: back off and retry, on a sibling if there is one.
        ("5xx backs off", failed(Transient), same(50)),
        (
            "5xx second retry doubles",
            attempt(2, failed(Transient)),
            same(100),
        ),
        (
            "5xx prefers a sibling, still backs off",
            other_key(failed(Transient)),
            other(50),
        ),
        (
            "503 retry-after wins",
            wait(3_000, failed(Transient)),
            same(3_000),
        ),
        (
            "5xx retries spent",
            attempt(3, failed(Transient)),
            Next::FailOver,
        ),
        (
            "5xx retries spent, sibling ready",
            attempt(3, other_key(failed(Transient))),
            Next::FailOver,
        ),
        (
            "5xx no budget",
            no_budget(failed(Transient)),
            Next::FailOver,
        ),
        (
            "5xx backoff past deadline",
            deadline(40, failed(Transient)),
            Next::FailOver,
        ),
        (
            "503 retry-after past deadline",
            deadline(2_000, wait(3_000, failed(Transient))),
            Next::FailOver,
        ),
        (
            "5xx with max_retries 0",
            FailedAttempt {
                max_retries: 0,
                ..failed(Transient)
            },
            Next::FailOver,
        ),
        // Across the board.
        (
            "deadline spent",
            deadline(0, other_key(failed(Transient))),
            Next::GiveUp,
        ),
        (
            "deadline spent, bad key",
            deadline(0, other_key(failed(Credential))),
            Next::GiveUp,
        ),
        (
            "provider breaker open",
            provider_down(other_key(failed(Transient))),
            Next::FailOver,
        ),
        (
            "provider breaker open, bad key",
            provider_down(other_key(failed(Credential))),
            Next::FailOver,
        ),
        (
            "provider breaker open, caller",
            provider_down(failed(Caller)),
            Next::GiveUp,
        ),
    ];
    for (name, input, expected) in rows {
        assert_eq!(next_step(&input), expected, "{name}: {input:?}");
    }
}

#[test]
fn only_budgeted_classes_spend_the_retry_budget() {
    assert!(other(0).spends_retry_budget(RateLimited));
    assert!(same(10).spends_retry_budget(Transient));
    assert!(!other(0).spends_retry_budget(Credential));
    assert!(!other(0).spends_retry_budget(Quota));
    assert!(!Next::FailOver.spends_retry_budget(Transient));
    assert!(!Next::GiveUp.spends_retry_budget(RateLimited));
}

/// Every combination of the inputs, checked against the rules that must hold whatever the row.
#[test]
fn invariants_hold_for_every_combination() {
    let classes = [Transient, RateLimited, Credential, Quota, Caller];
    let waits = [
        None,
        Some(ms(0)),
        Some(ms(30)),
        Some(ms(5_000)),
        Some(ms(120_000)),
    ];
    let deadlines = [ms(0), ms(1), ms(60), ms(5_000), ms(600_000)];
    let mut checked = 0;
    for class in classes {
        for attempt in [1, 2, 3, 4] {
            for max_retries in [0, 1, 3] {
                for jitter_u in [0.0, 0.5, 0.999] {
                    for upstream_wait in waits {
                        for remaining_deadline in deadlines {
                            for bits in 0..8u8 {
                                let f = FailedAttempt {
                                    class,
                                    attempt,
                                    max_retries,
                                    backoff: Backoff::new(ms(100), ms(1_000)),
                                    jitter_u,
                                    upstream_wait,
                                    remaining_deadline,
                                    other_key_available: bits & 1 != 0,
                                    provider_available: bits & 2 != 0,
                                    retry_budget_allows: bits & 4 != 0,
                                };
                                check_invariants(&f, next_step(&f));
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 5 * 4 * 3 * 3 * 5 * 5 * 8);
}

fn check_invariants(f: &FailedAttempt, next: Next) {
    let ctx = format!("{f:?} -> {next:?}");
    let retry_after = match next {
        Next::RetrySameKey { after } | Next::RetryOtherKey { after } => Some(after),
        _ => None,
    };
    if f.class == Caller || f.remaining_deadline.is_zero() {
        assert_eq!(next, Next::GiveUp, "{ctx}");
        return;
    }
    assert_ne!(
        next,
        Next::GiveUp,
        "only callers and spent deadlines give up: {ctx}"
    );
    if !f.provider_available {
        assert_eq!(next, Next::FailOver, "{ctx}");
    }
    if let Some(after) = retry_after {
        assert!(
            after < f.remaining_deadline,
            "waits past the deadline: {ctx}"
        );
        if next.spends_retry_budget(f.class) {
            assert!(f.retry_budget_allows, "retries without budget: {ctx}");
        }
    }
    if let Next::RetryOtherKey { .. } = next {
        assert!(f.other_key_available, "no other key to go to: {ctx}");
    }
    match f.class {
        Credential | Quota => {
            let expected = if f.other_key_available && f.provider_available {
                other(0)
            } else {
                Next::FailOver
            };
            assert_eq!(next, expected, "{ctx}");
        }
        RateLimited => {
            if let Next::RetrySameKey { after } = next {
                assert!(
                    !f.other_key_available,
                    "waits though a sibling is ready: {ctx}"
                );
                assert!(
                    f.attempt <= f.max_retries,
                    "waits with no retries left: {ctx}"
                );
                assert!(
                    after >= f.upstream_wait.unwrap_or_default(),
                    "sooner than asked: {ctx}"
                );
            }
            if let Next::RetryOtherKey { after } = next {
                assert_eq!(after, Duration::ZERO, "{ctx}");
            }
        }
        Transient => {
            if let Some(after) = retry_after {
                assert!(f.attempt <= f.max_retries, "retries with none left: {ctx}");
                assert!(
                    after >= f.upstream_wait.unwrap_or_default(),
                    "sooner than asked: {ctx}"
                );
                assert!(after >= f.backoff.delay(f.attempt, f.jitter_u), "{ctx}");
                assert_eq!(
                    matches!(next, Next::RetryOtherKey { .. }),
                    f.other_key_available,
                    "prefers another key when one is ready: {ctx}"
                );
            }
        }
        Caller => unreachable!(),
    }
}

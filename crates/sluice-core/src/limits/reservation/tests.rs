use super::*;
use std::time::Duration;

use crate::limits::BudgetLimit;
use crate::limits::calendar::period_bounds;
use proptest::prelude::*;

const T_MS: i64 = 1_750_000_000_000;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn window(max: u64, s: u64) -> Option<WindowLimit> {
    Some(WindowLimit {
        max,
        window: secs(s),
    })
}

fn budget(max_micros: MicroUsd) -> Option<BudgetLimit> {
    Some(BudgetLimit {
        max_micros,
        reset: ResetDuration::Months(1),
    })
}

fn requests(max: u64) -> LimitSpec {
    LimitSpec {
        requests: window(max, 60),
        ..LimitSpec::unlimited()
    }
}

fn tokens(max: u64) -> LimitSpec {
    LimitSpec {
        tokens: window(max, 60),
        ..LimitSpec::unlimited()
    }
}

fn usd(max_micros: MicroUsd) -> LimitSpec {
    LimitSpec {
        budget: budget(max_micros),
        ..LimitSpec::unlimited()
    }
}

fn used(l: &Limiter, now: Instant, scope: &Scope, spec: &LimitSpec) -> Vec<u64> {
    l.usage(now, T_MS, scope, spec)
        .iter()
        .map(|u| u.used)
        .collect()
}

#[test]
fn sixth_request_in_a_minute_is_refused_with_retry_after() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let vk = Scope::virtual_key("vk");
    let charges = ChargeList::new(10, 0).with(vk.clone(), requests(5));
    for _ in 0..5 {
        let r = l.reserve(t0, T_MS, &charges).unwrap();
        l.settle(t0, T_MS, r, Actual::called(10, 0));
    }
    let refusal = l.reserve(t0 + secs(20), T_MS, &charges).unwrap_err();
    assert_eq!(refusal.scope, vk);
    assert_eq!(refusal.kind, LimitKind::Requests);
    assert_eq!((refusal.limit, refusal.used), (5, 5));
    assert_eq!(refusal.retry_after, Some(secs(41)));
    assert!(!refusal.is_budget());
    assert_eq!(
        refusal.to_string(),
        "virtual key 'vk' has used 5 requests of its 5 requests per 1m; retry in 41s"
    );
    assert!(l.reserve(t0 + secs(61), T_MS, &charges).is_ok());
}

#[test]
fn token_refusal_says_what_the_request_needs_and_when_to_retry() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let vk = Scope::virtual_key("vk");
    let _held = l
        .reserve(
            t0,
            T_MS,
            &ChargeList::new(800, 0).with(vk.clone(), tokens(1_000)),
        )
        .unwrap();
    let refusal = l
        .reserve(t0, T_MS, &ChargeList::new(300, 0).with(vk, tokens(1_000)))
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "virtual key 'vk' has used 800 tokens of its 1000 tokens per 1m and this request needs \
         300 tokens; retry in 1m 1s"
    );
}

#[test]
fn a_fat_prompt_is_refused_up_front_and_never_fits() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let charges = ChargeList::new(5_000, 0).with(Scope::virtual_key("vk"), tokens(4_000));
    let refusal = l.reserve(t0, T_MS, &charges).unwrap_err();
    assert_eq!(refusal.kind, LimitKind::Tokens);
    assert_eq!(refusal.retry_after, None);
    assert_eq!(refusal.requested, 5_000);
    assert!(refusal.to_string().contains("needs 5000 tokens"));
}

#[test]
fn refusal_at_one_level_charges_no_level() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let (vk, team) = (Scope::virtual_key("vk"), Scope::team("eng"));
    let vk_spec = LimitSpec {
        requests: window(100, 60),
        tokens: window(10_000, 60),
        budget: budget(1_000_000),
    };
    let charges = ChargeList::new(500, 900_000)
        .with(vk.clone(), vk_spec)
        .with(team.clone(), tokens(400));
    let refusal = l.reserve(t0, T_MS, &charges).unwrap_err();
    assert_eq!(refusal.scope, team);
    assert_eq!(used(&l, t0, &vk, &vk_spec), [0, 0, 0]);
    assert!(l.is_empty());
}

#[test]
fn a_team_budget_exhausted_by_one_key_blocks_its_sibling() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let team = Scope::team("eng");
    let for_key = |id: &str| {
        ChargeList::new(100, 400_000)
            .with(Scope::virtual_key(id), LimitSpec::unlimited())
            .with(team.clone(), usd(1_000_000))
    };
    for _ in 0..2 {
        let r = l.reserve(t0, T_MS, &for_key("a")).unwrap();
        l.settle(t0, T_MS, r, Actual::called(100, 500_000));
    }
    let refusal = l.reserve(t0, T_MS, &for_key("b")).unwrap_err();
    assert_eq!(refusal.scope, team);
    assert!(refusal.is_budget());
    assert_eq!((refusal.used, refusal.limit), (1_000_000, 1_000_000));
    assert!(refusal.retry_after.is_some_and(|d| d > Duration::ZERO));
    assert!(refusal.to_string().contains("$1.00 of its $1.00 per 1M"));
}

#[test]
fn budget_refusal_is_reported_before_a_rate_refusal() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let spec = LimitSpec {
        requests: window(1, 60),
        budget: budget(100),
        ..LimitSpec::unlimited()
    };
    let charges = ChargeList::new(0, 60).with(Scope::customer("acme"), spec);
    let _held = l.reserve(t0, T_MS, &charges).unwrap();
    let refusal = l.reserve(t0, T_MS, &charges).unwrap_err();
    assert_eq!(refusal.kind, LimitKind::BudgetUsd);
}

#[test]
fn unused_tokens_and_cost_are_refunded_at_settle() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let vk = Scope::virtual_key("vk");
    let spec = LimitSpec {
        requests: window(10, 60),
        tokens: window(1_000, 60),
        budget: budget(10_000),
    };
    let charges = ChargeList::new(900, 9_000).with(vk.clone(), spec);
    let r = l.reserve(t0, T_MS, &charges).unwrap();
    assert_eq!(used(&l, t0, &vk, &spec), [1, 900, 9_000]);
    l.settle(t0 + secs(2), T_MS, r, Actual::called(120, 1_500));
    assert_eq!(used(&l, t0 + secs(2), &vk, &spec), [1, 120, 1_500]);
}

#[test]
fn reservation_is_refunded_entirely_when_the_upstream_is_never_called() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let vk = Scope::virtual_key("vk");
    let spec = LimitSpec {
        requests: window(10, 60),
        tokens: window(1_000, 60),
        budget: budget(10_000),
    };
    let r = l
        .reserve(
            t0,
            T_MS,
            &ChargeList::new(900, 9_000).with(vk.clone(), spec),
        )
        .unwrap();
    l.settle(t0, T_MS, r, Actual::not_called());
    assert_eq!(used(&l, t0, &vk, &spec), [0, 0, 0]);
}

#[test]
fn a_failed_upstream_call_counts_as_a_request_but_refunds_tokens() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let vk = Scope::virtual_key("vk");
    let spec = LimitSpec {
        requests: window(10, 60),
        tokens: window(1_000, 60),
        ..LimitSpec::unlimited()
    };
    let r = l
        .reserve(t0, T_MS, &ChargeList::new(900, 0).with(vk.clone(), spec))
        .unwrap();
    l.settle(t0, T_MS, r, Actual::called(0, 0));
    assert_eq!(used(&l, t0, &vk, &spec), [1, 0]);
}

#[test]
fn extra_usage_is_debited_even_over_the_limit_and_then_blocks() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let vk = Scope::virtual_key("vk");
    let charges = ChargeList::new(900, 0).with(vk.clone(), tokens(1_000));
    let r = l.reserve(t0, T_MS, &charges).unwrap();
    l.settle(t0 + secs(1), T_MS, r, Actual::called(1_300, 0));
    assert_eq!(used(&l, t0 + secs(1), &vk, &tokens(1_000)), [1_300]);
    let small = ChargeList::new(1, 0).with(vk, tokens(1_000));
    assert!(l.reserve(t0 + secs(1), T_MS, &small).is_err());
}

#[test]
fn check_says_what_reserve_would_without_reserving() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let pc = Scope::provider_config("vk", "anthropic");
    let charges = ChargeList::new(0, 0).with(pc.clone(), requests(1));
    assert!(l.check(t0, T_MS, &charges).is_ok());
    assert!(l.check(t0, T_MS, &charges).is_ok());
    let _held = l.reserve(t0, T_MS, &charges).unwrap();
    assert_eq!(l.check(t0, T_MS, &charges).unwrap_err().scope, pc);
}

#[test]
fn headroom_reports_the_tightest_limit_of_each_kind() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let (vk, team) = (Scope::virtual_key("vk"), Scope::team("eng"));
    let vk_spec = LimitSpec {
        requests: window(10, 60),
        tokens: window(1_000, 60),
        ..LimitSpec::unlimited()
    };
    let team_spec = LimitSpec {
        requests: window(100, 60),
        tokens: window(500, 60),
        budget: budget(1_000),
    };
    let charges = ChargeList::new(100, 10)
        .with(vk.clone(), vk_spec)
        .with(team.clone(), team_spec);
    let _held = l.reserve(t0, T_MS, &charges).unwrap();
    let h = l.headroom(t0, T_MS, &charges);
    let requests = h.requests.unwrap();
    assert_eq!((requests.scope, requests.usage.remaining()), (vk, 9));
    let tokens = h.tokens.unwrap();
    assert_eq!(
        (tokens.scope, tokens.usage.remaining()),
        (team.clone(), 400)
    );
    assert_eq!(tokens.usage.reset_in, secs(61));
    assert_eq!(h.budget.unwrap().usage.remaining(), 990);
}

#[test]
fn a_raised_limit_applies_at_once_and_keeps_usage() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let vk = Scope::virtual_key("vk");
    let _held = l
        .reserve(
            t0,
            T_MS,
            &ChargeList::new(0, 0).with(vk.clone(), requests(1)),
        )
        .unwrap();
    let raised = ChargeList::new(0, 0).with(vk.clone(), requests(2));
    let _second = l.reserve(t0, T_MS, &raised).unwrap();
    assert_eq!(used(&l, t0, &vk, &requests(2)), [2]);
    assert!(l.reserve(t0, T_MS, &raised).is_err());
}

#[test]
fn restored_budget_usage_counts_after_a_restart() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let team = Scope::team("eng");
    let (start, _) = period_bounds(ResetDuration::Months(1), T_MS);
    l.restore_budget_usage(T_MS, &team, ResetDuration::Months(1), 990, start);
    let charges = ChargeList::new(0, 20).with(team.clone(), usd(1_000));
    assert!(l.reserve(t0, T_MS, &charges).unwrap_err().is_budget());
    assert_eq!(used(&l, t0, &team, &usd(1_000)), [990]);
}

#[test]
fn retain_drops_counters_of_removed_scopes() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    for id in ["a", "b"] {
        let charges = ChargeList::new(0, 0).with(Scope::virtual_key(id), requests(5));
        let _held = l.reserve(t0, T_MS, &charges).unwrap();
    }
    l.retain(|s| &*s.id == "a");
    assert_eq!(l.len(), 1);
}

#[test]
fn settling_after_the_scope_was_removed_is_harmless() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let charges = ChargeList::new(10, 0).with(Scope::virtual_key("a"), tokens(50));
    let r = l.reserve(t0, T_MS, &charges).unwrap();
    l.retain(|_| false);
    l.settle(t0, T_MS, r, Actual::called(100, 0));
    assert!(l.is_empty());
}

/// 64 requests in flight at once against a token limit: the reservations alone never pass the
/// limit, and the usage after settling exceeds it by at most Σ (actual − reserved)⁺.
#[test]
fn sixty_four_concurrent_requests_overshoot_by_at_most_their_underestimates() {
    let t0 = Instant::now();
    let mut l = Limiter::new();
    let vk = Scope::virtual_key("vk");
    let spec = tokens(10_000);
    let charges = ChargeList::new(300, 0).with(vk.clone(), spec);
    let mut in_flight = Vec::new();
    for _ in 0..64 {
        if let Ok(r) = l.reserve(t0, T_MS, &charges) {
            in_flight.push(r);
        }
    }
    assert_eq!(in_flight.len(), 33, "⌊10 000 / 300⌋ admitted");
    assert!(used(&l, t0, &vk, &spec)[0] <= 10_000);
    // Every admitted request used 7 tokens more than its estimate.
    for r in in_flight {
        l.settle(t0 + secs(1), T_MS, r, Actual::called(307, 0));
    }
    let after = used(&l, t0 + secs(1), &vk, &spec)[0];
    assert_eq!(after, 33 * 307);
    assert!(after <= 10_000 + 33 * 7);
    assert!(l.reserve(t0 + secs(1), T_MS, &charges).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    /// Reserve for key a (`true`) or b, with tokens and cost.
    Reserve(bool, u64, MicroUsd),
    /// Settle an in-flight reservation: (which, actual tokens, actual cost, upstream called).
    Settle(usize, u64, MicroUsd, bool),
    WaitMs(u64),
}

const WINDOW: u64 = 10;
const PERIOD: ResetDuration = ResetDuration::Fixed(Duration::from_secs(20));

/// key a, key b, and their team.
fn hierarchy() -> [(Scope, LimitSpec); 3] {
    [
        (
            Scope::virtual_key("a"),
            LimitSpec {
                requests: window(5, WINDOW),
                tokens: window(200, WINDOW),
                ..LimitSpec::unlimited()
            },
        ),
        (
            Scope::virtual_key("b"),
            LimitSpec {
                tokens: window(150, WINDOW),
                ..LimitSpec::unlimited()
            },
        ),
        (
            Scope::team("t"),
            LimitSpec {
                requests: window(8, WINDOW),
                tokens: window(300, WINDOW),
                budget: Some(BudgetLimit {
                    max_micros: 1_000,
                    reset: PERIOD,
                }),
            },
        ),
    ]
}

/// Units that really count against a limit: reserved at admission, replaced by the actual
/// amount at settle (the excess recorded when it settled).
#[derive(Debug, Clone)]
struct Rec {
    scope: usize,
    kind: LimitKind,
    at: Instant,
    at_ms: i64,
    units: u64,
    extra: bool,
    reservation: Option<usize>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn limits_hold_through_any_sequence_of_reserve_settle_and_time(
        ops in prop::collection::vec(
            prop_oneof![
                4 => (any::<bool>(), 0u64..80, 0i64..300)
                    .prop_map(|(a, t, c)| Op::Reserve(a, t, c)),
                3 => (any::<usize>(), 0u64..120, 0i64..400, any::<bool>())
                    .prop_map(|(i, t, c, called)| Op::Settle(i, t, c, called)),
                3 => (0u64..4_000).prop_map(Op::WaitMs),
            ],
            1..250,
        ),
    ) {
        let scopes = hierarchy();
        let t0 = Instant::now();
        let (mut now, mut now_ms) = (t0, T_MS);
        let mut l = Limiter::new();
        let mut recs: Vec<Rec> = Vec::new();
        let mut in_flight: Vec<(usize, Reservation, Vec<usize>, u64, MicroUsd)> = Vec::new();
        let mut last_admit: [Option<(Instant, i64)>; 3] = [None; 3];
        let mut next_id = 0;
        let snapshot = |l: &Limiter, now: Instant, now_ms: i64| -> Vec<Vec<u64>> {
            scopes.iter().map(|(s, spec)| {
                l.usage(now, now_ms, s, spec).iter().map(|u| u.used).collect()
            }).collect()
        };
        for op in ops {
            match op {
                Op::WaitMs(d) => {
                    now += Duration::from_millis(d);
                    now_ms += i64::try_from(d).unwrap();
                }
                Op::Reserve(a, toks, cost) => {
                    let members = vec![if a { 0 } else { 1 }, 2];
                    let mut charges = ChargeList::new(toks, cost);
                    for &i in &members {
                        charges.push(scopes[i].0.clone(), scopes[i].1);
                    }
                    let before = snapshot(&l, now, now_ms);
                    match l.reserve(now, now_ms, &charges) {
                        Err(_) => prop_assert_eq!(before, snapshot(&l, now, now_ms)),
                        Ok(r) => {
                            for &i in &members {
                                last_admit[i] = Some((now, now_ms));
                                let spec = scopes[i].1;
                                let kinds = [
                                    (spec.requests.is_some(), LimitKind::Requests, 1),
                                    (spec.tokens.is_some(), LimitKind::Tokens, toks),
                                    (spec.budget.is_some(), LimitKind::BudgetUsd, cost as u64),
                                ];
                                for (_, kind, units) in kinds.into_iter().filter(|k| k.0) {
                                    recs.push(Rec {
                                        scope: i, kind, at: now, at_ms: now_ms, units,
                                        extra: false, reservation: Some(next_id),
                                    });
                                }
                            }
                            in_flight.push((next_id, r, members, toks, cost));
                            next_id += 1;
                        }
                    }
                }
                Op::Settle(i, toks, cost, called) => {
                    if in_flight.is_empty() {
                        continue;
                    }
                    let (id, r, members, reserved_toks, reserved_cost) =
                        in_flight.swap_remove(i % in_flight.len());
                    let actual = Actual { tokens: toks, cost_micros: cost, upstream_called: called };
                    l.settle(now, now_ms, r, actual);
                    for rec in recs.iter_mut().filter(|r| r.reservation == Some(id)) {
                        rec.units = match rec.kind {
                            LimitKind::Requests => u64::from(called),
                            LimitKind::Tokens => rec.units.min(toks),
                            LimitKind::BudgetUsd => rec.units.min(cost as u64),
                        };
                    }
                    for &m in &members {
                        let spec = scopes[m].1;
                        let extras = [
                            (spec.tokens.is_some(), LimitKind::Tokens,
                                toks.saturating_sub(reserved_toks)),
                            (spec.budget.is_some(), LimitKind::BudgetUsd,
                                (cost - reserved_cost).max(0) as u64),
                        ];
                        for (_, kind, units) in extras.into_iter().filter(|e| e.0 && e.2 > 0) {
                            recs.push(Rec {
                                scope: m, kind, at: now, at_ms: now_ms, units,
                                extra: true, reservation: None,
                            });
                        }
                    }
                }
            }
            // Every limit: really used ≤ counted, and ≤ max + excess settled since the last
            // admission (≤ max exactly at an admission).
            let counted = snapshot(&l, now, now_ms);
            for (i, (_, spec)) in scopes.iter().enumerate() {
                let limits = [
                    spec.requests.map(|w| (LimitKind::Requests, w.max)),
                    spec.tokens.map(|w| (LimitKind::Tokens, w.max)),
                    spec.budget.map(|b| (LimitKind::BudgetUsd, b.max_micros as u64)),
                ];
                for (k, (kind, max)) in limits.into_iter().flatten().enumerate() {
                    let period = period_bounds(PERIOD, now_ms).0;
                    let counts = |r: &&Rec| {
                        r.scope == i && r.kind == kind && match kind {
                            LimitKind::BudgetUsd => period_bounds(PERIOD, r.at_ms).0 == period,
                            _ => now.duration_since(r.at) <= secs(WINDOW),
                        }
                    };
                    let real: u64 = recs.iter().filter(counts).map(|r| r.units).sum();
                    let excess: u64 = recs
                        .iter()
                        .filter(counts)
                        .filter(|r| r.extra && last_admit[i].is_none_or(|(at, _)| r.at >= at))
                        .map(|r| r.units)
                        .sum();
                    prop_assert!(real <= counted[i][k], "scope {} {:?}: {} real > {} counted",
                        i, kind, real, counted[i][k]);
                    prop_assert!(real <= max + excess, "scope {} {:?}: {} > {} + {}",
                        i, kind, real, max, excess);
                }
            }
        }
    }
}

use super::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn policy() -> HealthPolicy {
    HealthPolicy {
        default_cooldown: secs(1),
        max_cooldown: secs(8),
        breaker_failure_threshold: 2,
        breaker_open_for: secs(30),
        breaker_max_open_for: secs(120),
        disabled_for: secs(600),
    }
}

fn fail(key: &mut KeyHealth, now: Instant, class: FailureClass, hint: Option<Duration>) {
    let p = key.try_acquire(now).expect("key admitted");
    key.on_failure(now, p, class, hint);
}

#[test]
fn a_new_key_is_ready_at_full_weight() {
    let key = KeyHealth::new(&policy());
    assert_eq!(
        key.availability(Instant::now()),
        Availability::Ready { weight_factor: 1.0 }
    );
}

#[test]
fn rate_limited_key_cools_for_the_hint_then_is_ready() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    fail(&mut key, t0, FailureClass::RateLimited, Some(secs(7)));
    assert_eq!(
        key.availability(t0 + secs(6)),
        Availability::Cooling {
            until: t0 + secs(7)
        }
    );
    assert!(key.try_acquire(t0 + secs(6)).is_none());
    assert_eq!(key.cooldown_remaining(t0 + secs(2)), secs(5));
    assert!(key.availability(t0 + secs(7)).is_ready());
    assert!(key.try_acquire(t0 + secs(7)).is_some());
}

#[test]
fn rate_limits_do_not_open_the_breaker() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    let mut now = t0;
    for _ in 0..5 {
        fail(&mut key, now, FailureClass::RateLimited, Some(secs(1)));
        now += secs(1);
    }
    assert_eq!(key.breaker_state(now), BreakerState::Closed);
}

#[test]
fn transient_failures_open_the_key_breaker() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    fail(&mut key, t0, FailureClass::Transient, None);
    assert!(key.availability(t0).is_ready());
    fail(&mut key, t0, FailureClass::Transient, None);
    assert_eq!(key.availability(t0), Availability::BreakerOpen);
    assert!(key.try_acquire(t0 + secs(29)).is_none());
    let probe = key.try_acquire(t0 + secs(30)).unwrap();
    assert!(probe.is_probe());
    assert_eq!(key.availability(t0 + secs(30)), Availability::BreakerOpen);
    key.on_success(t0 + secs(31), probe, &UpstreamLimits::default());
    assert!(key.availability(t0 + secs(31)).is_ready());
}

#[test]
fn credential_failure_disables_the_key_with_a_visible_reason() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    fail(&mut key, t0, FailureClass::Credential, None);
    assert_eq!(
        key.availability(t0 + secs(1)),
        Availability::Disabled {
            reason: DisabledReason::Credential,
            until: t0 + secs(600)
        }
    );
    assert!(key.try_acquire(t0 + secs(599)).is_none());
}

#[test]
fn disabled_key_is_tried_again_after_the_disable_period() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    fail(&mut key, t0, FailureClass::Quota, None);
    assert!(key.availability(t0 + secs(600)).is_ready());
    let p = key.try_acquire(t0 + secs(600)).unwrap();
    // Still out of credit: disabled for another period.
    key.on_failure(t0 + secs(601), p, FailureClass::Quota, None);
    assert!(matches!(
        key.availability(t0 + secs(1_200)),
        Availability::Disabled {
            reason: DisabledReason::Quota,
            ..
        }
    ));
}

#[test]
fn a_new_key_value_re_enables_at_once() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    fail(&mut key, t0, FailureClass::Credential, None);
    key.enable();
    assert!(key.availability(t0).is_ready());
}

#[test]
fn caller_errors_leave_the_key_healthy() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    for _ in 0..5 {
        fail(&mut key, t0, FailureClass::Caller, None);
    }
    assert_eq!(
        key.availability(t0),
        Availability::Ready { weight_factor: 1.0 }
    );
}

#[test]
fn headroom_from_a_success_lowers_the_weight_factor() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    let p = key.try_acquire(t0).unwrap();
    let limits = UpstreamLimits {
        limit_requests: Some(100),
        remaining_requests: Some(0),
        reset_requests: Some(secs(60)),
        ..UpstreamLimits::default()
    };
    key.on_success(t0, p, &limits);
    let factor = key.availability(t0).weight_factor();
    assert!(factor > 0.0 && factor < 0.1, "{factor}");
    assert_eq!(key.availability(t0 + secs(60)).weight_factor(), 1.0);
}

#[test]
fn disabled_outranks_breaker_outranks_cooling() {
    let t0 = Instant::now();
    let mut key = KeyHealth::new(&policy());
    let [a, b, c, d] = [(); 4].map(|_| key.try_acquire(t0).unwrap());
    key.on_failure(t0, a, FailureClass::RateLimited, Some(secs(60)));
    assert!(matches!(key.availability(t0), Availability::Cooling { .. }));
    key.on_failure(t0, b, FailureClass::Transient, None);
    key.on_failure(t0, c, FailureClass::Transient, None);
    assert_eq!(key.availability(t0), Availability::BreakerOpen);
    key.on_failure(t0, d, FailureClass::Credential, None);
    assert!(matches!(
        key.availability(t0),
        Availability::Disabled { .. }
    ));
}

#[test]
fn not_ready_keys_have_zero_selection_weight() {
    let t0 = Instant::now();
    assert_eq!(Availability::BreakerOpen.weight_factor(), 0.0);
    assert_eq!(Availability::Cooling { until: t0 }.weight_factor(), 0.0);
}

#[test]
fn provider_breaker_counts_transient_failures_across_keys_only() {
    let t0 = Instant::now();
    let mut provider = ProviderHealth::new(&policy());
    for class in [
        FailureClass::RateLimited,
        FailureClass::Credential,
        FailureClass::Quota,
        FailureClass::Caller,
        FailureClass::Transient,
    ] {
        let p = provider.try_acquire(t0).unwrap();
        provider.on_failure(t0, p, class);
    }
    assert!(provider.is_available(t0), "one transient failure so far");
    let p = provider.try_acquire(t0).unwrap();
    provider.on_failure(t0, p, FailureClass::Transient);
    assert!(!provider.is_available(t0));
    assert!(provider.try_acquire(t0 + secs(29)).is_none());
    let probe = provider.try_acquire(t0 + secs(30)).unwrap();
    provider.on_success(t0 + secs(30), probe);
    assert_eq!(provider.state(t0 + secs(30)), BreakerState::Closed);
}

#[test]
fn dispatch_config_feeds_the_policy() {
    let p = HealthPolicy::from_dispatch(&DispatchConfig {
        breaker_failure_threshold: 3,
        breaker_open_ms: 2_000,
        default_cooldown_ms: 500,
        ..DispatchConfig::default()
    });
    assert_eq!(p.breaker_failure_threshold, 3);
    assert_eq!(p.breaker_open_for, secs(2));
    assert_eq!(p.breaker_max_open_for, secs(16));
    assert_eq!(p.default_cooldown, Duration::from_millis(500));
    assert_eq!(p.disabled_for, DEFAULT_DISABLED_FOR);
}

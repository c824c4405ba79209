//! Stage 6, dispatch: per attempt, pick a healthy key, encode with the provider's adapter, send
//! over a pooled connection, classify the outcome, then retry, move to another key, or fail
//! over to the next target of the plan. The decisions are `sluice-core`'s; this stage performs
//! them and keeps time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use sluice_core::backoff::Backoff;
use sluice_core::dispatch::{FailedAttempt, Next, next_step};
use sluice_core::key_health::{Availability, KeyPermit};
use sluice_core::limits::{Actual, ChargeList, Reservation};
use sluice_core::selection::pick_weighted;
use sluice_core::{FailureClass, ProviderKind};
use sluice_providers::{
    ChunkDecoder, Decoded, EncodeError, RateLimitInfo, StreamItem, Target, UpstreamError,
};
use tracing::Instrument;

use super::admit::{Admission, estimated_cost};
use super::ingress::Operation;
use super::relay::{StreamFailure, prefetch};
use super::route::RouteTarget;
use crate::Gateway;
use crate::error::GatewayError;
use crate::runtime::{ProviderRuntime, Runtime};
use crate::spans;

/// Largest upstream body read into memory for a non-streaming answer.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// A successful upstream answer, not yet relayed.
pub enum Answer {
    Full(Decoded),
    /// A stream that opened cleanly: the items read so far and the rest of the body.
    Stream {
        first: Vec<StreamItem>,
        body: Incoming,
        decoder: Box<dyn ChunkDecoder + Send>,
    },
    /// An OpenAI-compatible legacy completion stream, relayed byte for byte.
    RawStream(Incoming),
}

/// Who answered, and after how many attempts.
#[derive(Debug, Clone)]
pub struct Served {
    pub provider: String,
    pub kind: ProviderKind,
    pub key: String,
    pub model: String,
    pub attempts: u32,
    pub idle_timeout: Duration,
    /// Time spent waiting on upstreams (all attempts, to headers and body or first chunk).
    pub upstream: Duration,
    /// Time spent in retry backoff and cooldown waits.
    pub waited: Duration,
    /// `model` for metric labels: the served model if the price table or the provider's
    /// configured models know it, else `other` — clients cannot mint label values.
    pub metric_model: String,
}

/// Runs the plan until a target answers or all have failed.
///
/// Per target: attempts go to healthy keys by weight; after a failure `sluice-core`'s
/// `next_step` decides between retrying (same or other key, after a backoff never shorter than
/// the upstream's `retry-after`), failing over to the next target, or giving up (caller faults).
pub async fn dispatch(
    gw: &Gateway,
    rt: &Runtime,
    op: &Operation,
    plan: &[RouteTarget],
    deadline: Instant,
    admission: &Admission,
) -> Result<(Answer, Served, Option<Reservation>), GatewayError> {
    let mut attempts = 0u32;
    let mut best: Option<GatewayError> = None;
    let mut upstream = Duration::ZERO;
    let mut waited = Duration::ZERO;
    gw.retry_budget.record_request(Instant::now());
    for (ti, target) in plan.iter().enumerate() {
        let is_last_target = ti + 1 == plan.len();
        let prt = &target.provider;
        let net = &prt.entry.network;
        let backoff = Backoff::from_network(net);
        let mut tried: Vec<usize> = Vec::new();
        let mut attempt_on_target = 0u32;
        // The key's limits on this provider: a provider config over its limit is skipped.
        let provider_reservation = match reserve_provider_config(gw, rt, target, admission) {
            Ok(r) => r,
            Err(refusal) => {
                best = rank(best, refusal);
                note_failover(prt, is_last_target);
                continue;
            }
        };
        let mut provider_reservation = Some(provider_reservation);
        let release = |r: &mut Option<Option<Reservation>>, called: bool| {
            if let Some(Some(res)) = r.take() {
                gw.limiter().settle(
                    res,
                    if called {
                        Actual::called(0, 0)
                    } else {
                        Actual::not_called()
                    },
                );
            }
        };
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let Some(provider_permit) = prt.health.try_acquire(now) else {
                best = rank(best, breaker_open_error(prt, attempts));
                break;
            };
            let Some((key_idx, key_permit)) = pick_key(prt, &target.model, now, &tried) else {
                prt.health.release(provider_permit);
                let err = no_key_error(prt, &target.model, now, attempts);
                // Every key is cooling down. With nothing left to fail over to, wait for the
                // first one to come back if that fits in the deadline and the retry budget.
                let wait = soonest_cooldown(prt, &target.model, now);
                let can_wait = is_last_target
                    && attempt_on_target < net.max_retries
                    && wait.is_some_and(|w| now + w < deadline)
                    && gw.retry_budget.try_withdraw(now);
                best = rank(best, err);
                match wait {
                    Some(w) if can_wait => {
                        attempt_on_target += 1;
                        tokio::time::sleep(w).await;
                        waited += w;
                        continue;
                    }
                    _ => {
                        note_failover(prt, is_last_target);
                        break;
                    }
                }
            };
            tried.push(key_idx);
            attempts += 1;
            attempt_on_target += 1;
            let key = &prt.keys[key_idx];
            let sent = Instant::now();
            let span = spans::attempt(prt, &prt.entry.keys[key_idx].name, &target.model, attempts);
            let outcome = attempt(op, prt, key_idx, &target.model, deadline)
                .instrument(span.clone())
                .await;
            let now = Instant::now();
            upstream += now - sent;
            let key_name = &prt.entry.keys[key_idx].name;
            let err = match outcome {
                Ok((answer, limits)) => {
                    spans::attempt_ok(&span);
                    key.on_success(now, key_permit, &limits);
                    prt.health.on_success(now, provider_permit);
                    metrics::counter!("sluice_upstream_attempts_total", "provider" => prt.entry.name.clone(), "key" => key_name.clone(), "outcome" => "ok").increment(1);
                    metrics::gauge!("sluice_key_available", "provider" => prt.entry.name.clone(), "key" => key_name.clone()).set(1.0);
                    return Ok((
                        answer,
                        Served {
                            provider: prt.entry.name.clone(),
                            kind: prt.entry.kind,
                            key: prt.entry.keys[key_idx].name.clone(),
                            model: target.model.clone(),
                            attempts,
                            idle_timeout: Duration::from_millis(net.timeout_ms),
                            upstream,
                            waited,
                            metric_model: if rt
                                .snapshot
                                .prices
                                .serves(&prt.entry.name, &target.model)
                                || prt.entry.models.iter().any(|m| m == &target.model)
                            {
                                target.model.clone()
                            } else {
                                "other".to_string()
                            },
                        },
                        provider_reservation.take().flatten(),
                    ));
                }
                Err(e) => e,
            };
            let class = err.class();
            spans::attempt_failed(&span, err.status(), class.as_str());
            drop(span);
            if class == FailureClass::Caller {
                // Says nothing about the key or the provider.
                key.release(key_permit);
                prt.health.release(provider_permit);
                release(&mut provider_reservation, true);
                return Err(err.into_gateway(&prt.entry.name, attempts));
            }
            let cooldown = key.on_failure(now, key_permit, class, err.limits());
            prt.health.on_failure(now, provider_permit, class);
            let (pname, kname) = (prt.entry.name.clone(), key_name.clone());
            metrics::counter!("sluice_upstream_attempts_total", "provider" => pname.clone(), "key" => kname.clone(), "outcome" => class.as_str()).increment(1);
            if class == FailureClass::RateLimited {
                metrics::counter!("sluice_key_cooldowns_total", "provider" => pname.clone(), "key" => kname.clone()).increment(1);
            }
            let ready = key.availability(now).is_ready();
            metrics::gauge!("sluice_key_available", "provider" => pname, "key" => kname)
                .set(if ready { 1.0 } else { 0.0 });
            if matches!(class, FailureClass::Credential | FailureClass::Quota) {
                tracing::warn!(
                    provider = %prt.entry.name,
                    key = %prt.entry.keys[key_idx].name,
                    class = class.as_str(),
                    "key taken out of rotation"
                );
            }
            let upstream_wait = match class {
                FailureClass::RateLimited => Some(cooldown),
                _ => err.limits().and_then(RateLimitInfo::wait_hint),
            };
            best = rank(best, err.into_gateway(&prt.entry.name, attempts));
            let failed = FailedAttempt {
                class,
                attempt: attempt_on_target,
                max_retries: net.max_retries,
                backoff,
                jitter_u: rand::random(),
                upstream_wait,
                remaining_deadline: deadline.saturating_duration_since(now),
                other_key_available: other_key_ready(prt, &target.model, now, key_idx),
                provider_available: prt.health.is_available(now),
                retry_budget_allows: gw.retry_budget.can_withdraw(now),
            };
            let mut next = next_step(&failed);
            // Waiting out a rate limit on this provider makes sense only when there is nowhere
            // else to go: with a fallback left, fail over at once.
            if class == FailureClass::RateLimited
                && !is_last_target
                && matches!(next, Next::RetrySameKey { .. })
            {
                next = Next::FailOver;
            }
            if next.spends_retry_budget(class) && !gw.retry_budget.try_withdraw(now) {
                next = Next::FailOver;
            }
            match next {
                Next::RetrySameKey { after } => {
                    tried.retain(|&i| i != key_idx);
                    note_retry(prt);
                    sleep_nonzero(after).await;
                    waited += after;
                }
                Next::RetryOtherKey { after } => {
                    note_retry(prt);
                    sleep_nonzero(after).await;
                    waited += after;
                }
                Next::FailOver => {
                    note_failover(prt, is_last_target);
                    break;
                }
                Next::GiveUp => {
                    release(&mut provider_reservation, true);
                    return Err(with_attempts(best.expect("just ranked"), attempts));
                }
            }
        }
        release(&mut provider_reservation, attempt_on_target > 0);
    }
    Err(with_attempts(
        best.unwrap_or_else(|| GatewayError::Timeout {
            provider: plan
                .first()
                .map(|t| t.provider.entry.name.clone())
                .unwrap_or_default(),
            timeout_ms: 0,
            attempts,
        }),
        attempts,
    ))
}

/// Reserves the request against the virtual key's limits for this target's provider, if any.
fn reserve_provider_config(
    gw: &Gateway,
    rt: &Runtime,
    target: &RouteTarget,
    admission: &Admission,
) -> Result<Option<Reservation>, GatewayError> {
    let Some(vk) = admission.principal.virtual_key() else {
        return Ok(None);
    };
    let Some((scope, spec)) = vk.provider_limits.get(&target.provider.entry.name) else {
        return Ok(None);
    };
    let cost = estimated_cost(rt, target, &admission.estimate, spec.budget.is_some())?;
    let charges = ChargeList::new(admission.estimate.total(), cost).with(scope.clone(), *spec);
    gw.limiter()
        .reserve(&charges)
        .map(Some)
        .map_err(|r| GatewayError::LimitExceeded(Box::new(r)))
}

fn note_retry(prt: &ProviderRuntime) {
    metrics::counter!("sluice_retries_total", "provider" => prt.entry.name.clone()).increment(1);
}

fn note_failover(prt: &ProviderRuntime, is_last_target: bool) {
    if !is_last_target {
        metrics::counter!("sluice_failovers_total", "provider" => prt.entry.name.clone())
            .increment(1);
    }
}

async fn sleep_nonzero(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// Picks a key for `model`: the next in the precomputed weighted round-robin order when that key
/// is healthy, untried and has full headroom (the common case, O(1)); otherwise by a weighted
/// random scan over the keys that are ready now, weight × headroom factor, untried ones first.
fn pick_key(
    prt: &ProviderRuntime,
    model: &str,
    now: Instant,
    tried: &[usize],
) -> Option<(usize, KeyPermit)> {
    let u1: f64 = rand::random();
    if let Some(i) = prt.selector.pick(model)
        && !tried.contains(&i)
        && let Availability::Ready { weight_factor } = prt.keys[i].availability(now)
        && (weight_factor >= 1.0 || rand::random::<f64>() < weight_factor)
        && let Some(permit) = prt.keys[i].try_acquire(now)
    {
        return Some((i, permit));
    }
    let factors: Vec<f64> = prt
        .entry
        .keys
        .iter()
        .zip(&prt.keys)
        .map(|(k, state)| {
            if k.serves(model) {
                state.availability(now).weight_factor() * k.weight
            } else {
                0.0
            }
        })
        .collect();
    for allow_tried in [false, true] {
        let weights = factors.iter().enumerate().map(|(i, w)| {
            if !allow_tried && tried.contains(&i) {
                0.0
            } else {
                *w
            }
        });
        if let Some(i) = pick_weighted(weights, u1)
            && let Some(permit) = prt.keys[i].try_acquire(now)
        {
            return Some((i, permit));
        }
    }
    None
}

fn other_key_ready(prt: &ProviderRuntime, model: &str, now: Instant, except: usize) -> bool {
    prt.entry
        .keys
        .iter()
        .zip(&prt.keys)
        .enumerate()
        .any(|(i, (k, s))| i != except && k.serves(model) && s.availability(now).is_ready())
}

fn soonest_cooldown(prt: &ProviderRuntime, model: &str, now: Instant) -> Option<Duration> {
    prt.entry
        .keys
        .iter()
        .zip(&prt.keys)
        .filter(|(k, _)| k.serves(model))
        .filter_map(|(_, s)| match s.availability(now) {
            Availability::Cooling { until } => Some(until.saturating_duration_since(now)),
            _ => None,
        })
        .min()
}

fn breaker_open_error(prt: &ProviderRuntime, attempts: u32) -> GatewayError {
    GatewayError::Unreachable {
        provider: prt.entry.name.clone(),
        detail: "its circuit breaker is open after consecutive failures".into(),
        attempts,
    }
}

fn no_key_error(prt: &ProviderRuntime, model: &str, now: Instant, attempts: u32) -> GatewayError {
    let soonest = soonest_cooldown(prt, model, now);
    let serving = prt.entry.keys.iter().any(|k| k.serves(model));
    let message = if !serving {
        format!(
            "no key of provider '{}' serves model '{model}'",
            prt.entry.name
        )
    } else if soonest.is_some() {
        format!(
            "every key of provider '{}' is cooling down after rate limits",
            prt.entry.name
        )
    } else {
        format!(
            "every key of provider '{}' is out of rotation (bad credentials, no quota, or open breakers)",
            prt.entry.name
        )
    };
    let (status, class, kind, code) = if !serving {
        (
            400,
            FailureClass::Caller,
            "invalid_request_error",
            "model_not_served",
        )
    } else if soonest.is_some() {
        (
            429,
            FailureClass::RateLimited,
            "rate_limit_error",
            "all_keys_cooling",
        )
    } else {
        (
            503,
            FailureClass::Transient,
            "api_error",
            "no_key_available",
        )
    };
    GatewayError::Upstream {
        error: Box::new(UpstreamError {
            provider: prt.entry.kind,
            status: Some(status),
            class,
            message,
            error_type: Some(kind.into()),
            code: Some(code.into()),
            param: None,
            rate_limit: RateLimitInfo {
                retry_after: soonest,
                ..Default::default()
            },
        }),
        provider: prt.entry.name.clone(),
        attempts,
    }
}

/// A failed attempt.
enum AttemptError {
    Upstream(UpstreamError),
    Unreachable(String),
    Timeout(u64),
    Encode(EncodeError),
    BadBody(String),
}

impl AttemptError {
    fn class(&self) -> FailureClass {
        match self {
            AttemptError::Upstream(e) => e.class,
            AttemptError::Unreachable(_) | AttemptError::Timeout(_) | AttemptError::BadBody(_) => {
                FailureClass::Transient
            }
            AttemptError::Encode(_) => FailureClass::Caller,
        }
    }

    /// The upstream's HTTP status, if it answered.
    fn status(&self) -> Option<u16> {
        match self {
            AttemptError::Upstream(e) => e.status,
            _ => None,
        }
    }

    fn limits(&self) -> Option<&RateLimitInfo> {
        match self {
            AttemptError::Upstream(e) => Some(&e.rate_limit),
            _ => None,
        }
    }

    fn into_gateway(self, provider: &str, attempts: u32) -> GatewayError {
        let provider = provider.to_string();
        match self {
            AttemptError::Upstream(error) => GatewayError::Upstream {
                error: Box::new(error),
                provider,
                attempts,
            },
            AttemptError::Unreachable(detail) => GatewayError::Unreachable {
                provider,
                detail,
                attempts,
            },
            AttemptError::Timeout(timeout_ms) => GatewayError::Timeout {
                provider,
                timeout_ms,
                attempts,
            },
            AttemptError::Encode(EncodeError::Invalid { param, message }) => {
                GatewayError::BadRequest {
                    message,
                    param,
                    code: "invalid_request",
                }
            }
            AttemptError::Encode(e) => GatewayError::BadRequest {
                message: e.to_string(),
                param: Some("model".into()),
                code: "unsupported_operation",
            },
            AttemptError::BadBody(detail) => GatewayError::BadUpstreamBody { provider, detail },
        }
    }
}

async fn attempt(
    op: &Operation,
    prt: &ProviderRuntime,
    key_idx: usize,
    model: &str,
    deadline: Instant,
) -> Result<(Answer, RateLimitInfo), AttemptError> {
    let entry = &prt.entry;
    let target = Target {
        kind: entry.kind,
        base_url: &entry.base_url,
        api_key: entry.keys[key_idx].value.as_deref(),
        extra_headers: &prt.extra_headers,
        model,
    };
    let req = match op {
        Operation::Chat(r) => sluice_providers::encode_chat(&target, r),
        Operation::Completion(r) => sluice_providers::encode_completion(&target, r),
        Operation::Embeddings(r) => sluice_providers::encode_embeddings(&target, r),
    }
    .map_err(AttemptError::Encode)?;
    let timeout_ms = entry.network.timeout_ms;
    let per_attempt = Duration::from_millis(timeout_ms);
    let remaining = deadline.saturating_duration_since(Instant::now());
    let limit = per_attempt.min(remaining);
    let resp = match tokio::time::timeout(limit, crate::upstream::send(&prt.client, req)).await {
        Err(_) => return Err(AttemptError::Timeout(limit.as_millis() as u64)),
        Ok(Err(e)) => return Err(AttemptError::Unreachable(describe_client_error(&e))),
        Ok(Ok(r)) => r,
    };
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let limits = RateLimitInfo::from_headers(&parts.headers, now_unix);
    if !status.is_success() {
        let bytes = read_all(body, limit).await.unwrap_or_default();
        let e = sluice_providers::classify_error(
            entry.kind,
            status.as_u16(),
            &parts.headers,
            &bytes,
            now_unix,
        );
        return Err(AttemptError::Upstream(e));
    }
    if op.is_stream() {
        if let Operation::Completion(_) = op
            && entry.kind == ProviderKind::Openai
        {
            return Ok((Answer::RawStream(body), limits));
        }
        let mut decoder = sluice_providers::chat_stream_decoder_at(entry.kind, model, now_unix);
        let first = prefetch(&mut body, decoder.as_mut(), per_attempt)
            .await
            .map_err(|f| match f {
                StreamFailure::Idle(d) => AttemptError::Timeout(d.as_millis() as u64),
                StreamFailure::Io(e) => AttemptError::Unreachable(e),
            })?;
        // An error before any chunk reached the client can still fail over.
        if let Some(StreamItem::Error(e)) = first.first() {
            return Err(AttemptError::Upstream(e.clone()));
        }
        return Ok((
            Answer::Stream {
                first,
                body,
                decoder,
            },
            limits,
        ));
    }
    let bytes = read_all(body, limit).await.map_err(AttemptError::BadBody)?;
    let decoded = match op {
        Operation::Chat(_) => sluice_providers::decode_chat_at(entry.kind, &bytes, now_unix),
        Operation::Completion(_) => sluice_providers::decode_completion(entry.kind, &bytes),
        Operation::Embeddings(_) => sluice_providers::decode_embeddings(entry.kind, &bytes),
    }
    .map_err(|e| AttemptError::BadBody(e.to_string()))?;
    Ok((Answer::Full(decoded), limits))
}

async fn read_all(body: Incoming, limit: Duration) -> Result<Bytes, String> {
    match tokio::time::timeout(limit, Limited::new(body, MAX_UPSTREAM_BODY).collect()).await {
        Err(_) => Err(format!("body not received within {} ms", limit.as_millis())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

fn describe_client_error(e: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Keeps the more informative of two errors: an upstream answer beats a connection failure,
/// a rate limit with a retry hint beats one without; on a tie the later one wins.
fn rank(best: Option<GatewayError>, new: GatewayError) -> Option<GatewayError> {
    fn score(e: &GatewayError) -> u8 {
        match e {
            GatewayError::Upstream { error, .. } => match error.class {
                FailureClass::RateLimited if error.rate_limit.retry_after.is_some() => 4,
                FailureClass::Quota | FailureClass::Credential => 4,
                FailureClass::RateLimited => 3,
                _ => 2,
            },
            GatewayError::LimitExceeded(_) => 3,
            GatewayError::Timeout { .. } | GatewayError::BadUpstreamBody { .. } => 1,
            _ => 0,
        }
    }
    match best {
        Some(b) if score(&b) > score(&new) => Some(b),
        _ => Some(new),
    }
}

fn with_attempts(e: GatewayError, total: u32) -> GatewayError {
    match e {
        GatewayError::Upstream {
            error, provider, ..
        } => GatewayError::Upstream {
            error,
            provider,
            attempts: total,
        },
        GatewayError::Unreachable {
            provider, detail, ..
        } => GatewayError::Unreachable {
            provider,
            detail,
            attempts: total,
        },
        GatewayError::Timeout {
            provider,
            timeout_ms,
            ..
        } => GatewayError::Timeout {
            provider,
            timeout_ms,
            attempts: total,
        },
        other => other,
    }
}

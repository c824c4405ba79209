//! `GET /api/governance/virtual-keys/{id}/usage`: every limit and budget that applies to a key
//! (its own, each provider config's, its team's, its customer's), with usage and reset time.
//!
//! Where the numbers come from (`usage_source` in the answer):
//! - `live` — a data plane runs in this process (`sluice serve`): its limiter's counters, the
//!   same ones admission checks, for every kind of limit.
//! - `ledger` — a split deployment: budgets from the usage ledger (current period, everything
//!   the data planes have reported so far); request and token windows are counted inside each
//!   data plane and are not known here, so their `usage` is `null`.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_core::governance::{Budget, RateLimit};
use sluice_core::limits::calendar::period_bounds;
use sluice_core::limits::{LimitKind, LimitSpec, LimitUsage, Scope, micros_to_usd};

use super::error::ApiError;
use super::{Shared, reply};
use crate::ControlPlane;
use crate::ledger::{ledger_totals, now_unix_ms};

/// One scope of the key and its configured limits.
struct Limited {
    scope: Scope,
    rate: Option<RateLimit>,
    budget: Option<Budget>,
}

pub(crate) async fn get(cp: Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_read().await?;
    let vk = tx
        .virtual_key(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no virtual key '{id}'")))?;
    let mut scopes = vec![Limited {
        scope: Scope::virtual_key(&id),
        rate: vk.rate_limit.clone(),
        budget: vk.budget.clone(),
    }];
    for pc in &vk.provider_configs {
        scopes.push(Limited {
            scope: Scope::provider_config(&id, &pc.provider),
            rate: pc.rate_limit.clone(),
            budget: pc.budget.clone(),
        });
    }
    let mut customer_id = vk.customer_id.clone();
    if let Some(team_id) = &vk.team_id
        && let Some(team) = tx.team(team_id).await?
    {
        scopes.push(Limited {
            scope: Scope::team(team_id),
            rate: team.rate_limit,
            budget: team.budget,
        });
        customer_id = customer_id.or(team.customer_id);
    }
    if let Some(customer_id) = &customer_id
        && let Some(c) = tx.customer(customer_id).await?
    {
        scopes.push(Limited {
            scope: Scope::customer(customer_id),
            rate: c.rate_limit,
            budget: c.budget,
        });
    }
    tx.rollback().await?;

    let live = cp.usage_view().is_some();
    let now_ms = now_unix_ms();
    let mut limits = Vec::new();
    for s in &scopes {
        let usage = usage_of(&cp, s, now_ms).await?;
        add(&mut limits, s, &usage, now_ms);
    }
    Ok(reply(
        StatusCode::OK,
        json!({
            "virtual_key_id": id,
            "usage_source": if live { "live" } else { "ledger" },
            "limits": limits,
        }),
    ))
}

/// The usage of each limit of `s` that is known here (see the module docs).
async fn usage_of(
    cp: &ControlPlane,
    s: &Limited,
    now_ms: i64,
) -> Result<Vec<LimitUsage>, ApiError> {
    // Stored limits were validated when written; one that no longer converts has no usage.
    let Ok(spec) = LimitSpec::from_config(s.rate.as_ref(), s.budget.as_ref()) else {
        return Ok(Vec::new());
    };
    if let Some(view) = cp.usage_view() {
        return Ok(view.usage(&s.scope, &spec));
    }
    let Some(budget) = spec.budget else {
        return Ok(Vec::new());
    };
    let (start, end) = period_bounds(budget.reset, now_ms);
    let totals = ledger_totals(cp.store(), &s.scope, start).await?;
    Ok(vec![LimitUsage {
        kind: LimitKind::BudgetUsd,
        used: totals.cost_micros,
        max: u64::try_from(budget.max_micros).unwrap_or(0),
        reset_in: Duration::from_millis(u64::try_from(end - now_ms).unwrap_or(0)),
        period: budget.reset,
    }])
}

/// One entry per limit; `kind` and `scope` use the labels of the `sluice_rate_limit_*` metrics.
/// `usage` is in the limit's unit (requests, tokens, USD) or `null` when not known here;
/// `resets_at` is when the usage is back to zero (a window empties, a budget period ends).
fn add(out: &mut Vec<Value>, s: &Limited, usage: &[LimitUsage], now_ms: i64) {
    let (scope, id) = (s.scope.kind.as_str(), &*s.scope.id);
    let mut entry = |kind: LimitKind, limit: Value, reset: String| {
        let u = usage.iter().find(|u| u.kind == kind);
        let used = u.map(|u| match kind {
            LimitKind::BudgetUsd => json!(micros_to_usd(i64::try_from(u.used).unwrap_or(i64::MAX))),
            _ => json!(u.used),
        });
        // A window with nothing in it has nothing to reset; a budget period always ends.
        let resets_at = u
            .filter(|u| kind == LimitKind::BudgetUsd || u.used > 0)
            .map(|u| rfc3339(now_ms, u.reset_in));
        out.push(json!({
            "scope": scope, "id": id, "kind": kind.as_str(), "limit": limit,
            "usage": used, "reset_duration": reset, "resets_at": resets_at,
        }));
    };
    if let Some(r) = &s.rate {
        if let (Some(max), Some(d)) = (r.request_max_limit, r.request_reset_duration) {
            entry(LimitKind::Requests, json!(max), d.to_string());
        }
        if let (Some(max), Some(d)) = (r.token_max_limit, r.token_reset_duration) {
            entry(LimitKind::Tokens, json!(max), d.to_string());
        }
    }
    if let Some(b) = &s.budget {
        entry(
            LimitKind::BudgetUsd,
            json!(b.max_limit),
            b.reset_duration.to_string(),
        );
    }
}

/// `now + after` as RFC 3339 UTC with milliseconds.
fn rfc3339(now_ms: i64, after: Duration) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(now_ms).unwrap_or(0)) + after;
    humantime::format_rfc3339_millis(at).to_string()
}

//! `GET /api/governance/virtual-keys/{id}/usage`: every limit and budget that applies to a key
//! (its own, each provider config's, its team's, its customer's), with usage and reset time.
//!
//! Usage is not tracked here yet: `usage` is 0 and `resets_at` is null until the governance
//! engine (limiter counters, usage ledger) reports into the control plane. The shape is final.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_core::governance::{Budget, RateLimit};

use super::error::ApiError;
use super::{Shared, reply};

pub(crate) async fn get(cp: Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_read().await?;
    let vk = tx
        .virtual_key(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no virtual key '{id}'")))?;
    let mut limits = Vec::new();
    add(
        &mut limits,
        "virtual_key",
        &id,
        vk.rate_limit.as_ref(),
        vk.budget.as_ref(),
    );
    for pc in &vk.provider_configs {
        let scope_id = format!("{id}/{}", pc.provider);
        let (rate, budget) = (pc.rate_limit.as_ref(), pc.budget.as_ref());
        add(&mut limits, "provider_config", &scope_id, rate, budget);
    }
    let mut customer_id = vk.customer_id.clone();
    if let Some(team_id) = &vk.team_id
        && let Some(team) = tx.team(team_id).await?
    {
        add(
            &mut limits,
            "team",
            team_id,
            team.rate_limit.as_ref(),
            team.budget.as_ref(),
        );
        customer_id = customer_id.or(team.customer_id);
    }
    if let Some(customer_id) = &customer_id
        && let Some(c) = tx.customer(customer_id).await?
    {
        add(
            &mut limits,
            "customer",
            customer_id,
            c.rate_limit.as_ref(),
            c.budget.as_ref(),
        );
    }
    tx.rollback().await?;
    Ok(reply(
        StatusCode::OK,
        json!({"virtual_key_id": id, "limits": limits}),
    ))
}

/// One entry per limit; `kind` and `scope` use the labels of the `sluice_rate_limit_*` metrics.
fn add(
    out: &mut Vec<Value>,
    scope: &str,
    id: &str,
    rate: Option<&RateLimit>,
    budget: Option<&Budget>,
) {
    let mut entry = |kind: &str, limit: Value, reset: String| {
        out.push(json!({
            "scope": scope, "id": id, "kind": kind, "limit": limit,
            "usage": 0, "reset_duration": reset, "resets_at": null,
        }));
    };
    if let Some(r) = rate {
        if let (Some(max), Some(d)) = (r.request_max_limit, r.request_reset_duration) {
            entry("requests", json!(max), d.to_string());
        }
        if let (Some(max), Some(d)) = (r.token_max_limit, r.token_reset_duration) {
            entry("tokens", json!(max), d.to_string());
        }
    }
    if let Some(b) = budget {
        entry(
            "budget_usd",
            json!(b.max_limit),
            b.reset_duration.to_string(),
        );
    }
}

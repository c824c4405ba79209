//! `GET /api/logs` (records, newest first, one page at a time) and `GET /api/logs/stats`
//! (aggregates), over the same filters: `from`/`to` (RFC 3339 or Unix ms; `to` exclusive),
//! `virtual_key_id`, `provider`, `model`, `status` (`429`, `4xx`, or `error` for 400 and above).
//! Pages: `limit` (1–1000, default 100) and `cursor` (the previous page's `next_cursor`).

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_store::{RequestLogCursor, RequestLogFilter, StoredRequestLog};

use super::error::ApiError;
use super::{Shared, reply};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

type Params = Query<HashMap<String, String>>;

pub(crate) async fn list(cp: Shared, Query(q): Params) -> Result<Response, ApiError> {
    let filter = filter(&q)?;
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| ApiError::invalid("limit", format!("must be 1 to {MAX_LIMIT}")))?,
    };
    let cursor = q.get("cursor").map(|c| parse_cursor(c)).transpose()?;
    let logs = cp.store().request_logs(&filter, cursor, limit).await?;
    let next_cursor = (logs.len() == limit as usize)
        .then(|| {
            logs.last()
                .map(|l| format!("{}_{}", l.record.occurred_at_ms, l.id))
        })
        .flatten();
    let data: Vec<Value> = logs.iter().map(render).collect();
    Ok(reply(
        StatusCode::OK,
        json!({"data": data, "next_cursor": next_cursor}),
    ))
}

pub(crate) async fn stats(cp: Shared, Query(q): Params) -> Result<Response, ApiError> {
    let filter = filter(&q)?;
    let s = cp.store().request_log_stats(&filter).await?;
    Ok(reply(
        StatusCode::OK,
        json!({
            "requests": s.requests,
            "errors": s.errors,
            "by_status_class": {"2xx": s.status_2xx, "4xx": s.status_4xx, "5xx": s.status_5xx},
            "latency_ms": {"avg": s.avg_latency_ms, "max": s.max_latency_ms},
            "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens,
            "cost_usd": s.cost_micros as f64 / 1e6,
        }),
    ))
}

fn filter(q: &HashMap<String, String>) -> Result<RequestLogFilter, ApiError> {
    let text = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    Ok(RequestLogFilter {
        from_ms: q.get("from").map(|v| parse_time("from", v)).transpose()?,
        to_ms: q.get("to").map(|v| parse_time("to", v)).transpose()?,
        virtual_key_id: text("virtual_key_id"),
        provider: text("provider"),
        model: text("model"),
        status: q.get("status").map(|v| parse_status(v)).transpose()?,
    })
}

/// Unix ms, or RFC 3339.
fn parse_time(param: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(v).map_err(|_| {
        ApiError::invalid(param, "must be RFC 3339 (2025-01-31T12:00:00Z) or Unix ms")
    })?;
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| ApiError::invalid(param, "must not be before 1970"))?;
    i64::try_from(d.as_millis()).map_err(|_| ApiError::invalid(param, "is too far in the future"))
}

/// `429` → that status; `4xx` → its class; `error` → 400 and above.
fn parse_status(v: &str) -> Result<(u16, u16), ApiError> {
    let bad = || ApiError::invalid("status", "must be a status (429), a class (4xx) or 'error'");
    if v == "error" {
        return Ok((400, 599));
    }
    if let Some(class) = v.strip_suffix("xx") {
        let c: u16 = class
            .parse()
            .ok()
            .filter(|c| (1..=5).contains(c))
            .ok_or_else(bad)?;
        return Ok((c * 100, c * 100 + 99));
    }
    let s: u16 = v
        .parse()
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(bad)?;
    Ok((s, s))
}

fn parse_cursor(v: &str) -> Result<RequestLogCursor, ApiError> {
    let bad = || ApiError::invalid("cursor", "must be a next_cursor from a previous page");
    let (at, id) = v.split_once('_').ok_or_else(bad)?;
    Ok(RequestLogCursor {
        occurred_at_ms: at.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}

fn render(l: &StoredRequestLog) -> Value {
    let r = &l.record;
    let at = UNIX_EPOCH + std::time::Duration::from_millis(r.occurred_at_ms.max(0).unsigned_abs());
    let content = r
        .content
        .as_deref()
        .map(|c| serde_json::from_str::<Value>(c).unwrap_or_else(|_| Value::String(c.into())));
    json!({
        "id": l.id,
        "time": humantime::format_rfc3339_millis(at).to_string(),
        "request_id": r.request_id,
        "route": r.route,
        "virtual_key_id": r.virtual_key_id,
        "team_id": r.team_id,
        "customer_id": r.customer_id,
        "provider": r.provider,
        "model": r.model,
        "key_name": r.key_name,
        "status": r.status,
        "error_code": r.error_code,
        "attempts": r.attempts,
        "latency_ms": r.latency_ms,
        "ttft_ms": r.ttft_ms,
        "stream": r.stream,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cost_usd": r.cost_micros as f64 / 1e6,
        "cache": r.cache,
        "content": content,
    })
}

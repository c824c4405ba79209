//! The request log: one row per request a data plane served or refused, for operators to look
//! at (`GET /api/logs`). Unlike the usage ledger it is best-effort (data planes drop records
//! rather than slow down, nothing is idempotent) and short-lived (deleted after
//! `[logs] retention_days` by [`Store::delete_request_logs_before`]).

use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;

use crate::Store;
use crate::connect::Pools;
use crate::error::Result;

/// One request, as the data plane saw it end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogRecord {
    pub request_id: String,
    /// When the request ended, Unix ms.
    pub occurred_at_ms: i64,
    /// The route label of the metrics (`/v1/chat/completions`, ...).
    pub route: String,
    pub virtual_key_id: Option<String>,
    pub team_id: Option<String>,
    pub customer_id: Option<String>,
    /// The provider that answered (or was tried last); `None` when refused before routing.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The provider key that answered.
    pub key_name: Option<String>,
    /// HTTP status answered to the client.
    pub status: u16,
    pub error_code: Option<String>,
    pub attempts: u32,
    pub latency_ms: u64,
    /// Time to the first streamed chunk; streams only.
    pub ttft_ms: Option<u64>,
    pub stream: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_micros: u64,
    /// `hit` or `miss`.
    pub cache: String,
    /// JSON `{"request": ..., "response": ...}` when the key has `log_content`.
    pub content: Option<String>,
}

/// A stored record and its row id (newer rows have larger ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRequestLog {
    pub id: i64,
    #[serde(flatten)]
    pub record: RequestLogRecord,
}

/// Which records to read or add up; every field narrows, `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLogFilter {
    /// At or after, Unix ms.
    pub from_ms: Option<i64>,
    /// Before, Unix ms.
    pub to_ms: Option<i64>,
    pub virtual_key_id: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Inclusive status range: `(429, 429)`, `(400, 499)`, ...
    pub status: Option<(u16, u16)>,
}

/// Where a page starts: strictly older than this record (newest first is by time, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLogCursor {
    pub occurred_at_ms: i64,
    pub id: i64,
}

/// Aggregates over a filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestLogStats {
    pub requests: u64,
    /// Status 400 and above.
    pub errors: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub avg_latency_ms: u64,
    pub max_latency_ms: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_micros: u64,
}

/// Rows deleted per statement by retention, so one delete never holds the table for long.
const DELETE_CHUNK: i64 = 10_000;

const COLUMNS: &str = "request_id, occurred_at_ms, route, virtual_key_id, team_id, customer_id, \
     provider, model, key_name, status, error_code, attempts, latency_ms, ttft_ms, stream, \
     prompt_tokens, completion_tokens, cost_micros, cache, content";

enum Param {
    Int(i64),
    Text(String),
}

/// A stored row, as the database types it.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    request_id: String,
    occurred_at_ms: i64,
    route: String,
    virtual_key_id: Option<String>,
    team_id: Option<String>,
    customer_id: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    key_name: Option<String>,
    status: i32,
    error_code: Option<String>,
    attempts: i32,
    latency_ms: i64,
    ttft_ms: Option<i64>,
    stream: bool,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_micros: i64,
    cache: String,
    content: Option<String>,
}

type StatsRow = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

impl Store {
    /// Appends a batch in one transaction; returns how many rows were written. Values too large
    /// for a column are saturated (a log is for reading, not for accounting).
    pub async fn record_request_logs(&self, batch: &[RequestLogRecord]) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "INSERT INTO request_logs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        );
        let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        macro_rules! insert_all {
            ($tx:expr) => {{
                let mut n = 0;
                for r in batch {
                    n += sqlx::query(AssertSqlSafe(sql.as_str()))
                        .bind(&r.request_id)
                        .bind(r.occurred_at_ms)
                        .bind(&r.route)
                        .bind(r.virtual_key_id.as_deref())
                        .bind(r.team_id.as_deref())
                        .bind(r.customer_id.as_deref())
                        .bind(r.provider.as_deref())
                        .bind(r.model.as_deref())
                        .bind(r.key_name.as_deref())
                        .bind(i32::from(r.status))
                        .bind(r.error_code.as_deref())
                        .bind(i32::try_from(r.attempts).unwrap_or(i32::MAX))
                        .bind(big(r.latency_ms))
                        .bind(r.ttft_ms.map(big))
                        .bind(r.stream)
                        .bind(big(r.prompt_tokens))
                        .bind(big(r.completion_tokens))
                        .bind(big(r.cost_micros))
                        .bind(&r.cache)
                        .bind(r.content.as_deref())
                        .execute(&mut *$tx)
                        .await?
                        .rows_affected();
                }
                n
            }};
        }
        let n = match &self.pools {
            Pools::Postgres(p) => {
                let mut tx = p.begin().await?;
                let n = insert_all!(tx);
                tx.commit().await?;
                n
            }
            Pools::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let n = insert_all!(tx);
                tx.commit().await?;
                n
            }
        };
        Ok(n)
    }

    /// Up to `limit` records matching `filter`, newest first, strictly older than `before`.
    pub async fn request_logs(
        &self,
        filter: &RequestLogFilter,
        before: Option<RequestLogCursor>,
        limit: u32,
    ) -> Result<Vec<StoredRequestLog>> {
        let (mut clauses, mut params) = where_clauses(filter);
        if let Some(c) = before {
            let (a, b) = (params.len() + 1, params.len() + 2);
            clauses.push(format!(
                "(occurred_at_ms < ${a} OR (occurred_at_ms = ${a} AND id < ${b}))"
            ));
            params.push(Param::Int(c.occurred_at_ms));
            params.push(Param::Int(c.id));
        }
        let sql = format!(
            "SELECT id, {COLUMNS} FROM request_logs{} ORDER BY occurred_at_ms DESC, id DESC LIMIT {}",
            where_sql(&clauses),
            limit
        );
        let rows: Vec<Row> = fetch(&self.pools, &sql, params, true).await?.0;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Counts, status classes, latency and usage sums over `filter`.
    pub async fn request_log_stats(&self, filter: &RequestLogFilter) -> Result<RequestLogStats> {
        let (clauses, params) = where_clauses(filter);
        let sql = format!(
            "SELECT COUNT(*), \
             CAST(COALESCE(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status BETWEEN 200 AND 299 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(AVG(latency_ms), 0) AS BIGINT), \
             CAST(COALESCE(MAX(latency_ms), 0) AS BIGINT), \
             CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT), \
             CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT), \
             CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) \
             FROM request_logs{}",
            where_sql(&clauses)
        );
        let row: StatsRow = fetch(&self.pools, &sql, params, false).await?.1;
        let u = |v: i64| v.unsigned_abs();
        Ok(RequestLogStats {
            requests: u(row.0),
            errors: u(row.1),
            status_2xx: u(row.2),
            status_4xx: u(row.3),
            status_5xx: u(row.4),
            avg_latency_ms: u(row.5),
            max_latency_ms: u(row.6),
            prompt_tokens: u(row.7),
            completion_tokens: u(row.8),
            cost_micros: u(row.9),
        })
    }

    /// Deletes records that ended before `cutoff_ms` (retention), in bounded chunks; returns
    /// how many were deleted.
    pub async fn delete_request_logs_before(&self, cutoff_ms: i64) -> Result<u64> {
        let sql = format!(
            "DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs \
             WHERE occurred_at_ms < $1 LIMIT {DELETE_CHUNK})"
        );
        let mut total = 0;
        loop {
            macro_rules! delete {
                ($pool:expr) => {
                    sqlx::query(AssertSqlSafe(sql.as_str()))
                        .bind(cutoff_ms)
                        .execute($pool)
                        .await?
                        .rows_affected()
                };
            }
            let n = match &self.pools {
                Pools::Postgres(p) => delete!(p),
                Pools::Sqlite(p) => delete!(p),
            };
            total += n;
            if n < DELETE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }
}

fn where_clauses(f: &RequestLogFilter) -> (Vec<String>, Vec<Param>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let mut add = |clause: &str, p: Param| {
        params.push(p);
        clauses.push(clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(v) = f.from_ms {
        add("occurred_at_ms >= ?", Param::Int(v));
    }
    if let Some(v) = f.to_ms {
        add("occurred_at_ms < ?", Param::Int(v));
    }
    if let Some(v) = &f.virtual_key_id {
        add("virtual_key_id = ?", Param::Text(v.clone()));
    }
    if let Some(v) = &f.provider {
        add("provider = ?", Param::Text(v.clone()));
    }
    if let Some(v) = &f.model {
        add("model = ?", Param::Text(v.clone()));
    }
    if let Some((lo, hi)) = f.status {
        add("status >= ?", Param::Int(i64::from(lo)));
        add("status <= ?", Param::Int(i64::from(hi)));
    }
    (clauses, params)
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

/// Runs `sql` (built from constant column names; values are bound) with `params`: all rows as [`Row`]s (`many`), or the one [`StatsRow`].
async fn fetch(
    pools: &Pools,
    sql: &str,
    params: Vec<Param>,
    many: bool,
) -> Result<(Vec<Row>, StatsRow)> {
    macro_rules! run {
        ($pool:expr) => {{
            if many {
                let mut q = sqlx::query_as::<_, Row>(AssertSqlSafe(sql));
                for p in params {
                    q = match p {
                        Param::Int(v) => q.bind(v),
                        Param::Text(v) => q.bind(v),
                    };
                }
                (q.fetch_all($pool).await?, StatsRow::default())
            } else {
                let mut q = sqlx::query_as::<_, StatsRow>(AssertSqlSafe(sql));
                for p in params {
                    q = match p {
                        Param::Int(v) => q.bind(v),
                        Param::Text(v) => q.bind(v),
                    };
                }
                (Vec::new(), q.fetch_one($pool).await?)
            }
        }};
    }
    Ok(match pools {
        Pools::Postgres(p) => run!(p),
        Pools::Sqlite(p) => run!(p),
    })
}

fn from_row(r: Row) -> StoredRequestLog {
    let u = |v: i64| v.unsigned_abs();
    StoredRequestLog {
        id: r.id,
        record: RequestLogRecord {
            request_id: r.request_id,
            occurred_at_ms: r.occurred_at_ms,
            route: r.route,
            virtual_key_id: r.virtual_key_id,
            team_id: r.team_id,
            customer_id: r.customer_id,
            provider: r.provider,
            model: r.model,
            key_name: r.key_name,
            status: u16::try_from(r.status).unwrap_or(0),
            error_code: r.error_code,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            latency_ms: u(r.latency_ms),
            ttft_ms: r.ttft_ms.map(u),
            stream: r.stream,
            prompt_tokens: u(r.prompt_tokens),
            completion_tokens: u(r.completion_tokens),
            cost_micros: u(r.cost_micros),
            cache: r.cache,
            content: r.content,
        },
    }
}

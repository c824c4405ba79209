//! The usage ledger: one row per settled request, for budgets that must survive restarts and
//! for reporting. Batches are idempotent by `request_id`, so a data plane may re-send a batch
//! whose acknowledgement it lost.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Store;
use crate::connect::Pools;
use crate::error::{Result, StoreError};

/// One settled request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Unique per request; a record whose id is already in the ledger is ignored.
    pub request_id: String,
    pub virtual_key_id: Option<String>,
    /// The team and customer at the time of the request (a key may move later).
    pub team_id: Option<String>,
    pub customer_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Cost in millionths of a USD: exact, so sums never drift.
    pub cost_micros: u64,
    pub occurred_at: SystemTime,
}

/// Whose usage to add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageScope {
    VirtualKey,
    Team,
    Customer,
    Provider,
}

/// Sums over a scope and a time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub requests: u64,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    pub cost_micros: u64,
}

impl Store {
    /// Appends a batch in one transaction; returns how many records were new (the others were
    /// already recorded and are left as they are).
    pub async fn record_usage(&self, batch: &[UsageRecord]) -> Result<u64> {
        const INSERT: &str = "INSERT INTO usage_ledger (request_id, virtual_key_id, team_id, \
             customer_id, provider, model, prompt_tokens, completion_tokens, cost_micros, \
             occurred_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (request_id) DO NOTHING";
        let rows = batch.iter().map(Row::new).collect::<Result<Vec<_>>>()?;
        // Usage writes do not take the config lock; on SQLite they still start IMMEDIATE so the
        // busy timeout applies (a deferred transaction that later writes can fail at once).
        macro_rules! insert_all {
            ($tx:expr) => {{
                let mut inserted = 0;
                for (r, n) in batch.iter().zip(&rows) {
                    inserted += sqlx::query(INSERT)
                        .bind(&r.request_id)
                        .bind(r.virtual_key_id.as_deref())
                        .bind(r.team_id.as_deref())
                        .bind(r.customer_id.as_deref())
                        .bind(&r.provider)
                        .bind(&r.model)
                        .bind(n.prompt_tokens)
                        .bind(n.completion_tokens)
                        .bind(n.cost_micros)
                        .bind(n.occurred_at_ms)
                        .execute(&mut *$tx)
                        .await?
                        .rows_affected();
                }
                inserted
            }};
        }
        let inserted = match &self.pools {
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
        Ok(inserted)
    }

    /// Requests, tokens and cost recorded for `id` in `scope` at or after `since`.
    pub async fn usage_since(
        &self,
        scope: UsageScope,
        id: &str,
        since: SystemTime,
    ) -> Result<UsageTotals> {
        macro_rules! sums {
            ($column:literal) => {
                concat!(
                    "SELECT COUNT(*), ",
                    "CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT), ",
                    "CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) ",
                    "FROM usage_ledger WHERE ",
                    $column,
                    " = $1 AND occurred_at_ms >= $2"
                )
            };
        }
        let sql: &'static str = match scope {
            UsageScope::VirtualKey => sums!("virtual_key_id"),
            UsageScope::Team => sums!("team_id"),
            UsageScope::Customer => sums!("customer_id"),
            UsageScope::Provider => sums!("provider"),
        };
        self.sums(sql, &[id], since).await
    }

    /// Requests, tokens and cost recorded for the provider config `provider` of virtual key
    /// `virtual_key_id` (the scope of its `provider_configs[].budget`) at or after `since`.
    pub async fn provider_config_usage_since(
        &self,
        virtual_key_id: &str,
        provider: &str,
        since: SystemTime,
    ) -> Result<UsageTotals> {
        const SQL: &str = "SELECT COUNT(*), \
             CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT), \
             CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) \
             FROM usage_ledger WHERE virtual_key_id = $1 AND provider = $2 \
             AND occurred_at_ms >= $3";
        self.sums(SQL, &[virtual_key_id, provider], since).await
    }

    /// Runs a `COUNT, SUM(tokens), SUM(cost)` query whose text parameters are `keys` and whose
    /// last parameter is `since` in Unix ms.
    async fn sums(
        &self,
        sql: &'static str,
        keys: &[&str],
        since: SystemTime,
    ) -> Result<UsageTotals> {
        let since_ms = millis(since, "since")?;
        macro_rules! fetch {
            ($pool:expr) => {{
                let mut q = sqlx::query_as(sql);
                for k in keys {
                    q = q.bind(*k);
                }
                q.bind(since_ms).fetch_one($pool).await?
            }};
        }
        let (requests, tokens, cost): (i64, i64, i64) = match &self.pools {
            Pools::Postgres(p) => fetch!(p),
            Pools::Sqlite(p) => fetch!(p),
        };
        // Every column is CHECKed non-negative, so the sums are too.
        Ok(UsageTotals {
            requests: requests.unsigned_abs(),
            tokens: tokens.unsigned_abs(),
            cost_micros: cost.unsigned_abs(),
        })
    }
}

/// The integer columns of a record, checked to fit `BIGINT`.
struct Row {
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_micros: i64,
    occurred_at_ms: i64,
}

impl Row {
    fn new(r: &UsageRecord) -> Result<Row> {
        let fit = |v: u64, field: &str| {
            i64::try_from(v).map_err(|_| StoreError::OutOfRange {
                field: format!("usage[{}].{field}", r.request_id),
                message: format!("{v} is too large"),
            })
        };
        Ok(Row {
            prompt_tokens: fit(r.prompt_tokens, "prompt_tokens")?,
            completion_tokens: fit(r.completion_tokens, "completion_tokens")?,
            cost_micros: fit(r.cost_micros, "cost_micros")?,
            occurred_at_ms: millis(r.occurred_at, "occurred_at")?,
        })
    }
}

fn millis(t: SystemTime, field: &str) -> Result<i64> {
    let out_of_range = |message: &str| StoreError::OutOfRange {
        field: field.to_string(),
        message: message.to_string(),
    };
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| out_of_range("is before 1970"))?;
    i64::try_from(d.as_millis()).map_err(|_| out_of_range("is too far in the future"))
}

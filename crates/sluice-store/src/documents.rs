//! Generic access to the JSON-document tables: one row per entity, `doc` holding the sluice-core
//! config type. Table and SQL names are constants of the calling repository, never input.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::types::Json;

use crate::error::{Result, StoreError};
use crate::tx::{Tx, Write, on_conn};

impl<M> Tx<M> {
    /// One document by key; `sql` selects `doc` with the key as `$1`.
    pub(crate) async fn doc<T: DeserializeOwned>(
        &mut self,
        table: &'static str,
        sql: &'static str,
        id: &str,
    ) -> Result<Option<T>> {
        let doc: Option<Json<serde_json::Value>> = on_conn!(&mut self.conn, |c| {
            sqlx::query_scalar(sql).bind(id).fetch_optional(c).await?
        });
        doc.map(|Json(v)| parse(table, id, v)).transpose()
    }

    /// Every document with its key, in key order; `sql` selects `(key, doc)`.
    pub(crate) async fn docs<T: DeserializeOwned>(
        &mut self,
        table: &'static str,
        sql: &'static str,
    ) -> Result<Vec<(String, T)>> {
        let rows: Vec<(String, Json<serde_json::Value>)> =
            on_conn!(&mut self.conn, |c| sqlx::query_as(sql).fetch_all(c).await?);
        rows.into_iter()
            .map(|(id, Json(v))| {
                let doc = parse(table, &id, v)?;
                Ok((id, doc))
            })
            .collect()
    }

    /// A list of keys; `sql` selects one text column, with `$1`, `$2`, ... bound to `args`.
    pub(crate) async fn keys(&mut self, sql: &'static str, args: &[&str]) -> Result<Vec<String>> {
        Ok(on_conn!(&mut self.conn, |c| {
            let mut q = sqlx::query_scalar(sql);
            for arg in args {
                q = q.bind(*arg);
            }
            q.fetch_all(c).await?
        }))
    }
}

impl Tx<Write> {
    /// Runs an upsert/delete whose parameters are `$1` = key, `$2` = doc, `$3` = updated_at_ms
    /// and then the `extra` text columns (`$4`, ...).
    pub(crate) async fn write_doc<T: Serialize>(
        &mut self,
        sql: &'static str,
        id: &str,
        doc: &T,
        extra: &[Option<&str>],
    ) -> Result<()> {
        let now = crate::tx::now_ms();
        on_conn!(&mut self.conn, |c| {
            let mut q = sqlx::query(sql).bind(id).bind(Json(doc)).bind(now);
            for value in extra {
                q = q.bind(*value);
            }
            q.execute(c).await.map_err(StoreError::from_write)?;
        });
        Ok(())
    }

    /// Runs a `DELETE … WHERE key = $1`; whether a row was deleted.
    pub(crate) async fn delete_row(&mut self, sql: &'static str, id: &str) -> Result<bool> {
        let affected = on_conn!(&mut self.conn, |c| sqlx::query(sql)
            .bind(id)
            .execute(c)
            .await
            .map_err(StoreError::from_write)?
            .rows_affected());
        Ok(affected > 0)
    }
}

fn parse<T: DeserializeOwned>(table: &'static str, id: &str, v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|source| StoreError::CorruptDocument {
        table,
        id: id.to_string(),
        source,
    })
}

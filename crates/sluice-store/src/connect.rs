//! Database URL → connection pool, with the settings each backend needs for our locking model.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Result, StoreError};

/// The pools of the two backends. An enum rather than sqlx's `Any` driver: `Any` maps every
/// value to a lowest common type, cannot open SQLite transactions with `BEGIN IMMEDIATE`, and
/// has no `PgListener` for LISTEN/NOTIFY. With the enum each query keeps its driver's types, and
/// the few statements that differ (row locks, NOTIFY) are written once per backend.
#[derive(Clone)]
pub(crate) enum Pools {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Which database a [`Store`](crate::Store) runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Accepted forms: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?...]` (or `postgresql://`),
/// `sqlite://PATH?mode=rwc` (creates the file and its directory), `sqlite:PATH`,
/// `sqlite::memory:`.
pub(crate) async fn connect(database_url: &str) -> Result<Pools> {
    // Only the scheme is ever echoed back: the rest may hold a password.
    let scheme = database_url.split(':').next().unwrap_or_default();
    match scheme {
        "postgres" | "postgresql" => {
            let options = PgConnectOptions::from_str(database_url).map_err(|source| {
                StoreError::InvalidUrl {
                    backend: "PostgreSQL",
                    source,
                }
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Pools::Postgres(pool))
        }
        "sqlite" => connect_sqlite(database_url).await.map(Pools::Sqlite),
        other => Err(StoreError::UnsupportedUrl {
            scheme: other.to_string(),
        }),
    }
}

async fn connect_sqlite(database_url: &str) -> Result<SqlitePool> {
    let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(database_url)
        .map_err(|source| StoreError::InvalidUrl {
            backend: "SQLite",
            source,
        })?
        .foreign_keys(true)
        // Writers queue on BEGIN IMMEDIATE; this is how long one waits for the others.
        .busy_timeout(Duration::from_secs(10));
    if in_memory {
        // Every connection to a shared in-memory database sees the same data, and the data
        // vanishes with the last connection: one connection, kept forever. One connection also
        // serialises writers, which shared-cache locking would not do with BEGIN IMMEDIATE.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        return Ok(pool);
    }
    if database_url.contains("mode=rwc")
        && let Some(dir) = options.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    }
    // WAL: readers never block the writer (nor it them); NORMAL sync is durable in WAL mode
    // except for the last transactions before a power loss, which is fine for admin config.
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unsupported_schemes_are_refused_without_echoing_the_url() {
        let Err(e) = connect("mysql://root:hunter2@db/x").await else {
            panic!("mysql must be refused");
        };
        let msg = e.to_string();
        assert!(msg.contains("'mysql'") && !msg.contains("hunter2"), "{msg}");
    }

    #[tokio::test]
    async fn sqlite_file_urls_create_the_file_and_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/sluice.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pools = connect(&url).await.unwrap();
        assert!(matches!(pools, Pools::Sqlite(_)));
        assert!(path.exists());
    }
}

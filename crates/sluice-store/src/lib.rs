//! Durable storage of the Sluice control plane, over PostgreSQL (production, many replicas) or
//! SQLite (the embedded default of `sluice serve`), behind one interface.
//!
//! - Entities are JSON documents in the shape of the sluice-core config types: providers (key
//!   values sealed with AES-256-GCM, see [`EncryptionKey`]), virtual keys (credential stored only
//!   as its SHA-256), teams, customers, plus the process-wide settings a seed file brings.
//! - Every config change runs in one [`WriteTx`] and bumps a monotonically increasing version in
//!   the same transaction (on PostgreSQL it also `NOTIFY`s [`CONFIG_CHANNEL`]).
//! - A usage ledger, idempotent by request id: [`Store::record_usage`], [`Store::usage_since`].
//! - A best-effort request log with retention: [`Store::record_request_logs`],
//!   [`Store::request_logs`], [`Store::request_log_stats`], [`Store::delete_request_logs_before`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), sluice_store::StoreError> {
//! use sluice_store::{EncryptionKey, Store};
//! let store = Store::connect("sqlite::memory:", EncryptionKey::generate()?).await?;
//! store.migrate().await?;
//! let mut tx = store.begin_write().await?;
//! tx.put_customer("acme", &serde_json::from_str(r#"{"name": "Acme"}"#).unwrap()).await?;
//! let version = tx.commit().await?;
//! let (v, config) = store.load_config().await?;
//! assert_eq!((v, config.governance.customers.len()), (version, 1));
//! # Ok(()) }
//! ```
//!
//! Queries are runtime `sqlx::query`/`query_as` (no compile-time checking, so building needs no
//! database); migrations under `migrations/{postgres,sqlite}/` are embedded with `sqlx::migrate!`.

mod connect;
mod documents;
pub mod encryption;
mod error;
mod governance;
mod providers;
mod request_logs;
mod tx;
mod usage;
mod whole_config;

#[cfg(feature = "test-support")]
pub mod testing;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;

pub use connect::Backend;
pub use encryption::{EncryptionKey, EncryptionKeyError};
pub use error::{Result, StoreError};
pub use request_logs::{
    RequestLogCursor, RequestLogFilter, RequestLogRecord, RequestLogStats, StoredRequestLog,
};
pub use tx::{CONFIG_CHANNEL, Read, ReadTx, Tx, Write, WriteTx};
pub use usage::{UsageRecord, UsageScope, UsageTotals};

use connect::Pools;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// A connection pool to the control plane's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pools: Pools,
    encryption: EncryptionKey,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `database_url`: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (also
    /// `postgresql://`), `sqlite://PATH?mode=rwc` (creates the file and its directory),
    /// `sqlite:PATH` (must exist) or `sqlite::memory:`. Does not migrate; see [`Store::migrate`].
    pub async fn connect(database_url: &str, encryption: EncryptionKey) -> Result<Store> {
        let pools = connect::connect(database_url).await?;
        Ok(Store { pools, encryption })
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Postgres(_) => Backend::Postgres,
            Pools::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The PostgreSQL pool (for LISTEN), or `None` on SQLite.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pools {
            Pools::Postgres(p) => Some(p),
            Pools::Sqlite(_) => None,
        }
    }

    /// Applies every pending migration of this backend. Safe to run concurrently from several
    /// replicas (sqlx takes an advisory lock on PostgreSQL) and on every start.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pools {
            Pools::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
            Pools::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// A consistent read-only view.
    pub async fn begin_read(&self) -> Result<ReadTx> {
        Tx::<Read>::begin(&self.pools, &self.encryption).await
    }

    /// A config-changing transaction; writers are serialised (see [`tx`](crate::Tx)), so keep it
    /// short. Commit with [`Tx::commit`], which bumps the version.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        Tx::<Write>::begin(&self.pools, &self.encryption).await
    }

    /// The current config version; 0 until the first change.
    pub async fn version(&self) -> Result<u64> {
        let tx = self.begin_read().await?;
        let version = tx.base_version();
        tx.rollback().await?;
        Ok(version)
    }

    /// The whole current config and its version, read in one transaction.
    pub async fn load_config(&self) -> Result<(u64, sluice_core::Config)> {
        let mut tx = self.begin_read().await?;
        let config = tx.load_config().await?;
        let version = tx.base_version();
        tx.rollback().await?;
        Ok((version, config))
    }

    /// Imports `seed` if the store has never been changed (version 0) and returns the new
    /// version; otherwise leaves the store alone and returns `None`: once the store has data, it
    /// wins over any config file. Validate the seed first ([`sluice_core::Config::validate`]).
    pub async fn seed_if_empty(&self, seed: &sluice_core::Config) -> Result<Option<u64>> {
        let mut tx = self.begin_write().await?;
        if tx.base_version() != 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.import_config(seed).await?;
        tx.commit().await.map(Some)
    }

    /// Closes every connection (waits for borrowed ones to come back).
    pub async fn close(&self) {
        match &self.pools {
            Pools::Postgres(p) => p.close().await,
            Pools::Sqlite(p) => p.close().await,
        }
    }
}

//! Transactions: every admin API request is one [`WriteTx`] (or [`ReadTx`]), committed whole or
//! not at all. Repository methods live beside the entities (`providers.rs`, `governance.rs`).
//!
//! Locking model:
//! - PostgreSQL: a write transaction first takes `SELECT … FROM config_version … FOR UPDATE`.
//!   Every change bumps that row anyway, so taking its lock up front serialises writers: a
//!   read-modify-write merge cannot lose a concurrent update, and "the team exists" / "the
//!   customer has no teams" stay true until commit (row locks on the entity alone would not
//!   cover rows that do not exist yet). Reads run in `REPEATABLE READ READ ONLY`, so a whole
//!   config load sees one commit.
//! - SQLite: writers open with `BEGIN IMMEDIATE` (the database's single write lock, waited for up
//!   to the busy timeout); readers use deferred transactions, which in WAL mode read one snapshot.

use std::marker::PhantomData;

use sqlx::{Postgres, Sqlite};

use crate::connect::Pools;
use crate::encryption::EncryptionKey;
use crate::error::{Result, StoreError};

/// The PostgreSQL channel notified (in the committing transaction) with the new version after
/// every config change; control plane replicas LISTEN on it.
pub const CONFIG_CHANNEL: &str = "sluice_config_changed";

/// Marker: a transaction that only reads.
pub struct Read;
/// Marker: a transaction that may change the config; committing it bumps the version.
pub struct Write;

/// A read-only transaction: one consistent view of the store.
pub type ReadTx = Tx<Read>;
/// A config-changing transaction. Dropping it without [`Tx::commit`] rolls everything back.
pub type WriteTx = Tx<Write>;

/// A transaction on either backend. Reads are available in both modes, writes only in
/// [`WriteTx`].
pub struct Tx<M> {
    pub(crate) conn: Conn,
    pub(crate) encryption: EncryptionKey,
    /// The config version when the transaction began.
    base_version: u64,
    _mode: PhantomData<M>,
}

pub(crate) enum Conn {
    Postgres(sqlx::Transaction<'static, Postgres>),
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

/// Runs `$body` with `$c` bound to the transaction's connection, once per backend: the same SQL
/// text serves both, as both accept `$1` placeholders, `ON CONFLICT` and `RETURNING`. Each arm
/// is type-checked against its own driver, so bound and decoded types must suit both.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::tx::Conn::Postgres(tx) => {
                let $c = &mut **tx;
                $body
            }
            $crate::tx::Conn::Sqlite(tx) => {
                let $c = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use on_conn;

const SELECT_VERSION: &str = "SELECT version FROM config_version WHERE id = 1";

impl<M> Tx<M> {
    /// The config version this transaction started from.
    pub fn base_version(&self) -> u64 {
        self.base_version
    }

    /// Ends the transaction without changing anything.
    pub async fn rollback(self) -> Result<()> {
        match self.conn {
            Conn::Postgres(tx) => tx.rollback().await?,
            Conn::Sqlite(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

impl Tx<Read> {
    pub(crate) async fn begin(pools: &Pools, encryption: &EncryptionKey) -> Result<ReadTx> {
        let mut conn = match pools {
            Pools::Postgres(p) => Conn::Postgres(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
            Pools::Sqlite(p) => Conn::Sqlite(p.begin().await?),
        };
        let version: i64 = on_conn!(&mut conn, |c| sqlx::query_scalar(SELECT_VERSION)
            .fetch_one(c)
            .await?);
        Ok(Tx {
            conn,
            encryption: encryption.clone(),
            base_version: to_version(version)?,
            _mode: PhantomData,
        })
    }
}

impl Tx<Write> {
    pub(crate) async fn begin(pools: &Pools, encryption: &EncryptionKey) -> Result<WriteTx> {
        let (conn, version): (Conn, i64) = match pools {
            Pools::Postgres(p) => {
                let mut tx = p.begin().await?;
                let v = sqlx::query_scalar(
                    "SELECT version FROM config_version WHERE id = 1 FOR UPDATE",
                )
                .fetch_one(&mut *tx)
                .await?;
                (Conn::Postgres(tx), v)
            }
            Pools::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let v = sqlx::query_scalar(SELECT_VERSION)
                    .fetch_one(&mut *tx)
                    .await?;
                (Conn::Sqlite(tx), v)
            }
        };
        Ok(Tx {
            conn,
            encryption: encryption.clone(),
            base_version: to_version(version)?,
            _mode: PhantomData,
        })
    }

    /// Bumps the config version, notifies other replicas (PostgreSQL) and commits; returns the
    /// new version.
    pub async fn commit(mut self) -> Result<u64> {
        const BUMP: &str =
            "UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version";
        let version: i64 = on_conn!(&mut self.conn, |c| sqlx::query_scalar(BUMP)
            .fetch_one(c)
            .await?);
        match self.conn {
            Conn::Postgres(mut tx) => {
                // Delivered only if the transaction commits, and after it has.
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CONFIG_CHANNEL)
                    .bind(version.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Conn::Sqlite(tx) => tx.commit().await?,
        }
        to_version(version)
    }
}

fn to_version(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::OutOfRange {
        field: "config_version.version".into(),
        message: format!("{v} is negative"),
    })
}

/// Milliseconds since the Unix epoch, for `updated_at_ms` columns.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

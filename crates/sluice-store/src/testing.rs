//! Real databases for tests (feature `test-support`): a temp-file SQLite database, or a fresh
//! PostgreSQL database created for the test and dropped afterwards.
//!
//! PostgreSQL is found at `DATABASE_URL` if set (any database of a role that may
//! `CREATE DATABASE`), else at `postgres://postgres@127.0.0.1:5432/postgres` (trust auth, as on
//! the project's machines). When it cannot be reached, [`TestDatabase::postgres`] prints
//! `SKIPPED` and returns `None` — unless `CI` is set, where it panics: in CI a database test never
//! skips.
//!
//! ```no_run
//! # async fn demo() {
//! use sluice_store::testing::TestDatabase;
//! let Some(db) = TestDatabase::postgres().await else { return }; // skipped loudly
//! let store = db.store().await; // connected and migrated
//! # }
//! ```

use std::io::Write;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use rand::Rng;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::{EncryptionKey, Store};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Why PostgreSQL was unreachable, once it was.
static UNREACHABLE: OnceLock<String> = OnceLock::new();

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test. Dropping it deletes it (file or PostgreSQL database).
pub struct TestDatabase {
    url: String,
    backend: TestBackend,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The temp directory holding the SQLite file; removed on drop.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// `DROP DATABASE name` through the admin URL.
    Postgres { admin_url: String, name: String },
}

/// Whether this run is CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The PostgreSQL URL tests use to create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string())
}

impl TestDatabase {
    /// A fresh database of `backend`; `None` when PostgreSQL is unreachable outside CI.
    pub async fn new(backend: TestBackend) -> Option<TestDatabase> {
        match backend {
            TestBackend::Sqlite => Some(Self::sqlite()),
            TestBackend::Postgres => Self::postgres().await,
        }
    }

    /// A SQLite database in a new temp file.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("create a temp dir for the SQLite test database");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("sluice.db").display()
        );
        TestDatabase {
            url,
            backend: TestBackend::Sqlite,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A new, empty PostgreSQL database `sluice_test_<random>`.
    pub async fn postgres() -> Option<TestDatabase> {
        let admin_url = postgres_admin_url();
        let shown = redact_password(&admin_url);
        // Once PostgreSQL was found unreachable, later tests of this process skip (or fail) at
        // once instead of each waiting for the connect timeout.
        let attempt = match UNREACHABLE.get() {
            Some(reason) => Err(reason.clone()),
            None => connect_admin(&admin_url).await,
        };
        let mut admin = match attempt {
            Ok(c) => c,
            Err(e) if in_ci() => panic!(
                "PostgreSQL is required in CI but unreachable at {shown}: {e}. Start it (e.g. \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or \
                 set DATABASE_URL."
            ),
            Err(e) => {
                let message = format!(
                    "SKIPPED: PostgreSQL tests, database unreachable at {shown} ({e}); set \
                     DATABASE_URL or start PostgreSQL on 127.0.0.1:5432 (with CI set this fails)"
                );
                if UNREACHABLE.set(e).is_ok() {
                    // Written to the process's stderr directly: the test harness captures
                    // `eprintln!` of passing tests, and a skip must not go unnoticed.
                    let _ = writeln!(std::io::stderr(), "{message}");
                }
                eprintln!("{message}");
                return None;
            }
        };
        let name = format!("sluice_test_{:016x}", rand::rng().random::<u64>());
        // The name is generated above from hex digits only, so it is safe to splice into SQL.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} at {shown}: {e}"));
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(TestDatabase {
            url,
            backend: TestBackend::Postgres,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> TestBackend {
        self.backend
    }

    /// A [`Store`] on this database, migrated, with a fixed test encryption key.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, test_encryption_key())
            .await
            .unwrap_or_else(|e| panic!("connect to the test database: {e}"));
        store.migrate().await.expect("migrate the test database");
        store
    }
}

/// The encryption key tests use (fixed, so two stores on one database agree).
pub fn test_encryption_key() -> EncryptionKey {
    EncryptionKey::from_bytes([0x5a; 32])
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop cannot await, and the test's runtime may be single-threaded or shutting down:
        // drop the database from a thread with its own small runtime, and wait for it.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = connect_admin(&admin_url).await?;
                // FORCE ends the connections pools of the test may still hold.
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("warning: could not drop test database: {e}");
        }
    }
}

async fn connect_admin(url: &str) -> Result<PgConnection, String> {
    let options = PgConnectOptions::from_str(url).map_err(|e| format!("bad URL: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out after 5 s".into()),
    }
}

/// `url` with its database (path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_path(&format!("/{name}"));
            u.to_string()
        }
        Err(e) => panic!("DATABASE_URL is not a URL: {e}"),
    }
}

fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5433/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5433/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}

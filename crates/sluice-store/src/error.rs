//! What can go wrong in the store. Messages never contain a secret or a database password.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database URL is neither `postgres://…`/`postgresql://…` nor `sqlite:…`.
    #[error(
        "unsupported database URL scheme '{scheme}': use postgres://USER@HOST:PORT/DB, sqlite://PATH?mode=rwc or sqlite::memory:"
    )]
    UnsupportedUrl { scheme: String },

    /// The URL has the right scheme but sqlx cannot parse it.
    #[error("invalid {backend} database URL: {source}")]
    InvalidUrl {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// A database error (connection, query, constraint not mapped below).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// A unique or foreign-key constraint refused a write. Callers check these conditions inside
    /// the transaction first, so this is a last line of defence (a concurrent writer on a
    /// database without our locking, or a bug).
    #[error("constraint violated: {0}")]
    Constraint(String),

    /// A stored document does not parse as its config type (hand-edited or from a newer version).
    #[error("stored {table} '{id}' is not a valid document: {source}")]
    CorruptDocument {
        table: &'static str,
        id: String,
        #[source]
        source: serde_json::Error,
    },

    /// A value does not fit the column (e.g. a token count above i64::MAX).
    #[error("{field}: {message}")]
    OutOfRange { field: String, message: String },

    /// An encrypted provider key value could not be decrypted: almost always a different
    /// `SLUICE_ENCRYPTION_KEY` than the one it was written with.
    #[error(
        "cannot decrypt {field}: the encryption key differs from the one the value was stored with, or the value is damaged (check SLUICE_ENCRYPTION_KEY / the data dir's encryption.key)"
    )]
    Decrypt { field: String },

    #[error(transparent)]
    Encryption(#[from] crate::encryption::EncryptionKeyError),
}

impl StoreError {
    /// Maps unique and foreign-key violations to [`StoreError::Constraint`].
    pub(crate) fn from_write(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e
            && (db.is_unique_violation() || db.is_foreign_key_violation())
        {
            return StoreError::Constraint(db.message().to_string());
        }
        StoreError::Database(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

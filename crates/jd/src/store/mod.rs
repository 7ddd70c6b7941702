//! Persistence for the JD: one set of SQL statements over SQLite or PostgreSQL.
//!
//! Both backends go through sqlx's `Any` driver, so every query is written once. Statements
//! use `$N` placeholders, which both SQLite and PostgreSQL understand; times are stored as
//! microseconds since the epoch and flags as integers so the two schemas stay the same.
//! The store speaks in protobuf types: the services hand its results straight to callers.

mod chain;
mod csa;
mod jobs;
mod labels;
mod nodes;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use csa::StoredKeypair;
pub use jobs::{JobFilter, NewProposals, ProposalOutcome, RevokeOutcome};
pub use nodes::NodeChanges;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// What can go wrong in the store. Callers see a generic message; the detail is logged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one the JD understands.
    #[error("unsupported database URL {0:?}: use sqlite:PATH, sqlite::memory: or postgres://…")]
    UnsupportedUrl(String),
    /// The database could not be reached or refused the connection.
    #[error("cannot open database: {0}")]
    Connect(#[source] sqlx::Error),
    /// Applying the schema failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A uniqueness rule was violated (for example a second node with the same key).
    #[error("unique constraint violated")]
    Conflict,
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error.as_database_error() {
            Some(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Database(error),
        }
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The JD's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// The URL of a private in-memory SQLite database.
pub const SQLITE_MEMORY_URL: &str = "sqlite::memory:";

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    ///
    /// Accepted URLs: `sqlite:PATH` / `sqlite://PATH` (file, created when missing),
    /// `sqlite::memory:` (private, in memory), `postgres://…` / `postgresql://…`.
    pub async fn open(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let pool = match backend {
            Backend::Sqlite => open_sqlite(url).await?,
            Backend::Postgres => open_postgres(url).await?,
        };
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// Which database this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// Closes every connection (waits for running queries).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn open_sqlite(url: &str) -> StoreResult<AnyPool> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    // A file is created when missing; an in-memory database lives as long as its one
    // connection, so that connection must never be recycled.
    let url = if in_memory || url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    let options = AnyConnectOptions::from_str(&url).map_err(StoreError::Connect)?;
    // SQLite allows one writer at a time; a single connection serialises writes without
    // SQLITE_BUSY errors, and reads are served mostly from the JD's node snapshot.
    let pool_options = AnyPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
                )
                .await?;
                Ok(())
            })
        });
    pool_options
        .connect_with(options)
        .await
        .map_err(StoreError::Connect)
}

async fn open_postgres(url: &str) -> StoreResult<AnyPool> {
    let options = AnyConnectOptions::from_str(url).map_err(StoreError::Connect)?;
    AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(StoreError::Connect)
}

/// `$first, $first+1, …` for `count` values: the placeholders of an `IN (…)` list.
fn placeholders(first: usize, count: usize) -> String {
    let mut out = String::with_capacity(count * 4);
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&(first + i).to_string());
    }
    out
}

/// Rows per multi-row statement: keeps every statement under both databases' bind limits.
const CHUNK: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 0), "");
    }

    #[tokio::test]
    async fn rejects_unknown_url_scheme() {
        let err = Store::open("mysql://localhost/x").await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err}");
    }

    #[tokio::test]
    async fn file_database_is_created_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("jd.db").display());
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        store.close().await;
        // Migrations already applied: opening again must succeed without re-running them.
        Store::open(&url).await.unwrap();
    }
}

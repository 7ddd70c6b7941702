//! The node's own SQLite database, `store.sqlite` in `data_dir`: the job proposals the Job
//! Distributors sent (see [`crate::proposals`] for the rules that change them).
//!
//! Like the JD's SQLite store, the file runs in WAL mode with `synchronous = FULL`, so a call
//! that returned has its write on disk: an answer the node gives the JD is never forgotten
//! by a crash. The pool holds a single connection — the node writes little, and one
//! connection serializes the store's transactions inside this process; they also start
//! with `BEGIN IMMEDIATE`, so a second process on the same file waits (busy timeout) rather
//! than failing half-way through a read-then-write.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// The store's file name inside `data_dir`.
pub const STORE_FILE: &str = "store.sqlite";

/// How long a transaction waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong opening or using the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `data_dir` could not be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value is not one this code writes.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The state of a proposal, or of one of its spec versions (`deleted` is only a proposal's).
/// Spelled in lowercase in the database and in the node's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for the operator (or the approval policy).
    Pending,
    /// Approved: its job is active.
    Approved,
    /// Rejected by the operator.
    Rejected,
    /// Its job was cancelled by the operator (or replaced by a newer approved version).
    Cancelled,
    /// Deleted by the JD (`DeleteJob`).
    Deleted,
    /// Withdrawn by the JD (`RevokeJob`).
    Revoked,
}

impl State {
    /// The spelling used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Cancelled => "cancelled",
            State::Deleted => "deleted",
            State::Revoked => "revoked",
        }
    }

    /// Reads a stored state.
    pub(crate) fn parse(text: &str) -> StoreResult<State> {
        Ok(match text {
            "pending" => State::Pending,
            "approved" => State::Approved,
            "rejected" => State::Rejected,
            "cancelled" => State::Cancelled,
            "deleted" => State::Deleted,
            "revoked" => State::Revoked,
            other => {
                let shown: String = other.chars().take(32).collect();
                return Err(StoreError::Corrupt(format!("unknown state {shown:?}")));
            }
        })
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The node's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) [`STORE_FILE`] in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Self::open_file(&data_dir.join(STORE_FILE)).await
    }

    /// Opens (creating if needed) the database file at `path`.
    pub async fn open_file(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// A write transaction holding SQLite's write lock from its first statement.
    pub(crate) async fn write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The pool, for reads.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the connection (waits for running queries).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, in microseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_their_spelling() {
        for state in [
            State::Pending,
            State::Approved,
            State::Rejected,
            State::Cancelled,
            State::Deleted,
            State::Revoked,
        ] {
            assert_eq!(State::parse(state.as_str()).unwrap(), state);
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{}\"", state.as_str())
            );
        }
        assert!(State::parse("superseded").is_err());
    }

    #[tokio::test]
    async fn opens_in_wal_mode_with_full_sync_and_creates_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested").join("data");
        let store = Store::open(&data_dir).await.unwrap();
        assert!(data_dir.join(STORE_FILE).is_file());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous = FULL");
        store.close().await;
        // Reopening runs the (already applied) migrations again without error.
        Store::open(&data_dir).await.unwrap().close().await;
    }
}

//! Persistence for the JD: one set of SQL statements over SQLite or PostgreSQL.
//!
//! Both backends go through sqlx's `Any` driver, so every query is written once. Statements
//! use `$N` placeholders, which both SQLite and PostgreSQL understand; times are stored as
//! microseconds since the epoch and flags as integers so the two schemas stay the same.
//! The store speaks in protobuf types: the services hand its results straight to callers.

mod answers;
mod chain;
mod csa;
mod delivery;
mod delivery_report;
mod jobs;
mod labels;
mod nodes;
mod propose;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

pub use answers::AnswerOutcome;
pub use csa::StoredKeypair;
pub use delivery::{MAX_DELIVERY_ERROR, PendingForward, Undelivered};
pub use jobs::{JobFilter, RevokeOutcome};
pub use nodes::{NodeChanges, NodeReport, NodeRows};
pub use propose::{NewProposals, ProposalOutcome};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The scheme of a database URL (before its first `:`), at most 32 bytes, for messages.
fn url_scheme(url: &str) -> String {
    let scheme = url.split(':').next().unwrap_or_default();
    scheme.chars().take(32).collect()
}

/// What can go wrong in the store. Callers see a generic message; the detail is logged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one the JD understands. Only its scheme is kept: the rest
    /// may carry a password.
    #[error(
        "unsupported database URL scheme {0:?}: use sqlite:PATH, sqlite::memory: or postgres://…"
    )]
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
    /// The database aborted the transaction because of a concurrent one (a PostgreSQL
    /// serialization failure or deadlock, SQLite busy or locked past its timeout). Nothing
    /// was written; the same call can be retried.
    #[error("transaction aborted by a concurrent one (code {0}); nothing was written")]
    Contention(String),
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
            Some(db) => match contention_code(db) {
                Some(code) => StoreError::Contention(code),
                None => StoreError::Database(error),
            },
            None => StoreError::Database(error),
        }
    }
}

/// The driver's code when `error` means "lost a race with a concurrent transaction, nothing
/// written": PostgreSQL's SQLSTATE `40001` (serialization_failure) and `40P01`
/// (deadlock_detected); SQLite's `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6), whose extended
/// codes keep the primary code in their low byte.
fn contention_code(error: &dyn sqlx::error::DatabaseError) -> Option<String> {
    if let Some(postgres) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = postgres.code();
        return matches!(code, "40001" | "40P01").then(|| code.to_string());
    }
    let sqlite = error.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    let code = sqlx::error::DatabaseError::code(sqlite)?;
    let primary = code.parse::<u32>().ok()? & 0xff;
    matches!(primary, 5 | 6).then(|| code.into_owned())
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The JD's database.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    backend: Backend,
}

/// Where a [`Store`] gets its connections.
#[derive(Clone)]
enum Db {
    /// PostgreSQL: a pool, so that independent calls run in parallel.
    Pool(AnyPool),
    /// SQLite: one connection owned by the store, lent to one operation at a time (`None`
    /// once closed), and the proposals waiting to be written by the next group commit
    /// (see [`propose`]).
    ///
    /// SQLite has one writer at a time anyway, and an in-memory database lives exactly as
    /// long as its connection. A pool of one would add a round trip to the connection's
    /// thread on every hand-back (sqlx pings a connection when it returns to the pool) and
    /// a task switch, during which the connection sits idle for everyone else.
    Single {
        conn: Arc<Mutex<Option<AnyConnection>>>,
        proposals: propose::ProposalQueue,
    },
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Db::Pool(pool) => f.debug_tuple("Pool").field(pool).finish(),
            Db::Single { .. } => f.write_str("Single"),
        }
    }
}

/// A connection lent to one store operation.
enum Conn<'a> {
    Pooled(PoolConnection<Any>),
    Single(MappedMutexGuard<'a, AnyConnection>),
}

impl Conn<'_> {
    /// Starts a transaction on this connection (rolled back if dropped uncommitted).
    async fn begin(&mut self) -> StoreResult<Transaction<'_, Any>> {
        Ok(Connection::begin(&mut **self).await?)
    }
}

impl Deref for Conn<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Conn::Pooled(conn) => conn,
            Conn::Single(conn) => conn,
        }
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Pooled(conn) => conn,
            Conn::Single(conn) => conn,
        }
    }
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
            return Err(StoreError::UnsupportedUrl(url_scheme(url)));
        };
        let db = match backend {
            Backend::Sqlite => Db::Single {
                conn: Arc::new(Mutex::new(Some(open_sqlite(url).await?))),
                proposals: Default::default(),
            },
            Backend::Postgres => Db::Pool(open_postgres(url).await?),
        };
        let store = Store { db, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// A connection for one operation: from the pool, or the SQLite connection once the
    /// operation before has finished with it.
    async fn conn(&self) -> StoreResult<Conn<'_>> {
        match &self.db {
            Db::Pool(pool) => Ok(Conn::Pooled(pool.acquire().await?)),
            Db::Single { conn, .. } => MutexGuard::try_map(conn.lock().await, Option::as_mut)
                .map(Conn::Single)
                .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed)),
        }
    }

    /// Which database this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        let mut conn = self.conn().await?;
        // `run_direct` is `run` without the `Acquire` bound, whose higher-ranked lifetime
        // would keep this future from being `Send` (sqlx keeps it public for that reason).
        migrator.run_direct(&mut *conn).await?;
        Ok(())
    }

    /// Whether the database answers: `SELECT 1` on PostgreSQL. SQLite runs in this process
    /// and is reachable while the store is open.
    pub async fn ping(&self) -> StoreResult<()> {
        match &self.db {
            Db::Pool(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
                Ok(())
            }
            Db::Single { .. } => Ok(()),
        }
    }

    /// Closes every connection (waits for running queries).
    pub async fn close(&self) {
        match &self.db {
            Db::Pool(pool) => pool.close().await,
            Db::Single { conn, .. } => {
                if let Some(conn) = conn.lock().await.take()
                    && let Err(error) = conn.close().await
                {
                    tracing::warn!(%error, "closing the SQLite connection failed");
                }
            }
        }
    }
}

async fn open_sqlite(url: &str) -> StoreResult<AnyConnection> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    // A file is created when missing; an in-memory database lives as long as its one
    // connection, which the store keeps until it is closed.
    let url = if in_memory || url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    let options = AnyConnectOptions::from_str(&url).map_err(StoreError::Connect)?;
    let mut conn = AnyConnection::connect_with(&options)
        .await
        .map_err(StoreError::Connect)?;
    // A file database runs in WAL mode with `synchronous = FULL`: a commit appends to the
    // log and syncs it once, so every acknowledged write survives a power loss too. (The
    // default rollback journal syncs several times per commit: a few hundred commits per
    // second at best.) Proposals from concurrent calls share commits (see `propose`), so
    // they share the sync as well.
    let pragmas = if in_memory {
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"
    } else {
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
         PRAGMA busy_timeout = 5000;"
    };
    conn.execute(pragmas).await.map_err(StoreError::Connect)?;
    Ok(conn)
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
    async fn an_unknown_url_is_named_by_its_scheme_only() {
        let err = Store::open("mysql://jd:hunter2@db.internal/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"mysql\""), "{err}");
        assert!(
            !err.contains("hunter2") && !err.contains("db.internal"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn file_database_is_created_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("jd.db").display());
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        // WAL and a synced commit (see `open_sqlite`).
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *store.conn().await.unwrap())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *store.conn().await.unwrap())
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
        store.close().await;
        // Migrations already applied: opening again must succeed without re-running them.
        Store::open(&url).await.unwrap();
    }
}

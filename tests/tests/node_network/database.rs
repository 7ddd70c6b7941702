//! The JD's database for one test: a SQLite file in a temp dir (a file, not memory, so a
//! restarted JD finds it again), or a PostgreSQL schema of its own.

use sqlx::Connection;
use sqlx::Executor;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;

/// The environment variable naming the PostgreSQL database of the `postgres::` tests.
pub const POSTGRES_URL_VAR: &str = "OFFCHAIN_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A test's database; dropping it removes the file or the schema.
pub struct Database {
    pub url: String,
    // Held for their `Drop`: the SQLite file's directory, or the schema.
    _dir: Option<TempDir>,
    _schema: Option<Schema>,
}

impl Database {
    /// A fresh database on `backend`; `None` (after a printed note) when PostgreSQL is not
    /// configured. Under `CI` a missing PostgreSQL fails the test instead.
    pub async fn create(backend: Backend) -> Option<Database> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("jd.db").display());
                Some(Database {
                    url,
                    _dir: Some(dir),
                    _schema: None,
                })
            }
            Backend::Postgres => {
                let base_url = match std::env::var(POSTGRES_URL_VAR) {
                    Ok(url) if !url.trim().is_empty() => url,
                    _ if std::env::var_os("CI").is_some() => {
                        panic!("CI is set, so {POSTGRES_URL_VAR} must be set")
                    }
                    _ => {
                        eprintln!("note: {POSTGRES_URL_VAR} is not set; PostgreSQL case skipped");
                        return None;
                    }
                };
                let schema = Schema::create(base_url).await;
                Some(Database {
                    url: schema.url(),
                    _dir: None,
                    _schema: Some(schema),
                })
            }
        }
    }
}

/// A PostgreSQL schema of its own, dropped at the end.
struct Schema {
    base_url: String,
    name: String,
}

impl Schema {
    async fn create(base_url: String) -> Schema {
        let name = format!(
            "node_network_{:x}_{:x}",
            std::process::id(),
            super::support::unique()
        );
        let mut conn = PgConnection::connect(&base_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_VAR}: {e}"));
        conn.execute(format!("CREATE SCHEMA {name}").as_str())
            .await
            .expect("create the test schema");
        let _ = conn.close().await;
        Schema { base_url, name }
    }

    fn url(&self) -> String {
        let separator = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.base_url, self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base_url, name) = (self.base_url.clone(), self.name.clone());
        // Best effort, on a runtime of its own: the test's runtime may be gone by now.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&base_url).await {
                        let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                        let _ = conn.execute(drop.as_str()).await;
                    }
                });
            }
        })
        .join();
    }
}

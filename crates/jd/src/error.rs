//! Errors of the operator API and how they become gRPC statuses.

use tonic::Status;

use crate::store::StoreError;

/// Why an operator call failed. Each variant maps to one gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (`INVALID_ARGUMENT`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is too large: a spec or a batch over its size (`RESOURCE_EXHAUSTED`).
    #[error("{0}")]
    ResourceExhausted(String),
    /// The named thing does not exist (`NOT_FOUND`).
    #[error("{0}")]
    NotFound(String),
    /// It exists already (`ALREADY_EXISTS`).
    #[error("{0}")]
    AlreadyExists(String),
    /// The thing is in a state that does not allow this (`FAILED_PRECONDITION`).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database failed (`INTERNAL`; `UNAVAILABLE` when it cannot be reached; `ABORTED`,
    /// retry-safe, when a concurrent transaction made it roll back).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result alias for operator calls.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(m) => Status::invalid_argument(m),
            ApiError::ResourceExhausted(m) => Status::resource_exhausted(m),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::AlreadyExists(m) => Status::already_exists(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::Store(e) => {
                // The detail (SQL, driver messages) goes to the log, never to the caller.
                tracing::error!(error = %e, "store failure");
                match e {
                    // Retry-safe: the transaction was rolled back as a whole.
                    StoreError::Contention(_) => Status::aborted(
                        "the JD's database aborted this call because of a concurrent one; \
                         nothing was written, try again",
                    ),
                    StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_))
                    | StoreError::Connect(_) => {
                        Status::unavailable("the JD's database is unavailable; try again")
                    }
                    _ => Status::internal("internal error in the JD; see its log"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn each_variant_has_its_code_and_store_detail_stays_private() {
        let cases = [
            (ApiError::InvalidArgument("a".into()), Code::InvalidArgument),
            (ApiError::NotFound("b".into()), Code::NotFound),
            (
                ApiError::ResourceExhausted("e".into()),
                Code::ResourceExhausted,
            ),
            (ApiError::AlreadyExists("c".into()), Code::AlreadyExists),
            (
                ApiError::FailedPrecondition("d".into()),
                Code::FailedPrecondition,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(Status::from(error).code(), code);
        }
        let status = Status::from(ApiError::Store(StoreError::Corrupt("SELECT secret".into())));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("SELECT"));
        let status = Status::from(ApiError::Store(StoreError::Contention("40P01".into())));
        assert_eq!(status.code(), Code::Aborted);
        assert!(!status.message().contains("40P01"));
    }

    /// A real driver error raised with `code` on `connection`, as the store sees it.
    async fn raised(connection: &mut sqlx::AnyConnection, code: &str) -> StoreError {
        let statement =
            format!("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; END $$");
        let error = sqlx::Executor::execute(connection, statement.as_str())
            .await
            .unwrap_err();
        StoreError::from(error)
    }

    #[tokio::test]
    async fn postgres_serialization_failures_and_deadlocks_are_aborted() {
        let Ok(url) = std::env::var("OFFCHAIN_TEST_POSTGRES_URL") else {
            eprintln!("skipping: OFFCHAIN_TEST_POSTGRES_URL not set");
            return;
        };
        sqlx::any::install_default_drivers();
        let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        for code in ["40001", "40P01"] {
            let status = Status::from(ApiError::Store(raised(&mut connection, code).await));
            assert_eq!(status.code(), Code::Aborted, "{code}");
        }
        // Other failures stay INTERNAL.
        let status = Status::from(ApiError::Store(raised(&mut connection, "XX000").await));
        assert_eq!(status.code(), Code::Internal);
    }

    #[tokio::test]
    async fn sqlite_busy_is_aborted() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}?mode=rwc", dir.path().join("busy.db").display());
        let connect = || <sqlx::AnyConnection as sqlx::Connection>::connect(&url);
        let (mut holder, mut other) = (connect().await.unwrap(), connect().await.unwrap());
        let run = |sql: &'static str| sqlx::raw_sql(sql);
        run("CREATE TABLE t (x INTEGER)")
            .execute(&mut holder)
            .await
            .unwrap();
        run("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
        run("PRAGMA busy_timeout = 0")
            .execute(&mut other)
            .await
            .unwrap();
        let error = run("INSERT INTO t VALUES (1)")
            .execute(&mut other)
            .await
            .unwrap_err();
        let status = Status::from(ApiError::Store(StoreError::from(error)));
        assert_eq!(status.code(), Code::Aborted);
    }
}

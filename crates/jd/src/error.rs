//! Errors of the operator API and how they become gRPC statuses.

use tonic::Status;

use crate::store::StoreError;

/// Why an operator call failed. Each variant maps to one gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (`INVALID_ARGUMENT`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The named thing does not exist (`NOT_FOUND`).
    #[error("{0}")]
    NotFound(String),
    /// It exists already (`ALREADY_EXISTS`).
    #[error("{0}")]
    AlreadyExists(String),
    /// The thing is in a state that does not allow this (`FAILED_PRECONDITION`).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database failed (`INTERNAL`, or `UNAVAILABLE` when it cannot be reached).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result alias for operator calls.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(m) => Status::invalid_argument(m),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::AlreadyExists(m) => Status::already_exists(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::Store(e) => {
                // The detail (SQL, driver messages) goes to the log, never to the caller.
                tracing::error!(error = %e, "store failure");
                match e {
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
    }
}

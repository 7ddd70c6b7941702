//! The API's errors: JSON `{"error": "..."}` with the status that fits.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::bridges::BridgeError;
use crate::proposals::ProposalError;

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or a wrong bearer token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// No token configured and the caller is not on loopback.
    #[error("without OFFCHAIN_NODE_API_TOKEN the API serves loopback callers only")]
    LoopbackOnly,
    /// The request body is not `{"version": N}`.
    #[error("invalid body: {0}")]
    Body(String),
    /// The uuid names proposals of several JDs; the API cannot tell which.
    #[error("proposal {0} exists for several JDs")]
    Ambiguous(String),
    /// The JD did not take the decision (for an approval, it was undone).
    #[error("{0}")]
    Jd(String),
    /// The proposal rules refused the call.
    #[error(transparent)]
    Proposal(#[from] ProposalError),
    /// The bridge rules refused the call.
    #[error(transparent)]
    Bridge(#[from] BridgeError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::LoopbackOnly => StatusCode::FORBIDDEN,
            ApiError::Body(_) => StatusCode::BAD_REQUEST,
            ApiError::Ambiguous(_) => StatusCode::CONFLICT,
            ApiError::Jd(_) => StatusCode::BAD_GATEWAY,
            ApiError::Proposal(error) => match error {
                ProposalError::NotFound(_) | ProposalError::VersionNotFound { .. } => {
                    StatusCode::NOT_FOUND
                }
                ProposalError::InvalidTransition { .. }
                | ProposalError::NotLatest { .. }
                | ProposalError::ApprovalChanged { .. }
                | ProposalError::Deleted(_)
                | ProposalError::VersionConflict(_)
                | ProposalError::StaleVersion { .. }
                | ProposalError::UnknownBridges(_) => StatusCode::CONFLICT,
                ProposalError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
                ProposalError::InvalidJdKey
                | ProposalError::InvalidId
                | ProposalError::InvalidVersion(_)
                | ProposalError::Spec(_) => StatusCode::BAD_REQUEST,
            },
            // bridge.md §5: 422 bad input, 400 duplicate, 404 unknown, 409 in use.
            ApiError::Bridge(error) => match error {
                BridgeError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                BridgeError::Duplicate(_) => StatusCode::BAD_REQUEST,
                BridgeError::NotFound(_) => StatusCode::NOT_FOUND,
                BridgeError::InUse { .. } => StatusCode::CONFLICT,
                BridgeError::Store(_) | BridgeError::Random => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The store's error stays in the log; the caller learns only that it failed.
            tracing::error!(error = %self, "node API: store failure");
            "the node's store failed".to_owned()
        } else {
            self.to_string()
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

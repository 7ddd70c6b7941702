//! The async completion routes (issue 10, item 3; bridge.md §4). Both are exempt from the
//! API token: the adapter authenticates with its bridge's incoming token instead.
//!
//! - `PATCH /v2/resume/{task run uuid}`: body exactly one of `{"value": any}` or
//!   `{"error": "msg"}`; `Authorization: Bearer <incoming token of the bridge the task
//!   called>` required (every bridge here has one). 200 empty; 422 malformed (bad uuid, bad
//!   JSON, both/neither key); 404 unknown or not suspended (a second PATCH too); 401 bad token.
//! - Classic `PATCH /v2/runs/{run id}`: body a §2 response object; the same token. 200
//!   `{"id"}`; 401 bad token; 404 unknown run; 405 run not waiting on a bridge; 422
//!   malformed. `"pending": true` keeps the run waiting.
//!
//! The run continues in its own task, so an adapter that disconnects does not leave it
//! claimed but unwritten.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use offchain_bridge::resume::{Resumption, parse_classic_callback, parse_resume_body};
use uuid::Uuid;

use super::ApiState;
use crate::runs::{RunLookup, Waiting};

/// Body limit of the two routes: above the parsers' 32 KiB, so an oversized body is their
/// 422 rather than a bare 413.
pub const MAX_RESUME_REQUEST_BYTES: usize = 64 * 1024;

/// The resume routes' errors, `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ResumeApiError {
    #[error("{0}")]
    Malformed(String),
    #[error("no suspended task run with this id")]
    NoTask,
    #[error("run does not exist")]
    NoRun,
    #[error("run is not waiting on a bridge")]
    NotWaiting,
    #[error("missing or invalid bridge incoming token")]
    Unauthorized,
    #[error("internal error")]
    Internal(String),
}

impl IntoResponse for ResumeApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ResumeApiError::Malformed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ResumeApiError::NoTask | ResumeApiError::NoRun => StatusCode::NOT_FOUND,
            ResumeApiError::NotWaiting => StatusCode::METHOD_NOT_ALLOWED,
            ResumeApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ResumeApiError::Internal(error) => {
                tracing::error!(%error, "node API: resuming a run failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

fn internal(error: impl std::fmt::Display) -> ResumeApiError {
    ResumeApiError::Internal(error.to_string())
}

/// Whether the request carries the incoming token of `bridge` (of any bridge when the
/// task's bridge name is unknown).
fn authorized(state: &ApiState, headers: &HeaderMap, bridge: &str) -> bool {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    presented.is_some_and(|token| {
        let name = (!bridge.is_empty()).then_some(bridge);
        state.bridges.check_incoming_token(name, token)
    })
}

/// Continues `waiting`'s run with `answer` in its own task; `false` when another PATCH
/// claimed the task first.
async fn resume(
    state: &ApiState,
    waiting: Waiting,
    answer: Result<String, String>,
) -> Result<bool, ResumeApiError> {
    let jobs = state.jobs.clone();
    let run = tokio::spawn(async move { jobs.resume(&waiting, answer).await })
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(run.is_some())
}

fn answer_of(resumption: Resumption) -> Option<Result<String, String>> {
    match resumption {
        Resumption::Value(value) => Some(Ok(value)),
        Resumption::Error(message) => Some(Err(message)),
        Resumption::Pending => None,
    }
}

pub(super) async fn resume_task(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ResumeApiError> {
    let uuid = Uuid::try_parse(&id)
        .map_err(|_| ResumeApiError::Malformed("bad task run id".to_owned()))?;
    let waiting = state
        .store
        .waiting_task(uuid)
        .await
        .map_err(internal)?
        .ok_or(ResumeApiError::NoTask)?;
    if !authorized(&state, &headers, &waiting.suspension.bridge) {
        return Err(ResumeApiError::Unauthorized);
    }
    let resumption =
        parse_resume_body(&body).map_err(|e| ResumeApiError::Malformed(e.to_string()))?;
    // The resume form never answers pending.
    let Some(answer) = answer_of(resumption) else {
        return Ok(StatusCode::OK);
    };
    if resume(&state, waiting, answer).await? {
        Ok(StatusCode::OK)
    } else {
        Err(ResumeApiError::NoTask)
    }
}

pub(super) async fn resume_run(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ResumeApiError> {
    let waiting = match state.store.waiting_run(&id).await.map_err(internal)? {
        RunLookup::Unknown => return Err(ResumeApiError::NoRun),
        RunLookup::NotWaiting => {
            // Only a bridge's holder learns that the run is not waiting.
            if !authorized(&state, &headers, "") {
                return Err(ResumeApiError::Unauthorized);
            }
            return Err(ResumeApiError::NotWaiting);
        }
        RunLookup::Waiting(waiting) => waiting,
    };
    if !authorized(&state, &headers, &waiting.suspension.bridge) {
        return Err(ResumeApiError::Unauthorized);
    }
    let resumption =
        parse_classic_callback(&body).map_err(|e| ResumeApiError::Malformed(e.to_string()))?;
    let run_id = waiting.run_id.clone();
    // Another PATCH may have resumed it meanwhile.
    if let Some(answer) = answer_of(resumption)
        && !resume(&state, waiting, answer).await?
    {
        return Err(ResumeApiError::NotWaiting);
    }
    Ok(Json(serde_json::json!({ "id": run_id })))
}

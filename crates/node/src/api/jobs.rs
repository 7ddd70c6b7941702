//! The job routes (issue 10, item 1):
//!
//! - `GET /v2/jobs`: `[{"uuid","name","type","version","state"}]`, the running jobs.
//! - `POST /v2/jobs/{externalJobID}/runs`: runs a webhook job, the body (any content type,
//!   at most [`MAX_WEBHOOK_BODY_BYTES`]) as `$(jobRun.requestBody)`; answers 200
//!   `{"id","state","outputs","errors"}` once the run ended or suspended (an errored run is
//!   still 200). 422 `bad job ID`, 404 `job does not exist`.
//! - `GET /v2/jobs/{externalJobID}/runs?limit=N&cursor=C`: `{"runs": [...], "next"}`,
//!   newest first; `next` is the cursor of the following page, or null.
//! - `GET /v2/jobs/{externalJobID}/runs/{runId}`: one run.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::ApiState;
use crate::jobs::{JobError, JobSummary};
use crate::runs::{Run, RunPage, RunsError};

/// The largest webhook body (the reference node's request limit).
pub const MAX_WEBHOOK_BODY_BYTES: usize = 32 * 1024;

/// The job routes' errors, `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum JobsApiError {
    #[error("bad job ID")]
    BadId,
    #[error("job does not exist")]
    NoJob,
    #[error("run does not exist")]
    NoRun,
    #[error("invalid query: {0}")]
    Query(String),
    #[error("internal error")]
    Internal(String),
}

impl From<RunsError> for JobsApiError {
    fn from(error: RunsError) -> Self {
        match error {
            RunsError::BadCursor => JobsApiError::Query("invalid cursor".to_owned()),
            other => JobsApiError::Internal(other.to_string()),
        }
    }
}

impl From<JobError> for JobsApiError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::NotFound => JobsApiError::NoJob,
            other => JobsApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for JobsApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            JobsApiError::BadId | JobsApiError::Query(_) => StatusCode::UNPROCESSABLE_ENTITY,
            JobsApiError::NoJob | JobsApiError::NoRun => StatusCode::NOT_FOUND,
            JobsApiError::Internal(error) => {
                // The details stay in the log.
                tracing::error!(%error, "node API: a job route failed");
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

type JobsResult<T> = Result<Json<T>, JobsApiError>;

/// The webhook's answer.
#[derive(Debug, Serialize)]
pub struct Triggered {
    pub id: String,
    pub state: String,
    pub outputs: Vec<Option<Box<RawValue>>>,
    pub errors: Vec<Option<String>>,
}

fn job_id(id: &str) -> Result<Uuid, JobsApiError> {
    Uuid::try_parse(id).map_err(|_| JobsApiError::BadId)
}

/// 404 unless the node runs or ever had job `uuid` (a stopped job's runs stay readable).
async fn known(state: &ApiState, uuid: Uuid) -> Result<(), JobsApiError> {
    if state.jobs.get(uuid).is_some() {
        return Ok(());
    }
    let jds = state
        .store
        .jds_of(&uuid.to_string())
        .await
        .map_err(|error| JobsApiError::Internal(error.to_string()))?;
    if jds.is_empty() {
        Err(JobsApiError::NoJob)
    } else {
        Ok(())
    }
}

pub(super) async fn list(State(state): State<Arc<ApiState>>) -> Json<Vec<JobSummary>> {
    Json(state.jobs.list())
}

pub(super) async fn trigger(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> JobsResult<Triggered> {
    let uuid = job_id(&id)?;
    // The body is text to the pipeline; bytes that are not UTF-8 are replaced, not refused.
    let body = String::from_utf8_lossy(&body).into_owned();
    let run = state.jobs.trigger_webhook(uuid, body).await?;
    Ok(Json(Triggered {
        id: run.id,
        state: run.state,
        outputs: run.outputs,
        errors: run.errors,
    }))
}

/// `limit` and `cursor` from the query string (values need no decoding: both are digits).
fn page_query(query: Option<&str>) -> Result<(u32, Option<String>), JobsApiError> {
    let (mut limit, mut cursor) = (0, None);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "limit" => {
                limit = value
                    .parse()
                    .map_err(|_| JobsApiError::Query("limit must be a whole number".into()))?;
            }
            "cursor" => cursor = Some(value.to_owned()),
            _ => {}
        }
    }
    Ok((limit, cursor))
}

pub(super) async fn runs(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> JobsResult<RunPage> {
    let uuid = job_id(&id)?;
    let (limit, cursor) = page_query(query.as_deref())?;
    known(&state, uuid).await?;
    let page = state
        .store
        .runs(&uuid.to_string(), limit, cursor.as_deref())
        .await?;
    Ok(Json(page))
}

pub(super) async fn run(
    State(state): State<Arc<ApiState>>,
    Path((id, run)): Path<(String, String)>,
) -> JobsResult<Run> {
    let uuid = job_id(&id)?;
    let found = state.store.run(&uuid.to_string(), &run).await?;
    found.map(Json).ok_or(JobsApiError::NoRun)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_queries() {
        assert_eq!(page_query(None).unwrap(), (0, None));
        assert_eq!(
            page_query(Some("limit=2&cursor=5.7")).unwrap(),
            (2, Some("5.7".to_owned()))
        );
        assert!(page_query(Some("limit=x")).is_err());
    }
}

//! The proposal routes: `list`, `show`, and the operator's decisions, each told to the JD.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiError, ApiState};
use crate::proposals::{ProposalDetail, ProposalError, ProposalSummary, Untold};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The optional body of `approve` and `reject`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    version: Option<i64>,
}

fn decision(body: &Bytes) -> Result<Decision, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Decision::default());
    }
    serde_json::from_slice(body).map_err(|error| ApiError::Body(error.to_string()))
}

/// The JD (key hex) holding proposal `id`.
async fn jd_of(state: &ApiState, id: &str) -> Result<String, ApiError> {
    let uuid = Uuid::try_parse(id).map_err(|_| ProposalError::InvalidId)?;
    let mut jds = state.store.jds_of(id).await?;
    match jds.len() {
        0 => Err(ProposalError::NotFound(uuid).into()),
        1 => Ok(jds.remove(0)),
        _ => Err(ApiError::Ambiguous(uuid.to_string())),
    }
}

async fn detail(state: &ApiState, jd: &str, id: &str) -> ApiResult<ProposalDetail> {
    let uuid = Uuid::try_parse(id).map_err(|_| ProposalError::InvalidId)?;
    let detail = state.store.show(jd, id).await?;
    detail
        .map(Json)
        .ok_or_else(|| ProposalError::NotFound(uuid).into())
}

fn not_linked(jd: &str) -> ApiError {
    ApiError::Jd(format!(
        "no link to JD {jd}: it is not in [[job_distributors]]"
    ))
}

/// Tells the JD a stored rejection or cancellation. A failure is logged and the decision
/// stands: it is kept and sent again on the next link ([`crate::proposals::Decision`]).
async fn tell_jd(state: &ApiState, decision: &Untold) {
    if let Some(link) = state.links.get(&decision.jd) {
        // `tell` logs what happened.
        let _ = link.tell(&state.store, decision).await;
    }
}

pub(super) async fn list(State(state): State<Arc<ApiState>>) -> ApiResult<Vec<ProposalSummary>> {
    Ok(Json(state.store.list().await?))
}

pub(super) async fn show(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> ApiResult<ProposalDetail> {
    let jd = jd_of(&state, &id).await?;
    detail(&state, &jd, &id).await
}

/// Approves, then sends `ApprovedJob`; if the JD does not take it, the approval is undone
/// and the JD's answer is the error (502).
pub(super) async fn approve(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<ProposalDetail> {
    let version = decision(&body)?.version;
    let jd = jd_of(&state, &id).await?;
    let approval = state.store.approve(&jd, &id, version).await?;
    let confirmed = match state.links.get(&jd) {
        Some(link) => link
            .confirm_approval(&state.store, &approval)
            .await
            .map_err(|error| ApiError::Jd(format!("the JD did not take the approval: {error}"))),
        None => {
            state.store.revert_approval(&approval).await?;
            Err(not_linked(&jd))
        }
    };
    confirmed?;
    detail(&state, &jd, &id).await
}

/// Rejects, then sends `RejectedJob`. The rejection stands if the JD cannot be told (the
/// operator's decision is made): the node tells it on the next link.
pub(super) async fn reject(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<ProposalDetail> {
    let version = decision(&body)?.version;
    let jd = jd_of(&state, &id).await?;
    let rejected = state.store.reject(&jd, &id, version).await?;
    tell_jd(&state, &rejected).await;
    detail(&state, &jd, &id).await
}

/// Cancels the active job, then sends `CancelledJob` (the job is stopped either way; if the
/// JD cannot be told now, the node tells it on the next link).
pub(super) async fn cancel(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> ApiResult<ProposalDetail> {
    let jd = jd_of(&state, &id).await?;
    let cancelled = state.store.cancel(&jd, &id).await?;
    // The job stops before the JD is told.
    if let Ok(uuid) = Uuid::try_parse(&cancelled.uuid)
        && let Err(error) = state.jobs.reconcile(&jd, uuid).await
    {
        tracing::error!(%id, %error, "the cancelled job could not be stopped");
    }
    tell_jd(&state, &cancelled).await;
    detail(&state, &jd, &id).await
}

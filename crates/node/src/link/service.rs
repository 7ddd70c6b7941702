//! `NodeService`: the JD's requests to the node (`node-link.md`, "Services"), answered from
//! the proposal store.

use std::sync::Arc;

use offchain_proto::cfm;
use offchain_wsrpc::rpc::Router;
use uuid::Uuid;

use super::{JdLinkHandle, Shared};
use crate::proposals::ProposalError;

/// What the JD sees when the store fails: the details (paths, SQL) stay in the node's log.
pub const STORE_FAILURE: &str = "internal error: the node's store failed";

/// The error string for the JD: the rule's message, or [`STORE_FAILURE`].
fn answer(method: &str, jd: &str, error: ProposalError) -> String {
    match error {
        ProposalError::Store(error) => {
            tracing::error!(jd, method, %error, "the proposal store failed");
            STORE_FAILURE.to_owned()
        }
        error => error.to_string(),
    }
}

/// The router serving one JD's requests.
pub(super) fn node_service(shared: Arc<Shared>, handle: JdLinkHandle) -> Router {
    let propose = shared.clone();
    let revoke = shared.clone();
    let delete = shared.clone();
    let runs = shared;
    Router::new()
        .method("ProposeJob", move |request: cfm::ProposeJobRequest| {
            let shared = propose.clone();
            let handle = handle.clone();
            async move {
                let arrival = shared
                    .store
                    .receive_with_policy(
                        shared.policy,
                        &shared.jd_key,
                        &request.id,
                        request.version,
                        &request.spec,
                    )
                    .await
                    .map_err(|error| answer("ProposeJob", &shared.uri, error))?;
                tracing::info!(jd = %shared.uri, id = %request.id, version = request.version,
                    outcome = ?arrival.outcome, "proposal received");
                match arrival.auto_approval {
                    // Confirmed after the answer, so the JD sees the proposal acknowledged
                    // before it is approved.
                    Some(Ok(approval)) => {
                        let store = shared.store.clone();
                        tokio::spawn(async move {
                            // Failures are logged (and undone) inside.
                            let _ = handle.confirm_approval(&store, &approval).await;
                        });
                    }
                    Some(Err(error)) => tracing::warn!(jd = %shared.uri, id = %request.id,
                        %error, "the automatic approval failed"),
                    None => {}
                }
                Ok(cfm::ProposeJobResponse { id: request.id })
            }
        })
        .method("RevokeJob", move |request: cfm::RevokeJobRequest| {
            let shared = revoke.clone();
            async move {
                let outcome = shared
                    .store
                    .revoke(&shared.jd_key, &request.id)
                    .await
                    .map_err(|error| answer("RevokeJob", &shared.uri, error))?;
                tracing::info!(jd = %shared.uri, id = %request.id, ?outcome, "proposal revoked");
                sync_job(&shared, &request.id).await;
                Ok(cfm::RevokeJobResponse { id: request.id })
            }
        })
        .method("DeleteJob", move |request: cfm::DeleteJobRequest| {
            let shared = delete.clone();
            async move {
                let outcome = shared
                    .store
                    .delete(&shared.jd_key, &request.id)
                    .await
                    .map_err(|error| answer("DeleteJob", &shared.uri, error))?;
                if let Some(version) = outcome.active_version {
                    tracing::warn!(jd = %shared.uri, id = %request.id, version,
                        "the JD deleted a proposal whose job is active: cancel it");
                } else {
                    tracing::info!(jd = %shared.uri, id = %request.id, "proposal deleted");
                }
                // A deleted proposal's job stops.
                sync_job(&shared, &request.id).await;
                Ok(cfm::DeleteJobResponse { id: request.id })
            }
        })
        .method("GetJobRuns", move |request: cfm::GetJobRunsRequest| {
            let shared = runs.clone();
            async move {
                let job = Uuid::try_parse(&request.id)
                    .map_err(|_| ProposalError::InvalidId.to_string())?
                    .to_string();
                let runs = shared
                    .store
                    .run_summaries(&job, request.limit)
                    .await
                    .map_err(|error| {
                        tracing::error!(jd = %shared.uri, %error, "reading the runs failed");
                        STORE_FAILURE.to_owned()
                    })?;
                Ok(cfm::GetJobRunsResponse { runs })
            }
        })
}

/// Brings proposal `id`'s job in step with the store after the JD's decision.
async fn sync_job(shared: &Shared, id: &str) {
    let Ok(uuid) = Uuid::try_parse(id) else {
        return;
    };
    if let Err(error) = shared.jobs.reconcile(&shared.jd_key, uuid).await {
        tracing::error!(jd = %shared.uri, %uuid, %error, "the job could not be updated");
    }
}

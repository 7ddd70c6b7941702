//! `NodeService`: the JD's requests to the node (`node-link.md`, "Services"), answered from
//! the proposal store.

use std::sync::Arc;

use offchain_proto::cfm;
use offchain_wsrpc::rpc::Router;

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
    let delete = shared;
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
                Ok(cfm::DeleteJobResponse { id: request.id })
            }
        })
        // Runs come with the job runner; until then there are none.
        .method("GetJobRuns", |_request: cfm::GetJobRunsRequest| async {
            Ok(cfm::GetJobRunsResponse { runs: Vec::new() })
        })
}

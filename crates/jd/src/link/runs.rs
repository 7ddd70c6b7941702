//! Asking a linked node for a job's latest runs (`GetJobRuns`, `node-link.md`): the JD
//! keeps no run history itself, so the answer comes from the node's own table.

use offchain_proto::cfm;
use offchain_wsrpc::rpc::CallError;

use super::delivery::NODE_CALL_TIMEOUT;
use crate::JobDistributor;

/// Why [`JobDistributor::job_runs`] has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobRunsError {
    /// The node has no live link: there is nobody to ask.
    #[error("node {0} is not connected")]
    NotConnected(String),
    /// The call failed or the node refused it (an unknown id, say).
    #[error("GetJobRuns on node {node_id}: {source}")]
    Call {
        node_id: String,
        #[source]
        source: CallError,
    },
}

impl JobDistributor {
    /// Node `node_id`'s latest runs (newest first, at most `limit`; 0 = the node's default
    /// page) of the job whose externalJobID is `job_id`, asked over its live link.
    pub async fn job_runs(
        &self,
        node_id: &str,
        job_id: &str,
        limit: u32,
    ) -> Result<Vec<cfm::JobRunSummary>, JobRunsError> {
        let link = self
            .links()
            .link_of_node(node_id)
            .ok_or_else(|| JobRunsError::NotConnected(node_id.to_owned()))?;
        let request = cfm::GetJobRunsRequest {
            id: job_id.to_owned(),
            limit,
        };
        let answer: cfm::GetJobRunsResponse = link
            .call_message("GetJobRuns", &request, NODE_CALL_TIMEOUT)
            .await
            .map_err(|source| JobRunsError::Call {
                node_id: node_id.to_owned(),
                source,
            })?;
        Ok(answer.runs)
    }
}

//! Operations deployment scripts need that span several RPCs.

use offchain_proto::csa::GetKeypairRequest;
use offchain_proto::job::{BatchProposeJobRequest, Proposal};
use offchain_proto::label::{Label, Selector};
use offchain_proto::node::{EnableState, ListNodesRequest, Node, list_nodes_request};
use tonic::Status;

use crate::client::{Client, ClientResult};
use crate::limits::MAX_BATCH_BYTES;

/// The most nodes one `BatchProposeJob` call carries in [`propose_to_nodes`]; fewer when the
/// spec is large ([`nodes_per_call`]).
pub const PROPOSE_BATCH: usize = 100;

/// How many nodes [`propose_to_nodes`] puts in one `BatchProposeJob` for a spec of
/// `spec_bytes`: [`PROPOSE_BATCH`], or fewer so that node ids × spec bytes stay within the
/// JD's [`MAX_BATCH_BYTES`] (64 nodes for a 1 MiB spec), and at least 1.
pub fn nodes_per_call(spec_bytes: usize) -> usize {
    let within_bytes = MAX_BATCH_BYTES
        .checked_div(spec_bytes)
        .unwrap_or(PROPOSE_BATCH);
    within_bytes.clamp(1, PROPOSE_BATCH)
}

/// What proposing a spec did on one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeOutcome {
    /// The node.
    pub node_id: String,
    /// The stored proposal, or the JD's reason for refusing this node.
    pub result: Result<Proposal, String>,
}

/// A proposal round that stopped part-way: the outcomes of the calls the JD answered, and
/// the error of the one it did not.
///
/// Resume by proposing to [`not_proposed`](Self::not_proposed) only: every node in
/// [`committed`](Self::committed) has its answer already, so nothing is proposed twice. The
/// failed call's nodes are in `not_proposed`; if the failure was a lost answer (a timeout,
/// a dropped connection) the JD may have stored their proposals anyway, which proposing
/// the same spec again only turns into a new revision of the same job.
#[derive(Debug, thiserror::Error)]
#[error(
    "proposing stopped after {} of {} nodes: the JD answered {:?}: {}",
    .committed.len(),
    .committed.len() + .not_proposed.len(),
    .status.code(),
    .status.message()
)]
pub struct ProposeError {
    /// The nodes the JD answered for, in the order given.
    pub committed: Vec<NodeOutcome>,
    /// The nodes no answer came for, in the order given (the failed call's first).
    pub not_proposed: Vec<String>,
    /// Why the call failed.
    #[source]
    pub status: Status,
}

impl ProposeError {
    /// An error before any node was proposed to (e.g. listing the nodes failed).
    fn before_any(status: Status) -> Self {
        ProposeError {
            committed: Vec::new(),
            not_proposed: Vec::new(),
            status,
        }
    }
}

/// The JD's active CSA public key (hex).
pub async fn jd_public_key(client: &dyn Client) -> ClientResult<String> {
    let response = client.get_keypair(GetKeypairRequest {}).await?;
    response
        .keypair
        .map(|k| k.public_key)
        .ok_or_else(|| Status::internal("the JD answered GetKeypair without a keypair"))
}

/// Every enabled node matching all `selectors`, in the JD's order.
pub async fn enabled_nodes_matching(
    client: &dyn Client,
    selectors: Vec<Selector>,
) -> ClientResult<Vec<Node>> {
    let filter = list_nodes_request::Filter {
        enabled: EnableState::Enabled as i32,
        selectors,
        ..Default::default()
    };
    let request = ListNodesRequest {
        filter: Some(filter),
        page_size: 0,
        page: 0,
    };
    Ok(client.list_nodes(request).await?.nodes)
}

/// Proposes `spec` to each of `node_ids`, [`nodes_per_call`] nodes per call (at most
/// [`PROPOSE_BATCH`]), reporting `(done, total)` to `progress` after each call. One node's failure never stops the others.
/// An error for a whole call (bad spec, JD unreachable) stops the round: the
/// [`ProposeError`] carries the outcomes of the calls before it and the nodes left.
pub async fn propose_to_nodes(
    client: &dyn Client,
    spec: &str,
    labels: &[Label],
    node_ids: &[String],
    mut progress: impl FnMut(usize, usize) + Send,
) -> Result<Vec<NodeOutcome>, ProposeError> {
    let mut outcomes = Vec::with_capacity(node_ids.len());
    let per_call = nodes_per_call(spec.len());
    for (index, chunk) in node_ids.chunks(per_call).enumerate() {
        let request = BatchProposeJobRequest {
            node_ids: chunk.to_vec(),
            spec: spec.to_string(),
            labels: labels.to_vec(),
        };
        let mut response = match client.batch_propose_job(request).await {
            Ok(response) => response,
            Err(status) => {
                return Err(ProposeError {
                    committed: outcomes,
                    not_proposed: node_ids[index * per_call..].to_vec(),
                    status,
                });
            }
        };
        for node_id in chunk {
            let result = if let Some(success) = response.success_responses.remove(node_id) {
                success
                    .proposal
                    .ok_or_else(|| "the JD answered without a proposal".to_string())
            } else if let Some(failure) = response.failed_responses.remove(node_id) {
                Err(failure.error_message)
            } else {
                // Repeated ids are answered once.
                continue;
            };
            outcomes.push(NodeOutcome {
                node_id: node_id.clone(),
                result,
            });
        }
        progress(outcomes.len().min(node_ids.len()), node_ids.len());
    }
    Ok(outcomes)
}

/// Proposes `spec` to every enabled node matching `selectors`, as [`propose_to_nodes`] does.
pub async fn propose_to_matching(
    client: &dyn Client,
    spec: &str,
    labels: &[Label],
    selectors: Vec<Selector>,
) -> Result<Vec<NodeOutcome>, ProposeError> {
    let nodes = enabled_nodes_matching(client, selectors)
        .await
        .map_err(ProposeError::before_any)?;
    let ids: Vec<String> = nodes.into_iter().map(|n| n.id).collect();
    propose_to_nodes(client, spec, labels, &ids, |_, _| {}).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_SPEC_BYTES;

    #[test]
    fn calls_carry_at_most_the_batch_byte_limit() {
        assert_eq!(nodes_per_call(0), PROPOSE_BATCH);
        assert_eq!(nodes_per_call(100), PROPOSE_BATCH);
        assert_eq!(
            nodes_per_call(MAX_BATCH_BYTES / PROPOSE_BATCH),
            PROPOSE_BATCH
        );
        assert_eq!(nodes_per_call(MAX_BATCH_BYTES / PROPOSE_BATCH + 1), 99);
        assert_eq!(nodes_per_call(MAX_SPEC_BYTES), 64);
        assert_eq!(nodes_per_call(MAX_SPEC_BYTES * 2), 32);
        assert_eq!(nodes_per_call(usize::MAX), 1);
        for bytes in [1, 700 * 1024, MAX_SPEC_BYTES - 1, MAX_SPEC_BYTES] {
            assert!(nodes_per_call(bytes) * bytes <= MAX_BATCH_BYTES, "{bytes}");
        }
    }
}

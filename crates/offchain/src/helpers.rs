//! Operations deployment scripts need that span several RPCs.

use offchain_proto::csa::GetKeypairRequest;
use offchain_proto::job::{BatchProposeJobRequest, Proposal};
use offchain_proto::label::{Label, Selector};
use offchain_proto::node::{EnableState, ListNodesRequest, Node, list_nodes_request};
use tonic::Status;

use crate::client::{Client, ClientResult};

/// How many nodes one `BatchProposeJob` call carries in [`propose_to_nodes`].
pub const PROPOSE_BATCH: usize = 100;

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

/// Proposes `spec` to each of `node_ids`, [`PROPOSE_BATCH`] nodes per call, reporting
/// `(done, total)` to `progress` after each call. One node's failure never stops the others.
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
    for (index, chunk) in node_ids.chunks(PROPOSE_BATCH).enumerate() {
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
                    not_proposed: node_ids[index * PROPOSE_BATCH..].to_vec(),
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

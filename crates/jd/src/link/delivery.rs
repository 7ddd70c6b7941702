//! Pushing proposals to nodes and forwarding revoke/delete (`node-link.md`, "Behaviour").
//!
//! A push marks the proposal DELIVERED as it is sent, then ACKNOWLEDGED when the node
//! answers OK or FAILED (never retried: the node refused the spec) with the node's error
//! text. A push that gets no answer (timeout, link gone) stays DELIVERED and is pushed
//! again when the node next connects. Every push runs in a task of its own, so the
//! operator's call never waits for a node.

use std::time::Duration;

use offchain_proto::cfm;
use offchain_proto::job::ProposalDeliveryStatus::{Acknowledged, Delivered, Failed};
use offchain_wsrpc::rpc::{CallError, Link};

use crate::JobDistributor;
use crate::ids::now_micros;
use crate::store::{StoreError, Undelivered};

/// How long a call to a node waits for its answer.
pub(crate) const NODE_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Pushes every undelivered proposal of node `node_id` made before `linked_at` (when its
/// link came up), oldest first, over `link`. Later proposals are pushed by their propose
/// call, which finds the link; a proposal committed just as the link came up may be pushed
/// by both, which the node answers as a redelivery.
pub(crate) async fn push_undelivered(
    jd: &JobDistributor,
    node_id: &str,
    link: &Link,
    linked_at: i64,
) {
    match jd.store().undelivered(node_id, linked_at).await {
        Ok(pending) => {
            for proposal in pending {
                push(jd, node_id, link, &proposal).await;
            }
        }
        Err(error) => {
            tracing::warn!(%node_id, %error, "cannot list a node's undelivered proposals");
        }
    }
}

/// Pushes `proposal` to node `node_id` in a task of its own when the node is linked;
/// otherwise it waits for the node to connect.
pub(crate) fn push_if_linked(jd: &JobDistributor, node_id: &str, proposal: Undelivered) {
    if let Some(link) = jd.links().link_of_node(node_id) {
        let (jd, node_id) = (jd.clone(), node_id.to_owned());
        tokio::spawn(async move { push(&jd, &node_id, &link, &proposal).await });
    }
}

/// Sends one `ProposeJob` and records what came of it.
async fn push(jd: &JobDistributor, node_id: &str, link: &Link, proposal: &Undelivered) {
    let request = cfm::ProposeJobRequest {
        id: proposal.uuid.clone(),
        spec: proposal.spec.clone(),
        version: proposal.revision,
        ..Default::default()
    };
    let id = proposal.proposal_id.as_str();
    if let Err(error) = jd
        .store()
        .set_delivery(id, Delivered, None, now_micros())
        .await
    {
        log_store_error(node_id, id, &error);
        return;
    }
    let answer: Result<cfm::ProposeJobResponse, _> = link
        .call_message("ProposeJob", &request, NODE_CALL_TIMEOUT)
        .await;
    let recorded = match answer {
        Ok(_) => {
            tracing::debug!(%node_id, proposal_id = %id, "node acknowledged a proposal");
            jd.store()
                .set_delivery(id, Acknowledged, None, now_micros())
                .await
        }
        Err(CallError::Remote(message)) => {
            tracing::info!(%node_id, proposal_id = %id, error = %message, "node refused a proposal");
            jd.store()
                .set_delivery(id, Failed, Some(&message), now_micros())
                .await
        }
        Err(error) => {
            // No answer: it stays DELIVERED and is pushed again on the next connect.
            tracing::info!(%node_id, proposal_id = %id, %error, "no answer to a pushed proposal");
            Ok(())
        }
    };
    if let Err(error) = recorded {
        log_store_error(node_id, id, &error);
    }
}

fn log_store_error(node_id: &str, proposal_id: &str, error: &StoreError) {
    tracing::warn!(%node_id, %proposal_id, %error, "cannot record a proposal's delivery");
}

/// What the operator did to a job that the node is told about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Forward {
    /// `RevokeJob`.
    Revoke,
    /// `DeleteJob`.
    Delete,
}

/// Tells node `node_id`, when it is linked, that job `uuid` was revoked or deleted, in a
/// task of its own; the node's refusal is logged.
pub(crate) fn forward_if_linked(jd: &JobDistributor, node_id: &str, uuid: &str, what: Forward) {
    let Some(link) = jd.links().link_of_node(node_id) else {
        return;
    };
    let (node_id, id) = (node_id.to_owned(), uuid.to_owned());
    tokio::spawn(async move {
        let (method, answer) = match what {
            Forward::Revoke => {
                let request = cfm::RevokeJobRequest { id };
                let answer: Result<cfm::RevokeJobResponse, _> = link
                    .call_message("RevokeJob", &request, NODE_CALL_TIMEOUT)
                    .await;
                ("RevokeJob", answer.map(drop))
            }
            Forward::Delete => {
                let request = cfm::DeleteJobRequest { id };
                let answer: Result<cfm::DeleteJobResponse, _> = link
                    .call_message("DeleteJob", &request, NODE_CALL_TIMEOUT)
                    .await;
                ("DeleteJob", answer.map(drop))
            }
        };
        match answer {
            Ok(()) => tracing::debug!(%node_id, method, "node took a forwarded call"),
            Err(error) => tracing::warn!(%node_id, method, %error, "node refused a forwarded call"),
        }
    });
}

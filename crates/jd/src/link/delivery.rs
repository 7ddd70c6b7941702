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
use crate::store::{PendingForward, StoreError, Undelivered};

/// How long a call to a node waits for its answer.
pub(crate) const NODE_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Pushes every undelivered proposal of node `node_id` made before `linked_at` (when its
/// link came up), oldest first, over `link`, then its queued revoke/delete calls. Later proposals are pushed by their propose
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
    send_queued_forwards(jd, node_id, link, linked_at).await;
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

/// Tells node `node_id` that job `uuid` was revoked (`delete` false) or deleted: the call
/// is queued in the store, sent at once in a task of its own when the node is linked, and
/// otherwise when it connects. The node's refusal is logged and kept on the job's latest
/// proposal, where the delivery extension shows it.
pub(crate) async fn forward(jd: &JobDistributor, node_id: &str, uuid: &str, delete: bool) {
    let queued = jd
        .store()
        .queue_forward(node_id, uuid, delete, now_micros())
        .await;
    let id = match queued {
        Ok(id) => id,
        Err(error) => {
            tracing::warn!(%node_id, %error, "cannot queue a call for a node");
            return;
        }
    };
    if let Some(link) = jd.links().link_of_node(node_id) {
        let (jd, node_id) = (jd.clone(), node_id.to_owned());
        let pending = PendingForward {
            id,
            uuid: uuid.to_owned(),
            delete,
        };
        tokio::spawn(async move { send_forward(&jd, &node_id, &link, &pending).await });
    }
}

/// Sends the queued forwards of node `node_id` made before `linked_at`, oldest first.
async fn send_queued_forwards(jd: &JobDistributor, node_id: &str, link: &Link, linked_at: i64) {
    match jd.store().pending_forwards(node_id, linked_at).await {
        Ok(pending) => {
            for forward in pending {
                send_forward(jd, node_id, link, &forward).await;
            }
        }
        Err(error) => tracing::warn!(%node_id, %error, "cannot list a node's queued calls"),
    }
}

/// Sends one `RevokeJob`/`DeleteJob`; any answer (OK or a refusal) dequeues it; a refusal
/// is recorded for the operator.
async fn send_forward(jd: &JobDistributor, node_id: &str, link: &Link, forward: &PendingForward) {
    let id = forward.uuid.clone();
    let (method, answer) = if forward.delete {
        let request = cfm::DeleteJobRequest { id };
        let answer: Result<cfm::DeleteJobResponse, _> = link
            .call_message("DeleteJob", &request, NODE_CALL_TIMEOUT)
            .await;
        ("DeleteJob", answer.map(drop))
    } else {
        let request = cfm::RevokeJobRequest { id };
        let answer: Result<cfm::RevokeJobResponse, _> = link
            .call_message("RevokeJob", &request, NODE_CALL_TIMEOUT)
            .await;
        ("RevokeJob", answer.map(drop))
    };
    match answer {
        Ok(()) => tracing::debug!(%node_id, method, "node took a forwarded call"),
        Err(CallError::Remote(error)) => {
            tracing::warn!(%node_id, method, %error, "node refused a forwarded call");
            let recorded = jd
                .store()
                .record_node_refusal(node_id, &forward.uuid, method, &error, now_micros())
                .await;
            if let Err(error) = recorded {
                tracing::warn!(%node_id, method, %error, "cannot record a node's refusal");
            }
        }
        Err(error) => {
            // No answer: it stays queued for the next connect.
            tracing::info!(%node_id, method, %error, "no answer to a forwarded call");
            return;
        }
    }
    if let Err(error) = jd.store().forward_answered(&forward.id).await {
        tracing::warn!(%node_id, %error, "cannot dequeue an answered call");
    }
}

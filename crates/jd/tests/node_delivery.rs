//! Delivery over a real node link (TCP + TLS): proposals are pushed to a connected node
//! (and to an offline one when it connects, oldest first), the node's answer sets the
//! delivery status, and revoke/delete reach the node.
//!
//! Each test runs against SQLite and, when `OFFCHAIN_TEST_POSTGRES_URL` is set, against a
//! PostgreSQL schema of its own.

mod support;

use std::time::Duration;

use offchain_proto::cfm;
use offchain_proto::job::job_service_server::JobService;
use offchain_proto::job::{self as api, ProposalDeliveryStatus};
use offchain_proto::node::Node;
use offchain_wsrpc::rpc::{Link, Router};
use support::{JOB_UUID, Jd, LIMIT, backends, proposal, propose, webhook_spec};
use tokio::sync::mpsc;
use tonic::Request;

/// What the simulated node was asked.
#[derive(Debug, PartialEq)]
enum Asked {
    Propose(cfm::ProposeJobRequest),
    Revoke(String),
    Delete(String),
}

/// A node service that reports every call on `asked` and answers `ProposeJob` with
/// `refusal` as its error when set.
fn node_service(asked: mpsc::UnboundedSender<Asked>, refusal: Option<&'static str>) -> Router {
    let (on_revoke, on_delete) = (asked.clone(), asked.clone());
    Router::new()
        .method("ProposeJob", move |request: cfm::ProposeJobRequest| {
            let id = request.id.clone();
            let _ = asked.send(Asked::Propose(request));
            async move {
                match refusal {
                    Some(error) => Err(error.to_owned()),
                    None => Ok(cfm::ProposeJobResponse { id }),
                }
            }
        })
        .method("RevokeJob", move |request: cfm::RevokeJobRequest| {
            let _ = on_revoke.send(Asked::Revoke(request.id.clone()));
            async move { Ok(cfm::RevokeJobResponse { id: request.id }) }
        })
        .method("DeleteJob", move |request: cfm::DeleteJobRequest| {
            let _ = on_delete.send(Asked::Delete(request.id.clone()));
            async move { Ok(cfm::DeleteJobResponse { id: request.id }) }
        })
}

/// Links node `node` up with [`node_service`]; returns the link and what it is asked.
async fn linked_node(
    jd: &Jd,
    node: u8,
    refusal: Option<&'static str>,
) -> (Link, mpsc::UnboundedReceiver<Asked>) {
    let (asked, calls) = mpsc::unbounded_channel();
    let link = jd
        .dial_with(node, node_service(asked, refusal))
        .await
        .expect("links up");
    (link, calls)
}

/// A JD on `url` with node 1 registered and linked up (see [`linked_node`]).
async fn jd_with_linked_node(
    url: String,
    schema: Option<support::Schema>,
    refusal: Option<&'static str>,
) -> (Jd, Node, Link, mpsc::UnboundedReceiver<Asked>) {
    let jd = Jd::start(url, schema).await;
    let node = jd.register(1).await;
    let (link, calls) = linked_node(&jd, 1, refusal).await;
    jd.wait_connected(&node.id, true).await;
    (jd, node, link, calls)
}

async fn next(calls: &mut mpsc::UnboundedReceiver<Asked>) -> Asked {
    tokio::time::timeout(LIMIT, calls.recv())
        .await
        .expect("the node is called in time")
        .expect("the node service is alive")
}

/// Waits until proposal `id` has delivery status `status`; returns it.
async fn wait_delivery(jd: &Jd, id: &str, status: ProposalDeliveryStatus) -> api::Proposal {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let proposal = proposal(jd, id).await;
        if proposal.delivery_status == status as i32 {
            return proposal;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery status stayed {:?}, never {status:?}",
            proposal.delivery_status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_proposal_to_a_connected_node_is_pushed_and_acknowledged() {
    for (url, schema) in backends().await {
        let (jd, node, _link, mut calls) = jd_with_linked_node(url, schema, None).await;

        let id = propose(&jd, &node.id).await;
        let expected = cfm::ProposeJobRequest {
            id: JOB_UUID.to_owned(),
            spec: webhook_spec(),
            version: 1,
            ..Default::default()
        };
        assert_eq!(next(&mut calls).await, Asked::Propose(expected));
        let acknowledged = wait_delivery(&jd, &id, ProposalDeliveryStatus::Acknowledged).await;
        assert!(acknowledged.acked_at.is_some());
        assert_eq!(jd.jd.store().delivery_error(&id).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_refused_proposal_is_failed_with_the_nodes_message() {
    const REFUSAL: &str = "unsupported job type \"directrequest\"";
    for (url, schema) in backends().await {
        let (jd, node, _link, mut calls) = jd_with_linked_node(url, schema, Some(REFUSAL)).await;

        let id = propose(&jd, &node.id).await;
        assert!(matches!(next(&mut calls).await, Asked::Propose(_)));
        let failed = wait_delivery(&jd, &id, ProposalDeliveryStatus::Failed).await;
        assert_eq!(failed.acked_at, None);
        let kept = jd.jd.store().delivery_error(&id).await.unwrap();
        assert_eq!(kept.as_deref(), Some(REFUSAL));
    }
}

#[tokio::test]
async fn proposals_made_while_offline_arrive_oldest_first_on_connect() {
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let node = jd.register(1).await;
        let first = propose(&jd, &node.id).await;
        let second = propose(&jd, &node.id).await;
        assert_eq!(
            proposal(&jd, &first).await.delivery_status(),
            ProposalDeliveryStatus::Unspecified
        );

        let (_link, mut calls) = linked_node(&jd, 1, None).await;
        let mut versions = Vec::new();
        for _ in 0..2 {
            match next(&mut calls).await {
                Asked::Propose(request) => versions.push(request.version),
                other => panic!("unexpected call {other:?}"),
            }
        }
        assert_eq!(versions, [1, 2], "oldest first");
        for id in [&first, &second] {
            wait_delivery(&jd, id, ProposalDeliveryStatus::Acknowledged).await;
        }
    }
}

/// Revokes then deletes the job of proposal `id` through the operator API.
async fn revoke_and_delete(jd: &Jd, id: &str) {
    let job_id = proposal(jd, id).await.job_id;
    jd.jd
        .revoke_job(Request::new(api::RevokeJobRequest {
            id_oneof: Some(api::revoke_job_request::IdOneof::Id(job_id.clone())),
        }))
        .await
        .expect("revoked");
    jd.jd
        .delete_job(Request::new(api::DeleteJobRequest {
            id_oneof: Some(api::delete_job_request::IdOneof::Id(job_id)),
        }))
        .await
        .expect("deleted");
}

#[tokio::test]
async fn revoke_and_delete_made_while_offline_are_forwarded_on_connect() {
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let node = jd.register(1).await;
        let id = propose(&jd, &node.id).await;
        revoke_and_delete(&jd, &id).await;

        // The revoked proposal is not pushed; the two calls arrive in order.
        let (_link, mut calls) = linked_node(&jd, 1, None).await;
        assert_eq!(next(&mut calls).await, Asked::Revoke(JOB_UUID.to_owned()));
        assert_eq!(next(&mut calls).await, Asked::Delete(JOB_UUID.to_owned()));

        // Answered calls leave the queue: they are not sent again on the next connect.
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !jd
            .jd
            .store()
            .pending_forwards(&node.id, i64::MAX)
            .await
            .unwrap()
            .is_empty()
        {
            assert!(tokio::time::Instant::now() < deadline, "still queued");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn revoke_and_delete_are_forwarded_to_a_connected_node() {
    for (url, schema) in backends().await {
        let (jd, node, _link, mut calls) = jd_with_linked_node(url, schema, None).await;
        let id = propose(&jd, &node.id).await;
        assert!(matches!(next(&mut calls).await, Asked::Propose(_)));
        revoke_and_delete(&jd, &id).await;
        // Each call goes out in a task of its own: they may arrive in either order.
        let forwarded = [next(&mut calls).await, next(&mut calls).await];
        assert!(
            forwarded.contains(&Asked::Revoke(JOB_UUID.to_owned())),
            "{forwarded:?}"
        );
        assert!(
            forwarded.contains(&Asked::Delete(JOB_UUID.to_owned())),
            "{forwarded:?}"
        );
    }
}

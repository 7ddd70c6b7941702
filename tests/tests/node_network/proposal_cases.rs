//! Proposals end to end: the node operator's decisions, the JD operator's revoke and
//! delete, a refused spec, the auto policy, decisions made while the JD is down, revisions.

use offchain::proto::job::{ProposalDeliveryStatus as Delivery, ProposalStatus as Status};

use super::database::Backend;
use super::net::{Net, failed_delivery_message};
use super::support::{job_uuid, spec};

pub async fn an_approval_on_the_node_approves_the_proposal_at_the_jd(backend: Backend) {
    let Some(net) = Net::new(backend, 3, 3).await else {
        return;
    };
    // One proposal to each node, each approved by its own node's operator.
    let mut proposals = Vec::new();
    for i in 0..3 {
        let uuid = job_uuid();
        let sent = spec("webhook", &uuid);
        let proposal = net.jd.propose(&net.ids[i], sent.clone()).await;
        proposals.push((uuid, proposal.id, sent));
    }
    for (i, (uuid, id, sent)) in proposals.iter().enumerate() {
        let acked = net.jd.wait_delivery(id, Delivery::Acknowledged).await;
        assert!(acked.acked_at.is_some());
        assert_eq!(acked.status(), Status::Proposed);
        assert_eq!(acked.response_received_at, None);

        let shown = net.nodes[i].wait_state(uuid, "pending").await;
        assert_eq!(shown["versions"][0]["version"], 1);
        assert_eq!(shown["versions"][0]["spec"], sent.as_str());
        let decided = net.nodes[i].decide(uuid, "approve").await;
        assert_eq!(decided["state"], "approved");

        let approved = net.jd.wait_status(id, Status::Approved).await;
        assert!(approved.response_received_at.is_some(), "{approved:?}");
    }
}

pub async fn the_auto_policy_approves_on_arrival(backend: Backend) {
    let Some(net) = Net::new(backend, 0, 0).await else {
        return;
    };
    let jd_key = net.jd.public_key().await;
    let (mut node, id) = net.extra_node("node-auto", &jd_key, "auto").await;
    node.start().await;
    net.jd.wait_connected(&id, true).await;
    let uuid = job_uuid();
    let proposal = net.jd.propose(&id, spec("webhook", &uuid)).await;
    // The node approves while answering `ProposeJob`: both answers must land.
    let approved = net.jd.wait_status(&proposal.id, Status::Approved).await;
    assert!(approved.response_received_at.is_some(), "{approved:?}");
    let acked = net
        .jd
        .wait_delivery(&proposal.id, Delivery::Acknowledged)
        .await;
    assert_eq!(acked.status(), Status::Approved);
    assert_eq!(
        node.wait_state(&uuid, "approved").await["versions"][0]["state"],
        "approved"
    );
}

pub async fn a_rejection_on_the_node_rejects_the_proposal_at_the_jd(backend: Backend) {
    let Some(net) = Net::new(backend, 1, 1).await else {
        return;
    };
    let (uuid, id) = net.propose_delivered(0).await;
    assert_eq!(
        net.nodes[0].decide(&uuid, "reject").await["state"],
        "rejected"
    );
    let rejected = net.jd.wait_status(&id, Status::Rejected).await;
    assert!(rejected.response_received_at.is_some(), "{rejected:?}");
}

pub async fn decisions_made_while_the_jd_is_down_reach_it_when_the_link_is_back(backend: Backend) {
    let Some(mut net) = Net::new(backend, 1, 1).await else {
        return;
    };
    let (to_reject, rejected_id) = net.propose_delivered(0).await;
    let (to_cancel, cancelled_id) = net.propose_delivered(0).await;
    net.nodes[0].decide(&to_cancel, "approve").await;
    net.jd.wait_status(&cancelled_id, Status::Approved).await;
    net.jd.stop().await;
    net.nodes[0].wait_link("link down", |s| !s.up).await;
    // The operator's decisions stand although the JD cannot be told now…
    let node = &net.nodes[0];
    assert_eq!(node.decide(&to_reject, "reject").await["state"], "rejected");
    assert_eq!(
        node.decide(&to_cancel, "cancel").await["state"],
        "cancelled"
    );
    net.jd.start_again().await;
    // …and the JD learns them over the next link (it never pushes an acknowledged proposal
    // again, so only the node can bring them).
    let rejected = net.jd.wait_status(&rejected_id, Status::Rejected).await;
    assert!(rejected.response_received_at.is_some(), "{rejected:?}");
    net.jd.wait_status(&cancelled_id, Status::Cancelled).await;
}

pub async fn a_newer_revision_of_an_approved_job_is_a_pending_update_on_the_node(backend: Backend) {
    let Some(net) = Net::new(backend, 1, 1).await else {
        return;
    };
    let (uuid, first) = net.propose_delivered(0).await;
    net.nodes[0].decide(&uuid, "approve").await;
    net.jd.wait_status(&first, Status::Approved).await;

    let second = net.jd.propose(&net.ids[0], spec("webhook", &uuid)).await;
    assert_eq!(second.revision, 2);
    net.jd
        .wait_delivery(&second.id, Delivery::Acknowledged)
        .await;
    let shown = net.nodes[0].wait_state(&uuid, "pending").await;
    let versions: Vec<_> = shown["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| (v["version"].clone(), v["state"].clone()))
        .collect();
    assert_eq!(
        versions,
        [(1.into(), "approved".into()), (2.into(), "pending".into())]
    );
    net.nodes[0].decide(&uuid, "approve").await;
    let approved = net.jd.wait_status(&second.id, Status::Approved).await;
    assert!(approved.response_received_at.is_some());
}

pub async fn a_cancellation_after_approval_cancels_the_proposal_at_the_jd(backend: Backend) {
    let Some(net) = Net::new(backend, 1, 1).await else {
        return;
    };
    let (uuid, id) = net.propose_delivered(0).await;
    net.nodes[0].decide(&uuid, "approve").await;
    let approved = net.jd.wait_status(&id, Status::Approved).await;
    assert_eq!(
        net.nodes[0].decide(&uuid, "cancel").await["state"],
        "cancelled"
    );
    let cancelled = net.jd.wait_status(&id, Status::Cancelled).await;
    let at = |p: &offchain::proto::job::Proposal| {
        let t = p.response_received_at.expect("response_received_at");
        (t.seconds, t.nanos)
    };
    assert!(at(&cancelled) >= at(&approved), "{cancelled:?}");
}

pub async fn a_revocation_at_the_jd_revokes_the_proposal_on_the_node(backend: Backend) {
    let Some(net) = Net::new(backend, 1, 1).await else {
        return;
    };
    let (uuid, id) = net.propose_delivered(0).await;
    let job_id = net.jd.proposal(&id).await.job_id;
    net.jd.revoke(&job_id).await;
    assert_eq!(net.jd.proposal(&id).await.status(), Status::Revoked);
    net.nodes[0].wait_state(&uuid, "revoked").await;
}

pub async fn a_deletion_at_the_jd_deletes_the_job_on_the_node(backend: Backend) {
    let Some(net) = Net::new(backend, 1, 1).await else {
        return;
    };
    let (uuid, id) = net.propose_delivered(0).await;
    net.nodes[0].decide(&uuid, "approve").await;
    net.jd.wait_status(&id, Status::Approved).await;
    let job_id = net.jd.proposal(&id).await.job_id;
    net.jd.delete(&job_id).await;
    net.nodes[0].wait_state(&uuid, "deleted").await;
}

pub async fn a_spec_the_node_refuses_fails_delivery_with_its_message(backend: Backend) {
    let Some(net) = Net::new(backend, 1, 1).await else {
        return;
    };
    // The JD takes any job type; the node runs only webhook and cron jobs.
    let uuid = job_uuid();
    let proposal = net
        .jd
        .propose(&net.ids[0], spec("directrequest", &uuid))
        .await;
    let failed = net.jd.wait_delivery(&proposal.id, Delivery::Failed).await;
    assert_eq!(failed.acked_at, None);
    assert_eq!(failed.status(), Status::Proposed);
    let message = failed_delivery_message(&net.jd, &proposal.id).await;
    let message = message.expect("the node's refusal is kept");
    assert!(message.contains("directrequest"), "{message}");
    assert_eq!(
        net.nodes[0].show(&uuid).await,
        None,
        "the node kept nothing"
    );
    assert_eq!(net.nodes[0].list().await, Vec::<serde_json::Value>::new());
}

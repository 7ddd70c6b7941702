//! The link itself: registration and facts, offline delivery, a JD restart, disable and
//! enable, a node refusing the wrong JD key.

use offchain::proto::job::{ProposalDeliveryStatus as Delivery, ProposalStatus as Status};

use super::database::Backend;
use super::net::{Net, OTHER_KEY, chain_id};
use super::support::{eventually, job_uuid, spec};

pub async fn registered_nodes_connect_and_report_their_facts(backend: Backend) {
    let Some(net) = Net::new(backend, 3, 3).await else {
        return;
    };
    for (i, node) in net.nodes.iter().enumerate() {
        let id = &net.ids[i];
        // The JD may count the link a moment before the node's link task marks it up.
        node.wait_link("its link up", |s| s.up).await;
        // The facts come with the node's first `UpdateNode`, just after the link is up.
        let shown = eventually(&format!("{id} reports its version"), || async {
            let shown = net.jd.node(id).await;
            if shown.version.is_empty() {
                Err(shown)
            } else {
                Ok(shown)
            }
        })
        .await;
        assert!(shown.is_connected && shown.is_enabled);
        assert_eq!(shown.public_key, node.csa_key);
        // The node reports its crate's version, which is the workspace's, as is this one.
        assert_eq!(shown.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(shown.nop_friendly_name, node.name);
        let peer_ids: Vec<_> = shown.p2p_key_bundles.iter().map(|b| &b.peer_id).collect();
        assert_eq!(peer_ids, [&node.p2p_peer_id]);
        let listed = net.jd.listed(id).await;
        assert!(listed.is_connected);
        assert_eq!(listed.version, shown.version);

        let configs = net.jd.chain_configs(id).await;
        assert_eq!(configs.len(), 1, "{configs:?}");
        let chain = configs[0].chain.as_ref().expect("a chain");
        assert_eq!(chain.id, chain_id(i));
        assert_eq!(configs[0].account_address, format!("0x{}", chain_id(i)));
        assert_eq!(&configs[0].node_id, id);
    }
}

pub async fn a_proposal_made_while_the_node_is_offline_arrives_when_it_connects(backend: Backend) {
    let Some(mut net) = Net::new(backend, 1, 0).await else {
        return;
    };
    let (uuid, id) = net.propose(0).await;
    // Nobody runs the node yet: nothing can have been delivered.
    assert_eq!(
        net.jd.proposal(&id).await.delivery_status(),
        Delivery::Unspecified
    );
    net.start(0).await;
    let acked = net.jd.wait_delivery(&id, Delivery::Acknowledged).await;
    assert!(acked.acked_at.is_some());
    net.nodes[0].wait_state(&uuid, "pending").await;
}

pub async fn a_restarted_node_keeps_its_proposals_and_links_again(backend: Backend) {
    let Some(mut net) = Net::new(backend, 1, 1).await else {
        return;
    };
    let (uuid, id) = net.propose_delivered(0).await;
    net.nodes[0].decide(&uuid, "approve").await;
    net.nodes[0].stop().await;
    net.jd.wait_connected(&net.ids[0], false).await;
    // While it is down, the JD keeps what it has to send.
    let (waiting, waiting_id) = net.propose(0).await;

    // Same data dir and password: the keystore opens with the same keys (checked in
    // `start`), the JD lets it in again, and the store kept its decisions.
    net.start(0).await;
    net.nodes[0].wait_state(&waiting, "pending").await;
    net.jd
        .wait_delivery(&waiting_id, Delivery::Acknowledged)
        .await;
    assert_eq!(
        net.nodes[0].show(&uuid).await.expect("kept")["state"],
        "approved"
    );
    let approved = net.jd.proposal(&id).await;
    assert_eq!(approved.status(), Status::Approved);
}

pub async fn undelivered_proposals_are_delivered_after_a_jd_restart(backend: Backend) {
    let Some(mut net) = Net::new(backend, 3, 1).await else {
        return;
    };
    // Node 0 is linked through the restart; nodes 1 and 2 are offline when proposed to.
    let offline = [net.propose(1).await, net.propose(2).await];
    net.jd.stop().await;
    net.nodes[0].wait_link("link down", |s| !s.up).await;
    // Started while the JD is down: their first dial fails, so they connect by redialing.
    for i in 1..3 {
        net.nodes[i].start().await;
        net.nodes[i]
            .wait_link("a failed dial", |s| s.last_error.is_some())
            .await;
        assert!(!net.nodes[i].link_state().up);
    }

    net.jd.start_again().await;
    for i in 0..3 {
        net.jd.wait_connected(&net.ids[i], true).await;
    }
    for (i, (uuid, id)) in offline.iter().enumerate() {
        let acked = net.jd.wait_delivery(id, Delivery::Acknowledged).await;
        assert!(acked.acked_at.is_some());
        net.nodes[i + 1].wait_state(uuid, "pending").await;
    }
    // And the link that came back carries new proposals.
    net.propose_delivered(0).await;
}

pub async fn disabling_a_node_drops_its_link_and_enabling_reconnects(backend: Backend) {
    let Some(net) = Net::new(backend, 1, 1).await else {
        return;
    };
    let (id, node) = (&net.ids[0], &net.nodes[0]);
    net.jd.set_enabled(id, false).await;
    net.jd.wait_connected(id, false).await;
    // Its redial is refused: the JD no longer allows its key.
    node.wait_link("the JD refusing its key", |s| {
        !s.up && s.last_error.as_deref() == Some("the JD refused this node's key")
    })
    .await;
    let refused = net.jd.try_propose(id, spec("webhook", &job_uuid())).await;
    let code = refused.expect_err("no proposals to a disabled node").code();
    assert_eq!(code, tonic::Code::FailedPrecondition);

    net.jd.set_enabled(id, true).await;
    net.jd.wait_connected(id, true).await;
    node.wait_link("link up again", |s| s.up).await;
    net.propose_delivered(0).await;
}

pub async fn a_node_with_the_wrong_jd_key_refuses_to_connect(backend: Backend) {
    let Some(net) = Net::new(backend, 0, 0).await else {
        return;
    };
    // A node that expects another JD key (a valid ed25519 key, the spec's test vector),
    // registered at the JD so that only the node's refusal keeps the link down.
    let (mut node, id) = net.extra_node("node-wrong-key", OTHER_KEY, "manual").await;
    node.start().await;
    let state = node
        .wait_link("refusing the JD", |s| s.last_error.is_some())
        .await;
    assert!(!state.up);
    assert_eq!(
        state.last_error.as_deref(),
        Some("the server's key is not the configured JD key")
    );
    // The handshake failed, so the JD never had a link to show.
    assert!(!net.jd.node(&id).await.is_connected);
    assert!(!net.jd.listed(&id).await.is_connected);
}

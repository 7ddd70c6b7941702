//! The fixture every case builds on: a JD with up to three registered nodes.

use offchain::proto::delivery::GetProposalDeliveryRequest;
use offchain::proto::job::{ProposalDeliveryStatus as Delivery, ProposalStatus as Status};

use super::database::{Backend, Database};
use super::jd::Jd;
use super::node::{NodeSetup, TestNode};
use super::support::{job_uuid, spec};

/// A valid ed25519 public key no JD here has (`node-link.md`'s test vector).
pub const OTHER_KEY: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";

/// The chain id node `i` reports.
pub fn chain_id(i: usize) -> String {
    format!("{}", 1000 + i)
}

/// A JD with up to three nodes registered (with the CSA keys their keystores made), the
/// first `started` of them running and connected. Each case asks for the nodes it uses:
/// every keystore costs a deliberately slow key derivation.
pub struct Net {
    pub nodes: Vec<TestNode>,
    /// The JD's node id of each node.
    pub ids: Vec<String>,
    pub jd: Jd,
    // Last: the database outlives the JD using it.
    _db: Database,
}

impl Net {
    pub async fn new(backend: Backend, nodes: usize, started: usize) -> Option<Net> {
        let db = Database::create(backend).await?;
        let jd = Jd::start(&db.url).await;
        let (jd_uri, jd_key) = (jd.node_uri(), jd.public_key().await);
        let mut net = Net {
            nodes: Vec::new(),
            ids: Vec::new(),
            jd,
            _db: db,
        };
        for i in 0..nodes {
            let name = format!("node-{i}");
            let chain = chain_id(i);
            let setup = NodeSetup {
                name: &name,
                jd_uri: &jd_uri,
                jd_key: &jd_key,
                chain_id: &chain,
                policy: "manual",
            };
            let node = TestNode::create(setup).await;
            let registered = net.jd.register(&name, &node.csa_key).await;
            assert!(!registered.is_connected, "not connected before it dials");
            net.ids.push(registered.id);
            net.nodes.push(node);
        }
        for i in 0..started {
            net.start(i).await;
        }
        Some(net)
    }

    /// One more node, registered but not started, that expects `jd_key` and approves by
    /// `policy`; returns it and its JD node id.
    pub async fn extra_node(&self, name: &str, jd_key: &str, policy: &str) -> (TestNode, String) {
        let (jd_uri, chain) = (self.jd.node_uri(), chain_id(9));
        let setup = NodeSetup {
            name,
            jd_uri: &jd_uri,
            jd_key,
            chain_id: &chain,
            policy,
        };
        let node = TestNode::create(setup).await;
        let registered = self.jd.register(name, &node.csa_key).await;
        (node, registered.id)
    }

    /// Starts node `i` and waits until the JD shows it connected.
    pub async fn start(&mut self, i: usize) {
        self.nodes[i].start().await;
        self.jd.wait_connected(&self.ids[i], true).await;
    }

    /// Proposes a fresh webhook job to node `i`; returns its uuid and the proposal id.
    pub async fn propose(&self, i: usize) -> (String, String) {
        let uuid = job_uuid();
        let proposal = self.jd.propose(&self.ids[i], spec("webhook", &uuid)).await;
        assert_eq!(proposal.status(), Status::Proposed);
        (uuid, proposal.id)
    }

    /// Proposes to node `i` and waits until the node acknowledged it and shows it pending.
    pub async fn propose_delivered(&self, i: usize) -> (String, String) {
        let (uuid, id) = self.propose(i).await;
        let acked = self.jd.wait_delivery(&id, Delivery::Acknowledged).await;
        assert!(acked.acked_at.is_some(), "{acked:?}");
        self.nodes[i].wait_state(&uuid, "pending").await;
        (uuid, id)
    }
}

/// The error a node answered to a refused proposal, as the operator reads it: the JD's
/// delivery extension (`offchain.jd.v1.ProposalDeliveryService`) through the client.
pub async fn failed_delivery_message(jd: &Jd, proposal_id: &str) -> Option<String> {
    let request = GetProposalDeliveryRequest {
        proposal_id: proposal_id.to_owned(),
    };
    let answer = jd
        .client()
        .get_proposal_delivery(request)
        .await
        .expect("the JD serves the delivery extension");
    answer.delivery?.delivery_error
}

//! The JD under test: a real gRPC server with its node listener on ephemeral 127.0.0.1
//! ports, driven through the `offchain` client like an operator would.

use std::net::SocketAddr;
use std::sync::Arc;

use offchain::proto::job::{
    DeleteJobRequest, GetProposalRequest, Proposal, ProposalDeliveryStatus, ProposalStatus,
    ProposeJobRequest, RevokeJobRequest, delete_job_request, revoke_job_request,
};
use offchain::proto::node::{
    ChainConfig, DisableNodeRequest, EnableNodeRequest, GetNodeRequest,
    ListNodeChainConfigsRequest, ListNodesRequest, Node, RegisterNodeRequest,
    list_node_chain_configs_request,
};
use offchain::{Client, Provider, RemoteConfig, RemoteProvider};
use offchain_jd::server::{self, RunningServer, ServeOptions, ServerConfig};
use tonic::Status;

use super::support::eventually;

const ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

pub struct Jd {
    server: Option<RunningServer>,
    client: Option<Arc<dyn Client>>,
    url: String,
    /// Kept across restarts: it unseals the CSA key stored in the database.
    secret: String,
    /// Where nodes dial; a restarted JD listens here again.
    node_addr: SocketAddr,
}

impl Jd {
    /// A JD over the database at `url`.
    pub async fn start(url: &str) -> Jd {
        let mut jd = Jd {
            server: None,
            client: None,
            url: url.to_owned(),
            secret: offchain_jd::csa::throwaway_secret(),
            node_addr: ANY_PORT,
        };
        jd.start_again().await;
        jd
    }

    /// Shuts the JD down (its node links close; its database stays).
    pub async fn stop(&mut self) {
        self.client = None;
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("the JD shuts down cleanly");
        }
    }

    /// Starts the JD again on the same database and the same node-listen address.
    pub async fn start_again(&mut self) {
        assert!(self.server.is_none(), "the JD is running");
        let config = ServerConfig {
            listen: ANY_PORT,
            database_url: self.url.clone(),
            csa_secret: self.secret.clone(),
            auth: None,
        };
        let options = ServeOptions {
            node_listen: Some(self.node_addr),
            ..ServeOptions::default()
        };
        let server = server::start_with(config, options)
            .await
            .expect("the JD starts");
        self.node_addr = server.node_addr().expect("the JD listens for nodes");
        let endpoint = format!("http://{}", server.local_addr());
        let remote = RemoteProvider::new(RemoteConfig::new(endpoint)).expect("valid endpoint");
        self.client = Some(remote.initialize().await.expect("the client connects"));
        self.server = Some(server);
    }

    /// `host:port` of the node listener, as a node's `[[job_distributors]] uri`.
    pub fn node_uri(&self) -> String {
        self.node_addr.to_string()
    }

    pub fn client(&self) -> &dyn Client {
        self.client.as_deref().expect("the JD is running")
    }

    /// The JD's CSA public key (hex), as the operator reads it: `GetKeypair`.
    pub async fn public_key(&self) -> String {
        offchain::helpers::jd_public_key(self.client())
            .await
            .expect("GetKeypair")
    }

    pub async fn register(&self, name: &str, public_key: &str) -> Node {
        let request = RegisterNodeRequest {
            name: name.to_owned(),
            public_key: public_key.to_owned(),
            labels: Vec::new(),
        };
        let response = self.client().register_node(request).await;
        response.expect("registered").node.expect("a node")
    }

    pub async fn node(&self, id: &str) -> Node {
        let request = GetNodeRequest {
            id: id.to_owned(),
            ..Default::default()
        };
        let response = self.client().get_node(request).await;
        response.expect("GetNode").node.expect("a node")
    }

    pub async fn listed(&self, id: &str) -> Node {
        let response = self.client().list_nodes(ListNodesRequest::default()).await;
        let nodes = response.expect("ListNodes").nodes;
        nodes.into_iter().find(|n| n.id == id).expect("listed")
    }

    /// Waits until `is_connected` of node `id` is `connected` in both `GetNode` and
    /// `ListNodes`.
    pub async fn wait_connected(&self, id: &str, connected: bool) -> Node {
        let what = format!("node {id} is_connected = {connected}");
        eventually(&what, || async {
            let (got, listed) = (self.node(id).await, self.listed(id).await);
            let seen = (got.is_connected, listed.is_connected);
            if seen == (connected, connected) {
                Ok(got)
            } else {
                Err(seen)
            }
        })
        .await
    }

    pub async fn set_enabled(&self, id: &str, enabled: bool) {
        let id = id.to_owned();
        if enabled {
            let response = self.client().enable_node(EnableNodeRequest { id }).await;
            response.expect("EnableNode");
        } else {
            let response = self.client().disable_node(DisableNodeRequest { id }).await;
            response.expect("DisableNode");
        }
    }

    pub async fn chain_configs(&self, node_id: &str) -> Vec<ChainConfig> {
        let filter = list_node_chain_configs_request::Filter {
            node_ids: vec![node_id.to_owned()],
        };
        let request = ListNodeChainConfigsRequest {
            filter: Some(filter),
        };
        let response = self.client().list_node_chain_configs(request).await;
        response.expect("ListNodeChainConfigs").chain_configs
    }

    pub async fn try_propose(&self, node_id: &str, spec: String) -> Result<Proposal, Status> {
        let request = ProposeJobRequest {
            node_id: node_id.to_owned(),
            spec,
            labels: Vec::new(),
        };
        let response = self.client().propose_job(request).await?;
        Ok(response.proposal.expect("a proposal"))
    }

    pub async fn propose(&self, node_id: &str, spec: String) -> Proposal {
        self.try_propose(node_id, spec).await.expect("proposed")
    }

    pub async fn proposal(&self, id: &str) -> Proposal {
        let request = GetProposalRequest { id: id.to_owned() };
        let response = self.client().get_proposal(request).await;
        response.expect("GetProposal").proposal.expect("a proposal")
    }

    /// Waits until proposal `id` has delivery status `status`.
    pub async fn wait_delivery(&self, id: &str, status: ProposalDeliveryStatus) -> Proposal {
        eventually(&format!("proposal {id} {status:?}"), || async {
            let proposal = self.proposal(id).await;
            if proposal.delivery_status() == status {
                Ok(proposal)
            } else {
                Err(proposal.delivery_status())
            }
        })
        .await
    }

    /// Waits until proposal `id` has status `status`.
    pub async fn wait_status(&self, id: &str, status: ProposalStatus) -> Proposal {
        eventually(&format!("proposal {id} {status:?}"), || async {
            let proposal = self.proposal(id).await;
            if proposal.status() == status {
                Ok(proposal)
            } else {
                Err(proposal.status())
            }
        })
        .await
    }

    pub async fn revoke(&self, job_id: &str) {
        let request = RevokeJobRequest {
            id_oneof: Some(revoke_job_request::IdOneof::Id(job_id.to_owned())),
        };
        self.client().revoke_job(request).await.expect("RevokeJob");
    }

    pub async fn delete(&self, job_id: &str) {
        let request = DeleteJobRequest {
            id_oneof: Some(delete_job_request::IdOneof::Id(job_id.to_owned())),
        };
        self.client().delete_job(request).await.expect("DeleteJob");
    }
}

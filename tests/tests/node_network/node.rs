//! A real node agent (`offchain_node::Node`) with its own temp `data_dir`, keystore and
//! proposal store, its approval API on 127.0.0.1:0; approvals go through that HTTP API.

use offchain_node::link::LinkState;
use offchain_node::{Keystore, Node, NodeConfig, NodePassword};
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use super::support::{LIMIT, eventually};

fn password() -> NodePassword {
    NodePassword::new("e2e node password".to_owned()).expect("a valid password")
}

/// What a node's `node.toml` says besides its own paths.
pub struct NodeSetup<'a> {
    pub name: &'a str,
    /// The JD's node listener, `host:port`.
    pub jd_uri: &'a str,
    /// The JD key the node accepts (hex).
    pub jd_key: &'a str,
    /// The chain id reported in its one `[[chains]]` entry.
    pub chain_id: &'a str,
    /// `[approval] policy`: `manual` or `auto`.
    pub policy: &'a str,
}

pub struct TestNode {
    pub name: String,
    /// The CSA key from the node's keystore, as registered at the JD (hex).
    pub csa_key: String,
    pub p2p_peer_id: String,
    config: NodeConfig,
    running: Option<Node>,
    http: reqwest::Client,
    _dir: TempDir,
}

impl TestNode {
    /// Creates the node's data dir and keys (what `offchain node keys` does); not started.
    pub async fn create(setup: NodeSetup<'_>) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = format!(
            "name = \"{name}\"\ndata_dir = {dir:?}\n\n\
             [[job_distributors]]\nuri = \"{uri}\"\npublic_key = \"{key}\"\n\n\
             [api]\nlisten = \"127.0.0.1:0\"\n\n[approval]\npolicy = \"{policy}\"\n\n\
             [[chains]]\nid = \"{chain}\"\ntype = \"evm\"\naccount_address = \"0x{chain}\"\n",
            name = setup.name,
            dir = dir.path().to_str().expect("a UTF-8 temp path"),
            uri = setup.jd_uri,
            key = setup.jd_key,
            chain = setup.chain_id,
            policy = setup.policy,
        );
        let config = NodeConfig::parse(&text).expect("a valid node.toml");
        let data_dir = config.data_dir.clone();
        // Sealing derives a key on purpose slowly: off the async workers, as the node does.
        let keystore =
            tokio::task::spawn_blocking(move || Keystore::open_or_create(&data_dir, &password()))
                .await
                .expect("the keystore task")
                .expect("the keystore opens");
        TestNode {
            name: setup.name.to_owned(),
            csa_key: keystore.csa_public_key_hex(),
            p2p_peer_id: keystore.p2p_peer_id().to_string(),
            config,
            running: None,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub async fn start(&mut self) {
        assert!(self.running.is_none(), "{} is running", self.name);
        let node = Node::start(&self.config, &password(), None)
            .await
            .expect("the node starts");
        assert_eq!(node.csa_public_key(), self.csa_key, "the keystore's key");
        self.running = Some(node);
    }

    /// Stops the node (its API, links and store); its data dir stays for [`TestNode::start`].
    pub async fn stop(&mut self) {
        if let Some(node) = self.running.take() {
            node.shutdown().await;
        }
    }

    fn node(&self) -> &Node {
        self.running.as_ref().expect("the node is running")
    }

    /// The node's link to its (only) JD, as the node reports it.
    pub fn link_state(&self) -> LinkState {
        self.node().links()[0].handle().state()
    }

    /// Waits until the node's link state satisfies `wanted`.
    pub async fn wait_link(&self, what: &str, wanted: impl Fn(&LinkState) -> bool) -> LinkState {
        let what = format!("{}: {what}", self.name);
        eventually(&what, || async {
            let state = self.link_state();
            if wanted(&state) {
                Ok(state)
            } else {
                Err(state)
            }
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/v2/proposals{path}", self.node().api_address())
    }

    /// `GET /v2/proposals`.
    pub async fn list(&self) -> Vec<Value> {
        let response = self.http.get(self.url("")).timeout(LIMIT).send().await;
        let response = response.expect("the node API answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a JSON list")
    }

    /// `GET /v2/proposals/{uuid}`: `None` while the node does not have it.
    pub async fn show(&self, uuid: &str) -> Option<Value> {
        let response = self.http.get(self.url(&format!("/{uuid}"))).timeout(LIMIT);
        let response = response.send().await.expect("the node API answers");
        match response.status() {
            StatusCode::NOT_FOUND => None,
            StatusCode::OK => Some(response.json().await.expect("a JSON proposal")),
            other => panic!("GET proposal {uuid}: {other}"),
        }
    }

    /// Waits until the node shows proposal `uuid` in `state` (`pending`, `revoked`, …).
    pub async fn wait_state(&self, uuid: &str, state: &str) -> Value {
        let what = format!("{} shows {uuid} {state}", self.name);
        eventually(&what, || async {
            match self.show(uuid).await {
                Some(shown) if shown["state"] == state => Ok(shown),
                other => Err(other),
            }
        })
        .await
    }

    /// `POST /v2/proposals/{uuid}/{decision}` (`approve`, `reject`, `cancel`); must succeed.
    pub async fn decide(&self, uuid: &str, decision: &str) -> Value {
        let url = self.url(&format!("/{uuid}/{decision}"));
        let response = self.http.post(url).timeout(LIMIT).send().await;
        let response = response.expect("the node API answers");
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON answer");
        assert_eq!(status, StatusCode::OK, "{decision} {uuid}: {body}");
        body
    }
}

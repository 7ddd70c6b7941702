//! Helpers shared by the node link suites: a JD with its node listener over SQLite and,
//! when `OFFCHAIN_TEST_POSTGRES_URL` is set, a PostgreSQL schema of its own; simulated nodes.

// Each suite compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use offchain_jd::JobDistributor;
use offchain_jd::link::{self, NodeListener};
use offchain_proto::node::node_service_server::NodeService;
use offchain_proto::node::{self as api, Node};
use offchain_wsrpc::dial::{self, DialConfig, DialError};
use offchain_wsrpc::rpc::{Link, LinkConfig, Router};
use offchain_wsrpc::tls::{self, Identity};
use sqlx::Connection;
use sqlx::Executor;
use sqlx::postgres::PgConnection;
use tonic::Request;

pub const LIMIT: Duration = Duration::from_secs(10);
pub const CALL: Duration = Duration::from_secs(5);
pub const URL_VAR: &str = "OFFCHAIN_TEST_POSTGRES_URL";

/// A JD with its node listener on an ephemeral port.
pub struct Jd {
    pub jd: JobDistributor,
    listener: NodeListener,
    _schema: Option<Schema>,
}

/// A PostgreSQL schema of its own, dropped at the end.
pub struct Schema {
    base_url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base_url, name) = (self.base_url.clone(), self.name.clone());
        // Best effort, on a runtime of its own: the test's runtime may be gone.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&base_url).await {
                        let _ = conn
                            .execute(format!("DROP SCHEMA IF EXISTS {name} CASCADE").as_str())
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// The backends to run against: SQLite always, PostgreSQL when configured.
pub async fn backends() -> Vec<(String, Option<Schema>)> {
    let mut backends = vec![("sqlite::memory:".to_owned(), None)];
    match std::env::var(URL_VAR) {
        Ok(base_url) => {
            let name = format!("node_link_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::connect(&base_url)
                .await
                .expect("PostgreSQL answers");
            conn.execute(format!("CREATE SCHEMA {name}").as_str())
                .await
                .expect("create test schema");
            let separator = if base_url.contains('?') { '&' } else { '?' };
            let url = format!("{base_url}{separator}options=-c%20search_path%3D{name}");
            backends.push((url, Some(Schema { base_url, name })));
        }
        Err(_) if std::env::var_os("CI").is_some() => panic!("{URL_VAR} must be set in CI"),
        Err(_) => eprintln!("note: {URL_VAR} is not set; PostgreSQL half skipped"),
    }
    backends
}

impl Jd {
    pub async fn start(url: String, schema: Option<Schema>) -> Self {
        let jd = JobDistributor::open(&url, &offchain_jd::csa::throwaway_secret())
            .await
            .expect("the JD opens");
        let listener = link::listen(&jd, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the node listener starts");
        Self {
            jd,
            listener,
            _schema: schema,
        }
    }

    pub fn public_key(&self) -> offchain_wsrpc::keys::PublicKey {
        self.jd.csa_keys().tls_identity().public_key()
    }

    pub async fn register(&self, node: u8) -> Node {
        self.jd
            .register_node(Request::new(api::RegisterNodeRequest {
                name: format!("node-{node}"),
                public_key: identity(node).public_key().to_hex(),
                ..Default::default()
            }))
            .await
            .expect("registered")
            .into_inner()
            .node
            .unwrap()
    }

    pub async fn get(&self, id: &str) -> Node {
        self.jd
            .get_node(Request::new(api::GetNodeRequest {
                id: id.to_owned(),
                ..Default::default()
            }))
            .await
            .expect("found")
            .into_inner()
            .node
            .unwrap()
    }

    pub async fn listed(&self, id: &str) -> Node {
        let nodes = self
            .jd
            .list_nodes(Request::new(api::ListNodesRequest::default()))
            .await
            .expect("listed")
            .into_inner()
            .nodes;
        nodes.into_iter().find(|n| n.id == id).expect("listed node")
    }

    pub async fn set_enabled(&self, id: &str, enabled: bool) {
        if enabled {
            let request = api::EnableNodeRequest { id: id.to_owned() };
            self.jd
                .enable_node(Request::new(request))
                .await
                .expect("enabled");
        } else {
            let request = api::DisableNodeRequest { id: id.to_owned() };
            self.jd
                .disable_node(Request::new(request))
                .await
                .expect("disabled");
        }
    }

    pub async fn dial(&self, node: u8) -> Result<Link, DialError> {
        self.dial_with(node, Router::new()).await
    }

    /// Links node `node` up, serving the JD's calls with `service`.
    pub async fn dial_with(&self, node: u8, service: Router) -> Result<Link, DialError> {
        let ws = self.dial_raw(node).await?;
        Ok(Link::spawn(ws, LinkConfig::node(), Arc::new(service)))
    }

    /// A linked WebSocket nobody reads: it never answers pings.
    pub async fn dial_raw(&self, node: u8) -> Result<dial::ClientLink, DialError> {
        let tls = tls::client_config(&identity(node), self.public_key()).unwrap();
        let address = self.listener.local_addr().to_string();
        dial::dial(&address, tls, &DialConfig::default()).await
    }

    /// Waits until the node's `is_connected` is `connected` in `GetNode` and `ListNodes`.
    pub async fn wait_connected(&self, id: &str, connected: bool) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            if self.get(id).await.is_connected == connected
                && self.listed(id).await.is_connected == connected
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "is_connected never became {connected}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn identity(n: u8) -> Identity {
    Identity::from_seed(&[n; 32]).unwrap()
}

pub const JOB_UUID: &str = "0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11";

/// The spec of a webhook job with [`JOB_UUID`].
pub fn webhook_spec() -> String {
    format!("type = \"webhook\"\nschemaVersion = 1\nexternalJobID = \"{JOB_UUID}\"\n")
}

/// Proposes a webhook job with [`JOB_UUID`] to `node_id`; returns the proposal id.
pub async fn propose(jd: &Jd, node_id: &str) -> String {
    use offchain_proto::job::job_service_server::JobService;
    let spec = webhook_spec();
    jd.jd
        .propose_job(Request::new(offchain_proto::job::ProposeJobRequest {
            node_id: node_id.to_owned(),
            spec,
            labels: Vec::new(),
        }))
        .await
        .expect("proposed")
        .into_inner()
        .proposal
        .unwrap()
        .id
}

pub async fn proposal(jd: &Jd, id: &str) -> offchain_proto::job::Proposal {
    use offchain_proto::job::job_service_server::JobService;
    jd.jd
        .get_proposal(Request::new(offchain_proto::job::GetProposalRequest {
            id: id.to_owned(),
        }))
        .await
        .expect("found")
        .into_inner()
        .proposal
        .unwrap()
}

//! Starting the network: the JD (SQLite, gRPC and node listener on 127.0.0.1), the nodes
//! (keys opened and registered at the JD before they dial, so no link is refused and
//! retried), the adapter; then waiting until every node's link is up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use offchain::proto::label::Label;
use offchain::proto::node::{ListNodesRequest, RegisterNodeRequest};
use offchain::{Client, Provider, RemoteConfig, RemoteProvider};
use offchain_jd::server::{self, RunningServer, ServeOptions, ServerConfig};
use offchain_node::api::ApiToken;
use offchain_node::bridges::{BridgeChanges, BridgeError, NewBridge};
use offchain_node::config::{
    ApiConfig, ApprovalConfig, ApprovalPolicy, JobDistributorConfig, NodeConfig,
};
use offchain_node::{Keystore, Node, NodePassword};
use tokio::task::JoinSet;

use super::adapter::{self, RunningAdapter};
use super::files;

/// How long the nodes get to link up before `up` gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the JD's live links are checked while waiting.
const CONNECT_POLL: Duration = Duration::from_millis(2);

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: u16,
    /// Absolute; for `--ephemeral` a temporary directory.
    pub data_dir: PathBuf,
    pub ephemeral: bool,
    pub jd_grpc_port: u16,
    pub jd_node_port: u16,
    pub api_port_base: Option<u16>,
}

/// One running node and what the table shows of it.
pub struct RunningNode {
    pub name: String,
    pub id: String,
    pub api_token: String,
    pub node: Node,
}

/// Everything `up` started.
pub struct Network {
    pub jd: RunningServer,
    pub jd_grpc: SocketAddr,
    pub jd_node_listen: SocketAddr,
    pub nodes: Vec<RunningNode>,
    pub adapter: RunningAdapter,
}

impl Network {
    /// Stops the nodes (their links close first), then the JD, then the adapter.
    pub async fn shutdown(self) -> Result<()> {
        let mut stopping = JoinSet::new();
        for running in self.nodes {
            stopping.spawn(running.node.shutdown());
        }
        while stopping.join_next().await.is_some() {}
        let jd = self.jd.shutdown().await;
        self.adapter.stop().await;
        jd.context("the JD did not stop cleanly")
    }
}

/// Gives `node` the bridge [`adapter::NAME`] to the adapter at `url`: created on the first
/// start, its URL updated on later ones (the adapter's port is a free one each time).
async fn ensure_bridge(node: &Node, url: &str) -> Result<()> {
    let bridges = node.bridges();
    let new = NewBridge {
        name: adapter::NAME.to_owned(),
        url: url.to_owned(),
        ..NewBridge::default()
    };
    match bridges.create(new).await {
        Ok(_) => Ok(()),
        Err(BridgeError::Duplicate(_)) => {
            let changes = BridgeChanges {
                url: Some(url.to_owned()),
                ..BridgeChanges::default()
            };
            bridges.update(adapter::NAME, changes).await?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// Starts everything and returns once every node is connected to the JD.
pub async fn start(options: &Options) -> Result<Network> {
    files::private_dir(&options.data_dir)?;
    let (jd, adapter) = tokio::join!(start_jd(options), adapter::start());
    let (jd, adapter) = (jd?, adapter?);
    let jd_grpc = jd.local_addr();
    let jd_node_listen = jd
        .node_addr()
        .ok_or_else(|| anyhow!("the JD opened no node listener"))?;
    let jd_key = jd.jd().csa_keys().public_key_hex();
    let client = RemoteProvider::new(RemoteConfig::new(format!("http://{jd_grpc}")))?
        .initialize()
        .await
        .context("cannot reach the embedded JD")?;

    let names: Vec<String> = (1..=options.nodes).map(|i| format!("node-{i}")).collect();
    let identities = open_identities(&options.data_dir, &names).await?;
    let ids = register(client.as_ref(), &identities).await?;

    let adapter_url = adapter.url();
    let mut starting = JoinSet::new();
    for (index, identity) in identities.into_iter().enumerate() {
        let listen = api_listen(options.api_port_base, index)?;
        let config = node_config(
            &identity,
            &options.data_dir,
            jd_node_listen,
            &jd_key,
            listen,
        )?;
        let adapter_url = adapter_url.clone();
        starting.spawn(async move {
            let node = async {
                let node = Node::start(
                    &config,
                    &identity.password,
                    ApiToken::new(&identity.api_token),
                )
                .await?;
                ensure_bridge(&node, &adapter_url).await?;
                anyhow::Ok(node)
            }
            .await
            .with_context(|| format!("{} does not start", identity.name));
            (index, identity, node)
        });
    }
    let mut nodes: Vec<Option<RunningNode>> = (0..names.len()).map(|_| None).collect();
    while let Some(started) = starting.join_next().await {
        let (index, identity, node) = started.context("a node's start task failed")?;
        let id = ids
            .get(&identity.csa_public_key)
            .cloned()
            .unwrap_or_default();
        nodes[index] = Some(RunningNode {
            name: identity.name,
            id,
            api_token: identity.api_token,
            node: node?,
        });
    }
    let nodes: Vec<RunningNode> = nodes.into_iter().flatten().collect();
    wait_connected(&jd, &nodes).await?;
    Ok(Network {
        jd,
        jd_grpc,
        jd_node_listen,
        nodes,
        adapter,
    })
}

async fn start_jd(options: &Options) -> Result<RunningServer> {
    let (database_url, csa_secret) = if options.ephemeral {
        (
            offchain_jd::store::SQLITE_MEMORY_URL.to_owned(),
            offchain_jd::csa::throwaway_secret(),
        )
    } else {
        // A secret from `throwaway_secret` is sealed with one PBKDF2 round: it is 256
        // random bits kept in a 0600 file, so stretching would only slow every start.
        let secret = files::secret_or(&options.data_dir.join("jd-csa-secret"), || {
            Ok(offchain_jd::csa::throwaway_secret())
        })?;
        let db = options.data_dir.join("jd.db");
        (format!("sqlite:{}", db.display()), secret)
    };
    let config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], options.jd_grpc_port)),
        database_url,
        csa_secret,
        auth: None,
    };
    let serve = ServeOptions {
        node_listen: Some(SocketAddr::from(([127, 0, 0, 1], options.jd_node_port))),
        ..ServeOptions::default()
    };
    server::start_with(config, serve)
        .await
        .context("the JD does not start")
}

/// A node's name, secrets and CSA key, known before it starts.
struct Identity {
    name: String,
    password: NodePassword,
    api_token: String,
    csa_public_key: String,
}

/// Opens (creating on first start) each node's keystore and secrets in
/// `data_dir/nodes/<name>`.
async fn open_identities(data_dir: &Path, names: &[String]) -> Result<Vec<Identity>> {
    let nodes_dir = data_dir.join("nodes");
    let names = names.to_vec();
    tokio::task::spawn_blocking(move || {
        names
            .into_iter()
            .map(|name| {
                let dir = nodes_dir.join(&name);
                files::private_dir(&dir)?;
                let secret = files::secret(&dir.join("password"))?;
                let password = NodePassword::generated(secret)
                    .with_context(|| format!("{}", dir.join("password").display()))?;
                let api_token = files::secret(&dir.join("api-token"))?;
                let keystore = Keystore::open_or_create(&dir, &password)?;
                Ok(Identity {
                    name,
                    password,
                    api_token,
                    csa_public_key: keystore.csa_public_key_hex(),
                })
            })
            .collect::<Result<Vec<_>>>()
    })
    .await
    .context("the keystore task failed")?
}

/// Registers every node not yet registered (same keys as a previous run: nothing to do)
/// with labels `env=local`, `node=<name>`; returns the JD's node id per CSA key.
async fn register(client: &dyn Client, identities: &[Identity]) -> Result<HashMap<String, String>> {
    let listed = client
        .list_nodes(ListNodesRequest::default())
        .await
        .context("cannot list the JD's nodes")?;
    let mut ids: HashMap<String, String> = listed
        .nodes
        .into_iter()
        .map(|node| (node.public_key, node.id))
        .collect();
    for identity in identities {
        if ids.contains_key(&identity.csa_public_key) {
            continue;
        }
        let registered = client
            .register_node(RegisterNodeRequest {
                name: identity.name.clone(),
                public_key: identity.csa_public_key.clone(),
                labels: vec![
                    Label::new("env", "local"),
                    Label::new("node", identity.name.as_str()),
                ],
            })
            .await
            .with_context(|| format!("cannot register {} at the JD", identity.name))?;
        let id = registered.node.map(|node| node.id).unwrap_or_default();
        ids.insert(identity.csa_public_key.clone(), id);
    }
    Ok(ids)
}

fn api_listen(base: Option<u16>, index: usize) -> Result<SocketAddr> {
    let port = match base {
        None => 0,
        Some(base) => u16::try_from(usize::from(base) + index)
            .ok()
            .filter(|_| base != 0)
            .ok_or_else(|| {
                crate::UsageError(format!(
                    "--api-port-base {base}: node {} would need a port above 65535 (or the \
                     base is 0)",
                    index + 1
                ))
            })?,
    };
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn node_config(
    identity: &Identity,
    data_dir: &Path,
    jd_node_listen: SocketAddr,
    jd_key: &str,
    listen: SocketAddr,
) -> Result<NodeConfig> {
    Ok(NodeConfig {
        name: identity
            .name
            .clone()
            .try_into()
            .map_err(text_error("node name"))?,
        data_dir: data_dir.join("nodes").join(&identity.name),
        job_distributors: vec![JobDistributorConfig {
            uri: jd_node_listen
                .to_string()
                .try_into()
                .map_err(text_error("the JD's node listener"))?,
            public_key: jd_key
                .to_owned()
                .try_into()
                .map_err(|error: &str| anyhow!("the JD's CSA key: {error}"))?,
        }],
        api: ApiConfig {
            listen,
            public_url: None,
        },
        approval: ApprovalConfig {
            policy: ApprovalPolicy::Auto,
        },
        chains: Vec::new(),
    })
}

fn text_error(what: &'static str) -> impl Fn(String) -> anyhow::Error {
    move |error| anyhow!("{what}: {error}")
}

/// Waits until the JD has a live link from every node.
async fn wait_connected(jd: &RunningServer, nodes: &[RunningNode]) -> Result<()> {
    let started = Instant::now();
    loop {
        let links = jd.jd().links();
        let waiting: Vec<&str> = nodes
            .iter()
            .filter(|n| !links.is_connected(n.node.csa_public_key()))
            .map(|n| n.name.as_str())
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= CONNECT_TIMEOUT {
            bail!(
                "not connected to the JD after {}s: {}",
                CONNECT_TIMEOUT.as_secs(),
                waiting.join(", ")
            );
        }
        tokio::time::sleep(CONNECT_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_ports_count_up_from_the_base_or_are_free_ones() {
        assert_eq!(api_listen(None, 7).unwrap().port(), 0);
        assert_eq!(api_listen(Some(6688), 0).unwrap().port(), 6688);
        assert_eq!(api_listen(Some(6688), 3).unwrap().port(), 6691);
        assert!(api_listen(Some(65535), 0).is_ok());
        let error = api_listen(Some(65535), 1).unwrap_err();
        assert!(error.is::<crate::UsageError>(), "{error}");
        assert!(error.to_string().contains("node 2"), "{error}");
        assert!(api_listen(Some(0), 0).is_err());
    }
}

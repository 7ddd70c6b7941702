//! A running node: [`Node::start`] opens the keystore and the proposal store in `data_dir`,
//! starts one [`JdLink`] per `[[job_distributors]]` and serves the approval HTTP API
//! ([`crate::api`]) on `[api] listen` until [`Node::shutdown`] (or drop).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use offchain_wsrpc::keys::PublicKey;
use offchain_wsrpc::tls::{Identity, TlsError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::NodeConfig;
use crate::api::{self, ApiToken};
use crate::bridges::{BridgeError, Registry};
use crate::jobs::{INTERRUPTED, JobError, Jobs, SWEEP_EVERY};
use crate::keystore::{Keystore, KeystoreError, NodePassword};
use crate::link::{JdLink, JdLinkSettings, LinkTimers, NodeFacts};
use crate::peer_id::PeerId;
use crate::store::{Store, StoreError};

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The keystore could not be opened or created (a wrong password among others).
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The keystore task panicked or was cancelled.
    #[error("the keystore task failed")]
    KeystoreTask,
    /// The proposal store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bridges could not be loaded.
    #[error("cannot load the bridges: {0}")]
    Bridges(#[from] BridgeError),
    /// The CSA key could not become a TLS identity.
    #[error("the CSA key cannot be used for TLS: {0}")]
    Tls(#[from] TlsError),
    /// The jobs could not be set up or started.
    #[error(transparent)]
    Jobs(#[from] JobError),
    /// `[api] listen` could not be bound.
    #[error("cannot listen on {address} ([api] listen): {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// A running node; dropping it stops its links and its API.
pub struct Node {
    api_address: SocketAddr,
    csa_public_key: String,
    p2p_peer_id: PeerId,
    store: Store,
    bridges: Registry,
    jobs: Jobs,
    links: Vec<JdLink>,
    api_stop: Option<oneshot::Sender<()>>,
    api_task: JoinHandle<()>,
    /// Fails suspended runs past their deadline, every [`SWEEP_EVERY`].
    sweep_task: JoinHandle<()>,
    sweep_stop: Option<oneshot::Sender<()>>,
    // Kept so the links' facts channel stays open for the node's lifetime.
    _facts: watch::Sender<NodeFacts>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("api_address", &self.api_address)
            .field("csa_public_key", &self.csa_public_key)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts the node described by `config`. `api_token` is the API's bearer token
    /// (`OFFCHAIN_NODE_API_TOKEN`, see [`ApiToken::from_env`]); without one the API serves
    /// loopback callers only. Must be called inside a Tokio runtime.
    pub async fn start(
        config: &NodeConfig,
        password: &NodePassword,
        api_token: Option<ApiToken>,
    ) -> Result<Node, NodeError> {
        // Deriving the sealing key is deliberately slow: keep it off the async workers.
        let (data_dir, sealing) = (config.data_dir.clone(), password.clone());
        let keystore =
            tokio::task::spawn_blocking(move || Keystore::open_or_create(&data_dir, &sealing))
                .await
                .map_err(|_| NodeError::KeystoreTask)??;
        let store = Store::open(&config.data_dir).await?;
        let bridges = Registry::load(store.clone()).await?;
        // Every approved job runs before the links can carry new decisions.
        // Bound before the jobs start: async bridge tasks' `responseURL` needs the port.
        let listener = tokio::net::TcpListener::bind(config.api.listen)
            .await
            .map_err(|source| NodeError::Listen {
                address: config.api.listen,
                source,
            })?;
        let api_address = listener.local_addr().map_err(|source| NodeError::Listen {
            address: config.api.listen,
            source,
        })?;
        let public_url = config
            .api
            .public_url
            .clone()
            .unwrap_or_else(|| default_public_url(api_address));
        let jobs = Jobs::new(store.clone(), Arc::new(bridges.clone()), public_url)?;
        let interrupted = store
            .fail_interrupted_resumes(INTERRUPTED)
            .await
            .map_err(JobError::from)?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "runs whose resumption the last stop interrupted failed"
            );
        }
        jobs.start_all().await?;
        let (sweep_stop, mut stopping) = oneshot::channel::<()>();
        let sweeping = jobs.clone();
        let sweep_task = tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // Stopping is only checked between sweeps: a sweep cut off between its
                // claim and its write would leave a run claimed.
                tokio::select! {
                    _ = every.tick() => {}
                    _ = &mut stopping => break,
                }
                if let Err(error) = sweeping.sweep().await {
                    tracing::error!(%error, "failing timed-out suspended runs");
                }
            }
        });
        let (facts_tx, facts_rx) = watch::channel(NodeFacts::new(config, &keystore));

        let pkcs8 = keystore
            .csa_key_pair()
            .to_pkcs8()
            .map_err(|_| TlsError::InvalidPrivateKey)?;
        let mut links = Vec::with_capacity(config.job_distributors.len());
        let mut handles = HashMap::new();
        for jd in &config.job_distributors {
            let jd_key = PublicKey::from_bytes(*jd.public_key.as_bytes());
            let link = JdLink::start(JdLinkSettings {
                node_name: config.name.as_str().to_owned(),
                uri: jd.uri.as_str().to_owned(),
                jd_key,
                identity: Identity::from_pkcs8(pkcs8.as_ref())?,
                policy: config.approval.policy,
                store: store.clone(),
                jobs: jobs.clone(),
                facts: facts_rx.clone(),
                timers: LinkTimers::default(),
            })?;
            handles.insert(jd_key.to_hex(), link.handle().clone());
            links.push(link);
        }

        let (api_stop, stopped) = oneshot::channel();
        let router = api::router(
            store.clone(),
            handles,
            bridges.clone(),
            api_token,
            jobs.clone(),
        );
        let api_task = tokio::spawn(async move {
            let serving = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serving.await {
                tracing::error!(%error, "the node API stopped");
            }
        });
        tracing::info!(api = %api_address, jds = links.len(), "node started");

        Ok(Node {
            api_address,
            csa_public_key: keystore.csa_public_key_hex(),
            p2p_peer_id: keystore.p2p_peer_id(),
            store,
            bridges,
            jobs,
            links,
            api_stop: Some(api_stop),
            api_task,
            sweep_task,
            sweep_stop: Some(sweep_stop),
            _facts: facts_tx,
        })
    }

    /// Where the API listens (the bound port when `[api] listen` asked for port 0).
    pub fn api_address(&self) -> SocketAddr {
        self.api_address
    }

    /// The node's CSA public key, hex.
    pub fn csa_public_key(&self) -> &str {
        &self.csa_public_key
    }

    /// The node's P2P peer id.
    pub fn p2p_peer_id(&self) -> &PeerId {
        &self.p2p_peer_id
    }

    /// The proposal store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The bridges (the job runner's `BridgeLookup`).
    pub fn bridges(&self) -> &Registry {
        &self.bridges
    }

    /// The running jobs.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The JD links, in configuration order.
    pub fn links(&self) -> &[JdLink] {
        &self.links
    }

    /// Stops the API (letting running requests finish), the links, and closes the store.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.api_stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.api_task).await;
        if let Some(stop) = self.sweep_stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.sweep_task).await;
        self.jobs.stop_all();
        self.links.clear();
        self.store.close().await;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.api_task.abort();
        self.sweep_task.abort();
        self.jobs.stop_all();
    }
}

/// `http://<listen address>`; a wildcard listen address (`0.0.0.0`, `::`) is no address to
/// call, so adapters get loopback with the bound port instead.
fn default_public_url(listen: SocketAddr) -> String {
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_public_url_is_the_bound_address_with_wildcards_as_loopback() {
        let url = |a: &str| default_public_url(a.parse().unwrap());
        assert_eq!(url("127.0.0.1:6688"), "http://127.0.0.1:6688");
        assert_eq!(url("0.0.0.0:7000"), "http://127.0.0.1:7000");
        assert_eq!(url("[::]:7000"), "http://[::1]:7000");
        assert_eq!(url("10.1.2.3:80"), "http://10.1.2.3:80");
    }
}

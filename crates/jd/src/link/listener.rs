//! The node listener: accepts node links and runs each one until it ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use offchain_wsrpc::accept::{self, AcceptConfig, Accepted, LinkRegistry};
use offchain_wsrpc::rpc::{Link, LinkConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::JobDistributor;
use crate::store::StoreError;

/// How long a stale link's probe waits for a pong before a reconnect replaces it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes of a link's WebSocket read buffer. tungstenite touches all of it on the first
/// read, so it is resident for every idle link; the node's answers are small (a larger
/// frame still arrives: the buffer grows for it). Half the wsrpc default: with 10 000
/// links this is what brings an idle link under 32 KiB of JD memory (fan-out bench).
const READ_BUFFER_SIZE: usize = 4 * 1024;
/// Handshaken links waiting to be started.
const ACCEPTED_QUEUE: usize = 64;

/// Why the node listener did not start.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The address could not be bound.
    #[error("cannot listen for nodes on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS configuration could not be built from the CSA key.
    #[error("cannot set up the node listener's TLS: {0}")]
    Tls(#[from] offchain_wsrpc::tls::TlsError),
    /// The registered nodes could not be loaded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The running node listener; dropping it stops accepting and closes every link.
#[derive(Debug)]
pub struct NodeListener {
    local_addr: SocketAddr,
    jd: JobDistributor,
    tasks: [JoinHandle<()>; 2],
}

impl NodeListener {
    /// The address nodes dial (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for NodeListener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.jd.links().close_all();
    }
}

/// Loads the enabled nodes' keys and listens for their links on `addr`.
pub async fn listen(jd: &JobDistributor, addr: SocketAddr) -> Result<NodeListener, LinkError> {
    let tls =
        offchain_wsrpc::tls::server_config(&jd.csa_keys().tls_identity(), jd.links().allowed())?;
    jd.links().allow_enabled(&jd.store().load_nodes().await?);
    jd.links().reopen();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| LinkError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| LinkError::Bind { addr, source })?;
    let (links, mut accepted) = mpsc::channel(ACCEPTED_QUEUE);
    let accepting = tokio::spawn(accept::serve(
        listener,
        TlsAcceptor::from(tls),
        LinkRegistry::new(PROBE_TIMEOUT),
        accept_config(),
        links,
    ));
    let running = {
        let jd = jd.clone();
        tokio::spawn(async move {
            while let Some(link) = accepted.recv().await {
                tokio::spawn(run_link(jd.clone(), link));
            }
        })
    };
    tracing::info!(%local_addr, "listening for nodes");
    Ok(NodeListener {
        local_addr,
        jd: jd.clone(),
        tasks: [accepting, running],
    })
}

/// The accept defaults with the link's WebSocket settings and a small read buffer
/// ([`READ_BUFFER_SIZE`]; tungstenite's default is 128 KiB per link, allocated up front):
/// the frame limit is the JD's.
fn accept_config() -> AcceptConfig {
    AcceptConfig {
        websocket: LinkConfig::jd()
            .websocket_config()
            .read_buffer_size(READ_BUFFER_SIZE),
        ..AcceptConfig::default()
    }
}

/// Serves one node's link until it ends or a newer link of the same key replaces it.
async fn run_link(jd: JobDistributor, accepted: Accepted<TcpStream>) {
    let Accepted {
        peer,
        websocket,
        mut guard,
        ..
    } = accepted;
    let node = match jd.node_by_public_key(&peer.to_hex()).await {
        Ok(Some(node)) if node.is_enabled => node,
        Ok(_) => {
            // Disabled or deleted between the handshake and now.
            tracing::debug!(public_key = %peer.to_hex(), "dropping the link of a node no longer allowed");
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot look up a connecting node: dropping its link");
            return;
        }
    };
    let service = super::feeds_manager::router(jd.clone(), node.id.clone());
    let link = Link::spawn(websocket, LinkConfig::jd(), Arc::new(service));
    let probed = link.clone();
    guard.set_probe(Arc::new(move || {
        let link = probed.clone();
        async move { link.probe(PROBE_TIMEOUT).await }
    }));
    let linked_at = crate::ids::now_micros();
    let id = jd.links().insert(peer, &node.id, link.clone());
    tracing::info!(node_id = %node.id, node = %node.name, "node link up");
    let pushing = {
        let (jd, node_id, link) = (jd.clone(), node.id.clone(), link.clone());
        tokio::spawn(async move {
            super::delivery::push_undelivered(&jd, &node_id, &link, linked_at).await
        })
    };
    let end = tokio::select! {
        end = link.ended() => end.to_string(),
        () = guard.replaced() => {
            link.close();
            "replaced by a newer link of the same key".to_owned()
        }
    };
    pushing.abort();
    jd.links().remove(&peer, id);
    tracing::info!(node_id = %node.id, node = %node.name, reason = %end, "node link down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_accepted_with_the_small_read_buffer_and_the_jd_frame_limit() {
        let websocket = accept_config().websocket;
        assert_eq!(websocket.read_buffer_size, READ_BUFFER_SIZE);
        assert_eq!(
            websocket.max_frame_size,
            Some(LinkConfig::JD_MAX_FRAME_SIZE)
        );
        assert_eq!(
            websocket.max_message_size,
            Some(LinkConfig::JD_MAX_FRAME_SIZE)
        );
    }
}

//! The node link manager: which node keys may connect, the live links by node, and the
//! listener nodes dial (`shared/spec/node-link.md`, "Transport" and "Behaviour").
//!
//! - [`NodeLinks`] (part of every [`JobDistributor`]) holds the allowed keys — the public
//!   keys of registered, enabled nodes — and the live links. The node service keeps it
//!   current where its writes succeed: a key that stops being allowed (node disabled, key
//!   changed) has its link closed at once. `is_connected` is read from it.
//! - [`listen`] opens the node listener (`listener.rs`): mutual TLS with the JD's CSA key,
//!   one link per key (a stale link is probed and replaced), and the `FeedsManager`
//!   service for each link (`feeds_manager.rs`: health, `UpdateNode`, the node's answers
//!   to proposals).
//! - [`health`] serves the plain-HTTP `GET /healthz` beside it.
//!
//! - `delivery` pushes proposals to linked nodes (on propose and when a link comes up)
//!   and forwards revoke/delete.
//!
//! - `runs` asks a linked node for a job's runs ([`JobDistributor::job_runs`], the node's
//!   `GetJobRuns`).

pub(crate) mod delivery;
mod feeds_manager;
pub mod health;
mod listener;
mod runs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use offchain_proto::node::Node;
use offchain_wsrpc::keys::{AllowedKeys, PublicKey};
use offchain_wsrpc::rpc::Link;

pub use listener::{LinkError, NodeListener, listen};
pub use runs::JobRunsError;

#[cfg(doc)]
use crate::JobDistributor;

/// The keys allowed to connect and the live links, by key.
#[derive(Debug, Default)]
pub struct NodeLinks {
    allowed: AllowedKeys,
    live: Mutex<Live>,
    next_id: AtomicU64,
}

/// The live links by key, and which key each linked node id has.
#[derive(Debug, Default)]
struct Live {
    by_key: HashMap<PublicKey, LiveLink>,
    by_node: HashMap<String, PublicKey>,
    /// Set by `close_all`: a link whose handshake finished meanwhile is closed when it is
    /// recorded, instead of outliving the listener.
    closed: bool,
}

#[derive(Debug)]
struct LiveLink {
    id: u64,
    node_id: String,
    link: Link,
}

impl NodeLinks {
    /// The keys allowed to connect (shared with the listener's TLS verifier).
    pub(crate) fn allowed(&self) -> AllowedKeys {
        self.allowed.clone()
    }

    /// Allows exactly the keys of the enabled nodes among `nodes`.
    pub(crate) fn allow_enabled(&self, nodes: &[Node]) {
        self.allowed.replace_all(
            nodes
                .iter()
                .filter(|node| node.is_enabled)
                .filter_map(|node| PublicKey::from_hex(&node.public_key).ok()),
        );
    }

    /// Whether the node with this (hex) public key has a link up.
    pub fn is_connected(&self, public_key: &str) -> bool {
        let Ok(key) = PublicKey::from_hex(public_key) else {
            return false;
        };
        self.lock()
            .by_key
            .get(&key)
            .is_some_and(|live| live.link.end().is_none())
    }

    /// The link of node `node_id`, while it is up.
    pub(crate) fn link_of_node(&self, node_id: &str) -> Option<Link> {
        let live = self.lock();
        let entry = live.by_key.get(live.by_node.get(node_id)?)?;
        entry.link.end().is_none().then(|| entry.link.clone())
    }

    /// How many links are up.
    pub fn connected_count(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Follows a node write that succeeded: `previous_key` is the node's key before it
    /// (when it may have changed). Allows the node's key while it is enabled; a key no
    /// longer allowed loses its link at once.
    pub(crate) fn node_changed(&self, previous_key: Option<&str>, node: &Node) {
        if let Some(previous) = previous_key
            && previous != node.public_key
        {
            self.forbid(previous);
        }
        if node.is_enabled {
            if let Ok(key) = PublicKey::from_hex(&node.public_key) {
                self.allowed.insert(key);
            }
        } else {
            self.forbid(&node.public_key);
        }
    }

    /// Removes `public_key` from the allowed set and closes its link.
    fn forbid(&self, public_key: &str) {
        let Ok(key) = PublicKey::from_hex(public_key) else {
            return;
        };
        self.allowed.remove(&key);
        if let Some(live) = self.lock().by_key.get(&key) {
            live.link.close();
        }
    }

    /// Records a new live link of `key` (node `node_id`); returns its id for
    /// [`NodeLinks::remove`]. When the key stopped being allowed meanwhile, the link is
    /// closed at once.
    fn insert(&self, key: PublicKey, node_id: &str, link: Link) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (old, closed) = {
            let mut live = self.lock();
            let closed = live.closed;
            live.by_node.insert(node_id.to_owned(), key);
            let old = live.by_key.insert(
                key,
                LiveLink {
                    id,
                    node_id: node_id.to_owned(),
                    link: link.clone(),
                },
            );
            (old, closed)
        };
        if let Some(old) = old {
            old.link.close();
        }
        // A disable (or the JD stopping) that ran between the handshake and the insert
        // found no link to close.
        if closed || !self.allowed.contains(&key) {
            link.close();
        }
        id
    }

    /// Forgets link `id` of `key` (a newer link of the key stays).
    fn remove(&self, key: &PublicKey, id: u64) {
        let mut live = self.lock();
        if live.by_key.get(key).is_some_and(|entry| entry.id == id)
            && let Some(entry) = live.by_key.remove(key)
            && live.by_node.get(&entry.node_id) == Some(key)
        {
            live.by_node.remove(&entry.node_id);
        }
    }

    /// Accepts links again after [`NodeLinks::close_all`] (a listener started anew).
    pub(crate) fn reopen(&self) {
        self.lock().closed = false;
    }

    /// Closes every link, and every link recorded from now on until
    /// [`NodeLinks::reopen`] (the JD is stopping).
    pub(crate) fn close_all(&self) {
        let mut live = self.lock();
        live.closed = true;
        for live in live.by_key.values() {
            live.link.close();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        // Every critical section is one map operation: carry on after a panic elsewhere.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use offchain_wsrpc::rpc::{Link, LinkConfig, Router};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::*;

    /// The JD's end of a link whose node end is kept open (returned beside it).
    async fn link() -> (Link, Link) {
        let (jd, node) = tokio::io::duplex(64 * 1024);
        let jd = WebSocketStream::from_raw_socket(jd, Role::Server, None).await;
        let node = WebSocketStream::from_raw_socket(node, Role::Client, None).await;
        let jd = Link::spawn(jd, LinkConfig::jd(), Arc::new(Router::new()));
        let node = Link::spawn(node, LinkConfig::node(), Arc::new(Router::new()));
        (jd, node)
    }

    /// Regression: a link that finished its handshake while the JD stopped was recorded
    /// after `close_all` and stayed up, serving a closed store (seen in the CLI's
    /// `node_run` test as endless "try again" answers to `UpdateNode`).
    #[tokio::test]
    async fn a_link_recorded_after_the_links_were_closed_is_closed_at_once() {
        let links = NodeLinks::default();
        let key = PublicKey::from_bytes([7; 32]);
        links.allowed.insert(key);
        links.close_all();

        let (jd, _node) = link().await;
        links.insert(key, "node_1", jd.clone());
        let ended = tokio::time::timeout(Duration::from_secs(5), jd.ended()).await;
        assert!(ended.is_ok(), "the link stayed up after close_all");
    }

    /// A listener started again on the same JD accepts links again.
    #[tokio::test]
    async fn reopening_accepts_links_again() {
        let links = NodeLinks::default();
        let key = PublicKey::from_bytes([8; 32]);
        links.allowed.insert(key);
        links.close_all();
        links.reopen();

        let (jd, _node) = link().await;
        links.insert(key, "node_1", jd.clone());
        let ended = tokio::time::timeout(Duration::from_millis(300), jd.ended()).await;
        assert!(ended.is_err(), "the link was closed: {:?}", ended);
    }
}

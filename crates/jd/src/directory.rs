//! An in-memory snapshot of every node, so `ListNodes` with selectors over thousands of
//! nodes costs one tiny query (the generation counter) plus a scan in memory.
//!
//! Every node write bumps a counter in the database in the same transaction; a snapshot
//! remembers the counter it was loaded at and is reloaded when the counter moved. This keeps
//! several JD replicas over one PostgreSQL database correct, not just one process.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use offchain_proto::node::Node;

use crate::store::{Store, StoreResult};

/// Every node at one generation, in creation order.
#[derive(Debug, Default)]
pub(crate) struct NodeSnapshot {
    generation: i64,
    pub(crate) nodes: Vec<Node>,
    by_id: HashMap<String, usize>,
    by_public_key: HashMap<String, usize>,
}

impl NodeSnapshot {
    fn new(generation: i64, nodes: Vec<Node>) -> Self {
        let by_id = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        let by_public_key = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.public_key.clone(), i))
            .collect();
        NodeSnapshot {
            generation,
            nodes,
            by_id,
            by_public_key,
        }
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Node> {
        self.by_id.get(id).map(|&i| &self.nodes[i])
    }

    pub(crate) fn by_public_key(&self, key: &str) -> Option<&Node> {
        self.by_public_key.get(key).map(|&i| &self.nodes[i])
    }
}

/// The current node snapshot, reloaded on demand.
#[derive(Debug)]
pub(crate) struct NodeDirectory {
    snapshot: RwLock<Arc<NodeSnapshot>>,
    reload: tokio::sync::Mutex<()>,
}

impl NodeDirectory {
    pub(crate) fn new() -> Self {
        let empty = NodeSnapshot {
            generation: -1,
            ..Default::default()
        };
        NodeDirectory {
            snapshot: RwLock::new(Arc::new(empty)),
            reload: Default::default(),
        }
    }

    fn cached(&self) -> Arc<NodeSnapshot> {
        match self.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A snapshot at least as new as the database's current generation.
    pub(crate) async fn current(&self, store: &Store) -> StoreResult<Arc<NodeSnapshot>> {
        let generation = store.nodes_generation().await?;
        let cached = self.cached();
        if cached.generation >= generation {
            return Ok(cached);
        }
        // One caller reloads; the others wait and take its result.
        let _reloading = self.reload.lock().await;
        let cached = self.cached();
        if cached.generation >= generation {
            return Ok(cached);
        }
        // Read the counter before the rows: the rows are then at least that new.
        let generation = store.nodes_generation().await?;
        let fresh = Arc::new(NodeSnapshot::new(generation, store.load_nodes().await?));
        match self.snapshot.write() {
            Ok(mut guard) => *guard = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        Ok(fresh)
    }
}

//! One link per key: the JD's registry of live links, and the stale-link check.
//!
//! A key that reconnects while its old link is registered gets the old link probed (a
//! WebSocket ping, provided by whoever runs the link as a [`Probe`]); if no answer comes
//! within the probe timeout (2 s by default) the old link is replaced — its guard learns it
//! through [`LinkGuard::replaced`] — instead of refusing the node until the old link's pong
//! deadline passes (`node-link.md`, "Liveness").

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::keys::PublicKey;

/// A boxed future, as [`Probe`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Checks whether a registered link still answers: resolves to true once it has (e.g. a
/// WebSocket pong to a ping just sent). The registry bounds the wait with its timeout, so a
/// probe may simply never resolve when the peer is gone.
pub trait Probe: Send + Sync {
    /// Starts the check.
    fn answers(&self) -> BoxFuture<'_, bool>;
}

impl<F, Fut> Probe for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = bool> + Send + 'static,
{
    fn answers(&self) -> BoxFuture<'_, bool> {
        Box::pin(self())
    }
}

/// The outcome of [`LinkRegistry::claim`].
#[derive(Debug)]
pub enum Claim {
    /// The key is this link's until the guard is dropped.
    Granted(LinkGuard),
    /// A live link holds the key: the upgrade is answered `200`.
    Busy,
}

/// The live links by key. Clones share one registry.
#[derive(Clone)]
pub struct LinkRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    links: Mutex<HashMap<PublicKey, Entry>>,
    probe_timeout: Duration,
    next_id: std::sync::atomic::AtomicU64,
}

struct Entry {
    id: u64,
    probe: Option<Arc<dyn Probe>>,
    replaced: watch::Sender<bool>,
}

impl Default for LinkRegistry {
    fn default() -> Self {
        Self::new(Duration::from_secs(2))
    }
}

impl LinkRegistry {
    /// An empty registry whose probes of old links wait `probe_timeout` for an answer.
    pub fn new(probe_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                links: Mutex::new(HashMap::new()),
                probe_timeout,
                next_id: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Claims `key` for a new link: granted when no link holds it, or when the link holding
    /// it has a probe that does not answer in time (that link is then told it was
    /// replaced). A link without a probe yet counts as alive.
    pub async fn claim(&self, key: PublicKey) -> Claim {
        let (holder, probe) = match self.try_insert(key, None) {
            Ok(guard) => return Claim::Granted(guard),
            Err(held) => held,
        };
        let Some(probe) = probe else {
            return Claim::Busy;
        };
        let answered = tokio::time::timeout(self.shared.probe_timeout, probe.answers())
            .await
            .unwrap_or(false);
        if answered {
            return Claim::Busy;
        }
        match self.try_insert(key, Some(holder)) {
            Ok(guard) => Claim::Granted(guard),
            // Another claimant replaced the stale link first.
            Err(_) => Claim::Busy,
        }
    }

    /// Whether a link holds `key`.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.lock().contains_key(key)
    }

    /// How many links are registered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no link is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a new link for `key` if the key is free, or held by the link `stale` (which
    /// is then told it was replaced). Otherwise yields the holder's id and probe.
    fn try_insert(
        &self,
        key: PublicKey,
        stale: Option<u64>,
    ) -> Result<LinkGuard, (u64, Option<Arc<dyn Probe>>)> {
        let mut links = self.lock();
        if let Some(entry) = links.get(&key) {
            if Some(entry.id) != stale {
                return Err((entry.id, entry.probe.clone()));
            }
            entry.replaced.send_replace(true);
        }
        let id = self
            .shared
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (replaced, replaced_rx) = watch::channel(false);
        links.insert(
            key,
            Entry {
                id,
                probe: None,
                replaced,
            },
        );
        Ok(LinkGuard {
            registry: self.clone(),
            key,
            id,
            replaced: replaced_rx,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PublicKey, Entry>> {
        // Every critical section leaves the map consistent: carry on after a panic.
        self.shared
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LinkRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRegistry")
            .field("links", &self.len())
            .finish_non_exhaustive()
    }
}

/// A link's hold on its key, released when dropped (when the link ends).
pub struct LinkGuard {
    registry: LinkRegistry,
    key: PublicKey,
    id: u64,
    replaced: watch::Receiver<bool>,
}

impl LinkGuard {
    /// The key held.
    pub fn key(&self) -> PublicKey {
        self.key
    }

    /// Sets how to check that this link is still alive when its key reconnects.
    pub fn set_probe(&self, probe: Arc<dyn Probe>) {
        if let Some(entry) = self.registry.lock().get_mut(&self.key)
            && entry.id == self.id
        {
            entry.probe = Some(probe);
        }
    }

    /// Whether a newer link of the same key has replaced this one.
    pub fn is_replaced(&self) -> bool {
        *self.replaced.borrow()
    }

    /// Resolves once a newer link of the same key has replaced this one: the link should
    /// then close.
    pub async fn replaced(&mut self) {
        // An error means the entry is gone without a replacement, i.e. never: wait forever.
        if self.replaced.wait_for(|replaced| *replaced).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let mut links = self.registry.lock();
        if links
            .get(&self.key)
            .is_some_and(|entry| entry.id == self.id)
        {
            links.remove(&self.key);
        }
    }
}

impl std::fmt::Debug for LinkGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkGuard")
            .field("key", &self.key)
            .field("replaced", &self.is_replaced())
            .finish()
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;

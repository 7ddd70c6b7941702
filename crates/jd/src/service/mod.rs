//! The operator API's behaviour: one [`JobDistributor`] implements the three gRPC services.
//!
//! The same value serves the network server and the in-memory provider of the client
//! library (which calls the service traits directly), so both behave identically.

mod csa;
pub(crate) mod delivery;
mod job;
pub mod limits;
mod node;

use std::sync::Arc;

use crate::csa::{CsaError, CsaKeys};
use crate::directory::NodeDirectory;
use crate::error::{ApiError, ApiResult};
use crate::link::NodeLinks;
use crate::store::{Store, StoreError};

/// Why a [`JobDistributor`] could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The CSA key could not be loaded or created.
    #[error(transparent)]
    Csa(#[from] CsaError),
}

/// The Job Distributor's state and behaviour; cheap to clone.
#[derive(Clone, Debug)]
pub struct JobDistributor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    nodes: NodeDirectory,
    csa: CsaKeys,
    links: NodeLinks,
}

impl JobDistributor {
    /// Opens the database at `database_url` and loads (or creates) the CSA key sealed with
    /// `csa_secret`.
    pub async fn open(database_url: &str, csa_secret: &str) -> Result<Self, OpenError> {
        let store = Store::open(database_url).await?;
        let csa = CsaKeys::load_or_create(&store, csa_secret).await?;
        Ok(Self::from_parts(store, csa))
    }

    /// A JD with a private in-memory SQLite database and a throw-away CSA secret.
    pub async fn in_memory() -> Result<Self, OpenError> {
        Self::open(
            crate::store::SQLITE_MEMORY_URL,
            &crate::csa::throwaway_secret(),
        )
        .await
    }

    /// Assembles a JD from an opened store and its keys.
    pub fn from_parts(store: Store, csa: CsaKeys) -> Self {
        JobDistributor {
            inner: Arc::new(Inner {
                store,
                nodes: NodeDirectory::new(),
                csa,
                links: NodeLinks::default(),
            }),
        }
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The JD's CSA keys.
    pub fn csa_keys(&self) -> &CsaKeys {
        &self.inner.csa
    }

    /// The node links: allowed keys and live links.
    pub fn links(&self) -> &NodeLinks {
        &self.inner.links
    }

    /// The registered node with this (lower-case hex) public key, from the node snapshot.
    pub(crate) async fn node_by_public_key(
        &self,
        public_key: &str,
    ) -> Result<Option<offchain_proto::node::Node>, StoreError> {
        let nodes = self.inner.nodes.current(&self.inner.store).await?;
        Ok(nodes.by_public_key(public_key).cloned())
    }

    /// `node` with `is_connected` filled from the live links (the store does not know it).
    fn with_connection(&self, mut node: offchain_proto::node::Node) -> offchain_proto::node::Node {
        node.is_connected = self.inner.links.is_connected(&node.public_key);
        node
    }
}

/// Fails with `INVALID_ARGUMENT "<what> must be provided"` when `value` is empty, and as
/// [`limits::text`] does.
fn required<'a>(value: &'a str, what: &str, max: usize) -> ApiResult<&'a str> {
    if value.trim().is_empty() {
        Err(ApiError::InvalidArgument(format!(
            "{what} must be provided"
        )))
    } else {
        limits::text(value, what, max)
    }
}

/// `text` as a canonical uuid (see [`crate::spec::canonical_uuid`]), or `INVALID_ARGUMENT`
/// naming `what`.
fn uuid_argument(text: &str, what: &str) -> ApiResult<String> {
    crate::spec::canonical_uuid(text)
        .ok_or_else(|| ApiError::InvalidArgument(format!("{what}: {} is not a UUID", shown(text))))
}

/// `text` quoted for an error message, cut short when long: messages stay readable whatever
/// a caller sent.
pub(crate) fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_values_are_present_and_bounded() {
        assert!(matches!(
            required(" ", "name", 10),
            Err(ApiError::InvalidArgument(m)) if m == "name must be provided"
        ));
        assert!(matches!(
            required("\0", "name", 10),
            Err(ApiError::InvalidArgument(_))
        ));
        assert_eq!(required("node_1", "id", 10).unwrap(), "node_1");
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        assert_eq!(shown("ab"), "\"ab\"");
        let long = "ノ".repeat(100);
        assert_eq!(shown(&long), format!("{:?}…", "ノ".repeat(80)));
    }
}

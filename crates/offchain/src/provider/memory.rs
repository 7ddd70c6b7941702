//! The JD's own service code over a private in-memory database: no network, no files.

use std::sync::Arc;

use async_trait::async_trait;
use offchain_jd::JobDistributor;
use offchain_proto::csa::csa_service_server::CsaService;
use offchain_proto::job::job_service_server::JobService;
use offchain_proto::node::node_service_server::NodeService;
use tokio::sync::OnceCell;

use super::{Provider, ProviderError};
use crate::Client;
use crate::client::{CallOptions, forward_client};

/// An in-process JD for unit tests of deployment scripts.
///
/// It is the server's own code (the same [`JobDistributor`]) over an in-memory SQLite
/// database, called directly instead of over the network: every answer, error code and
/// message is the server's.
///
/// ```
/// use offchain::{MemoryProvider, Provider};
/// use offchain::proto::node::ListNodesRequest;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = MemoryProvider::new();
/// let client = provider.initialize().await?;
/// let nodes = client.list_nodes(ListNodesRequest::default()).await?;
/// assert_eq!(nodes.total_count, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryProvider {
    jd: OnceCell<JobDistributor>,
    client: OnceCell<Arc<dyn Client>>,
}

impl MemoryProvider {
    /// A provider whose JD is created on [`Provider::initialize`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The JD behind the client, after [`Provider::initialize`]; tests use it to set up
    /// state no operator RPC can (such as chain configs reported by nodes).
    pub fn jd(&self) -> Option<&JobDistributor> {
        self.jd.get()
    }
}

#[async_trait]
impl Provider for MemoryProvider {
    fn name(&self) -> &str {
        "in-memory JD"
    }

    async fn initialize(&self) -> Result<Arc<dyn Client>, ProviderError> {
        let client = self
            .client
            .get_or_try_init(|| async {
                let jd = self
                    .jd
                    .get_or_try_init(JobDistributor::in_memory)
                    .await
                    .map_err(|e| ProviderError::Start(e.to_string()))?;
                let client = MemoryClient {
                    jd: jd.clone(),
                    options: CallOptions::default(),
                };
                Ok::<_, ProviderError>(Arc::new(client) as Arc<dyn Client>)
            })
            .await?;
        Ok(client.clone())
    }

    fn offchain_client(&self) -> Option<Arc<dyn Client>> {
        self.client.get().cloned()
    }
}

/// Calls the service traits of a [`JobDistributor`] directly.
///
/// Call options apply as over the network: the services see the metadata and the
/// `grpc-timeout` header, and a call past its deadline answers `DEADLINE_EXCEEDED` (the
/// JD's work for it is dropped at its next await point; a database write already sent
/// completes).
#[derive(Debug, Clone)]
struct MemoryClient {
    jd: JobDistributor,
    options: CallOptions,
}

forward_client!(MemoryClient, |this, message| {
    job: this.jd,
    node: this.jd,
    csa: this.jd,
    wrap: std::future::ready(Ok::<_, tonic::Status>(this.options.request(message)))
});

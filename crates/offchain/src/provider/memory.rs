//! The JD's own service code over a private in-memory database: no network, no files.

use std::sync::Arc;

use async_trait::async_trait;
use offchain_jd::JobDistributor;
use offchain_jd::server::operator_services;
use tokio::sync::OnceCell;
use tonic::service::Routes;

use super::remote::RemoteClient;
use super::{Provider, ProviderError};
use crate::Client;

/// An in-process JD for unit tests of deployment scripts.
///
/// It is the server's own code (the same [`JobDistributor`] behind the same generated gRPC
/// services) over an in-memory SQLite database, called in process instead of over the
/// network: every answer, error code and message is the server's. The client is the remote
/// one over those services, so call options behave as over the network (a call past its
/// deadline answers `DEADLINE_EXCEEDED`; the JD's work for it stops at its next await
/// point, and a database write already sent completes).
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
                let client = RemoteClient::from_service(in_process_services(jd), None);
                Ok::<_, ProviderError>(Arc::new(client) as Arc<dyn Client>)
            })
            .await?;
        Ok(client.clone())
    }

    fn offchain_client(&self) -> Option<Arc<dyn Client>> {
        self.client.get().cloned()
    }
}

/// The JD's three operator services and its delivery extension as one tower service, built as the JD's server builds
/// them (message limits included).
fn in_process_services(jd: &JobDistributor) -> Routes {
    let services = operator_services(jd);
    Routes::new(services.job)
        .add_service(services.node)
        .add_service(services.csa)
        .add_service(services.delivery)
}

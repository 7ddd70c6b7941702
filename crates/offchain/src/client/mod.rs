//! The [`Client`] trait: every operator RPC of the Job Distributor as one async method, and
//! [`CallOptions`], the per-call deadline and metadata.

mod options;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use offchain_proto::csa::*;
use offchain_proto::job::*;
use offchain_proto::node::*;
use tonic::Status;

pub(crate) use options::within_deadline;
pub use options::{CallOptions, InvalidMetadata};

/// Result of a [`Client`] call: the response, or the gRPC status the JD answered with.
pub type ClientResult<T> = Result<T, Status>;

/// The Job Distributor's operator API: the job, node and CSA services.
///
/// Object safe, so scripts hold an `Arc<dyn Client>` whichever provider made it. Every
/// implementation (remote, in-memory, dry-run) answers with the same status codes.
///
/// Per-call control goes through [`with_options`](Client::with_options): the client it
/// returns sends every call with a deadline and extra metadata.
///
/// ```
/// # use std::time::Duration;
/// # use offchain::{CallOptions, Client};
/// # use offchain::proto::node::ListNodesRequest;
/// # async fn run(client: &dyn Client) -> Result<(), Box<dyn std::error::Error>> {
/// let options = CallOptions::new()
///     .with_timeout(Duration::from_secs(2))
///     .with_metadata("x-request-id", "deploy-42")?;
/// let nodes = client.with_options(options).list_nodes(ListNodesRequest::default()).await?;
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Client: Send + Sync {
    /// A client like this one whose calls also carry `options` (merged over the options
    /// this client has: later metadata values and a later deadline win).
    ///
    /// A call that outlives its deadline answers `DEADLINE_EXCEEDED`; remote calls also send
    /// the deadline to the JD (`grpc-timeout`).
    fn with_options(&self, options: CallOptions) -> Arc<dyn Client>;

    /// Shorthand for [`with_options`](Client::with_options) with only a deadline.
    fn with_timeout(&self, timeout: Duration) -> Arc<dyn Client> {
        self.with_options(CallOptions::new().with_timeout(timeout))
    }

    // --- JobService ---
    /// One job by id (or, deprecated, by uuid).
    async fn get_job(&self, request: GetJobRequest) -> ClientResult<GetJobResponse>;
    /// One proposal by id.
    async fn get_proposal(&self, request: GetProposalRequest) -> ClientResult<GetProposalResponse>;
    /// Jobs matching a filter.
    async fn list_jobs(&self, request: ListJobsRequest) -> ClientResult<ListJobsResponse>;
    /// Proposals matching a filter.
    async fn list_proposals(
        &self,
        request: ListProposalsRequest,
    ) -> ClientResult<ListProposalsResponse>;
    /// Proposes a spec to one node.
    async fn propose_job(&self, request: ProposeJobRequest) -> ClientResult<ProposeJobResponse>;
    /// Proposes a spec to several nodes, each independently.
    async fn batch_propose_job(
        &self,
        request: BatchProposeJobRequest,
    ) -> ClientResult<BatchProposeJobResponse>;
    /// Revokes a job's latest proposal.
    async fn revoke_job(&self, request: RevokeJobRequest) -> ClientResult<RevokeJobResponse>;
    /// Soft-deletes a job.
    async fn delete_job(&self, request: DeleteJobRequest) -> ClientResult<DeleteJobResponse>;
    /// Changes a job's labels or rollback policy.
    async fn update_job(&self, request: UpdateJobRequest) -> ClientResult<UpdateJobResponse>;

    // --- NodeService ---
    /// Disables a node.
    async fn disable_node(&self, request: DisableNodeRequest) -> ClientResult<DisableNodeResponse>;
    /// Enables a node.
    async fn enable_node(&self, request: EnableNodeRequest) -> ClientResult<EnableNodeResponse>;
    /// One node by id or public key.
    async fn get_node(&self, request: GetNodeRequest) -> ClientResult<GetNodeResponse>;
    /// Nodes matching a filter, paged.
    async fn list_nodes(&self, request: ListNodesRequest) -> ClientResult<ListNodesResponse>;
    /// Chain configs reported by nodes.
    async fn list_node_chain_configs(
        &self,
        request: ListNodeChainConfigsRequest,
    ) -> ClientResult<ListNodeChainConfigsResponse>;
    /// Registers a node.
    async fn register_node(
        &self,
        request: RegisterNodeRequest,
    ) -> ClientResult<RegisterNodeResponse>;
    /// Changes a node's name, key or labels.
    async fn update_node(&self, request: UpdateNodeRequest) -> ClientResult<UpdateNodeResponse>;

    // --- CSAService ---
    /// The JD's active CSA keypair.
    async fn get_keypair(&self, request: GetKeypairRequest) -> ClientResult<GetKeypairResponse>;
    /// Every CSA keypair of the JD.
    async fn list_keypairs(
        &self,
        request: ListKeypairsRequest,
    ) -> ClientResult<ListKeypairsResponse>;
}

/// Implements [`Client`] by forwarding each method to `$job`, `$node` or `$csa` (expressions
/// over `self`) with the request wrapped by `$wrap` (an async expression over `self` and the
/// request that yields a `tonic::Request`), within the deadline of `self.options`, and
/// `with_options` by cloning `self` with merged options. Used by the remote and in-memory
/// clients, whose targets have methods of the same names.
macro_rules! forward_client {
    ($ty:ty, |$this:ident, $req:ident| { job: $job:expr, node: $node:expr, csa: $csa:expr, wrap: $wrap:expr }) => {
        forward_client!(@impl $ty, $this, $req, $job, $node, $csa, $wrap,
            job: get_job(offchain_proto::job::GetJobRequest) -> offchain_proto::job::GetJobResponse,
            job: get_proposal(offchain_proto::job::GetProposalRequest) -> offchain_proto::job::GetProposalResponse,
            job: list_jobs(offchain_proto::job::ListJobsRequest) -> offchain_proto::job::ListJobsResponse,
            job: list_proposals(offchain_proto::job::ListProposalsRequest) -> offchain_proto::job::ListProposalsResponse,
            job: propose_job(offchain_proto::job::ProposeJobRequest) -> offchain_proto::job::ProposeJobResponse,
            job: batch_propose_job(offchain_proto::job::BatchProposeJobRequest) -> offchain_proto::job::BatchProposeJobResponse,
            job: revoke_job(offchain_proto::job::RevokeJobRequest) -> offchain_proto::job::RevokeJobResponse,
            job: delete_job(offchain_proto::job::DeleteJobRequest) -> offchain_proto::job::DeleteJobResponse,
            job: update_job(offchain_proto::job::UpdateJobRequest) -> offchain_proto::job::UpdateJobResponse,
            node: disable_node(offchain_proto::node::DisableNodeRequest) -> offchain_proto::node::DisableNodeResponse,
            node: enable_node(offchain_proto::node::EnableNodeRequest) -> offchain_proto::node::EnableNodeResponse,
            node: get_node(offchain_proto::node::GetNodeRequest) -> offchain_proto::node::GetNodeResponse,
            node: list_nodes(offchain_proto::node::ListNodesRequest) -> offchain_proto::node::ListNodesResponse,
            node: list_node_chain_configs(offchain_proto::node::ListNodeChainConfigsRequest) -> offchain_proto::node::ListNodeChainConfigsResponse,
            node: register_node(offchain_proto::node::RegisterNodeRequest) -> offchain_proto::node::RegisterNodeResponse,
            node: update_node(offchain_proto::node::UpdateNodeRequest) -> offchain_proto::node::UpdateNodeResponse,
            csa: get_keypair(offchain_proto::csa::GetKeypairRequest) -> offchain_proto::csa::GetKeypairResponse,
            csa: list_keypairs(offchain_proto::csa::ListKeypairsRequest) -> offchain_proto::csa::ListKeypairsResponse,
        );
    };
    (@impl $ty:ty, $this:ident, $req:ident, $job:expr, $node:expr, $csa:expr, $wrap:expr,
        $($service:ident: $method:ident($request:ty) -> $response:ty,)*) => {
        #[async_trait::async_trait]
        impl $crate::client::Client for $ty {
            fn with_options(
                &self,
                options: $crate::client::CallOptions,
            ) -> std::sync::Arc<dyn $crate::client::Client> {
                let mut client = self.clone();
                client.options = self.options.merged(options);
                std::sync::Arc::new(client)
            }

            $(
                async fn $method(&self, $req: $request) -> $crate::client::ClientResult<$response> {
                    let $this = self;
                    $crate::client::within_deadline($this.options.timeout, async move {
                        let request = $wrap.await?;
                        forward_client!(@target $service, $job, $node, $csa)
                            .$method(request)
                            .await
                            .map(tonic::Response::into_inner)
                    })
                    .await
                }
            )*
        }
    };
    (@target job, $job:expr, $node:expr, $csa:expr) => { $job };
    (@target node, $job:expr, $node:expr, $csa:expr) => { $node };
    (@target csa, $job:expr, $node:expr, $csa:expr) => { $csa };
}

pub(crate) use forward_client;

impl std::fmt::Debug for dyn Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Client")
    }
}

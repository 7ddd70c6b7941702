//! The [`Client`] trait: every operator RPC of the Job Distributor as one async method, and
//! [`CallOptions`], the per-call deadline and metadata.

mod options;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use offchain_proto::csa::*;
use offchain_proto::delivery::{
    GetProposalDeliveryRequest, GetProposalDeliveryResponse, ListProposalDeliveriesRequest,
    ListProposalDeliveriesResponse,
};
use offchain_proto::job::*;
use offchain_proto::node::*;
use tonic::Status;

pub(crate) use options::within_deadline;
pub use options::{CallOptions, InvalidMetadata};

/// Result of a [`Client`] call: the response, or the gRPC status the JD answered with.
pub type ClientResult<T> = Result<T, Status>;

/// The Job Distributor's operator API: the job, node and CSA services, plus our delivery
/// extension (`offchain.jd.v1`, default methods answering `UNIMPLEMENTED`).
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

    // --- offchain.jd.v1.ProposalDeliveryService (our extension, not the reference API) ---
    /// What became of one proposal on its way to its node: delivery status, the node's
    /// error text when it refused the proposal, its refusal of a revoke/delete.
    ///
    /// An existing JD without the extension answers `UNIMPLEMENTED`, as does this default
    /// for clients that do not reach one.
    async fn get_proposal_delivery(
        &self,
        request: GetProposalDeliveryRequest,
    ) -> ClientResult<GetProposalDeliveryResponse> {
        let _ = request;
        Err(Status::unimplemented(NO_DELIVERY_EXTENSION))
    }
    /// The deliveries of several proposals (at most 1000 ids) or of one job's proposals;
    /// `UNIMPLEMENTED` as [`get_proposal_delivery`](Client::get_proposal_delivery) says.
    async fn list_proposal_deliveries(
        &self,
        request: ListProposalDeliveriesRequest,
    ) -> ClientResult<ListProposalDeliveriesResponse> {
        let _ = request;
        Err(Status::unimplemented(NO_DELIVERY_EXTENSION))
    }
}

/// The default answer of the delivery extension's methods.
const NO_DELIVERY_EXTENSION: &str = "this client does not reach the JD's delivery extension";

impl std::fmt::Debug for dyn Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Client")
    }
}

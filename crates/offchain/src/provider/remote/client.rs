//! [`RemoteClient`]: the [`Client`](crate::Client) over a gRPC channel, or over any tower
//! service a caller builds on one.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use offchain_proto::csa::csa_service_client::CsaServiceClient;
use offchain_proto::csa::*;
use offchain_proto::delivery::proposal_delivery_service_client::ProposalDeliveryServiceClient;
use offchain_proto::delivery::{
    GetProposalDeliveryRequest, GetProposalDeliveryResponse, ListProposalDeliveriesRequest,
    ListProposalDeliveriesResponse,
};
use offchain_proto::job::job_service_client::JobServiceClient;
use offchain_proto::job::*;
use offchain_proto::node::node_service_client::NodeServiceClient;
use offchain_proto::node::*;
use tonic::body::Body;
use tonic::codegen::{Body as HttpBody, Bytes, StdError};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tower::util::BoxCloneSyncService;

use crate::auth::TokenSource;
use crate::client::{CallOptions, Client, ClientResult, within_deadline};
// Long node and job lists and big batches' answers exceed gRPC's 4 MiB default.
use crate::limits::MAX_MESSAGE_SIZE;

/// The transport under the generated clients: a channel, maybe with the caller's layers.
///
/// Its errors are already statuses (as tonic would make them: `UNAVAILABLE` for a failed
/// connection, ...): with a boxed `dyn Error` the client futures trip a compiler limit on
/// higher-ranked lifetimes when checked for `Send`.
type GrpcTransport = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Status>;

/// A [`Client`](crate::Client) over a gRPC channel.
///
/// [`RemoteProvider`](crate::RemoteProvider) makes one from a
/// [`RemoteConfig`](crate::RemoteConfig); build one yourself to put tower layers (retries,
/// load balancing over JD replicas, tracing) between the client and the channel:
///
/// ```no_run
/// use offchain::{RemoteClient, RemoteConfig};
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let channel = RemoteConfig::new("http://127.0.0.1:14231").tonic_endpoint()?.connect_lazy();
/// let traced = tower::ServiceBuilder::new()
///     .map_request(|request: http::Request<tonic::body::Body>| {
///         println!("calling {}", request.uri().path());
///         request
///     })
///     .service(channel);
/// let client = RemoteClient::from_service(traced, None);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteClient {
    job: JobServiceClient<GrpcTransport>,
    node: NodeServiceClient<GrpcTransport>,
    csa: CsaServiceClient<GrpcTransport>,
    delivery: ProposalDeliveryServiceClient<GrpcTransport>,
    token_source: Option<Arc<dyn TokenSource>>,
    options: CallOptions,
}

impl RemoteClient {
    /// A client over an established `channel`.
    pub fn new(channel: Channel, token_source: Option<Arc<dyn TokenSource>>) -> Self {
        Self::from_service(channel, token_source)
    }

    /// A client over any tower service that speaks gRPC over HTTP/2, typically a
    /// [`Channel`] wrapped in layers.
    pub fn from_service<S, B>(service: S, token_source: Option<Arc<dyn TokenSource>>) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<StdError>,
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<StdError>,
    {
        let service = tower::ServiceBuilder::new()
            .map_err(|error: S::Error| Status::from_error(error.into()))
            .map_response(|response: http::Response<B>| response.map(Body::new))
            .service(service);
        let transport = GrpcTransport::new(service);
        RemoteClient {
            job: JobServiceClient::new(transport.clone())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            node: NodeServiceClient::new(transport.clone())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            csa: CsaServiceClient::new(transport.clone()),
            delivery: ProposalDeliveryServiceClient::new(transport)
                .max_decoding_message_size(MAX_MESSAGE_SIZE),
            token_source,
            options: CallOptions::default(),
        }
    }

    /// `message` with the call options and the bearer token.
    async fn request<T>(&self, message: T) -> Result<Request<T>, Status> {
        let mut request = self.options.request(message);
        if let Some(source) = &self.token_source {
            let token = source
                .token()
                .await
                .map_err(|e| Status::unauthenticated(crate::error_chain(&e)))?;
            let value = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
                Status::invalid_argument(
                    "the operator token has characters not allowed in a header",
                )
            })?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

impl fmt::Debug for RemoteClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteClient")
            .field("token_source", &self.token_source)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Implements [`Client`] for [`RemoteClient`]: each method wraps its message with the call
/// options and the token and sends it on the service client it belongs to (`job`, `node`,
/// `csa` or `delivery`), within the call's deadline.
macro_rules! client_rpcs {
    ($($service:ident: $method:ident($request:ty) -> $response:ty;)*) => {
        #[async_trait]
        impl Client for RemoteClient {
            fn with_options(&self, options: CallOptions) -> Arc<dyn Client> {
                let mut client = self.clone();
                client.options = self.options.merged(options);
                Arc::new(client)
            }

            $(
                async fn $method(&self, message: $request) -> ClientResult<$response> {
                    within_deadline(self.options.timeout, async move {
                        let request = self.request(message).await?;
                        self.$service
                            .clone()
                            .$method(request)
                            .await
                            .map(tonic::Response::into_inner)
                    })
                    .await
                }
            )*
        }
    };
}

client_rpcs! {
    job: get_job(GetJobRequest) -> GetJobResponse;
    job: get_proposal(GetProposalRequest) -> GetProposalResponse;
    job: list_jobs(ListJobsRequest) -> ListJobsResponse;
    job: list_proposals(ListProposalsRequest) -> ListProposalsResponse;
    job: propose_job(ProposeJobRequest) -> ProposeJobResponse;
    job: batch_propose_job(BatchProposeJobRequest) -> BatchProposeJobResponse;
    job: revoke_job(RevokeJobRequest) -> RevokeJobResponse;
    job: delete_job(DeleteJobRequest) -> DeleteJobResponse;
    job: update_job(UpdateJobRequest) -> UpdateJobResponse;
    node: disable_node(DisableNodeRequest) -> DisableNodeResponse;
    node: enable_node(EnableNodeRequest) -> EnableNodeResponse;
    node: get_node(GetNodeRequest) -> GetNodeResponse;
    node: list_nodes(ListNodesRequest) -> ListNodesResponse;
    node: list_node_chain_configs(ListNodeChainConfigsRequest) -> ListNodeChainConfigsResponse;
    node: register_node(RegisterNodeRequest) -> RegisterNodeResponse;
    node: update_node(UpdateNodeRequest) -> UpdateNodeResponse;
    csa: get_keypair(GetKeypairRequest) -> GetKeypairResponse;
    csa: list_keypairs(ListKeypairsRequest) -> ListKeypairsResponse;
    delivery: get_proposal_delivery(GetProposalDeliveryRequest) -> GetProposalDeliveryResponse;
    delivery: list_proposal_deliveries(ListProposalDeliveriesRequest)
        -> ListProposalDeliveriesResponse;
}

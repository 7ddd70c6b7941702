//! Wire compatibility: the JD is called the way an independent client would call it.
//!
//! Nothing here uses the server's generated message types on the client side. The messages
//! below are written by hand from the tables of `shared/spec/jd-api.md` (field numbers,
//! types, `optional`, oneofs, maps), and every call goes through `tonic::client::Grpc` with
//! an explicit method path. If our `.proto` files drifted from the contract (a renumbered
//! field, a renamed package or method), these tests would fail even though the server and
//! our own client library would still agree with each other.

use std::collections::HashMap;

use offchain_jd::auth::{TokenHashes, hash_token};
use offchain_jd::server::{RunningServer, ServerConfig, start};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// The operator API's messages, hand-written from `jd-api.md`.
mod wire {
    use std::collections::HashMap;

    use prost_types::Timestamp;

    // ---- api.label ----

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, optional, tag = "2")]
        pub value: Option<String>,
    }

    impl Label {
        pub fn kv(key: &str, value: &str) -> Self {
            Label {
                key: key.into(),
                value: Some(value.into()),
            }
        }
        pub fn flag(key: &str) -> Self {
            Label {
                key: key.into(),
                value: None,
            }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum SelectorOp {
        Eq = 0,
        NotEq = 1,
        In = 2,
        NotIn = 3,
        Exist = 4,
        NotExist = 5,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Selector {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(enumeration = "SelectorOp", tag = "2")]
        pub op: i32,
        #[prost(string, optional, tag = "3")]
        pub value: Option<String>,
    }

    // ---- api.csa.v1 ----

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetKeypairRequest {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetKeypairResponse {
        #[prost(message, optional, tag = "1")]
        pub keypair: Option<Keypair>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListKeypairsRequest {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListKeypairsResponse {
        #[prost(message, repeated, tag = "1")]
        pub keypairs: Vec<Keypair>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Keypair {
        #[prost(int64, tag = "1")]
        pub id: i64,
        #[prost(string, tag = "2")]
        pub public_key: String,
        #[prost(message, optional, tag = "3")]
        pub created_at: Option<Timestamp>,
    }

    // ---- api.node.v1 ----

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct P2pKeyBundle {
        #[prost(string, tag = "1")]
        pub peer_id: String,
        #[prost(string, tag = "2")]
        pub public_key: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Node {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(string, tag = "3")]
        pub public_key: String,
        #[prost(bool, tag = "4")]
        pub is_enabled: bool,
        #[prost(bool, tag = "5")]
        pub is_connected: bool,
        #[prost(message, repeated, tag = "6")]
        pub labels: Vec<Label>,
        #[prost(message, optional, tag = "7")]
        pub created_at: Option<Timestamp>,
        #[prost(message, optional, tag = "8")]
        pub updated_at: Option<Timestamp>,
        #[prost(string, optional, tag = "9")]
        pub workflow_key: Option<String>,
        #[prost(message, repeated, tag = "10")]
        pub p2p_key_bundles: Vec<P2pKeyBundle>,
        #[prost(string, tag = "13")]
        pub nop_friendly_name: String,
        #[prost(string, tag = "14")]
        pub version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RegisterNodeRequest {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub public_key: String,
        #[prost(message, repeated, tag = "3")]
        pub labels: Vec<Label>,
    }

    /// What a newer client might send: the known fields plus some this server has never
    /// heard of (a scalar, a nested message, a packed repeated varint).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RegisterNodeRequestFromTheFuture {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub public_key: String,
        #[prost(message, repeated, tag = "3")]
        pub labels: Vec<Label>,
        #[prost(string, tag = "40")]
        pub region_hint: String,
        #[prost(message, optional, tag = "41")]
        pub extra: Option<Label>,
        #[prost(int64, repeated, tag = "1000")]
        pub future_numbers: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RegisterNodeResponse {
        #[prost(message, optional, tag = "1")]
        pub node: Option<Node>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetNodeRequest {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, optional, tag = "2")]
        pub public_key: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetNodeResponse {
        #[prost(message, optional, tag = "1")]
        pub node: Option<Node>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DisableNodeRequest {
        #[prost(string, tag = "1")]
        pub id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DisableNodeResponse {
        #[prost(message, optional, tag = "1")]
        pub node: Option<Node>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum EnableState {
        Unspecified = 0,
        Enabled = 1,
        Disabled = 2,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListNodesFilter {
        #[prost(string, repeated, tag = "1")]
        pub ids: Vec<String>,
        #[prost(enumeration = "EnableState", tag = "2")]
        pub enabled: i32,
        #[prost(message, repeated, tag = "3")]
        pub selectors: Vec<Selector>,
        #[prost(string, repeated, tag = "4")]
        pub public_keys: Vec<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListNodesRequest {
        #[prost(message, optional, tag = "1")]
        pub filter: Option<ListNodesFilter>,
        #[prost(int32, tag = "2")]
        pub page_size: i32,
        #[prost(int32, tag = "3")]
        pub page: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListNodesResponse {
        #[prost(message, repeated, tag = "1")]
        pub nodes: Vec<Node>,
        #[prost(int32, tag = "2")]
        pub total_count: i32,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ChainType {
        Unspecified = 0,
        Evm = 1,
        Solana = 2,
        Starknet = 3,
        Aptos = 4,
        Tron = 5,
        Ton = 6,
        Sui = 7,
        Stellar = 8,
        Canton = 9,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Chain {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(enumeration = "ChainType", tag = "2")]
        pub r#type: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct FluxMonitorConfig {
        #[prost(bool, tag = "1")]
        pub enabled: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Plugins {
        #[prost(bool, tag = "1")]
        pub commit: bool,
        #[prost(bool, tag = "2")]
        pub execute: bool,
        #[prost(bool, tag = "3")]
        pub median: bool,
        #[prost(bool, tag = "4")]
        pub mercury: bool,
        #[prost(bool, tag = "5")]
        pub rebalancer: bool,
    }

    /// OCR2Config, with only the fields the tests look at (the rest are skipped as unknown).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ocr2Config {
        #[prost(bool, tag = "1")]
        pub enabled: bool,
        #[prost(bool, tag = "2")]
        pub is_bootstrap: bool,
        #[prost(string, tag = "5")]
        pub multiaddr: String,
        #[prost(message, optional, tag = "6")]
        pub plugins: Option<Plugins>,
        #[prost(string, optional, tag = "7")]
        pub forwarder_address: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ChainConfig {
        #[prost(message, optional, tag = "1")]
        pub chain: Option<Chain>,
        #[prost(string, tag = "2")]
        pub account_address: String,
        #[prost(string, tag = "3")]
        pub admin_address: String,
        #[prost(message, optional, tag = "4")]
        pub flux_monitor_config: Option<FluxMonitorConfig>,
        #[prost(message, optional, tag = "6")]
        pub ocr2_config: Option<Ocr2Config>,
        #[prost(string, optional, tag = "7")]
        pub account_address_public_key: Option<String>,
        #[prost(string, tag = "8")]
        pub node_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListNodeChainConfigsFilter {
        #[prost(string, repeated, tag = "1")]
        pub node_ids: Vec<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListNodeChainConfigsRequest {
        #[prost(message, optional, tag = "1")]
        pub filter: Option<ListNodeChainConfigsFilter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListNodeChainConfigsResponse {
        #[prost(message, repeated, tag = "1")]
        pub chain_configs: Vec<ChainConfig>,
    }

    // ---- api.job.v1 ----

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ProposalStatus {
        Unspecified = 0,
        Proposed = 1,
        Approved = 2,
        Rejected = 3,
        Cancelled = 4,
        Pending = 5,
        Revoked = 6,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ProposalDeliveryStatus {
        Unspecified = 0,
        Delivered = 1,
        Acknowledged = 2,
        Failed = 3,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Job {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub uuid: String,
        #[prost(string, tag = "3")]
        pub node_id: String,
        #[prost(string, repeated, tag = "4")]
        pub proposal_ids: Vec<String>,
        #[prost(message, optional, tag = "5")]
        pub created_at: Option<Timestamp>,
        #[prost(message, optional, tag = "6")]
        pub updated_at: Option<Timestamp>,
        #[prost(message, optional, tag = "7")]
        pub deleted_at: Option<Timestamp>,
        #[prost(message, repeated, tag = "8")]
        pub labels: Vec<Label>,
        #[prost(int64, optional, tag = "9")]
        pub rollback_policy_id: Option<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Proposal {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(int64, tag = "2")]
        pub revision: i64,
        #[prost(enumeration = "ProposalStatus", tag = "3")]
        pub status: i32,
        #[prost(enumeration = "ProposalDeliveryStatus", tag = "4")]
        pub delivery_status: i32,
        #[prost(string, tag = "5")]
        pub spec: String,
        #[prost(string, tag = "6")]
        pub job_id: String,
        #[prost(message, optional, tag = "7")]
        pub created_at: Option<Timestamp>,
        #[prost(message, optional, tag = "8")]
        pub updated_at: Option<Timestamp>,
        #[prost(message, optional, tag = "9")]
        pub acked_at: Option<Timestamp>,
        #[prost(message, optional, tag = "10")]
        pub response_received_at: Option<Timestamp>,
    }

    /// The `id_oneof` of GetJob, RevokeJob, DeleteJob and UpdateJob (same numbers in all).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum IdOneof {
        #[prost(string, tag = "1")]
        Id(String),
        #[prost(string, tag = "2")]
        Uuid(String),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetJobRequest {
        #[prost(oneof = "IdOneof", tags = "1, 2")]
        pub id_oneof: Option<IdOneof>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetJobResponse {
        #[prost(message, optional, tag = "1")]
        pub job: Option<Job>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListJobsFilter {
        #[prost(string, repeated, tag = "1")]
        pub ids: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub node_ids: Vec<String>,
        #[prost(message, repeated, tag = "3")]
        pub selectors: Vec<Selector>,
        #[prost(string, repeated, tag = "4")]
        pub uuids: Vec<String>,
        #[prost(bool, tag = "5")]
        pub include_deleted: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListJobsRequest {
        #[prost(message, optional, tag = "1")]
        pub filter: Option<ListJobsFilter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListJobsResponse {
        #[prost(message, repeated, tag = "1")]
        pub jobs: Vec<Job>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListProposalsFilter {
        #[prost(string, repeated, tag = "1")]
        pub ids: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub job_ids: Vec<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListProposalsRequest {
        #[prost(message, optional, tag = "1")]
        pub filter: Option<ListProposalsFilter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListProposalsResponse {
        #[prost(message, repeated, tag = "1")]
        pub proposals: Vec<Proposal>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ProposeJobRequest {
        #[prost(string, tag = "1")]
        pub node_id: String,
        #[prost(string, tag = "2")]
        pub spec: String,
        #[prost(message, repeated, tag = "3")]
        pub labels: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ProposeJobResponse {
        #[prost(message, optional, tag = "1")]
        pub proposal: Option<Proposal>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BatchProposeJobRequest {
        #[prost(string, repeated, tag = "1")]
        pub node_ids: Vec<String>,
        #[prost(string, tag = "2")]
        pub spec: String,
        #[prost(message, repeated, tag = "3")]
        pub labels: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ProposeJobFailure {
        #[prost(string, tag = "1")]
        pub error_message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BatchProposeJobResponse {
        #[prost(map = "string, message", tag = "1")]
        pub success_responses: HashMap<String, ProposeJobResponse>,
        #[prost(map = "string, message", tag = "2")]
        pub failed_responses: HashMap<String, ProposeJobFailure>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RevokeJobRequest {
        #[prost(oneof = "IdOneof", tags = "1, 2")]
        pub id_oneof: Option<IdOneof>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RevokeJobResponse {
        #[prost(message, optional, tag = "1")]
        pub proposal: Option<Proposal>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DeleteJobRequest {
        #[prost(oneof = "IdOneof", tags = "1, 2")]
        pub id_oneof: Option<IdOneof>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DeleteJobResponse {
        #[prost(message, optional, tag = "1")]
        pub job: Option<Job>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UpdateJobRequest {
        #[prost(oneof = "IdOneof", tags = "1, 2")]
        pub id_oneof: Option<IdOneof>,
        #[prost(message, repeated, tag = "3")]
        pub labels: Vec<Label>,
        #[prost(int64, optional, tag = "4")]
        pub rollback_policy_id: Option<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UpdateJobResponse {
        #[prost(message, optional, tag = "1")]
        pub job: Option<Job>,
    }
}

use wire::*;

const JOB_UUID: &str = "5f0e1d2c-3b4a-4958-8776-a5b4c3d2e1f0";

fn spec(uuid: &str) -> String {
    format!("type = \"webhook\"\nschemaVersion = 1\nexternalJobID = \"{uuid}\"\n")
}

fn key(i: u32) -> String {
    format!("{:064x}", 0xabc0_0000_u64 + u64::from(i))
}

async fn server(auth: Option<TokenHashes>) -> (RunningServer, Channel) {
    let server = start(ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: "sqlite::memory:".into(),
        // In memory: a throw-away secret, which skips the slow key derivation.
        csa_secret: offchain_jd::csa::throwaway_secret(),
        auth,
    })
    .await
    .expect("server starts");
    let channel = Endpoint::from_shared(format!("http://{}", server.local_addr()))
        .unwrap()
        .connect()
        .await
        .expect("connects");
    (server, channel)
}

/// One unary call on `path`, encoded and decoded with prost from the hand-written types.
async fn call_as<Req, Resp>(
    channel: &Channel,
    path: &'static str,
    message: Req,
    token: Option<&str>,
) -> Result<Resp, Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
    let mut request = Request::new(message);
    if let Some(token) = token {
        let value = MetadataValue::try_from(format!("Bearer {token}")).unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    grpc.unary(request, PathAndQuery::from_static(path), codec)
        .await
        .map(|response| response.into_inner())
}

async fn call<Req, Resp>(
    channel: &Channel,
    path: &'static str,
    message: Req,
) -> Result<Resp, Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    call_as(channel, path, message, None).await
}

async fn register(channel: &Channel, name: &str, public_key: &str, labels: Vec<Label>) -> Node {
    let request = RegisterNodeRequest {
        name: name.into(),
        public_key: public_key.into(),
        labels,
    };
    let response: RegisterNodeResponse =
        call(channel, "/api.node.v1.NodeService/RegisterNode", request)
            .await
            .expect("RegisterNode");
    response.node.expect("RegisterNodeResponse.node")
}

async fn list_nodes(channel: &Channel, request: ListNodesRequest) -> ListNodesResponse {
    call(channel, "/api.node.v1.NodeService/ListNodes", request)
        .await
        .expect("ListNodes")
}

fn selector(key: &str, op: SelectorOp, value: Option<&str>) -> Selector {
    Selector {
        key: key.into(),
        op: op as i32,
        value: value.map(Into::into),
    }
}

fn names(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().map(|n| n.name.as_str()).collect()
}

#[tokio::test]
async fn nodes_register_list_and_get_through_hand_written_messages() {
    let (_server, channel) = server(None).await;

    // n0..n5: env alternates prod/test, region eu/us/ap, n1 and n4 carry a value-less flag.
    let envs = ["prod", "test", "prod", "prod", "test", "prod"];
    let regions = ["eu", "eu", "us", "eu", "ap", "eu"];
    let mut nodes = Vec::new();
    for i in 0..6u32 {
        let mut labels = vec![
            Label::kv("env", envs[i as usize]),
            Label::kv("region", regions[i as usize]),
        ];
        if i == 1 || i == 4 {
            labels.push(Label::flag("bootstrap"));
        }
        let node = register(&channel, &format!("n{i}"), &key(i), labels.clone()).await;
        assert!(node.id.starts_with("node_"), "{}", node.id);
        assert_eq!(node.name, format!("n{i}"));
        assert_eq!(node.public_key, key(i));
        assert!(node.is_enabled, "new nodes are enabled");
        assert!(!node.is_connected, "new nodes are not connected");
        assert_eq!(node.labels, labels, "labels, including a value-less flag");
        assert!(node.created_at.is_some() && node.updated_at.is_some());
        nodes.push(node);
    }

    // Everything, in creation order.
    let all = list_nodes(&channel, ListNodesRequest::default()).await;
    assert_eq!(all.total_count, 6);
    assert_eq!(names(&all.nodes), ["n0", "n1", "n2", "n3", "n4", "n5"]);
    assert_eq!(
        all.nodes[1], nodes[1],
        "a listed node equals the registered one"
    );

    // Two selectors ANDed: env=prod and region in (eu, ap) -> n0, n3, n5.
    let filter = ListNodesFilter {
        selectors: vec![
            selector("env", SelectorOp::Eq, Some("prod")),
            selector("region", SelectorOp::In, Some("eu, ap")),
        ],
        ..Default::default()
    };
    let page = |page_size, page| ListNodesRequest {
        filter: Some(filter.clone()),
        page_size,
        page,
    };
    let first = list_nodes(&channel, page(2, 1)).await;
    assert_eq!(
        first.total_count, 3,
        "total_count counts matches before paging"
    );
    assert_eq!(names(&first.nodes), ["n0", "n3"]);
    let second = list_nodes(&channel, page(2, 2)).await;
    assert_eq!(second.total_count, 3);
    assert_eq!(names(&second.nodes), ["n5"]);
    let beyond = list_nodes(&channel, page(2, 3)).await;
    assert_eq!((beyond.total_count, beyond.nodes.len()), (3, 0));
    let page_zero_is_one = list_nodes(&channel, page(2, 0)).await;
    assert_eq!(names(&page_zero_is_one.nodes), ["n0", "n3"]);

    // EXIST / NOT_EXIST on a flag, NOT_IN, and the other filter fields.
    let flagged = ListNodesRequest {
        filter: Some(ListNodesFilter {
            selectors: vec![selector("bootstrap", SelectorOp::Exist, None)],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        names(&list_nodes(&channel, flagged).await.nodes),
        ["n1", "n4"]
    );
    let unflagged_not_eu = ListNodesRequest {
        filter: Some(ListNodesFilter {
            selectors: vec![
                selector("bootstrap", SelectorOp::NotExist, None),
                selector("region", SelectorOp::NotIn, Some("eu")),
            ],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        names(&list_nodes(&channel, unflagged_not_eu).await.nodes),
        ["n2"]
    );
    let by_ids_and_keys = ListNodesRequest {
        filter: Some(ListNodesFilter {
            ids: vec![
                nodes[0].id.clone(),
                nodes[2].id.clone(),
                nodes[3].id.clone(),
            ],
            public_keys: vec![key(2), key(3), key(5)],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        names(&list_nodes(&channel, by_ids_and_keys).await.nodes),
        ["n2", "n3"]
    );

    // The enabled filter (field 2, an enum) after disabling n2.
    let disabled: DisableNodeResponse = call(
        &channel,
        "/api.node.v1.NodeService/DisableNode",
        DisableNodeRequest {
            id: nodes[2].id.clone(),
        },
    )
    .await
    .unwrap();
    assert!(!disabled.node.unwrap().is_enabled);
    let only_disabled = ListNodesRequest {
        filter: Some(ListNodesFilter {
            enabled: EnableState::Disabled as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        names(&list_nodes(&channel, only_disabled).await.nodes),
        ["n2"]
    );

    // GetNode by id (field 1) and by public key (optional field 2).
    let by_id: GetNodeResponse = call(
        &channel,
        "/api.node.v1.NodeService/GetNode",
        GetNodeRequest {
            id: nodes[3].id.clone(),
            public_key: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(by_id.node.as_ref(), Some(&nodes[3]));
    let by_key: GetNodeResponse = call(
        &channel,
        "/api.node.v1.NodeService/GetNode",
        GetNodeRequest {
            id: String::new(),
            public_key: Some(key(4)),
        },
    )
    .await
    .unwrap();
    assert_eq!(by_key.node.map(|n| n.name), Some("n4".to_string()));
    let missing = call::<_, GetNodeResponse>(
        &channel,
        "/api.node.v1.NodeService/GetNode",
        GetNodeRequest {
            id: "node_nope".into(),
            public_key: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn node_fields_9_10_13_14_and_chain_configs_decode_at_their_numbers() {
    use offchain_proto::node as gen_node;

    let (server, channel) = server(None).await;
    let registered = register(&channel, "plain", &key(1), vec![]).await;

    // Fields a node reports over its link (not settable by RegisterNode) are put in the
    // store directly; the wire read below must find them at the contract's numbers.
    let reported = gen_node::Node {
        id: "node_reported".into(),
        name: "reported".into(),
        public_key: key(2),
        is_enabled: true,
        workflow_key: Some("wf-key".into()),
        p2p_key_bundles: vec![gen_node::P2pKeyBundle {
            peer_id: "12D3KooWpeer".into(),
            public_key: "p2p-pub".into(),
        }],
        nop_friendly_name: "Friendly NOP".into(),
        version: "2.19.0".into(),
        created_at: Some(offchain_proto::timestamp_from_micros(1_700_000_000_000_000)),
        updated_at: Some(offchain_proto::timestamp_from_micros(1_700_000_000_000_000)),
        ..Default::default()
    };
    server.jd().store().insert_node(&reported).await.unwrap();

    let got: GetNodeResponse = call(
        &channel,
        "/api.node.v1.NodeService/GetNode",
        GetNodeRequest {
            id: "node_reported".into(),
            public_key: None,
        },
    )
    .await
    .unwrap();
    let node = got.node.unwrap();
    assert_eq!(node.workflow_key.as_deref(), Some("wf-key"));
    assert_eq!(
        node.p2p_key_bundles,
        [P2pKeyBundle {
            peer_id: "12D3KooWpeer".into(),
            public_key: "p2p-pub".into()
        }]
    );
    assert_eq!(node.nop_friendly_name, "Friendly NOP");
    assert_eq!(node.version, "2.19.0");
    assert_eq!(node.created_at.map(|t| t.seconds), Some(1_700_000_000));

    let chain_config = gen_node::ChainConfig {
        chain: Some(gen_node::Chain {
            id: "11155111".into(),
            r#type: gen_node::ChainType::Evm as i32,
        }),
        account_address: "0xaccount".into(),
        admin_address: "0xadmin".into(),
        flux_monitor_config: Some(gen_node::FluxMonitorConfig { enabled: true }),
        account_address_public_key: Some("acct-pub".into()),
        ..Default::default()
    };
    server
        .jd()
        .store()
        .replace_chain_configs("node_reported", &[chain_config])
        .await
        .unwrap();

    let request = |ids: Vec<String>| ListNodeChainConfigsRequest {
        filter: Some(ListNodeChainConfigsFilter { node_ids: ids }),
    };
    let listed: ListNodeChainConfigsResponse = call(
        &channel,
        "/api.node.v1.NodeService/ListNodeChainConfigs",
        request(vec!["node_reported".into()]),
    )
    .await
    .unwrap();
    assert_eq!(listed.chain_configs.len(), 1);
    let config = &listed.chain_configs[0];
    assert_eq!(
        config.chain,
        Some(Chain {
            id: "11155111".into(),
            r#type: ChainType::Evm as i32
        })
    );
    assert_eq!(config.account_address, "0xaccount");
    assert_eq!(config.admin_address, "0xadmin");
    assert_eq!(
        config.flux_monitor_config,
        Some(FluxMonitorConfig { enabled: true })
    );
    assert_eq!(
        config.account_address_public_key.as_deref(),
        Some("acct-pub")
    );
    assert_eq!(
        config.node_id, "node_reported",
        "each config carries its node id"
    );

    let other: ListNodeChainConfigsResponse = call(
        &channel,
        "/api.node.v1.NodeService/ListNodeChainConfigs",
        request(vec![registered.id]),
    )
    .await
    .unwrap();
    assert!(other.chain_configs.is_empty(), "filtered by node_ids");
}

#[tokio::test]
async fn jobs_propose_get_batch_update_and_revoke() {
    let (_server, channel) = server(None).await;
    let a = register(&channel, "a", &key(1), vec![]).await;
    let b = register(&channel, "b", &key(2), vec![]).await;
    let c = register(&channel, "c", &key(3), vec![]).await;
    let spec_text = spec(JOB_UUID);

    // ProposeJob: a new job, revision 1, PROPOSED, not yet delivered.
    let propose = |node: &Node, labels: Vec<Label>| ProposeJobRequest {
        node_id: node.id.clone(),
        spec: spec_text.clone(),
        labels,
    };
    let first: ProposeJobResponse = call(
        &channel,
        "/api.job.v1.JobService/ProposeJob",
        propose(&a, vec![Label::kv("product", "feeds")]),
    )
    .await
    .unwrap();
    let first = first.proposal.unwrap();
    assert!(first.id.starts_with("prop_"), "{}", first.id);
    assert!(first.job_id.starts_with("job_"), "{}", first.job_id);
    assert_eq!(first.revision, 1);
    assert_eq!(first.status, ProposalStatus::Proposed as i32);
    assert_eq!(
        first.delivery_status,
        ProposalDeliveryStatus::Unspecified as i32
    );
    assert_eq!(first.spec, spec_text, "the spec is stored verbatim");
    assert!(first.created_at.is_some() && first.updated_at.is_some());
    assert_eq!((first.acked_at, first.response_received_at), (None, None));

    // The same uuid on the same node: a new revision of the same job.
    let second: ProposeJobResponse = call(
        &channel,
        "/api.job.v1.JobService/ProposeJob",
        propose(&a, vec![]),
    )
    .await
    .unwrap();
    let second = second.proposal.unwrap();
    assert_eq!((second.revision, &second.job_id), (2, &first.job_id));
    assert_ne!(second.id, first.id);

    // GetJob through both arms of the oneof.
    let by_id: GetJobResponse = call(
        &channel,
        "/api.job.v1.JobService/GetJob",
        GetJobRequest {
            id_oneof: Some(IdOneof::Id(first.job_id.clone())),
        },
    )
    .await
    .unwrap();
    let job = by_id.job.unwrap();
    assert_eq!(job.id, first.job_id);
    assert_eq!(
        job.uuid, JOB_UUID,
        "a job's uuid is the spec's externalJobID"
    );
    assert_eq!(job.node_id, a.id);
    assert_eq!(job.proposal_ids, [first.id.clone(), second.id.clone()]);
    assert_eq!(job.labels, [Label::kv("product", "feeds")]);
    assert_eq!((job.deleted_at, job.rollback_policy_id), (None, None));
    let by_uuid: GetJobResponse = call(
        &channel,
        "/api.job.v1.JobService/GetJob",
        GetJobRequest {
            id_oneof: Some(IdOneof::Uuid(JOB_UUID.into())),
        },
    )
    .await
    .unwrap();
    assert_eq!(by_uuid.job.as_ref(), Some(&job));
    let no_id = call::<_, GetJobResponse>(
        &channel,
        "/api.job.v1.JobService/GetJob",
        GetJobRequest { id_oneof: None },
    )
    .await
    .unwrap_err();
    assert_eq!(no_id.code(), Code::InvalidArgument);

    // UpdateJob sets rollback_policy_id (request field 4, Job field 9).
    let updated: UpdateJobResponse = call(
        &channel,
        "/api.job.v1.JobService/UpdateJob",
        UpdateJobRequest {
            id_oneof: Some(IdOneof::Id(job.id.clone())),
            labels: vec![],
            rollback_policy_id: Some(7),
        },
    )
    .await
    .unwrap();
    let updated = updated.job.unwrap();
    assert_eq!(updated.rollback_policy_id, Some(7));
    assert_eq!(updated.labels, job.labels, "no labels given: labels kept");

    // BatchProposeJob: both maps keyed by node id; one bad node does not abort the rest.
    let batch_spec = spec("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    let batch: BatchProposeJobResponse = call(
        &channel,
        "/api.job.v1.JobService/BatchProposeJob",
        BatchProposeJobRequest {
            node_ids: vec![b.id.clone(), "node_missing".into(), c.id.clone()],
            spec: batch_spec.clone(),
            labels: vec![Label::flag("batch")],
        },
    )
    .await
    .unwrap();
    let mut succeeded: Vec<&String> = batch.success_responses.keys().collect();
    succeeded.sort();
    let mut expected = vec![&b.id, &c.id];
    expected.sort();
    assert_eq!(succeeded, expected);
    for (node_id, response) in &batch.success_responses {
        let proposal = response.proposal.as_ref().unwrap();
        assert_eq!(
            (proposal.revision, &proposal.spec),
            (1, &batch_spec),
            "{node_id}"
        );
    }
    assert_eq!(batch.failed_responses.len(), 1);
    let failure = &batch.failed_responses["node_missing"];
    assert!(
        failure.error_message.contains("node_missing"),
        "{}",
        failure.error_message
    );
    let job_of_b = &batch.success_responses[&b.id]
        .proposal
        .as_ref()
        .unwrap()
        .job_id;

    // ListJobs with a selector on the job labels and ListProposals by job id.
    let listed: ListJobsResponse = call(
        &channel,
        "/api.job.v1.JobService/ListJobs",
        ListJobsRequest {
            filter: Some(ListJobsFilter {
                selectors: vec![selector("batch", SelectorOp::Exist, None)],
                ..Default::default()
            }),
        },
    )
    .await
    .unwrap();
    let mut listed_nodes: Vec<&String> = listed.jobs.iter().map(|j| &j.node_id).collect();
    listed_nodes.sort();
    assert_eq!(listed_nodes, expected);
    let proposals: ListProposalsResponse = call(
        &channel,
        "/api.job.v1.JobService/ListProposals",
        ListProposalsRequest {
            filter: Some(ListProposalsFilter {
                ids: vec![],
                job_ids: vec![first.job_id.clone()],
            }),
        },
    )
    .await
    .unwrap();
    let revisions: Vec<i64> = proposals.proposals.iter().map(|p| p.revision).collect();
    assert_eq!(revisions, [1, 2]);

    // RevokeJob revokes the latest revision only; a second revoke is refused.
    let revoked: RevokeJobResponse = call(
        &channel,
        "/api.job.v1.JobService/RevokeJob",
        RevokeJobRequest {
            id_oneof: Some(IdOneof::Id(first.job_id.clone())),
        },
    )
    .await
    .unwrap();
    let revoked = revoked.proposal.unwrap();
    assert_eq!(
        (revoked.id.as_str(), revoked.revision),
        (second.id.as_str(), 2)
    );
    assert_eq!(revoked.status, ProposalStatus::Revoked as i32);
    let again = call::<_, RevokeJobResponse>(
        &channel,
        "/api.job.v1.JobService/RevokeJob",
        RevokeJobRequest {
            id_oneof: Some(IdOneof::Id(first.job_id.clone())),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let proposals: ListProposalsResponse = call(
        &channel,
        "/api.job.v1.JobService/ListProposals",
        ListProposalsRequest {
            filter: Some(ListProposalsFilter {
                ids: vec![first.id.clone()],
                job_ids: vec![],
            }),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        proposals.proposals[0].status,
        ProposalStatus::Proposed as i32,
        "older revisions are untouched"
    );

    // DeleteJob sets deleted_at (field 7); ListJobs hides it unless include_deleted (5).
    let deleted: DeleteJobResponse = call(
        &channel,
        "/api.job.v1.JobService/DeleteJob",
        DeleteJobRequest {
            id_oneof: Some(IdOneof::Id(job_of_b.clone())),
        },
    )
    .await
    .unwrap();
    assert!(deleted.job.unwrap().deleted_at.is_some());
    let of_b = |include_deleted| ListJobsRequest {
        filter: Some(ListJobsFilter {
            node_ids: vec![b.id.clone()],
            include_deleted,
            ..Default::default()
        }),
    };
    let hidden: ListJobsResponse = call(&channel, "/api.job.v1.JobService/ListJobs", of_b(false))
        .await
        .unwrap();
    assert!(hidden.jobs.is_empty());
    let shown: ListJobsResponse = call(&channel, "/api.job.v1.JobService/ListJobs", of_b(true))
        .await
        .unwrap();
    assert_eq!(shown.jobs.len(), 1);
}

#[tokio::test]
async fn csa_keypair_is_served() {
    let (server, channel) = server(None).await;
    let expected = server.jd().csa_keys().public_key_hex();

    let response: GetKeypairResponse = call(
        &channel,
        "/api.csa.v1.CSAService/GetKeypair",
        GetKeypairRequest {},
    )
    .await
    .unwrap();
    let keypair = response.keypair.unwrap();
    assert_eq!(keypair.id, 1, "ids count from 1");
    assert_eq!(keypair.public_key, expected);
    assert_eq!(keypair.public_key.len(), 64);
    assert!(
        keypair
            .public_key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "lower-case hex: {}",
        keypair.public_key
    );
    assert!(keypair.created_at.is_some());

    let all: ListKeypairsResponse = call(
        &channel,
        "/api.csa.v1.CSAService/ListKeypairs",
        ListKeypairsRequest {},
    )
    .await
    .unwrap();
    assert_eq!(all.keypairs, [keypair]);
}

#[tokio::test]
async fn fields_unknown_to_the_server_are_ignored() {
    let (_server, channel) = server(None).await;
    let request = RegisterNodeRequestFromTheFuture {
        name: "newer-client".into(),
        public_key: key(9),
        labels: vec![Label::kv("env", "prod")],
        region_hint: "eu-west".into(),
        extra: Some(Label::kv("nested", "message")),
        future_numbers: vec![1, 2, 3],
    };
    // Make sure the unknown fields really are on the wire.
    let encoded = prost::Message::encode_to_vec(&request);
    let known_only = prost::Message::encode_to_vec(&RegisterNodeRequest {
        name: request.name.clone(),
        public_key: request.public_key.clone(),
        labels: request.labels.clone(),
    });
    assert!(encoded.len() > known_only.len());

    let response: RegisterNodeResponse =
        call(&channel, "/api.node.v1.NodeService/RegisterNode", request)
            .await
            .expect("unknown fields must not fail the call");
    let node = response.node.unwrap();
    assert_eq!(node.name, "newer-client");
    assert_eq!(node.public_key, key(9));
    assert_eq!(node.labels, [Label::kv("env", "prod")]);

    // An older client that does not know some response fields still decodes the rest.
    #[derive(Clone, PartialEq, prost::Message)]
    struct OldNode {
        #[prost(string, tag = "1")]
        id: String,
        #[prost(string, tag = "2")]
        name: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct OldGetNodeResponse {
        #[prost(message, optional, tag = "1")]
        node: Option<OldNode>,
    }
    let old: OldGetNodeResponse = call(
        &channel,
        "/api.node.v1.NodeService/GetNode",
        GetNodeRequest {
            id: node.id.clone(),
            public_key: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        old.node,
        Some(OldNode {
            id: node.id,
            name: "newer-client".into()
        })
    );
}

#[tokio::test]
async fn bearer_token_is_required_when_auth_is_configured() {
    let hashes = TokenHashes::from_list(&hash_token("t"), "test").unwrap();
    let (_server, channel) = server(Some(hashes)).await;
    const PATH: &str = "/api.csa.v1.CSAService/GetKeypair";

    let without = call_as::<_, GetKeypairResponse>(&channel, PATH, GetKeypairRequest {}, None)
        .await
        .unwrap_err();
    assert_eq!(without.code(), Code::Unauthenticated, "{without:?}");
    let wrong = call_as::<_, GetKeypairResponse>(&channel, PATH, GetKeypairRequest {}, Some("x"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");

    let with: GetKeypairResponse = call_as(&channel, PATH, GetKeypairRequest {}, Some("t"))
        .await
        .expect("the right token is accepted");
    assert_eq!(with.keypair.map(|k| k.public_key.len()), Some(64));

    // Every operator service is guarded, not just one.
    let list = call_as::<_, ListNodesResponse>(
        &channel,
        "/api.node.v1.NodeService/ListNodes",
        ListNodesRequest::default(),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(list.code(), Code::Unauthenticated);
    let jobs = call_as::<_, ListJobsResponse>(
        &channel,
        "/api.job.v1.JobService/ListJobs",
        ListJobsRequest::default(),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(jobs.code(), Code::Unauthenticated);
    let listed: ListNodesResponse = call_as(
        &channel,
        "/api.node.v1.NodeService/ListNodes",
        ListNodesRequest::default(),
        Some("t"),
    )
    .await
    .unwrap();
    assert_eq!(listed.total_count, 0);

    // Health probes stay open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test]
async fn standard_health_service_reports_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let (_server, channel) = server(None).await;
    let mut health = HealthClient::new(channel);
    for service in [
        "",
        "api.node.v1.NodeService",
        "api.job.v1.JobService",
        "api.csa.v1.CSAService",
    ] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("Check({service:?}): {e}"))
            .into_inner();
        assert_eq!(
            response.status,
            ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "api.nope.v1.NopeService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_services_and_describes_the_contract() {
    use prost::Message as _;
    use prost_types::FileDescriptorProto;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let (_server, channel) = server(None).await;
    let mut reflection = ServerReflectionClient::new(channel);
    let ask = |request: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let requests = vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "api.node.v1.NodeService".into(),
        )),
    ];
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection v1 is served")
        .into_inner();
    let mut answers: Vec<ServerReflectionResponse> = Vec::new();
    while let Some(answer) = responses.message().await.unwrap() {
        answers.push(answer);
    }
    assert_eq!(answers.len(), 2);

    let Some(MessageResponse::ListServicesResponse(list)) = &answers[0].message_response else {
        panic!(
            "expected a service list, got {:?}",
            answers[0].message_response
        );
    };
    let services: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "api.job.v1.JobService",
        "api.node.v1.NodeService",
        "api.csa.v1.CSAService",
    ] {
        assert!(services.contains(&expected), "{expected} in {services:?}");
    }

    // The descriptor grpcurl would use carries the contract's names and numbers.
    let Some(MessageResponse::FileDescriptorResponse(files)) = &answers[1].message_response else {
        panic!(
            "expected file descriptors, got {:?}",
            answers[1].message_response
        );
    };
    let files: Vec<FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).unwrap())
        .collect();
    let node_file = files
        .iter()
        .find(|f| f.package() == "api.node.v1")
        .expect("the api.node.v1 file");
    let service = node_file
        .service
        .iter()
        .find(|s| s.name() == "NodeService")
        .unwrap();
    let mut methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    methods.sort();
    assert_eq!(
        methods,
        [
            "DisableNode",
            "EnableNode",
            "GetNode",
            "ListNodeChainConfigs",
            "ListNodes",
            "RegisterNode",
            "UpdateNode"
        ]
    );
    let node = node_file
        .message_type
        .iter()
        .find(|m| m.name() == "Node")
        .unwrap();
    let fields: HashMap<&str, i32> = node.field.iter().map(|f| (f.name(), f.number())).collect();
    for (name, number) in [
        ("id", 1),
        ("public_key", 3),
        ("labels", 6),
        ("workflow_key", 9),
        ("p2p_key_bundles", 10),
        ("nop_friendly_name", 13),
        ("version", 14),
    ] {
        assert_eq!(fields.get(name), Some(&number), "Node.{name}");
    }
}

/// The largest batch the limits allow (node ids × spec bytes = 64 MiB: 64 nodes, a 1 MiB
/// spec) commits and is answered: its answer, which carries the spec back once per node,
/// fits what the server sends. (A client reading it needs a decode limit above 64 MiB;
/// this one sets none.)
#[tokio::test]
async fn a_maximal_batch_is_answered() {
    const NODES: u32 = 64;
    const SPEC_BYTES: usize = 1024 * 1024;
    let (_server, channel) = server(None).await;
    let mut node_ids = Vec::new();
    for i in 0..NODES {
        node_ids.push(
            register(&channel, &format!("n{i}"), &key(i), vec![])
                .await
                .id,
        );
    }
    let mut spec = spec(JOB_UUID);
    spec.push('#');
    spec.push_str(&"x".repeat(SPEC_BYTES - spec.len() - 1));
    spec.push('\n');
    assert_eq!(spec.len(), SPEC_BYTES);

    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(usize::MAX);
    grpc.ready().await.unwrap();
    let request = Request::new(BatchProposeJobRequest {
        node_ids: node_ids.clone(),
        spec: spec.clone(),
        labels: vec![],
    });
    let codec =
        tonic_prost::ProstCodec::<BatchProposeJobRequest, BatchProposeJobResponse>::default();
    let path = PathAndQuery::from_static("/api.job.v1.JobService/BatchProposeJob");
    let response = grpc
        .unary(request, path, codec)
        .await
        .expect("a batch within the limits is answered")
        .into_inner();
    assert!(response.failed_responses.is_empty());
    assert_eq!(response.success_responses.len(), NODES as usize);
    for node_id in &node_ids {
        let proposal = response.success_responses[node_id]
            .proposal
            .as_ref()
            .unwrap();
        assert_eq!(proposal.spec.len(), SPEC_BYTES);
    }
}

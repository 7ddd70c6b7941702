//! The `offchain.jd.v1.ProposalDeliveryService` extension over gRPC: a node's refusal of a
//! proposal (FAILED with its message) and of a forwarded revoke, as an operator reads them,
//! and the extension's status codes and token check.
//!
//! Each test runs against SQLite and, when `OFFCHAIN_TEST_POSTGRES_URL` is set, against a
//! PostgreSQL schema of its own.

mod support;

use std::time::Duration;

use offchain_jd::auth::{TokenHashes, hash_token};
use offchain_jd::server::{self, RunningServer};
use offchain_proto::cfm;
use offchain_proto::delivery::proposal_delivery_service_client::ProposalDeliveryServiceClient;
use offchain_proto::delivery::{
    GetProposalDeliveryRequest, ListProposalDeliveriesRequest, ProposalDelivery,
};
use offchain_proto::job::job_service_server::JobService;
use offchain_proto::job::{self as api, ProposalDeliveryStatus};
use offchain_wsrpc::rpc::{Link, Router};
use support::{Jd, LIMIT, backends, proposal, propose};
use tonic::transport::Channel;
use tonic::{Code, Request};

type DeliveryClient = ProposalDeliveryServiceClient<Channel>;

/// A node that answers `ProposeJob` with `propose_refusal` and `RevokeJob` with
/// `revoke_refusal` as their errors when set, OK otherwise.
fn node_service(propose_refusal: Option<String>, revoke_refusal: Option<String>) -> Router {
    Router::new()
        .method("ProposeJob", move |request: cfm::ProposeJobRequest| {
            let answer = match &propose_refusal {
                Some(error) => Err(error.clone()),
                None => Ok(cfm::ProposeJobResponse { id: request.id }),
            };
            async move { answer }
        })
        .method("RevokeJob", move |request: cfm::RevokeJobRequest| {
            let answer = match &revoke_refusal {
                Some(error) => Err(error.clone()),
                None => Ok(cfm::RevokeJobResponse { id: request.id }),
            };
            async move { answer }
        })
}

/// Serves `jd`'s operator API (and the extension) on an ephemeral port; returns the
/// server (dropping it stops serving) and a client of the extension.
async fn grpc(jd: &Jd, auth: Option<TokenHashes>) -> (RunningServer, DeliveryClient) {
    let running = server::serve(jd.jd.clone(), "127.0.0.1:0".parse().unwrap(), auth)
        .await
        .expect("the gRPC server starts");
    let channel = Channel::from_shared(format!("http://{}", running.local_addr()))
        .unwrap()
        .connect()
        .await
        .expect("connects");
    (running, ProposalDeliveryServiceClient::new(channel))
}

async fn delivery(client: &DeliveryClient, id: &str) -> ProposalDelivery {
    client
        .clone()
        .get_proposal_delivery(GetProposalDeliveryRequest {
            proposal_id: id.to_owned(),
        })
        .await
        .expect("answered")
        .into_inner()
        .delivery
        .expect("a delivery")
}

/// Asks for `id`'s delivery until `done` holds for it (the node answers in a task of its
/// own); returns it.
async fn wait_for(
    client: &DeliveryClient,
    id: &str,
    done: impl Fn(&ProposalDelivery) -> bool,
) -> ProposalDelivery {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let delivery = delivery(client, id).await;
        if done(&delivery) {
            return delivery;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached: {delivery:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn linked(jd: &Jd, service: Router) -> (String, Link) {
    let node = jd.register(1).await;
    let link = jd.dial_with(1, service).await.expect("links up");
    jd.wait_connected(&node.id, true).await;
    (node.id, link)
}

#[tokio::test]
async fn a_refused_proposal_is_failed_with_the_nodes_message_over_grpc() {
    const REFUSAL: &str = "unsupported job type \"directrequest\"";
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let (_server, client) = grpc(&jd, None).await;
        let (node_id, _link) = linked(&jd, node_service(Some(REFUSAL.into()), None)).await;

        let id = propose(&jd, &node_id).await;
        let failed = wait_for(&client, &id, |d| {
            d.delivery_status == ProposalDeliveryStatus::Failed as i32
        })
        .await;
        assert_eq!(failed.proposal_id, id);
        assert_eq!(failed.delivery_error.as_deref(), Some(REFUSAL));
        assert_eq!(failed.node_refusal, None);
        // The reference API agrees on the status.
        assert_eq!(
            proposal(&jd, &id).await.delivery_status(),
            ProposalDeliveryStatus::Failed
        );

        // Listing by ids and by job says the same.
        let by_ids = client
            .clone()
            .list_proposal_deliveries(ListProposalDeliveriesRequest {
                proposal_ids: vec![id.clone(), "prop_unknown".into()],
                job_id: String::new(),
            })
            .await
            .expect("listed")
            .into_inner()
            .deliveries;
        assert_eq!(
            by_ids,
            std::slice::from_ref(&failed),
            "unknown ids are left out"
        );
        let job_id = proposal(&jd, &id).await.job_id;
        let by_job = client
            .clone()
            .list_proposal_deliveries(ListProposalDeliveriesRequest {
                proposal_ids: Vec::new(),
                job_id,
            })
            .await
            .expect("listed")
            .into_inner()
            .deliveries;
        assert_eq!(by_job, [failed]);
    }
}

#[tokio::test]
async fn an_acknowledged_proposal_has_no_error() {
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let (_server, client) = grpc(&jd, None).await;
        let (node_id, _link) = linked(&jd, node_service(None, None)).await;
        let id = propose(&jd, &node_id).await;
        let acknowledged = wait_for(&client, &id, |d| {
            d.delivery_status == ProposalDeliveryStatus::Acknowledged as i32
        })
        .await;
        assert_eq!(acknowledged.delivery_error, None);
        assert_eq!(acknowledged.node_refusal, None);
    }
}

#[tokio::test]
async fn a_refused_revoke_shows_as_a_node_refusal() {
    // Longer than the 1024 bytes kept: the refusal is cut, on a character boundary.
    let refusal = format!("cannot revoke: {}", "é".repeat(1_000));
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let (_server, client) = grpc(&jd, None).await;
        let service = node_service(None, Some(refusal.clone()));
        let (node_id, _link) = linked(&jd, service).await;
        let id = propose(&jd, &node_id).await;
        wait_for(&client, &id, |d| {
            d.delivery_status == ProposalDeliveryStatus::Acknowledged as i32
        })
        .await;

        let job_id = proposal(&jd, &id).await.job_id;
        jd.jd
            .revoke_job(Request::new(api::RevokeJobRequest {
                id_oneof: Some(api::revoke_job_request::IdOneof::Id(job_id)),
            }))
            .await
            .expect("revoked at the JD");
        let refused = wait_for(&client, &id, |d| d.node_refusal.is_some()).await;
        let node_refusal = refused.node_refusal.expect("a refusal");
        assert_eq!(node_refusal.method, "RevokeJob");
        assert!(node_refusal.error.starts_with("cannot revoke: é"));
        assert!(node_refusal.error.len() <= 1_024 && node_refusal.error.len() >= 1_022);
        assert!(refusal.starts_with(&node_refusal.error));
        assert!(node_refusal.refused_at.is_some());
        // The proposal itself was delivered fine.
        assert_eq!(refused.delivery_error, None);
    }
}

#[tokio::test]
async fn the_extension_answers_precise_status_codes() {
    for (url, schema) in backends().await {
        let jd = Jd::start(url, schema).await;
        let (_server, client) = grpc(&jd, None).await;
        let get = |id: String| {
            let mut client = client.clone();
            async move {
                let request = GetProposalDeliveryRequest { proposal_id: id };
                client
                    .get_proposal_delivery(request)
                    .await
                    .unwrap_err()
                    .code()
            }
        };
        let list = |proposal_ids: Vec<String>, job_id: &str| {
            let mut client = client.clone();
            let request = ListProposalDeliveriesRequest {
                proposal_ids,
                job_id: job_id.to_owned(),
            };
            async move { client.list_proposal_deliveries(request).await }
        };
        let code = |result: Result<_, tonic::Status>| result.map(drop).unwrap_err().code();

        assert_eq!(get("prop_unknown".into()).await, Code::NotFound);
        assert_eq!(get(String::new()).await, Code::InvalidArgument);
        assert_eq!(get("x".repeat(256)).await, Code::InvalidArgument);
        assert_eq!(get("prop\0".into()).await, Code::InvalidArgument);

        let too_many: Vec<String> = (0..=offchain_jd::MAX_DELIVERY_IDS)
            .map(|i| format!("prop_{i}"))
            .collect();
        assert_eq!(
            code(list(too_many.clone(), "").await),
            Code::InvalidArgument
        );
        let at_most = too_many[..offchain_jd::MAX_DELIVERY_IDS].to_vec();
        let answered = list(at_most, "").await.expect("1000 ids are fine");
        assert!(answered.into_inner().deliveries.is_empty());
        assert_eq!(
            code(list(vec![String::new()], "").await),
            Code::InvalidArgument
        );
        assert_eq!(code(list(Vec::new(), "").await), Code::InvalidArgument);
        assert_eq!(
            code(list(vec!["prop_1".into()], "job_1").await),
            Code::InvalidArgument,
            "both"
        );
        assert_eq!(code(list(Vec::new(), "job_unknown").await), Code::NotFound);
    }
}

#[tokio::test]
async fn the_extension_needs_the_operator_token_when_one_is_configured() {
    let jd = Jd::start("sqlite::memory:".into(), None).await;
    let hashes = TokenHashes::from_list(&hash_token("s3cret"), "test").unwrap();
    let (_server, mut client) = grpc(&jd, Some(hashes)).await;
    let request = || GetProposalDeliveryRequest {
        proposal_id: "prop_unknown".into(),
    };
    let refused = client.get_proposal_delivery(request()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    let mut with_token = Request::new(request());
    with_token
        .metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    let answered = client.get_proposal_delivery(with_token).await.unwrap_err();
    assert_eq!(answered.code(), Code::NotFound, "past the token check");
}

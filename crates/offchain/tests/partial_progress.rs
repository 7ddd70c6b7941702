//! A proposal round that fails part-way keeps what the JD already answered, so a script can
//! resume with the rest and no node gets the spec twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use offchain::proto::csa::csa_service_server::CsaServiceServer;
use offchain::proto::job::ListProposalsRequest;
use offchain::proto::job::job_service_server::{JobService, JobServiceServer};
use offchain::proto::node::node_service_server::NodeServiceServer;
use offchain::{Client, Provider, RemoteConfig, RemoteProvider, helpers};
use offchain_jd::JobDistributor;
use support::{SPEC, register};
use tonic::transport::Server;
use tonic::{Code, Request, Status};

mod support;

/// A JD whose job service refuses its second call with `UNAVAILABLE`, as a JD restarting
/// mid-round would.
async fn jd_failing_the_second_job_call() -> (JobDistributor, Arc<dyn Client>) {
    let jd = JobDistributor::in_memory().await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let fail_second = move |request: Request<()>| {
        if calls.fetch_add(1, Ordering::SeqCst) == 1 {
            Err(Status::unavailable("injected: the JD is restarting"))
        } else {
            Ok(request)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::builder()
        .add_service(JobServiceServer::with_interceptor(jd.clone(), fail_second))
        .add_service(NodeServiceServer::new(jd.clone()))
        .add_service(CsaServiceServer::new(jd.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    let provider = RemoteProvider::new(RemoteConfig::new(format!("http://{address}"))).unwrap();
    (jd, provider.initialize().await.unwrap())
}

#[tokio::test]
async fn a_failed_chunk_keeps_the_committed_outcomes_and_the_rest_can_resume() {
    let (jd, client) = jd_failing_the_second_job_call().await;
    let total = helpers::PROPOSE_BATCH * 2 + 50;
    let mut ids = Vec::with_capacity(total);
    for i in 0..total {
        ids.push(register(client.as_ref(), i, "prod").await);
    }

    let error = helpers::propose_to_nodes(client.as_ref(), SPEC, &[], &ids, |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(error.status.code(), Code::Unavailable);
    assert_eq!(error.committed.len(), helpers::PROPOSE_BATCH);
    assert!(error.committed.iter().all(|o| o.result.is_ok()));
    let committed: Vec<&String> = error.committed.iter().map(|o| &o.node_id).collect();
    assert_eq!(
        committed,
        ids[..helpers::PROPOSE_BATCH].iter().collect::<Vec<_>>()
    );
    assert_eq!(error.not_proposed, ids[helpers::PROPOSE_BATCH..]);
    let source = std::error::Error::source(&error).expect("the status is the source");
    assert!(source.to_string().contains("restarting"), "{source}");
    assert!(
        error.to_string().contains("after 100 of 250 nodes"),
        "{error}"
    );

    // Resuming with the nodes left proposes to each node exactly once.
    let resumed =
        helpers::propose_to_nodes(client.as_ref(), SPEC, &[], &error.not_proposed, |_, _| {})
            .await
            .unwrap();
    assert_eq!(resumed.len(), total - helpers::PROPOSE_BATCH);
    let proposals = jd
        .list_proposals(Request::new(ListProposalsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .proposals;
    assert_eq!(proposals.len(), total);
    assert!(proposals.iter().all(|p| p.revision == 1));
}

#[tokio::test]
async fn a_failed_chunk_of_a_large_spec_keeps_what_committed() {
    let (_jd, client) = jd_failing_the_second_job_call().await;
    let mut ids = Vec::new();
    for i in 0..150 {
        ids.push(register(client.as_ref(), i, "prod").await);
    }
    // 1 MiB: 64 nodes per call keep node ids × spec bytes within 64 MiB.
    let spec = format!("{SPEC}# {}\n", "x".repeat(1024 * 1024 - SPEC.len() - 3));
    let error = helpers::propose_to_nodes(client.as_ref(), &spec, &[], &ids, |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(error.status.code(), Code::Unavailable, "{error}");
    let committed: Vec<&String> = error.committed.iter().map(|o| &o.node_id).collect();
    assert_eq!(committed, ids[..64].iter().collect::<Vec<_>>());
    assert!(error.committed.iter().all(|o| o.result.is_ok()));
    assert_eq!(error.not_proposed, ids[64..]);
}

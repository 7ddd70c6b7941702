//! `offchain_jd::server::operator_services`: the one place the JD's gRPC services are built
//! with their message limits, used by the server and by the client's in-memory provider.

use offchain::proto::job::ProposeJobRequest;
use offchain::proto::job::job_service_client::JobServiceClient;
use offchain_jd::JobDistributor;
use offchain_jd::server::{MAX_MESSAGE_SIZE, operator_services};
use tonic::Code;
use tonic::service::Routes;

/// A `ProposeJob` whose spec has `bytes` bytes, sent to the services in process by a client
/// that sends anything.
async fn propose_code(routes: Routes, bytes: usize) -> Code {
    let mut client = JobServiceClient::new(routes).max_encoding_message_size(usize::MAX);
    let request = ProposeJobRequest {
        node_id: "node_1".into(),
        spec: "x".repeat(bytes),
        labels: vec![],
    };
    client.propose_job(request).await.unwrap_err().code()
}

#[tokio::test]
async fn the_services_decode_messages_up_to_the_servers_limit() {
    let jd = JobDistributor::in_memory().await.unwrap();
    let services = operator_services(&jd);
    let routes = Routes::new(services.job)
        .add_service(services.node)
        .add_service(services.csa);
    // 5 MiB is over gRPC's 4 MiB default: the service decodes it and the JD refuses the spec.
    assert_eq!(
        propose_code(routes.clone(), 5 * 1024 * 1024).await,
        Code::ResourceExhausted
    );
    // Over the limit, gRPC refuses the message before the JD sees it.
    assert_eq!(
        propose_code(routes, MAX_MESSAGE_SIZE + 1).await,
        Code::OutOfRange
    );
}

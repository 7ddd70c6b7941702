//! The server's limits, health and shutdown, driven through a real gRPC connection.

use super::*;
use offchain_proto::csa::GetKeypairRequest;
use offchain_proto::csa::csa_service_client::CsaServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as Status;
use tonic_health::pb::health_client::HealthClient;

async fn server(options: ServeOptions) -> RunningServer {
    let jd = JobDistributor::in_memory().await.unwrap();
    serve_with(jd, ([127, 0, 0, 1], 0).into(), None, options)
        .await
        .unwrap()
}

async fn channel(server: &RunningServer) -> Channel {
    Channel::from_shared(format!("http://{}", server.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// `GetKeypair`, held `delay_ms` inside the server's limits by the test hook.
async fn slow_call(channel: Channel, delay_ms: u64) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(GetKeypairRequest {});
    request
        .metadata_mut()
        .insert("x-test-delay-ms", delay_ms.to_string().parse().unwrap());
    CsaServiceClient::new(channel)
        .get_keypair(request)
        .await
        .map(drop)
}

#[tokio::test]
async fn a_call_slower_than_the_request_timeout_is_cut_off() {
    let server = server(ServeOptions {
        request_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    let channel = channel(&server).await;
    let status = slow_call(channel.clone(), 30_000).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{status:?}"
    );
    slow_call(channel, 0).await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn calls_over_the_concurrency_limit_are_refused_across_connections() {
    let server = server(ServeOptions {
        max_concurrent_requests: 2,
        ..ServeOptions::default()
    })
    .await;
    // One connection per call: the limit is the server's, not each connection's.
    let mut calls = Vec::new();
    for _ in 0..4 {
        let channel = channel(&server).await;
        calls.push(tokio::spawn(slow_call(channel, 2_000)));
    }
    let mut codes = Vec::new();
    for call in calls {
        codes.push(call.await.unwrap().map_err(|s| s.code()));
    }
    let refused = codes
        .iter()
        .filter(|c| **c == Err(Code::ResourceExhausted))
        .count();
    assert_eq!(refused, 2, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| c.is_ok()).count(), 2, "{codes:?}");
    assert_eq!(server.delay.most_in_progress(), 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_turns_not_serving_as_soon_as_shutdown_starts() {
    let server = server(ServeOptions::default()).await;
    let mut health = HealthClient::new(channel(&server).await);
    let request = || HealthCheckRequest {
        service: String::new(),
    };
    let status = health.check(request()).await.unwrap().into_inner().status;
    assert_eq!(status, Status::Serving as i32);
    let mut watch = health.watch(request()).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, Status::Serving as i32);

    // The open watch keeps the server draining, so NOT_SERVING must arrive before the
    // connections are gone.
    let shutdown = tokio::spawn(server.shutdown());
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("NOT_SERVING while draining")
        .unwrap()
        .unwrap();
    assert_eq!(next.status, Status::NotServing as i32);
    assert!(!shutdown.is_finished(), "still draining");
    drop(watch);
    drop(health);
    shutdown.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_open_stream_cannot_hold_shutdown_past_the_drain_deadline() {
    let server = server(ServeOptions {
        request_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    })
    .await;
    let mut health = HealthClient::new(channel(&server).await);
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let watch = health.watch(request).await.unwrap().into_inner();
    // The watch never ends by itself; shutdown must still finish.
    tokio::time::timeout(Duration::from_secs(20), server.shutdown())
        .await
        .expect("shutdown finishes while a watch is open")
        .unwrap();
    drop(watch);
}

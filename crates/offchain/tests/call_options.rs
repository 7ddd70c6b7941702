//! Per-call control: deadlines and metadata per call through `Client::with_options`, and a
//! remote client built on the caller's own channel with tower layers on it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use offchain::proto::csa::csa_service_server::{CsaService, CsaServiceServer};
use offchain::proto::csa::{
    GetKeypairRequest, GetKeypairResponse, Keypair, ListKeypairsRequest, ListKeypairsResponse,
};
use offchain::proto::node::ListNodesRequest;
use offchain::{
    CallOptions, Client, MemoryProvider, Provider, RemoteClient, RemoteConfig, RemoteProvider,
    StaticToken,
};
use tonic::metadata::MetadataMap;
use tonic::transport::Server;
use tonic::{Code, Request, Response, Status};

/// A CSA service that takes `delay` to answer `GetKeypair`.
struct SlowCsa {
    delay: Duration,
}

#[tonic::async_trait]
impl CsaService for SlowCsa {
    async fn get_keypair(
        &self,
        _request: Request<GetKeypairRequest>,
    ) -> Result<Response<GetKeypairResponse>, Status> {
        tokio::time::sleep(self.delay).await;
        Ok(Response::new(GetKeypairResponse {
            keypair: Some(Keypair {
                public_key: "ab".repeat(32),
                ..Default::default()
            }),
        }))
    }

    async fn list_keypairs(
        &self,
        _request: Request<ListKeypairsRequest>,
    ) -> Result<Response<ListKeypairsResponse>, Status> {
        Ok(Response::new(ListKeypairsResponse::default()))
    }
}

/// Serves [`SlowCsa`] on a free port, recording the metadata of every call; returns the
/// endpoint and the recorded metadata.
async fn slow_server(delay: Duration) -> (String, Arc<Mutex<Vec<MetadataMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let seen = seen.clone();
        move |request: Request<()>| {
            seen.lock().unwrap().push(request.metadata().clone());
            Ok(request)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::builder()
        .add_service(CsaServiceServer::with_interceptor(
            SlowCsa { delay },
            record,
        ))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    (format!("http://{address}"), seen)
}

#[tokio::test]
async fn a_per_call_timeout_answers_deadline_exceeded() {
    // The server's delay only bounds the check that the deadline cut the call short.
    let server_delay = Duration::from_secs(2);
    let (endpoint, _) = slow_server(server_delay).await;
    let client = RemoteProvider::new(RemoteConfig::new(&endpoint))
        .unwrap()
        .initialize()
        .await
        .unwrap();

    let started = Instant::now();
    let status = client
        .with_timeout(Duration::from_millis(50))
        .get_keypair(GetKeypairRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        started.elapsed() < server_delay,
        "the call waited for the server: {:?}",
        started.elapsed()
    );
    // The client itself keeps no deadline: the same call without one is answered.
    assert!(client.get_keypair(GetKeypairRequest {}).await.is_ok());

    // The client-wide request timeout of RemoteConfig is a deadline too.
    let mut config = RemoteConfig::new(&endpoint);
    config.request_timeout = Some(Duration::from_millis(50));
    let bounded = RemoteProvider::new(config)
        .unwrap()
        .initialize()
        .await
        .unwrap();
    let status = bounded.get_keypair(GetKeypairRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test]
async fn the_in_memory_client_honours_an_expired_deadline() {
    let client = MemoryProvider::new().initialize().await.unwrap();
    let status = client
        .with_timeout(Duration::ZERO)
        .list_nodes(ListNodesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    let generous = client.with_timeout(Duration::from_secs(30));
    assert!(
        generous
            .list_nodes(ListNodesRequest::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn call_metadata_and_the_deadline_reach_the_server() {
    let (endpoint, seen) = slow_server(Duration::ZERO).await;
    let config =
        RemoteConfig::new(&endpoint).with_token_source(Arc::new(StaticToken::new("t0ken")));
    let client = RemoteProvider::new(config)
        .unwrap()
        .initialize()
        .await
        .unwrap();

    let traced = CallOptions::new()
        .with_metadata("x-request-id", "req-1")
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    // Options stack: the second layer adds a key and overrides the deadline.
    let layered = client.with_options(traced).with_options(
        CallOptions::new()
            .with_metadata("x-tenant", "blue")
            .unwrap()
            .with_timeout(Duration::from_secs(7)),
    );
    layered.get_keypair(GetKeypairRequest {}).await.unwrap();
    client.get_keypair(GetKeypairRequest {}).await.unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let first = &seen[0];
    assert_eq!(first.get("x-request-id").unwrap(), "req-1");
    assert_eq!(first.get("x-tenant").unwrap(), "blue");
    assert_eq!(first.get("authorization").unwrap(), "Bearer t0ken");
    let timeout = first.get("grpc-timeout").unwrap().to_str().unwrap();
    assert!(timeout.starts_with("7"), "grpc-timeout {timeout}");
    // The plain client sends none of it, but still its token.
    assert!(seen[1].get("x-request-id").is_none());
    assert!(seen[1].get("grpc-timeout").is_none());
    assert_eq!(seen[1].get("authorization").unwrap(), "Bearer t0ken");

    // Metadata that cannot be a header is refused when the options are built.
    assert!(CallOptions::new().with_metadata("bad key", "v").is_err());
    assert!(
        CallOptions::new()
            .with_metadata("k", "line\nbreak")
            .is_err()
    );
    // Debug shows keys, never values (they may be credentials).
    let debug = format!(
        "{:?}",
        CallOptions::new()
            .with_metadata("x-api-key", "s3cret")
            .unwrap()
    );
    assert!(
        debug.contains("x-api-key") && !debug.contains("s3cret"),
        "{debug}"
    );
}

#[tokio::test]
async fn a_remote_client_runs_over_the_callers_layered_channel() {
    let (endpoint, _) = slow_server(Duration::ZERO).await;
    let channel = RemoteConfig::new(&endpoint)
        .tonic_endpoint()
        .unwrap()
        .connect_lazy();
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = {
        let calls = calls.clone();
        tower::ServiceBuilder::new()
            .map_request(move |request: http::Request<tonic::body::Body>| {
                calls.fetch_add(1, Ordering::SeqCst);
                request
            })
            .service(channel.clone())
    };
    let client: Arc<dyn Client> = Arc::new(RemoteClient::from_service(counting, None));
    client.get_keypair(GetKeypairRequest {}).await.unwrap();
    client
        .with_timeout(Duration::from_secs(5))
        .list_keypairs(ListKeypairsRequest {})
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A plain channel works as it is.
    let plain = RemoteClient::new(channel, None);
    assert_eq!(
        plain
            .get_keypair(GetKeypairRequest {})
            .await
            .unwrap()
            .keypair
            .unwrap()
            .public_key,
        "ab".repeat(32)
    );
}

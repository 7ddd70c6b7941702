//! The JD's gRPC server: the three operator services (behind optional token auth), the
//! standard health service and server reflection, with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use offchain_proto::csa::csa_service_server::CsaServiceServer;
use offchain_proto::job::job_service_server::JobServiceServer;
use offchain_proto::node::node_service_server::NodeServiceServer;
use offchain_proto::{FILE_DESCRIPTOR_SET, SERVICE_NAMES};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;

use crate::auth::{RequireToken, TokenHashes};
use crate::service::{JobDistributor, OpenError};

/// Largest message the server accepts or sends: big batches and long lists exceed gRPC's
/// 4 MiB default. Above 64 MiB because the largest `BatchProposeJob` answer carries 64 MiB
/// of specs (`limits::MAX_BATCH_BYTES`) plus a few hundred bytes per node.
pub const MAX_MESSAGE_SIZE: usize = 80 * 1024 * 1024;

/// What a server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite:…` or `postgres://…`.
    pub database_url: String,
    /// Seals the CSA private key.
    pub csa_secret: String,
    /// When set, operator calls need one of these bearer tokens.
    pub auth: Option<TokenHashes>,
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Opening the database or the CSA key failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Reflection could not read the descriptor set (a build problem).
    #[error("cannot set up gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The server stopped with an error.
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A server running in the background. Dropping it asks the server to stop.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    jd: JobDistributor,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl RunningServer {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The JD the server serves.
    pub fn jd(&self) -> &JobDistributor {
        &self.jd
    }

    /// Stops accepting calls, lets running calls finish, and closes the database.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop.take().map(|stop| stop.send(()));
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(result) => result?,
                Err(join) => tracing::error!(error = %join, "server task ended abnormally"),
            }
        }
        self.jd.store().close().await;
        Ok(())
    }

    /// Waits until `signal` completes, then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), ServerError> {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Opens the JD described by `config` and serves it.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let jd = JobDistributor::open(&config.database_url, &config.csa_secret).await?;
    serve(jd, config.listen, config.auth).await
}

/// Serves an already opened JD on `listen`.
pub async fn serve(
    jd: JobDistributor,
    listen: SocketAddr,
    auth: Option<TokenHashes>,
) -> Result<RunningServer, ServerError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: listen,
        source,
    })?;

    let (health, health_service) = tonic_health::server::health_reporter();
    for name in SERVICE_NAMES.iter().chain(&[""]) {
        health
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // Without configured tokens every call passes; with them, only the operator services
    // are guarded (health and reflection stay open for probes and tooling).
    let guard = RequireTokenIfConfigured(auth.map(RequireToken));
    let job = JobServiceServer::new(jd.clone())
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let node = NodeServiceServer::new(jd.clone())
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let csa = CsaServiceServer::new(jd.clone());

    let router = Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(job, guard.clone()))
        .add_service(InterceptedService::new(node, guard.clone()))
        .add_service(InterceptedService::new(csa, guard));

    // Small request/response RPCs suffer badly from Nagle's algorithm.
    let incoming = TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(stream)
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = stopped.await;
    }));
    tracing::info!(%local_addr, csa_public_key = %jd.csa_keys().public_key_hex(), "JD listening");
    Ok(RunningServer {
        local_addr,
        jd,
        stop: Some(stop),
        task: Some(task),
    })
}

#[derive(Debug, Clone)]
struct RequireTokenIfConfigured(Option<RequireToken>);

impl tonic::service::Interceptor for RequireTokenIfConfigured {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        match &mut self.0 {
            Some(check) => check.call(request),
            None => Ok(request),
        }
    }
}

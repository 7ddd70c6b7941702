//! The JD's gRPC server: the three operator services and our `offchain.jd.v1` delivery
//! extension (behind optional token auth), the standard health service and server
//! reflection, with graceful shutdown.
//!
//! Every call runs under a per-request timeout and a server-wide concurrency limit
//! ([`ServeOptions`], `layers.rs`); health turns `NOT_SERVING` while the database is
//! unreachable and from the moment shutdown starts (`health.rs`).

mod health;
mod layers;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use offchain_proto::FILE_DESCRIPTOR_SET;
use offchain_proto::csa::csa_service_server::CsaServiceServer;
use offchain_proto::delivery::proposal_delivery_service_server::ProposalDeliveryServiceServer;
use offchain_proto::job::job_service_server::JobServiceServer;
use offchain_proto::node::node_service_server::NodeServiceServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::util::MapErrLayer;

use crate::auth::{RequireToken, TokenHashes};
use crate::link::NodeListener;
use crate::link::health::HealthEndpoint;
use crate::service::{JobDistributor, OpenError};
use health::Health;
pub use tls::{TlsError, TlsFiles};

/// Largest message the server accepts or sends: big batches and long lists exceed gRPC's
/// 4 MiB default. Above 64 MiB because the largest `BatchProposeJob` answer carries 64 MiB
/// of specs (`limits::MAX_BATCH_BYTES`) plus a few hundred bytes per node.
pub const MAX_MESSAGE_SIZE: usize = 80 * 1024 * 1024;

/// How much longer than the request timeout shutdown waits for open calls.
const DRAIN_MARGIN: Duration = Duration::from_secs(1);

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

/// How long one call may take by default, from its arrival to its answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How many calls may be in progress at once by default, across all connections.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;
/// How often the health service probes the database by default.
pub const DEFAULT_HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// How a server serves, beyond what [`ServerConfig`] says it serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Serve TLS with this certificate chain and key instead of plaintext.
    pub tls: Option<TlsFiles>,
    /// A call still running after this long is answered `CANCELLED` ("Timeout expired"),
    /// as tonic answers timeouts; a shorter `grpc-timeout` from the caller wins.
    pub request_timeout: Duration,
    /// Calls in progress at once across all connections (at least 1); one more is
    /// answered `RESOURCE_EXHAUSTED` at once instead of waiting.
    pub max_concurrent_requests: usize,
    /// How often health checks that the database answers.
    pub health_probe_interval: Duration,
    /// Listen for node links here ([`crate::link::listen`]); `None` opens no node listener.
    pub node_listen: Option<SocketAddr>,
    /// Serve the node listener's plain-HTTP `GET /healthz` here; `None` serves none.
    pub node_health_listen: Option<SocketAddr>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            tls: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            health_probe_interval: DEFAULT_HEALTH_PROBE_INTERVAL,
            node_listen: None,
            node_health_listen: None,
        }
    }
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
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Reflection could not read the descriptor set (a build problem).
    #[error("cannot set up gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The node listener did not start.
    #[error(transparent)]
    NodeLink(#[from] crate::link::LinkError),
    /// The node health endpoint's address could not be bound.
    #[error("cannot serve the node health endpoint on {addr}: {source}")]
    NodeHealth {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A server running in the background. Dropping it asks the server to stop.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    jd: JobDistributor,
    health: Health,
    probe: JoinHandle<()>,
    /// How long shutdown waits for open calls. Unary calls end within the request timeout;
    /// only streams, which have no end of their own, can outlast it.
    drain_timeout: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    node_listener: Option<NodeListener>,
    node_health: Option<HealthEndpoint>,
    #[cfg(test)]
    delay: layers::test_hook::Delay,
}

impl RunningServer {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where nodes connect, when the server listens for them.
    pub fn node_addr(&self) -> Option<SocketAddr> {
        self.node_listener.as_ref().map(NodeListener::local_addr)
    }

    /// Where `GET /healthz` is served, when it is.
    pub fn node_health_addr(&self) -> Option<SocketAddr> {
        self.node_health.as_ref().map(HealthEndpoint::local_addr)
    }

    /// The JD the server serves.
    pub fn jd(&self) -> &JobDistributor {
        &self.jd
    }

    /// Reports `NOT_SERVING`, stops accepting calls, lets running calls finish (streams
    /// at most a second past the request timeout), and closes the database.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        self.probe.abort();
        // Node links first: they close with a close frame while the database still answers.
        self.node_listener.take();
        self.node_health.take();
        self.health.stopping().await;
        self.stop.take().map(|stop| stop.send(()));
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(self.drain_timeout, &mut task).await {
                Ok(Ok(result)) => result?,
                Ok(Err(join)) => tracing::error!(error = %join, "server task ended abnormally"),
                Err(_) => {
                    tracing::warn!(
                        drain_timeout = ?self.drain_timeout,
                        "streams (health watch, reflection) still open: stopping without them"
                    );
                    task.abort();
                }
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
        self.probe.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Opens the JD described by `config` and serves it with the default [`ServeOptions`].
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    start_with(config, ServeOptions::default()).await
}

/// Opens the JD described by `config` and serves it as `options` say.
pub async fn start_with(
    config: ServerConfig,
    options: ServeOptions,
) -> Result<RunningServer, ServerError> {
    let jd = JobDistributor::open(&config.database_url, &config.csa_secret).await?;
    serve_with(jd, config.listen, config.auth, options).await
}

/// Serves an already opened JD on `listen` with the default [`ServeOptions`].
pub async fn serve(
    jd: JobDistributor,
    listen: SocketAddr,
    auth: Option<TokenHashes>,
) -> Result<RunningServer, ServerError> {
    serve_with(jd, listen, auth, ServeOptions::default()).await
}

/// Serves an already opened JD on `listen` as `options` say.
pub async fn serve_with(
    jd: JobDistributor,
    listen: SocketAddr,
    auth: Option<TokenHashes>,
    options: ServeOptions,
) -> Result<RunningServer, ServerError> {
    // TLS problems are reported before anything is bound.
    let mut server = Server::builder();
    if let Some(files) = &options.tls {
        server = tls::configure(server, files)?;
    }
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

    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health::new(reporter).await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // Without configured tokens every call passes; with them, only the operator services
    // are guarded (health and reflection stay open for probes and tooling).
    let guard = RequireTokenIfConfigured(auth.map(RequireToken));
    let OperatorServices {
        job,
        node,
        csa,
        delivery,
    } = operator_services(&jd);

    // Outermost first: tonic's timeout wraps everything, then the shed calls' status,
    // load shedding, and the one semaphore every connection shares.
    let max_concurrent = options.max_concurrent_requests.max(1);
    let builder = server
        .timeout(options.request_timeout)
        .layer(MapErrLayer::new(layers::overloaded_status(max_concurrent)))
        .layer(LoadShedLayer::new())
        .layer(GlobalConcurrencyLimitLayer::new(max_concurrent));
    #[cfg(test)]
    let delay = layers::test_hook::Delay::default();
    #[cfg(test)]
    let mut builder = builder.layer(delay.clone());
    #[cfg(not(test))]
    let mut builder = builder;
    let router = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(job, guard.clone()))
        .add_service(InterceptedService::new(node, guard.clone()))
        .add_service(InterceptedService::new(csa, guard.clone()))
        .add_service(InterceptedService::new(delivery, guard));

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
    let node_listener = match options.node_listen {
        Some(addr) => Some(crate::link::listen(&jd, addr).await?),
        None => None,
    };
    let node_health = match options.node_health_listen {
        Some(addr) => Some(
            crate::link::health::serve(addr)
                .await
                .map_err(|source| ServerError::NodeHealth { addr, source })?,
        ),
        None => None,
    };
    let probe = health.spawn_probe(jd.store().clone(), options.health_probe_interval);
    tracing::info!(
        %local_addr,
        tls = options.tls.is_some(),
        csa_public_key = %jd.csa_keys().public_key_hex(),
        "JD listening"
    );
    Ok(RunningServer {
        local_addr,
        jd,
        health,
        probe,
        drain_timeout: options.request_timeout + DRAIN_MARGIN,
        stop: Some(stop),
        task: Some(task),
        node_listener,
        node_health,
        #[cfg(test)]
        delay,
    })
}

/// The JD's three operator services and our delivery extension, configured as the server
/// serves them.
#[derive(Debug, Clone)]
pub struct OperatorServices {
    /// `api.job.v1.JobService`.
    pub job: JobServiceServer<JobDistributor>,
    /// `api.node.v1.NodeService`.
    pub node: NodeServiceServer<JobDistributor>,
    /// `api.csa.v1.CsaService`.
    pub csa: CsaServiceServer<JobDistributor>,
    /// `offchain.jd.v1.ProposalDeliveryService`: our extension (not in the reference API),
    /// behind the same token check.
    pub delivery: ProposalDeliveryServiceServer<JobDistributor>,
}

/// Builds the operator services over `jd` with the server's message limits
/// ([`MAX_MESSAGE_SIZE`] either way), without auth: the server puts its token check in
/// front of them, the client library's in-memory provider calls them in process.
pub fn operator_services(jd: &JobDistributor) -> OperatorServices {
    OperatorServices {
        job: JobServiceServer::new(jd.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE),
        node: NodeServiceServer::new(jd.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE),
        csa: CsaServiceServer::new(jd.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE),
        delivery: ProposalDeliveryServiceServer::new(jd.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE),
    }
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

#[cfg(test)]
mod tests;

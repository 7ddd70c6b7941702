//! Serving: [`Adapter::run`] and [`Adapter::serve`] — the runtime, logging, both
//! listeners, the shutdown signals, and the drain of async answers at the end.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;

use super::{Adapter, StartError};
use crate::config::{Config, ConfigError};
use crate::connections::{self, ConnectionLimits};

/// Longest wait at shutdown for answers still owed to nodes by PATCH; orchestrators kill
/// a stopping container after ~30 s anyway.
const SHUTDOWN_DRAIN_LIMIT: Duration = Duration::from_secs(25);

/// How long [`Adapter::run`] waits for blocking work (DNS lookups) once serving has ended.
const RUNTIME_SHUTDOWN_LIMIT: Duration = Duration::from_secs(1);

impl Adapter {
    /// Serves like [`serve`](Self::serve), on a Tokio runtime of its own with `EA_THREADS`
    /// threads: what an adapter's `main` calls. Returns once the adapter has stopped.
    ///
    /// With one thread (the default) every connection is handled in turn on the calling
    /// thread. That keeps tail latency lowest wherever the adapter shares cores with other
    /// programs: a second thread only adds a runnable thread for the kernel to preempt.
    /// More threads spread connections over cores.
    pub fn run(self, config: Config) -> Result<(), StartError> {
        let runtime = match config.threads {
            0 | 1 => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            threads => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build(),
        }
        .map_err(StartError::Runtime)?;
        let served = runtime.block_on(self.serve(config));
        // A DNS lookup still running on a blocking thread must not hold the exit.
        runtime.shutdown_timeout(RUNTIME_SHUTDOWN_LIMIT);
        served
    }

    /// Serves on `EA_HOST:EA_PORT` until SIGINT or SIGTERM, with JSON logs at `LOG_LEVEL`.
    ///
    /// Runs on the caller's runtime, whatever its flavour; `EA_THREADS` is read only by
    /// [`run`](Self::run).
    pub async fn serve(self, config: Config) -> Result<(), StartError> {
        init_logging(&config)?;
        // Only fails when a provider is already installed, which is what we want anyway.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let name = self.name.clone();
        let (routers, drained) = self.build(&config).await?;
        let shutdown = shutdown_signal();
        // Metrics first: once the adapter port accepts connections, scrapes work too.
        let metrics_server = match routers.metrics {
            Some(metrics) => Some(serve_metrics(&name, &config, metrics).await?),
            None => None,
        };
        let addr = SocketAddr::new(config.host, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener.local_addr().unwrap_or(addr);
        tracing::info!(adapter = %name, %addr, "listening");
        connections::serve(
            listener,
            routers.adapter,
            ConnectionLimits::from_config(&config),
            shutdown,
        )
        .await;
        // Scrapes have nothing to wait for; the metrics listener stops with the adapter's.
        if let Some(metrics_server) = metrics_server {
            metrics_server.abort();
        }
        // Nodes suspended on a `pending` answer wait for its PATCH; leaving now would strand
        // them until their task times out.
        if tokio::time::timeout(SHUTDOWN_DRAIN_LIMIT, drained.wait())
            .await
            .is_err()
        {
            tracing::warn!(adapter = %name, "stopping with async answers still undelivered");
        }
        tracing::info!(adapter = %name, "stopped");
        Ok(())
    }
}

/// Binds `EA_HOST:METRICS_PORT` and serves `metrics` there in the background.
async fn serve_metrics(
    name: &str,
    config: &Config,
    metrics: Router,
) -> Result<tokio::task::JoinHandle<()>, StartError> {
    let addr = SocketAddr::new(config.host, config.metrics_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::MetricsBind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(adapter = %name, %addr, "serving metrics at /metrics");
    let limits = ConnectionLimits::from_config(config);
    Ok(tokio::spawn(connections::serve(
        listener,
        metrics,
        limits,
        std::future::pending(),
    )))
}

fn init_logging(config: &Config) -> Result<(), StartError> {
    let filter =
        crate::secrets::log_filter(&config.log_level).map_err(|e| ConfigError::Invalid {
            variable: "LOG_LEVEL".to_owned(),
            value: config.log_level.clone(),
            reason: e.to_string(),
        })?;
    // A subscriber set by an embedding program or a test wins; that is not an error.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .try_init();
    Ok(())
}

/// Registers the SIGINT/SIGTERM handlers at once and returns a future that resolves on
/// either. Registering before the listener is bound matters: a signal that arrived between
/// `bind` and the server's first poll would otherwise take the default action and kill the
/// process without a graceful shutdown.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |registered: std::io::Result<tokio::signal::unix::Signal>| async move {
                match registered {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}

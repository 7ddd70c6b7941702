//! Serving connections: HTTP/1.1 over TCP with the limits that keep slow or numerous clients
//! from pinning the adapter (`EA_HEADER_TIMEOUT_MS`, `EA_MAX_CONNECTIONS`).
//!
//! The request body's own deadline (`EA_BODY_TIMEOUT_MS`) is enforced where the body is
//! read, in [`crate::server`], so its expiry is answered with the framework's JSON 408.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Config;

/// Pause after an accept error other than a failed handshake (`EMFILE`, `ENFILE`): retrying
/// at once would spin while no descriptor is free.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What one listener allows its clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// `EA_HEADER_TIMEOUT_MS`: time to send a request's complete headers, counted from the
    /// connection's start or the previous answer, so it also closes idle keep-alive
    /// connections.
    pub header_timeout: Duration,
    /// `EA_MAX_CONNECTIONS`: connections served at once.
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            header_timeout: config.header_timeout,
            max_connections: config.max_connections,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets every open connection
/// finish the request it is answering and returns.
///
/// At `max_connections`, no further connection is accepted until one closes: new clients
/// wait in the kernel's listen backlog rather than being refused, so a burst is served late
/// instead of failing, and the header timeout guarantees that a slot frees up.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, slot)) = accepted else {
            break;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that vanishes or breaks the protocol ends only its own connection.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
            drop(slot);
        });
    }
    // Stop accepting before waiting, so clients still connecting are refused at once.
    drop(listener);
    graceful.shutdown().await;
}

/// The next connection, once a slot is free; `None` if the slots are gone (never: the
/// semaphore is not closed).
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return Some((stream, slot)),
            // The client gave up during the handshake: nothing to do.
            Err(error) if is_client_error(&error) => {}
            Err(error) => {
                tracing::error!(%error, "cannot accept connections; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

fn is_client_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

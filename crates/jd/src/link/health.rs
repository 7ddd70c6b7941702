//! The node listener's plain-HTTP health endpoint: `GET /healthz` → `200` (on its own
//! port, when configured), as the existing JD serves it beside its node listener.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The running health endpoint; dropping it stops it.
#[derive(Debug)]
pub struct HealthEndpoint {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HealthEndpoint {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for HealthEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `GET /healthz` on `addr`.
pub async fn serve(addr: SocketAddr) -> std::io::Result<HealthEndpoint> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "the node health endpoint stopped");
        }
    });
    Ok(HealthEndpoint { local_addr, task })
}

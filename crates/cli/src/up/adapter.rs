//! The coin-market adapter inside the `up` process, on 127.0.0.1, and — unless `API_URL`
//! and `API_KEY` name a real data provider — a built-in mock provider answering every
//! coin/market pair with [`MOCK_PRICE`].

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::get;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The price the mock provider answers.
pub const MOCK_PRICE: f64 = 3012.55;
/// The adapter's name, which is also the bridge name nodes know it by.
pub const NAME: &str = "coin-market";

/// An HTTP server on 127.0.0.1 that stops on [`Served::stop`] (or when dropped).
struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Served {
    async fn start(router: Router, what: &'static str) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .with_context(|| format!("cannot listen for the {what}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = served.await {
                tracing::error!(%error, "the {what} stopped");
            }
        });
        Ok(Served {
            addr,
            stop: Some(stop),
            task,
        })
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The running adapter and, when used, its mock provider.
pub struct RunningAdapter {
    adapter: Served,
    mock: Option<Served>,
}

impl RunningAdapter {
    /// The adapter's URL, `http://127.0.0.1:PORT`: the bridge URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.adapter.addr)
    }

    /// Whether prices come from the built-in mock.
    pub fn is_mock(&self) -> bool {
        self.mock.is_some()
    }

    /// Stops the adapter, then the mock provider.
    pub async fn stop(self) {
        self.adapter.stop().await;
        if let Some(mock) = self.mock {
            mock.stop().await;
        }
    }
}

/// Starts the adapter against the provider `API_URL`/`API_KEY` name, or against a mock.
pub async fn start() -> Result<RunningAdapter> {
    let real = match (env("API_URL"), env("API_KEY")) {
        (Some(url), Some(key)) => Some((url, key)),
        _ => None,
    };
    let (mock, url, key) = match real {
        Some((url, key)) => (None, url, key),
        None => {
            let mock = Served::start(mock_provider(), "mock data provider").await?;
            let url = format!("http://{}", mock.addr);
            (Some(mock), url, "mock".to_owned())
        }
    };
    // Metrics off: a second listener on a fixed port would clash between `up` runs.
    let config = offchain_adapter::Config::from_vars([
        ("EA_HOST", "127.0.0.1"),
        ("EA_PORT", "0"),
        ("METRICS_ENABLED", "false"),
        ("API_URL", url.as_str()),
        ("API_KEY", key.as_str()),
    ])
    .context("the coin-market adapter's configuration")?;
    let router = coin_market_adapter::adapter(&config)
        .context("the coin-market adapter")?
        .router(&config)
        .await
        .context("the coin-market adapter does not start")?;
    let adapter = Served::start(router, "coin-market adapter").await?;
    Ok(RunningAdapter { adapter, mock })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// What coin-market's provider answers to `GET /api?coin=ETH&market=USD`, for any pair.
fn mock_provider() -> Router {
    Router::new().route(
        "/api",
        get(|| async { axum::Json(json!({ "price": MOCK_PRICE })) }),
    )
}

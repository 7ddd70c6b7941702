//! A real JD gRPC server inside the process, for integration tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use offchain_jd::server::{self, RunningServer, ServerConfig};
use offchain_proto::csa::GetKeypairRequest;
use tokio::sync::OnceCell;

use super::remote::{RemoteConfig, RemoteProvider};
use super::{Provider, ProviderError};
use crate::Client;

/// How the embedded JD is set up.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Its database: a private in-memory SQLite by default; any `sqlite:`/`postgres://` URL.
    pub database_url: String,
    /// How long to wait for the server to answer `GetKeypair`.
    pub ready_timeout: Duration,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            database_url: offchain_jd::store::SQLITE_MEMORY_URL.to_string(),
            ready_timeout: Duration::from_secs(10),
        }
    }
}

/// Starts a JD gRPC server on `127.0.0.1:<free port>` with its own database and a
/// throw-away CSA secret, and hands out a remote client to it. The server stops when the
/// provider is dropped.
///
/// ```
/// use offchain::{EmbeddedProvider, Provider};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = EmbeddedProvider::new();
/// let client = provider.initialize().await?;
/// let key = offchain::helpers::jd_public_key(client.as_ref()).await?;
/// assert_eq!(key.len(), 64);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EmbeddedProvider {
    config: EmbeddedConfig,
    started: OnceCell<Started>,
}

#[derive(Debug)]
struct Started {
    // Held so the server lives as long as the provider; dropping it stops the server.
    server: RunningServer,
    name: String,
    client: Arc<dyn Client>,
}

impl Default for EmbeddedProvider {
    fn default() -> Self {
        Self::with_config(EmbeddedConfig::default())
    }
}

impl EmbeddedProvider {
    /// An embedded JD over a private in-memory SQLite database.
    pub fn new() -> Self {
        Self::default()
    }

    /// An embedded JD set up by `config`.
    pub fn with_config(config: EmbeddedConfig) -> Self {
        EmbeddedProvider {
            config,
            started: OnceCell::new(),
        }
    }

    /// Where the server listens, once initialized.
    pub fn endpoint(&self) -> Option<String> {
        self.started
            .get()
            .map(|s| format!("http://{}", s.server.local_addr()))
    }

    /// The JD behind the server, once initialized.
    pub fn jd(&self) -> Option<&offchain_jd::JobDistributor> {
        self.started.get().map(|s| s.server.jd())
    }

    async fn start(&self) -> Result<Started, ProviderError> {
        let config = ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            database_url: self.config.database_url.clone(),
            csa_secret: offchain_jd::csa::throwaway_secret(),
            auth: None,
        };
        let server = server::start(config)
            .await
            .map_err(|e| ProviderError::Start(e.to_string()))?;
        let endpoint = format!("http://{}", server.local_addr());
        let remote = RemoteProvider::new(RemoteConfig::new(endpoint.clone()))?;
        let client = wait_until_ready(&remote, &endpoint, self.config.ready_timeout).await?;
        Ok(Started {
            server,
            name: format!("embedded JD at {endpoint}"),
            client,
        })
    }
}

/// Connects and calls `GetKeypair` until it answers, as the container-based provider does.
async fn wait_until_ready(
    remote: &RemoteProvider,
    endpoint: &str,
    timeout: Duration,
) -> Result<Arc<dyn Client>, ProviderError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        let last_error = match remote.initialize().await {
            Ok(client) => match client.get_keypair(GetKeypairRequest {}).await {
                Ok(_) => return Ok(client),
                Err(status) => status.to_string(),
            },
            Err(error) => error.to_string(),
        };
        if started.elapsed() >= timeout {
            return Err(ProviderError::NotReady {
                endpoint: endpoint.to_string(),
                waited_ms: started.elapsed().as_millis(),
                last_error,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

#[async_trait]
impl Provider for EmbeddedProvider {
    fn name(&self) -> &str {
        self.started
            .get()
            .map_or("embedded JD (not started)", |s| s.name.as_str())
    }

    async fn initialize(&self) -> Result<Arc<dyn Client>, ProviderError> {
        let started = self.started.get_or_try_init(|| self.start()).await?;
        Ok(started.client.clone())
    }

    fn offchain_client(&self) -> Option<Arc<dyn Client>> {
        self.started.get().map(|s| s.client.clone())
    }
}

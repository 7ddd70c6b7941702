//! A client for an existing JD over gRPC.

mod client;
mod config;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;
use tonic::transport::Endpoint;

use super::{Provider, ProviderError};
use crate::Client;

pub use client::RemoteClient;
pub use config::{ClientIdentity, RemoteConfig};

/// Connects to an existing JD.
///
/// ```no_run
/// use offchain::{Provider, RemoteConfig, RemoteProvider, StaticToken};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = RemoteConfig::new("https://jd.example.com:443")
///     .with_token_source(std::sync::Arc::new(StaticToken::new("token")));
/// let provider = RemoteProvider::new(config)?;
/// let client = provider.initialize().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RemoteProvider {
    name: String,
    config: RemoteConfig,
    endpoint: Endpoint,
    client: OnceCell<Arc<dyn Client>>,
}

impl RemoteProvider {
    /// Validates `config`; nothing is connected until [`Provider::initialize`].
    pub fn new(config: RemoteConfig) -> Result<Self, ProviderError> {
        let endpoint = config.tonic_endpoint()?;
        Ok(RemoteProvider {
            name: format!("remote JD at {}", config.endpoint),
            config,
            endpoint,
            client: OnceCell::new(),
        })
    }
}

#[async_trait]
impl Provider for RemoteProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn initialize(&self) -> Result<Arc<dyn Client>, ProviderError> {
        let client = self
            .client
            .get_or_try_init(|| async {
                let channel =
                    self.endpoint
                        .connect()
                        .await
                        .map_err(|e| ProviderError::Unreachable {
                            endpoint: self.config.endpoint.clone(),
                            reason: crate::error_chain(&e),
                        })?;
                let client: Arc<dyn Client> =
                    Arc::new(RemoteClient::new(channel, self.config.token_source.clone()));
                Ok::<_, ProviderError>(client)
            })
            .await?;
        Ok(client.clone())
    }

    fn offchain_client(&self) -> Option<Arc<dyn Client>> {
        self.client.get().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(endpoint: &str) -> String {
        match RemoteProvider::new(RemoteConfig::new(endpoint)) {
            Err(ProviderError::InvalidEndpoint { reason, .. }) => reason,
            other => panic!("{endpoint}: expected InvalidEndpoint, got {other:?}"),
        }
    }

    #[test]
    fn endpoints_are_validated() {
        assert!(reason("").contains("empty"));
        assert!(reason("localhost:14231").contains("scheme"));
        assert!(reason("ftp://jd:1").contains("unsupported scheme"));
        assert!(reason("http://").contains("host") || !reason("http://").is_empty());
        let plaintext_with_ca = RemoteConfig::new("http://127.0.0.1:1").with_ca_pem(b"x".to_vec());
        assert!(RemoteProvider::new(plaintext_with_ca).is_err());
        assert!(RemoteProvider::new(RemoteConfig::new("http://127.0.0.1:14231")).is_ok());
        assert!(RemoteProvider::new(RemoteConfig::new("https://jd.example.com")).is_ok());
    }

    #[tokio::test]
    async fn no_client_before_initialize_and_unreachable_is_reported() {
        // Port 1 on loopback: nothing listens there.
        let provider = RemoteProvider::new(RemoteConfig::new("http://127.0.0.1:1")).unwrap();
        assert!(provider.offchain_client().is_none());
        assert!(provider.name().contains("127.0.0.1:1"));
        let err = provider.initialize().await.err().unwrap();
        assert!(matches!(err, ProviderError::Unreachable { .. }), "{err}");
        assert!(provider.offchain_client().is_none());
    }
}

//! A client for an existing JD over gRPC.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use offchain_proto::csa::csa_service_client::CsaServiceClient;
use offchain_proto::job::job_service_client::JobServiceClient;
use offchain_proto::node::node_service_client::NodeServiceClient;
use tokio::sync::OnceCell;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

use super::{Provider, ProviderError};
use crate::Client;
use crate::auth::TokenSource;
use crate::client::forward_client;

/// Largest message accepted from the JD (long node and job lists exceed gRPC's 4 MiB).
const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// How to reach a JD.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// `http://host:port` (plaintext) or `https://host:port` (TLS).
    pub endpoint: String,
    /// PEM CA certificate(s) to trust for `https://` instead of the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Sends `authorization: Bearer …` with every call when set.
    pub token_source: Option<Arc<dyn TokenSource>>,
    /// Limit for establishing the connection.
    pub connect_timeout: Duration,
    /// Limit for each call; `None` waits as long as the JD takes.
    pub request_timeout: Option<Duration>,
}

impl RemoteConfig {
    /// Defaults for `endpoint`: system roots, no token, 5 s to connect, 60 s per call.
    pub fn new(endpoint: impl Into<String>) -> Self {
        RemoteConfig {
            endpoint: endpoint.into(),
            ca_pem: None,
            token_source: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Some(Duration::from_secs(60)),
        }
    }

    /// Trusts `ca_pem` for TLS.
    pub fn with_ca_pem(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(ca_pem.into());
        self
    }

    /// Authenticates every call with tokens from `source`.
    pub fn with_token_source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.token_source = Some(source);
        self
    }
}

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
        let endpoint = endpoint(&config)?;
        Ok(RemoteProvider {
            name: format!("remote JD at {}", config.endpoint),
            config,
            endpoint,
            client: OnceCell::new(),
        })
    }
}

fn invalid(config: &RemoteConfig, reason: impl Into<String>) -> ProviderError {
    ProviderError::InvalidEndpoint {
        endpoint: config.endpoint.clone(),
        reason: reason.into(),
    }
}

fn endpoint(config: &RemoteConfig) -> Result<Endpoint, ProviderError> {
    let text = config.endpoint.trim();
    if text.is_empty() {
        return Err(invalid(
            config,
            "the endpoint is empty (expected http://host:port or https://host:port)",
        ));
    }
    let uri: http::Uri = text.parse().map_err(|e| invalid(config, format!("{e}")))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(invalid(
                config,
                format!("unsupported scheme {other:?}; use http or https"),
            ));
        }
        None => {
            return Err(invalid(
                config,
                "missing scheme; write http://host:port or https://host:port",
            ));
        }
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid(config, "missing host"));
    }
    let mut endpoint = Endpoint::from_shared(text.to_string())
        .map_err(|e| invalid(config, e.to_string()))?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true);
    if let Some(timeout) = config.request_timeout {
        endpoint = endpoint.timeout(timeout);
    }
    if tls {
        crate::install_crypto_provider();
        let mut tls_config = ClientTlsConfig::new();
        tls_config = match &config.ca_pem {
            Some(pem) => tls_config.ca_certificate(Certificate::from_pem(pem)),
            None => tls_config.with_native_roots(),
        };
        endpoint = endpoint
            .tls_config(tls_config)
            .map_err(|e| ProviderError::Tls(e.to_string()))?;
    } else if config.ca_pem.is_some() {
        return Err(invalid(
            config,
            "a CA certificate was given for a plaintext http:// endpoint",
        ));
    }
    Ok(endpoint)
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
                            reason: error_chain(&e),
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

/// `error: cause: cause`, since transport errors hide the useful part in their sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A [`Client`] over a gRPC channel.
#[derive(Debug, Clone)]
pub struct RemoteClient {
    job: JobServiceClient<Channel>,
    node: NodeServiceClient<Channel>,
    csa: CsaServiceClient<Channel>,
    token_source: Option<Arc<dyn TokenSource>>,
}

impl RemoteClient {
    /// A client over an established `channel`.
    pub fn new(channel: Channel, token_source: Option<Arc<dyn TokenSource>>) -> Self {
        RemoteClient {
            job: JobServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            node: NodeServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            csa: CsaServiceClient::new(channel),
            token_source,
        }
    }

    async fn request<T>(&self, message: T) -> Result<Request<T>, Status> {
        let mut request = Request::new(message);
        if let Some(source) = &self.token_source {
            let token = source
                .token()
                .await
                .map_err(|e| Status::unauthenticated(e.to_string()))?;
            let value = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
                Status::invalid_argument(
                    "the operator token has characters not allowed in a header",
                )
            })?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

forward_client!(RemoteClient, |this, message| {
    job: this.job.clone(),
    node: this.node.clone(),
    csa: this.csa.clone(),
    wrap: this.request(message)
});

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

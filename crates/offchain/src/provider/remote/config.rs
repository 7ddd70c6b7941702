//! How to reach a JD: endpoint, TLS (CA, client certificate, name override), token and
//! timeouts, and the tonic [`Endpoint`] they make.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::auth::TokenSource;
use crate::provider::ProviderError;

/// How to reach a JD.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// `http://host:port` (plaintext) or `https://host:port` (TLS).
    pub endpoint: String,
    /// PEM CA certificate(s) to trust for `https://` instead of the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate and key for JDs that require mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// The name to check the server certificate against (and send as SNI) instead of the
    /// endpoint's host, e.g. `jd.internal` when dialing an IP address.
    pub tls_domain: Option<String>,
    /// Sends `authorization: Bearer …` with every call when set.
    pub token_source: Option<Arc<dyn TokenSource>>,
    /// Limit for establishing the connection.
    pub connect_timeout: Duration,
    /// Deadline for each call; `None` waits as long as the JD takes. A shorter one per call
    /// comes from [`Client::with_options`](crate::Client::with_options).
    pub request_timeout: Option<Duration>,
}

/// A PEM client certificate (chain) and its private key, for mutual TLS.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate, then any intermediates (PEM).
    pub cert_pem: Vec<u8>,
    /// The certificate's private key (PEM).
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    // The key must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .field("key_pem", &"***")
            .finish()
    }
}

impl RemoteConfig {
    /// Defaults for `endpoint`: system roots, no client certificate, no token, 5 s to
    /// connect, 60 s per call.
    pub fn new(endpoint: impl Into<String>) -> Self {
        RemoteConfig {
            endpoint: endpoint.into(),
            ca_pem: None,
            client_identity: None,
            tls_domain: None,
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

    /// Presents `cert_pem` (signed for `key_pem`) to JDs that require client certificates.
    pub fn with_client_identity(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_identity = Some(ClientIdentity {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        });
        self
    }

    /// Checks the server certificate against `domain` instead of the endpoint's host.
    pub fn with_tls_domain(mut self, domain: impl Into<String>) -> Self {
        self.tls_domain = Some(domain.into());
        self
    }

    /// Authenticates every call with tokens from `source`.
    pub fn with_token_source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.token_source = Some(source);
        self
    }

    /// The validated tonic [`Endpoint`] (TLS, timeouts) this configuration describes, for
    /// callers who build their own channel, e.g. to put tower layers on it and hand it to
    /// [`RemoteClient::from_service`](crate::RemoteClient::from_service).
    pub fn tonic_endpoint(&self) -> Result<Endpoint, ProviderError> {
        let text = self.endpoint.trim();
        if text.is_empty() {
            return Err(self.invalid(
                "the endpoint is empty (expected http://host:port or https://host:port)",
            ));
        }
        let uri: http::Uri = text.parse().map_err(|e| self.invalid(format!("{e}")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(
                    self.invalid(format!("unsupported scheme {other:?}; use http or https"))
                );
            }
            None => {
                return Err(
                    self.invalid("missing scheme; write http://host:port or https://host:port")
                );
            }
        };
        if uri.host().is_none_or(str::is_empty) {
            return Err(self.invalid("missing host"));
        }
        let mut endpoint = Endpoint::from_shared(text.to_string())
            .map_err(|e| self.invalid(e.to_string()))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true);
        if let Some(timeout) = self.request_timeout {
            endpoint = endpoint.timeout(timeout);
        }
        if tls {
            crate::install_crypto_provider();
            endpoint = endpoint
                .tls_config(self.tls_config())
                .map_err(|e| ProviderError::Tls(e.to_string()))?;
        } else if let Some(setting) = self.tls_only_setting() {
            return Err(self.invalid(format!(
                "{setting} was given for a plaintext http:// endpoint (use https://)"
            )));
        }
        Ok(endpoint)
    }

    fn tls_config(&self) -> ClientTlsConfig {
        let mut tls = ClientTlsConfig::new();
        tls = match &self.ca_pem {
            Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
            None => tls.with_native_roots(),
        };
        if let Some(identity) = &self.client_identity {
            tls = tls.identity(Identity::from_pem(&identity.cert_pem, &identity.key_pem));
        }
        if let Some(domain) = &self.tls_domain {
            tls = tls.domain_name(domain.clone());
        }
        tls
    }

    /// The first TLS setting present, named for an error message.
    fn tls_only_setting(&self) -> Option<&'static str> {
        if self.ca_pem.is_some() {
            Some("a CA certificate")
        } else if self.client_identity.is_some() {
            Some("a client certificate")
        } else if self.tls_domain.is_some() {
            Some("a TLS domain name")
        } else {
            None
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> ProviderError {
        ProviderError::InvalidEndpoint {
            endpoint: self.endpoint.clone(),
            reason: reason.into(),
        }
    }
}
